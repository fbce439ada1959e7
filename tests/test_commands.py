"""The command-line door: `civicdesk request ...` with good and bad input."""

from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command

from civicdesk.servicerequests.models import ServiceRequest
from civicdesk.servicerequests.statuses import Status
from tests.conftest import DOWNTOWN, OUTSIDE

pytestmark = pytest.mark.usefixtures("city")


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def test_create_show_and_close_from_the_command_line() -> None:
    out = run(
        "request",
        "create",
        "--service",
        "pothole",
        "--lat",
        str(DOWNTOWN[0]),
        "--long",
        str(DOWNTOWN[1]),
        "--attribute",
        "size=large",
        "--attribute",
        "in_traffic_lane=yes",
        "--description",
        "Deep hole",
        "--email",
        "caller@example.net",
    )
    request = ServiceRequest.objects.get()
    assert f"Created {request.public_id}: Pothole, routed to Public Works / Streets" in out
    assert "Due " in out

    again = run(
        "request",
        "create",
        "--service",
        "pothole",
        "--lat",
        str(DOWNTOWN[0]),
        "--long",
        str(DOWNTOWN[1]),
        "--attribute",
        "size=small",
        "--attribute",
        "in_traffic_lane=yes",
    )
    assert f"possible duplicate: {request.public_id} (0 m, New)" in again

    assert "is now Resolved" in run(
        "request", "status", request.public_id, "resolved", "--note", "Patched"
    )
    shown = run("request", "show", request.public_id)
    assert "[Resolved; Open311: closed]" in shown
    assert "status_change new->resolved by staff: Patched" in shown
    assert "Council District 1" in shown


def test_multiple_choice_answers_repeat_the_code() -> None:
    run(
        "request",
        "create",
        "--service",
        "missed-pickup",
        "--address",
        "5 Oak St",
        "--attribute",
        "carts_missed=trash",
        "--attribute",
        "carts_missed=recycling",
        "--attribute",
        "cart_out_time=2026-11-20T06:00",
    )
    assert ServiceRequest.objects.get().attributes["carts_missed"] == ["trash", "recycling"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["create", "--service", "unicorn", "--address", "1 Main"], "not a service of this city"),
        (
            [
                "create",
                "--service",
                "pothole",
                "--lat",
                str(OUTSIDE[0]),
                "--long",
                str(OUTSIDE[1]),
                "--attribute",
                "size=small",
                "--attribute",
                "in_traffic_lane=yes",
            ],
            "outside Prairie Falls",
        ),
        (
            ["create", "--service", "pothole", "--address", "1 Main", "--attribute", "size"],
            "CODE=VALUE",
        ),
        (
            [
                "create",
                "--service",
                "pothole",
                "--address",
                "1 Main",
                "--attribute",
                "size=huge",
                "--attribute",
                "in_traffic_lane=yes",
            ],
            "'huge' is not one of the choices",
        ),
        (["show", "26-999999"], "no service request '26-999999'"),
        (["status", "26-999999", "closed"], "no service request"),
    ],
)
def test_bad_input_is_a_clear_error_and_writes_nothing(args: list[str], message: str) -> None:
    with pytest.raises(CommandError, match=message):
        run("request", *args)
    assert ServiceRequest.objects.count() == 0


def test_illegal_transition_from_the_command_line() -> None:
    run(
        "request",
        "create",
        "--service",
        "pothole",
        "--address",
        "1 Main St",
        "--attribute",
        "size=small",
        "--attribute",
        "in_traffic_lane=yes",
    )
    public_id = ServiceRequest.objects.get().public_id
    run("request", "status", public_id, "closed")
    with pytest.raises(CommandError, match="cannot become In progress"):
        run("request", "status", public_id, "in_progress")
    assert ServiceRequest.objects.get().status == Status.CLOSED
    assert "is reopened" in run("request", "reopen", public_id, "--reason", "Back again")
