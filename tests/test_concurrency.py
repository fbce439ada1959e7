"""Two staff changing the same request at the same moment lose neither change.

Real threads with their own connections need a server database; SQLite serialises writers
with its database lock (IMMEDIATE transactions), which the single-connection tests cover.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from django.db import connection, connections

from civicdesk.servicerequests.models import ServiceRequest
from civicdesk.servicerequests.services import (
    public_ids_allocate,
    request_assign,
    request_note_add,
    request_priority_set,
)
from tests.conftest import make_request, staff

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("city")]


def _together(*actions: Callable[[], object]) -> list[BaseException]:
    start = threading.Barrier(len(actions))
    errors: list[BaseException] = []

    def run(action: Callable[[], object]) -> None:
        try:
            start.wait(timeout=10)
            action()
        except BaseException as exc:  # collected and re-raised by the test
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(a,)) for a in actions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return errors


@pytest.fixture(autouse=True)
def _server_database_only() -> None:
    if connection.vendor == "sqlite":
        pytest.skip("needs concurrent connections to a server database")


def test_simultaneous_changes_both_survive() -> None:
    request = make_request()
    crew = staff("pw.crew")
    for _ in range(5):
        errors = _together(
            lambda: request_assign(request=request.pk, assignee=crew),
            lambda: request_priority_set(request=request.pk, priority=4),
            lambda: request_note_add(request=request.pk, note="On our list.", public=True),
        )
        assert errors == [] or all("already assigned" in str(e) for e in errors)
    stored = ServiceRequest.objects.get(pk=request.pk)
    assert stored.assignee == crew
    assert stored.priority == 4
    assert stored.status_notes == "On our list."
    assert stored.events.filter(kind="public_note").count() == 5
    # Each successful change bumped the version exactly once.
    assert (
        stored.version
        == 1 + stored.events.exclude(kind="created").exclude(kind="assignment").count()
    )


def test_public_ids_are_never_handed_out_twice() -> None:
    got: list[int] = []
    lock = threading.Lock()

    def take() -> None:
        for _ in range(20):
            number = public_ids_allocate(prefix="99")
            with lock:
                got.append(number)

    assert _together(take, take, take, take) == []
    assert sorted(got) == list(range(1, 81))
