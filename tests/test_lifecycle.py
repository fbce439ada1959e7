"""The request lifecycle: statuses, legal and illegal transitions, timestamps, the timeline,
assignment, notes, priority, referral and reopening."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from civicdesk.catalog.models import Department, Team
from civicdesk.errors import InvalidInput, StaleVersion, TransitionNotAllowed
from civicdesk.servicerequests.models import EventKind, RequestEvent, ServiceRequest
from civicdesk.servicerequests.services import (
    request_acknowledge,
    request_assign,
    request_note_add,
    request_priority_set,
    request_reopen,
    request_transition,
)
from civicdesk.servicerequests.statuses import (
    CLOSED_STATUSES,
    TRANSITIONS,
    Status,
    open311_status,
    transition_check,
)
from tests.conftest import make_request, staff

pytestmark = pytest.mark.usefixtures("city")


def test_new_request_is_numbered_routed_and_on_the_timeline() -> None:
    request = make_request("pothole", email="res@example.net")
    year = timezone.localtime(request.requested_at).strftime("%y")
    assert request.public_id.startswith(f"{year}-") and len(request.public_id) == 9
    assert request.status == Status.NEW and request.open311_status == "open"
    assert (request.department.code, request.team.code) == ("PW", "streets")
    events = list(request.events.all())
    assert [(e.kind, e.public, e.to_status) for e in events] == [
        (EventKind.CREATED, True, Status.NEW)
    ]
    assert list(request.followers.values_list("contact__email", flat=True)) == ["res@example.net"]


def test_public_ids_are_consecutive() -> None:
    first = make_request()
    second = make_request()
    assert int(second.public_id.split("-")[1]) == int(first.public_id.split("-")[1]) + 1


def test_full_lifecycle_sets_the_timestamps_a_311_program_reports_on() -> None:
    crew = staff("pw.crew")
    request = make_request()
    assert request.acknowledged_at is None and request.first_action_at is None

    request = request_acknowledge(request=request, actor=staff("pw.supervisor"))
    assert request.status == Status.ACKNOWLEDGED
    assert request.acknowledged_at is not None and request.first_action_at is None

    request = request_assign(request=request, assignee=crew, actor=staff("pw.supervisor"))
    assert request.status == Status.ASSIGNED and request.assignee == crew
    assert request.first_action_at is not None

    request = request_transition(request=request, to_status=Status.IN_PROGRESS, actor=crew)
    request = request_transition(
        request=request, to_status=Status.RESOLVED, note="Filled with hot asphalt.", actor=crew
    )
    assert request.open311_status == "closed"
    assert request.closed_at is not None and request.status_notes == "Filled with hot asphalt."
    request = request_transition(request=request, to_status=Status.CLOSED, actor=crew)

    kinds = list(request.events.values_list("kind", "from_status", "to_status"))
    assert kinds == [
        (EventKind.CREATED, "", Status.NEW),
        (EventKind.STATUS_CHANGE, Status.NEW, Status.ACKNOWLEDGED),
        (EventKind.ASSIGNMENT, "", ""),
        (EventKind.STATUS_CHANGE, Status.ACKNOWLEDGED, Status.ASSIGNED),
        (EventKind.STATUS_CHANGE, Status.ASSIGNED, Status.IN_PROGRESS),
        (EventKind.STATUS_CHANGE, Status.IN_PROGRESS, Status.RESOLVED),
        (EventKind.STATUS_CHANGE, Status.RESOLVED, Status.CLOSED),
    ]
    assert request.events.filter(kind=EventKind.ASSIGNMENT).get().public is False
    stored = ServiceRequest.objects.get(pk=request.pk)
    assert stored.version == 6
    assert stored.updated_at >= stored.closed_at  # type: ignore[operator]


def test_every_status_maps_to_open311_open_or_closed() -> None:
    for status in Status:
        expected = "closed" if status in CLOSED_STATUSES else "open"
        assert open311_status(status) == expected
    assert {s for s in Status if open311_status(s) == "closed"} == {
        Status.RESOLVED,
        Status.CLOSED,
        Status.DUPLICATE,
        Status.REFERRED,
        Status.CANNOT_LOCATE,
    }


@pytest.mark.parametrize("current", list(Status))
def test_transition_table_allows_only_what_it_lists(current: Status) -> None:
    for target in Status:
        if target in TRANSITIONS[current]:
            transition_check(current, target)
        else:
            with pytest.raises(TransitionNotAllowed):
                transition_check(current, target)


def test_an_illegal_transition_is_refused_and_changes_nothing() -> None:
    request = make_request()
    request = request_transition(request=request, to_status=Status.CLOSED, note="Done")
    before = (request.version, request.events.count())
    with pytest.raises(TransitionNotAllowed, match="cannot become In progress"):
        request_transition(request=request, to_status=Status.IN_PROGRESS)
    stored = ServiceRequest.objects.get(pk=request.pk)
    assert stored.status == Status.CLOSED
    assert (stored.version, stored.events.count()) == before


def test_duplicate_and_reopen_have_their_own_actions() -> None:
    request = make_request()
    with pytest.raises(TransitionNotAllowed, match="merging"):
        request_transition(request=request, to_status=Status.DUPLICATE)
    with pytest.raises(TransitionNotAllowed, match="reopen"):
        request_transition(request=request, to_status=Status.REOPENED)
    with pytest.raises(TransitionNotAllowed, match="not a status"):
        request_transition(request=request, to_status="finished")


def test_referral_names_the_agency() -> None:
    request = make_request()
    with pytest.raises(InvalidInput, match="agency"):
        request_transition(request=request, to_status=Status.REFERRED)
    request = request_transition(
        request=request,
        to_status=Status.REFERRED,
        referred_to="Macon County Highway Dept",
        note="The county maintains this road.",
    )
    assert request.referred_to == "Macon County Highway Dept"
    assert request.open311_status == "closed"


def test_internal_notes_stay_off_the_public_timeline() -> None:
    request = make_request()
    request_note_add(request=request, note="Resident is a repeat caller.", public=False)
    request_transition(
        request=request,
        to_status=Status.ON_HOLD,
        note="Called resident, no answer.",
        note_public=False,
    )
    request_note_add(request=request, note="We will be there Tuesday.", public=True)
    stored = ServiceRequest.objects.get(pk=request.pk)
    assert stored.status_notes == "We will be there Tuesday."
    public = list(
        RequestEvent.objects.filter(request=request, public=True).values_list("kind", "note")
    )
    assert (EventKind.STATUS_CHANGE, "") in public  # the change is public, its note is not
    assert all("repeat caller" not in note and "no answer" not in note for _, note in public)
    internal = RequestEvent.objects.filter(request=request, public=False)
    assert set(internal.values_list("note", flat=True)) == {
        "Resident is a repeat caller.",
        "Called resident, no answer.",
    }


def test_notes_are_checked() -> None:
    request = make_request()
    with pytest.raises(InvalidInput, match="note is required"):
        request_note_add(request=request, note="   ", public=True)
    with pytest.raises(InvalidInput, match="at most 4000"):
        request_note_add(request=request, note="x" * 4001, public=True)
    assert request.events.count() == 1


def test_assignment_checks_team_and_person_belong_to_the_department() -> None:
    request = make_request()
    parks_team = Team.objects.get(department__code="PRK", code="forestry")
    with pytest.raises(InvalidInput, match="is not a team of Public Works"):
        request_assign(
            request=request, department=Department.objects.get(code="PW"), team=parks_team
        )
    with pytest.raises(InvalidInput, match="is not in Public Works"):
        request_assign(
            request=request,
            assignee=staff("san.crew"),
            department=Department.objects.get(code="PW"),
        )
    with pytest.raises(InvalidInput, match="does not work requests"):
        request_assign(request=request, assignee=staff("calltaker"))
    assert ServiceRequest.objects.get(pk=request.pk).status == Status.NEW

    # Moving to another department clears the old team and person.
    request = request_assign(
        request=request, team=Team.objects.get(department__code="SAN", code="bulk")
    )
    assert (request.department.code, request.team.code, request.assignee) == ("SAN", "bulk", None)
    with pytest.raises(InvalidInput, match="already assigned"):
        request_assign(request=request, team=Team.objects.get(department__code="SAN", code="bulk"))


def test_closed_requests_cannot_be_assigned() -> None:
    request = request_transition(request=make_request(), to_status=Status.CLOSED)
    with pytest.raises(TransitionNotAllowed, match="reopen it first"):
        request_assign(request=request, assignee=staff("pw.crew"))


def test_priority_change_is_recorded_internally() -> None:
    request = request_priority_set(request=make_request(), priority=4)
    assert request.priority == 4
    event = request.events.get(kind=EventKind.PRIORITY)
    assert (event.public, event.data) == (False, {"from": 2, "to": 4})
    with pytest.raises(InvalidInput, match="not a priority"):
        request_priority_set(request=request, priority=9)


def test_resident_reopens_within_the_window_only(settings: object) -> None:
    request = request_transition(request=make_request(), to_status=Status.RESOLVED, note="Fixed")
    request = request_reopen(request=request, reason="Still broken", by_resident=True)
    assert request.status == Status.REOPENED and request.open311_status == "open"
    assert request.closed_at is None
    assert request.due_at is not None and request.due_at > timezone.now()
    reopen = request.events.get(kind=EventKind.REOPEN)
    assert (reopen.public, reopen.note, reopen.actor_label) == (True, "Still broken", "resident")

    request = request_transition(request=request, to_status=Status.CLOSED)
    ServiceRequest.objects.filter(pk=request.pk).update(
        closed_at=timezone.now() - dt.timedelta(days=15)
    )
    with pytest.raises(TransitionNotAllowed, match="within 14 days"):
        request_reopen(request=request, reason="Broken again", by_resident=True)
    with pytest.raises(InvalidInput, match="note is required"):
        request_reopen(request=request, reason="", by_resident=True)
    # Staff may reopen at any time.
    request = request_reopen(request=request, reason="", actor=staff("pw.supervisor"))
    assert request.status == Status.REOPENED


def test_reopen_window_is_configurable_per_service() -> None:
    request = request_transition(request=make_request(), to_status=Status.CLOSED)
    request.service.reopen_window_days = 30
    request.service.save()
    ServiceRequest.objects.filter(pk=request.pk).update(
        closed_at=timezone.now() - dt.timedelta(days=20)
    )
    assert request_reopen(request=request, reason="Back", by_resident=True).status == "reopened"


def test_an_open_request_cannot_be_reopened() -> None:
    with pytest.raises(TransitionNotAllowed, match="cannot become Reopened"):
        request_reopen(request=make_request(), reason="why", by_resident=True)


def test_a_stale_form_is_told_to_reload_and_changes_nothing() -> None:
    request = make_request()
    seen_version = request.version
    request_acknowledge(request=request, expected_version=seen_version)
    with pytest.raises(StaleVersion, match="reload"):
        request_transition(request=request, to_status=Status.CLOSED, expected_version=seen_version)
    assert ServiceRequest.objects.get(pk=request.pk).status == Status.ACKNOWLEDGED


def test_two_changes_from_old_copies_both_survive() -> None:
    """Staff A and staff B both opened the request; each change applies to the latest row."""
    copy_a = make_request()
    copy_b = ServiceRequest.objects.get(pk=copy_a.pk)
    request_assign(request=copy_a, assignee=staff("pw.crew"))
    request_priority_set(request=copy_b, priority=3)
    stored = ServiceRequest.objects.get(pk=copy_a.pk)
    assert stored.assignee == staff("pw.crew")
    assert stored.priority == 3
    assert stored.status == Status.ASSIGNED
