"""The timeline of imported history: an import writes requests only, and each imported
request's first entries (received, and the status the source gave it) are read from its row
wherever a timeline is shown, until civicdesk first changes the request; they are stored,
as they were, just before that change."""

from __future__ import annotations

import datetime as dt
import io
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from civicdesk.errors import StaleVersion
from civicdesk.performance.imports.loader import EVENT_COLUMNS
from civicdesk.servicerequests.models import EventKind, RequestEvent, ServiceRequest
from civicdesk.servicerequests.selectors import request_timeline
from civicdesk.servicerequests.services import request_note_add, request_transition
from civicdesk.servicerequests.sla import overdue_escalate
from civicdesk.servicerequests.statuses import Status
from civicdesk.servicerequests.timeline import imported_entries_store_by_id
from tests.conftest import sign_in, staff

pytestmark = pytest.mark.usefixtures("city")

DATA = Path(__file__).resolve().parent / "data" / "imports"
ENTRY_FIELDS = EVENT_COLUMNS[1:]  # all but the request: what an entry says


def _import() -> dict[str, ServiceRequest]:
    call_command(
        "import",
        str(DATA / "oldcrm.csv"),
        "--mapping",
        str(DATA / "oldcrm.toml"),
        stdout=io.StringIO(),
    )
    return {r.source_id: r for r in ServiceRequest.objects.filter(source="oldcrm")}


def _entries(events: list[RequestEvent]) -> list[tuple[Any, ...]]:
    return [tuple(getattr(e, f) for f in ENTRY_FIELDS) for e in events]


def test_the_entries_read_from_a_row_are_the_ones_stored_before_a_change() -> None:
    requests = _import()
    assert not RequestEvent.objects.exists()
    read = {k: _entries(request_timeline(r, public_only=False)) for k, r in requests.items()}
    closed = requests["A-1002"]
    assert read["A-1002"] == [
        (EventKind.CREATED, True, "", Status.NEW, "", {"channel": "web", "imported_from": "oldcrm"},
         None, "import", closed.requested_at),
        (EventKind.STATUS_CHANGE, True, Status.NEW, Status.CLOSED, "Painted over,\nboth sides", {},
         None, "import", closed.closed_at),
    ]  # fmt: skip
    assert [len(v) for k, v in sorted(read.items())] == [1, 2, 2, 1]  # "Open" is new

    assert imported_entries_store_by_id([r.pk for r in requests.values()]) == 6
    for key, request in requests.items():
        stored = list(RequestEvent.objects.filter(request=request).order_by("created_at", "id"))
        assert _entries(stored) == read[key]
        # Stored now, they are not read from the row as well.
        assert request_timeline(request, public_only=False) == stored
    # Only once: a second store finds them there.
    assert imported_entries_store_by_id([r.pk for r in requests.values()]) == 0


def test_a_change_by_staff_keeps_what_the_import_said() -> None:
    working = _import()["A-1003"]  # "Working" in the source: in progress since it was opened
    assert working.status == Status.IN_PROGRESS
    request_transition(
        request=working, to_status=Status.RESOLVED, note="Replaced the lamp.", actor=staff("admin")
    )
    working.refresh_from_db()
    timeline = request_timeline(working, public_only=True)
    assert [(e.kind, e.from_status, e.to_status, e.note, e.actor_label) for e in timeline] == [
        (EventKind.CREATED, "", Status.NEW, "", "import"),
        (EventKind.STATUS_CHANGE, Status.NEW, Status.IN_PROGRESS, "", "import"),
        (
            EventKind.STATUS_CHANGE,
            Status.IN_PROGRESS,
            Status.RESOLVED,
            "Replaced the lamp.",
            "staff",
        ),
    ]
    # The import's status entry keeps its time, not the time of the change.
    assert timeline[1].created_at == dt.datetime(2025, 3, 3, 16, 0, tzinfo=dt.UTC)
    assert all(e.pk is not None for e in timeline)


def test_an_escalation_or_a_refused_change_stores_nothing_of_the_import() -> None:
    requests = _import()
    new = requests["A-1001"]
    ServiceRequest.objects.filter(pk=new.pk).update(due_at=timezone.now() - dt.timedelta(days=1))
    # The overdue job only marks the row and adds its own (internal) entry.
    assert overdue_escalate() >= 1
    kinds = [e.kind for e in request_timeline(new, public_only=False)]
    assert kinds == [EventKind.CREATED, EventKind.ESCALATION]
    assert list(RequestEvent.objects.filter(request=new).values_list("kind", flat=True)) == [
        EventKind.ESCALATION
    ]
    # A change refused for a stale version writes nothing.
    with pytest.raises(StaleVersion, match="changed by someone else"):
        request_note_add(
            request=new, note="Looked at it.", public=True, expected_version=new.version + 1
        )
    assert RequestEvent.objects.filter(request=new, kind=EventKind.CREATED).count() == 0


def test_residents_staff_and_open311_see_an_imported_request_s_history(client: Client) -> None:
    closed = _import()["A-1002"]
    page = client.get(reverse("portal:request", args=[closed.public_id])).content.decode()
    assert "Request received" in page and "Status: Closed" in page
    assert "Painted over," in page

    [record] = client.get(
        f"/open311/v2/requests/{closed.public_id}.json", {"extensions": "true"}
    ).json()
    assert [(n["type"], n["summary"], n["description"]) for n in record["notes"]] == [
        ("created", "Request received", None),
        ("status_change", "Status changed to Closed", "Painted over,\nboth sides"),
    ]

    console = sign_in(Client(), staff("admin"))
    detail = console.get(reverse("console:request", args=[closed.public_id])).content.decode()
    assert "Received by Web" in detail
    assert "Status: New → Closed" in detail
