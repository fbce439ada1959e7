"""The staff console as staff use it: signing in, who may see and do what, the queue (filters,
sorting, service-level counts, bulk actions), a request's page and each of its actions, phone
intake, the knowledge base, and the admin pages a 311 manager uses."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest
from django.contrib.admin.sites import site as admin_site
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from civicdesk.accounts.mfa import DEMO_TOTP_SECRET, totp_code
from civicdesk.accounts.models import Role, User
from civicdesk.catalog.models import Team
from civicdesk.catalog.service_levels import SlaState, sla_state
from civicdesk.console.models import KnowledgeArticle
from civicdesk.servicerequests.models import (
    Channel,
    EventKind,
    Priority,
    RequestEvent,
    ServiceRequest,
)
from civicdesk.servicerequests.services import (
    ContactInput,
    request_acknowledge,
    request_assign,
    request_transition,
)
from civicdesk.servicerequests.statuses import Status
from tests.conftest import DOWNTOWN, EAST_SIDE, make_request, sign_in, staff

pytestmark = pytest.mark.usefixtures("city")

QUEUE = "/staff/"


def client_for(username: str, language: str = "en") -> Client:
    client = Client(HTTP_ACCEPT_LANGUAGE=language)
    sign_in(client, staff(username))
    return client


def detail_url(sr: ServiceRequest) -> str:
    return reverse("console:request", args=[sr.public_id])


def action_url(sr: ServiceRequest, action: str) -> str:
    return reverse("console:request_action", args=[sr.public_id, action])


def fresh(sr: ServiceRequest) -> ServiceRequest:
    return ServiceRequest.objects.get(pk=sr.pk)


def text(response: Any) -> str:
    return response.content.decode()


def queue_ids(response: Any) -> list[str]:
    """The request numbers listed in the queue table, in order."""
    return re.findall(r'<th scope="row"><a href="/staff/requests/([^/]+)/">', text(response))


def messages_of(response: Any) -> list[str]:
    return [str(m) for m in response.context["messages"]] if response.context else []


def resident() -> User:
    return User.objects.create_user(username="resident1", password="x" * 16, role=Role.RESIDENT)


def debris(hours_ago: float, **kwargs: Any) -> ServiceRequest:
    """Debris in the street has a 24 calendar-hour target: easy to place on the SLA scale."""
    return make_request(
        "debris-in-street",
        attributes={"debris_type": "branches", "blocking_traffic": "no"},
        requested_at=timezone.now() - dt.timedelta(hours=hours_ago),
        **kwargs,
    )


# --------------------------------------------------------------------------------------
# Signing in and who may enter


def test_anonymous_staff_pages_send_to_sign_in() -> None:
    sr = make_request()
    client = Client()
    for url in (QUEUE, detail_url(sr), "/staff/intake/", "/staff/kb/"):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
    response = client.post(action_url(sr, "note"), {"note-note": "x"})
    assert response.status_code == 302 and fresh(sr).version == sr.version


def test_sign_in_takes_a_password_and_a_second_step_and_sign_out_ends_it() -> None:
    client = Client()
    page = client.get("/staff/login/", follow=True)
    assert page.status_code == 200 and 'name="login"' in text(page)
    response = client.post(
        "/accounts/login/", {"login": "calltaker", "password": "prairiefalls-demo"}
    )
    assert response["Location"] == "/accounts/2fa/authenticate/"
    assert client.get(QUEUE).status_code == 302  # the password alone does not sign in
    wrong = client.post("/accounts/2fa/authenticate/", {"code": "000000"})
    assert wrong.status_code == 200 and "Incorrect code" in text(wrong)
    response = client.post("/accounts/2fa/authenticate/", {"code": totp_code(DEMO_TOTP_SECRET)})
    assert response.status_code == 302 and response["Location"] == "/staff/"
    queue = client.get(QUEUE)
    assert queue.status_code == 200
    body = text(queue)
    assert 'action="/staff/logout/"' in body and 'method="post"' in body
    assert "Phone intake" in body and "Knowledge base" in body
    assert "/admin/" not in body  # administrators only
    assert client.get("/staff/logout/").status_code == 405  # signing out is a POST
    assert client.post("/staff/logout/")["Location"] == "/staff/login/"
    assert client.get(QUEUE).status_code == 302

    bad = client.post("/accounts/login/", {"login": "calltaker", "password": "wrong"})
    assert bad.status_code == 200 and 'role="alert"' in text(bad)

    assert "/admin/" in text(client_for("admin").get(QUEUE))


def test_a_resident_account_gets_a_clear_403_everywhere() -> None:
    sr = make_request()
    client = Client()
    sign_in(client, resident())
    for url in (QUEUE, detail_url(sr), "/staff/intake/", "/staff/kb/", "/staff/kb/new/"):
        response = client.get(url)
        assert response.status_code == 403, url
        assert "not a staff account" in text(response)
    assert client.post(action_url(sr, "acknowledge"), {}).status_code == 403
    assert client.post("/staff/bulk/", {}).status_code == 403
    assert fresh(sr).status == Status.NEW


def test_analyst_reads_everything_but_changes_nothing_and_never_sees_contacts() -> None:
    sr = make_request(
        "pothole",
        contact=ContactInput(name="Caller", email="caller@example.net", phone="555-0101"),
    )
    client = client_for("analyst")
    page = client.get(detail_url(sr))
    assert page.status_code == 200
    body = text(page)
    assert "caller@example.net" not in body and "555-0101" not in body
    assert "Read-only" in body and "expected_version" not in body
    assert "Phone intake" not in body  # not in the analyst's navigation
    queue = client.get(QUEUE)
    assert sr.public_id in queue_ids(queue) and "bulk-ids" not in text(queue)

    refused = client.post(action_url(sr, "acknowledge"), {"ack-expected_version": 1})
    assert refused.status_code == 403
    assert (
        client.post("/staff/bulk/", {"bulk-action": "acknowledge", "bulk-ids": [sr.pk]}).status_code
        == 403
    )
    assert client.get("/staff/intake/").status_code == 403
    assert client.get("/staff/intake/pothole/").status_code == 403
    assert fresh(sr).status == Status.NEW

    # Call takers work requests and do see who to call back.
    body = text(client_for("calltaker").get(detail_url(sr)))
    assert "caller@example.net" in body and "555-0101" in body and "Read-only" not in body


def test_department_staff_act_only_on_their_department() -> None:
    pothole = make_request("pothole")  # Public Works
    pickup = make_request(
        "missed-pickup",
        attributes={"carts_missed": ["trash"], "cart_out_time": "2026-11-20T06:00"},
        at=EAST_SIDE,
    )  # Solid Waste
    crew = client_for("pw.crew")
    ids = queue_ids(crew.get(QUEUE))
    assert pothole.public_id in ids and pickup.public_id not in ids
    page = crew.get(detail_url(pickup))  # may read it (a colleague sent the link)
    assert page.status_code == 200 and "Only the department" in text(page)
    response = crew.post(action_url(pickup, "acknowledge"), {"ack-expected_version": 1})
    assert response.status_code == 403 and fresh(pickup).status == Status.NEW
    for everyone in ("admin", "calltaker", "analyst"):
        ids = queue_ids(client_for(everyone).get(QUEUE))
        assert {pothole.public_id, pickup.public_id} <= set(ids), everyone


# --------------------------------------------------------------------------------------
# Queue


def test_queue_filters() -> None:
    downtown = make_request("pothole", description="Deep hole by the bakery", address="12 Main St")
    east = make_request("pothole", at=EAST_SIDE, description="Near the school")
    graffiti = make_request("graffiti", at=EAST_SIDE)
    closed = make_request("pothole", description="Fixed already")
    request_transition(request=closed, to_status=Status.RESOLVED)
    mine = make_request("pothole")
    request_assign(request=mine, assignee=staff("pw.crew"))
    client = client_for("admin")

    def ids(**params: Any) -> set[str]:
        response = client.get(QUEUE, params)
        assert response.status_code == 200
        return set(queue_ids(response))

    everything_open = {downtown.public_id, east.public_id, graffiti.public_id, mine.public_id}
    assert ids() == everything_open  # open requests by default
    assert ids(status="closed") == {closed.public_id}
    assert ids(status="all") == everything_open | {closed.public_id}
    assert ids(status="assigned") == {mine.public_id}
    assert ids(service="graffiti") == {graffiti.public_id}
    assert ids(department="PW", service="pothole") == {
        downtown.public_id,
        east.public_id,
        mine.public_id,
    }
    assert ids(district="3") == {east.public_id, graffiti.public_id}
    assert ids(q="bakery") == {downtown.public_id}
    assert ids(q="main st") == {downtown.public_id}
    assert ids(q=east.public_id) == {east.public_id}
    assert ids(q="fixed", status="all") == {closed.public_id}
    streets = Team.objects.get(department__code="PW", code="streets")
    assert ids(team=streets.pk, service="pothole") == {
        downtown.public_id,
        east.public_id,
        mine.public_id,
    }
    crew = client_for("pw.crew")
    assert set(queue_ids(crew.get(QUEUE, {"mine": "on"}))) == {mine.public_id}
    # Garbled filters are ignored, never a server error.
    garbage = {
        "status": "nonsense",
        "team": "abc",
        "sla": "<script>",
        "sort": "drop table",
        "page": "-3",
        "department": "ZZ",
        "mine": "maybe",
        "q": "x" * 500,
    }
    assert client.get(QUEUE, garbage).status_code == 200
    assert client.get(QUEUE, {"page": "99999"}).status_code == 200


def test_queue_service_levels_counts_filters_and_sort() -> None:
    overdue = debris(30)
    due_soon = debris(20)
    on_time = debris(1)
    other_overdue = debris(40, priority=Priority.URGENT)
    client = client_for("pw.supervisor")
    response = client.get(QUEUE)
    now = timezone.now()
    states = {
        sr.public_id: sla_state(
            requested_at=sr.requested_at, due_at=sr.due_at, closed_at=None, now=now
        )
        for sr in (overdue, due_soon, on_time, other_overdue)
    }
    assert states[overdue.public_id] == SlaState.OVERDUE
    assert states[due_soon.public_id] == SlaState.DUE_SOON
    assert states[on_time.public_id] == SlaState.ON_TIME
    assert response.context["result"].counts == {"overdue": 2, "due_soon": 1, "on_time": 1}
    assert "Overdue: 2" in text(response) and "Due soon: 1" in text(response)

    # Due date, soonest first: the overdue ones lead.
    assert queue_ids(response) == [
        other_overdue.public_id,
        overdue.public_id,
        due_soon.public_id,
        on_time.public_id,
    ]
    assert set(queue_ids(client.get(QUEUE, {"sla": "overdue"}))) == {
        overdue.public_id,
        other_overdue.public_id,
    }
    assert queue_ids(client.get(QUEUE, {"sla": "due_soon"})) == [due_soon.public_id]
    assert queue_ids(client.get(QUEUE, {"sla": "on_time"})) == [on_time.public_id]
    assert queue_ids(client.get(QUEUE, {"sort": "requested"})) == [
        on_time.public_id,
        due_soon.public_id,
        overdue.public_id,
        other_overdue.public_id,
    ]
    assert queue_ids(client.get(QUEUE, {"sort": "priority"}))[0] == other_overdue.public_id


def test_queue_is_paged_and_its_queries_do_not_grow_with_rows() -> None:
    client = client_for("admin")
    for _ in range(3):
        make_request()
    client.get(QUEUE)  # warm caches (content types, sessions)
    with CaptureQueriesContext(connection) as few:
        assert client.get(QUEUE).status_code == 200
    for i in range(55):
        make_request("pothole", description=f"hole {i}")
        if i % 10 == 0:
            request_assign(request=ServiceRequest.objects.last(), assignee=staff("pw.crew"))
    with CaptureQueriesContext(connection) as many:
        first = client.get(QUEUE)
    assert len(many) == len(few)
    assert len(queue_ids(first)) == 50 and "Page 1 of 2" in text(first)
    assert len(queue_ids(client.get(QUEUE, {"page": 2}))) == 8


def test_queue_query_budget(django_assert_max_num_queries: Any) -> None:
    for _ in range(5):
        make_request()
    client = client_for("pw.supervisor")
    client.get(QUEUE)
    # Session and user, choices for the filters and bulk actions, the counts, one page.
    with django_assert_max_num_queries(12):
        client.get(QUEUE, {"q": "test", "sla": "on_time", "sort": "priority"})


# --------------------------------------------------------------------------------------
# Bulk actions


def test_bulk_acknowledge_reports_each_refusal_and_changes_the_rest() -> None:
    fresh_one = make_request()
    already = make_request()
    request_acknowledge(request=already)
    resolved = make_request()
    request_transition(request=resolved, to_status=Status.RESOLVED)
    other = make_request()
    client = client_for("pw.supervisor")
    post = {
        "bulk-action": "acknowledge",
        "bulk-ids": [fresh_one.pk, already.pk, resolved.pk, other.pk],
        f"bulk-version-{fresh_one.pk}": fresh_one.version,
        f"bulk-version-{already.pk}": fresh(already).version,
        f"bulk-version-{resolved.pk}": fresh(resolved).version,
        f"bulk-version-{other.pk}": other.version + 5,  # not the version in the database
        "bulk-next": "/staff/?status=all",
    }
    response = client.post("/staff/bulk/", post, follow=True)
    assert response.redirect_chain[-1][0] == "/staff/?status=all"
    notes = messages_of(response)
    assert any("Updated 1 of 4" in m and fresh_one.public_id in m for m in notes)
    assert any(m.startswith(f"{already.public_id} was not changed") for m in notes)
    assert any(m.startswith(f"{resolved.public_id} was not changed") for m in notes)
    assert any(m.startswith(f"{other.public_id} was not changed") and "reload" in m for m in notes)
    assert fresh(fresh_one).status == Status.ACKNOWLEDGED
    assert fresh(already).status == Status.ACKNOWLEDGED
    assert fresh(resolved).status == Status.RESOLVED
    assert fresh(other).status == Status.NEW


def test_bulk_assign_and_status_change_with_note() -> None:
    first, second = make_request(), make_request()
    snow = Team.objects.get(department__code="PW", code="snow")
    client = client_for("pw.supervisor")
    client.post(
        "/staff/bulk/",
        {
            "bulk-action": "assign",
            "bulk-ids": [first.pk, second.pk],
            "bulk-team": snow.pk,
            "bulk-assignee": staff("pw.crew").pk,
        },
    )
    for sr in (first, second):
        current = fresh(sr)
        assert (current.team_id, current.assignee.username) == (snow.pk, "pw.crew")
        assert current.status == Status.ASSIGNED
    response = client.post(
        "/staff/bulk/",
        {
            "bulk-action": "status",
            "bulk-ids": [first.pk, second.pk],
            "bulk-to_status": Status.IN_PROGRESS,
            "bulk-note": "Crew on the way",
            "bulk-visibility": "public",
        },
        follow=True,
    )
    assert any("Updated 2 of 2" in m for m in messages_of(response))
    assert fresh(first).status == Status.IN_PROGRESS
    assert fresh(first).status_notes == "Crew on the way"

    # A department's staff cannot reach another department's requests by posting ids.
    pickup = make_request(
        "missed-pickup",
        attributes={"carts_missed": ["trash"], "cart_out_time": "2026-11-20T06:00"},
    )
    response = client.post(
        "/staff/bulk/",
        {"bulk-action": "acknowledge", "bulk-ids": [pickup.pk, 999999999]},
        follow=True,
    )
    notes = messages_of(response)
    assert any(pickup.public_id in m and "department" in m for m in notes)
    assert any("999999999" in m for m in notes)
    assert fresh(pickup).status == Status.NEW
    # Nothing chosen, or garbage: a message, never a server error.
    for bad in ({}, {"bulk-action": "explode", "bulk-ids": ["x"]}, {"bulk-action": "assign"}):
        assert client.post("/staff/bulk/", bad).status_code == 302
    response = client.post(
        "/staff/bulk/", {"bulk-action": "assign", "bulk-ids": [first.pk]}, follow=True
    )
    assert any("Choose a team or a person" in m for m in messages_of(response))


# --------------------------------------------------------------------------------------
# A request's page and its actions


def test_detail_page_shows_what_staff_need() -> None:
    sr = make_request(
        "pothole",
        email="caller@example.net",
        attributes={"size": "large", "in_traffic_lane": "yes", "depth_inches": "4"},
        address="400 Main St",
    )
    request_transition(request=sr, to_status=Status.IN_PROGRESS, note="Secret", note_public=False)
    client = client_for("pw.supervisor")
    body = text(client.get(detail_url(sr)))
    for expected in (
        sr.public_id,
        "400 Main St",
        "Larger than a dinner plate",  # the answer's label, not its key
        "About how big is the pothole?",
        'data-map-points="request-point"',
        f"{DOWNTOWN[0]:.5f}",  # staff see the exact place
        "caller@example.net",
        "Secret",  # internal notes are on the staff timeline
        "Internal",
        "Public Works",
        "Followers",
    ):
        assert expected in body, expected
    # Only the statuses legal from In progress are offered (no duplicate, no reopen).
    status_form = client.get(detail_url(sr)).context["forms"]["status"]
    offered = {value for value, _ in status_form.fields["to_status"].choices}
    assert Status.IN_PROGRESS not in offered and Status.ASSIGNED in offered
    assert not offered & {Status.DUPLICATE, Status.REOPENED, Status.NEW}

    spanish = text(client_for("pw.supervisor", "es").get(detail_url(sr)))
    assert "Más grande que un plato" in spanish and "¿Más o menos de qué tamaño" in spanish


def test_each_action_changes_the_request_and_lands_on_the_timeline() -> None:
    sr = make_request("pothole")
    client = client_for("pw.supervisor")

    def act(action: str, **fields: Any) -> Any:
        data = {f"{action_prefix[action]}-{k}": v for k, v in fields.items()}
        data[f"{action_prefix[action]}-expected_version"] = fresh(sr).version
        response = client.post(action_url(sr, action), data)
        assert response.status_code == 302, (action, text(response)[:3000])
        assert response["Location"] == detail_url(sr)
        return response

    act("acknowledge")
    assert fresh(sr).status == Status.ACKNOWLEDGED
    streets = Team.objects.get(department__code="PW", code="streets")
    act("assign", team=streets.pk, assignee=staff("pw.crew").pk, note="Yours")
    assert fresh(sr).assignee == staff("pw.crew") and fresh(sr).status == Status.ASSIGNED
    act("status", to_status=Status.IN_PROGRESS, note="Checked by the crew", visibility="internal")
    assert fresh(sr).status == Status.IN_PROGRESS and fresh(sr).status_notes == ""
    act("note", note="Cones placed", visibility="public")
    assert fresh(sr).status_notes == "Cones placed"
    act("priority", priority=Priority.HIGH)
    assert fresh(sr).priority == Priority.HIGH
    act("refer", referred_to="Illinois DOT", note="State route", visibility="public")
    assert fresh(sr).status == Status.REFERRED and fresh(sr).referred_to == "Illinois DOT"
    act("reopen", reason="Not a state route after all")
    assert fresh(sr).status == Status.REOPENED
    parent = make_request("pothole")
    act("merge", parent=parent.public_id, note="Same hole")
    assert fresh(sr).status == Status.DUPLICATE and fresh(sr).parent_id == parent.pk

    kinds = list(
        RequestEvent.objects.filter(request=sr).order_by("id").values_list("kind", flat=True)
    )
    for kind in (
        EventKind.ASSIGNMENT,
        EventKind.INTERNAL_NOTE,
        EventKind.PUBLIC_NOTE,
        EventKind.PRIORITY,
        EventKind.REOPEN,
        EventKind.MERGE,
    ):
        assert kind in kinds, kind
    actors = set(
        RequestEvent.objects.filter(request=sr)
        .exclude(kind="created")
        .values_list("actor__username", flat=True)
    )
    assert actors == {"pw.supervisor"}
    page = text(client.get(detail_url(sr)))
    assert "Duplicate of" in page and parent.public_id in page and "Illinois DOT" in page
    assert "by Pat Walker" in page
    assert "Now with: Public Works / Streets Crew / Sam Ortiz" in page


action_prefix = {
    "acknowledge": "ack",
    "assign": "assign",
    "status": "status",
    "note": "note",
    "priority": "priority",
    "merge": "merge",
    "refer": "refer",
    "reopen": "reopen",
}


def test_merge_suggests_nearby_duplicates() -> None:
    original = make_request("pothole")
    again = make_request("pothole")
    elsewhere = make_request("pothole", at=EAST_SIDE)
    page = client_for("pw.supervisor").get(detail_url(again))
    suggested = [c.public_id for c in page.context["detail"].duplicates]
    assert suggested == [original.public_id] and elsewhere.public_id not in suggested
    assert f"Merge into {original.public_id}" in text(page)


def test_illegal_changes_show_a_message_and_change_nothing() -> None:
    sr = make_request()
    request_acknowledge(request=sr)
    sr = fresh(sr)
    client = client_for("pw.supervisor")
    events = RequestEvent.objects.filter(request=sr).count()

    # A status the form does not offer: refused next to the field.
    response = client.post(
        action_url(sr, "status"),
        {"status-to_status": Status.REOPENED, "status-expected_version": sr.version},
    )
    assert response.status_code == 400
    assert 'class="error-summary"' in text(response) and "#id_status-to_status" in text(response)
    # A transition the core refuses (acknowledging twice; reopening an open request).
    response = client.post(action_url(sr, "acknowledge"), {"ack-expected_version": sr.version})
    assert response.status_code == 409
    assert any("This change is not allowed" in m for m in messages_of(response))
    response = client.post(
        action_url(sr, "reopen"), {"reopen-reason": "x", "reopen-expected_version": sr.version}
    )
    assert response.status_code == 409
    # Input the core refuses, shown by the field it names.
    response = client.post(
        action_url(sr, "merge"),
        {"merge-parent": "99-999999", "merge-expected_version": sr.version},
    )
    assert response.status_code == 400 and "There is no request with that number" in text(response)
    response = client.post(
        action_url(sr, "merge"),
        {"merge-parent": sr.public_id, "merge-expected_version": sr.version},
    )
    assert response.status_code == 400 and "cannot be merged into itself" in text(response)
    response = client.post(action_url(sr, "assign"), {"assign-expected_version": sr.version})
    assert response.status_code == 400 and "name a department, a team or a person" in text(response)
    assert fresh(sr).version == sr.version and fresh(sr).status == Status.ACKNOWLEDGED
    assert RequestEvent.objects.filter(request=sr).count() == events


def test_a_stale_form_is_told_to_reload() -> None:
    sr = make_request()
    seen = sr.version
    request_acknowledge(request=sr)  # someone else, meanwhile
    client = client_for("pw.supervisor")
    response = client.post(
        action_url(sr, "note"),
        {"note-note": "Late note", "note-visibility": "internal", "note-expected_version": seen},
    )
    assert response.status_code == 409
    assert any("Someone else changed this request" in m for m in messages_of(response))
    assert not RequestEvent.objects.filter(request=sr, note="Late note").exists()
    # The note is kept and the form now carries the latest version: submitting again works.
    body = text(response)
    assert "Late note" in body
    assert f'name="note-expected_version" value="{fresh(sr).version}"' in body


def test_bad_input_is_never_a_server_error() -> None:
    sr = make_request()
    client = client_for("admin")
    assert client.get("/staff/requests/no-such-id/").status_code == 404
    assert client.get("/staff/requests/%00%ff/").status_code == 404
    assert client.post("/staff/requests/no-such-id/note/", {}).status_code == 404
    assert client.post(action_url(sr, "explode"), {}).status_code == 404
    assert client.get(action_url(sr, "note")).status_code == 405
    for action in action_prefix:
        response = client.post(
            action_url(sr, action), {f"{action_prefix[action]}-expected_version": "abc"}
        )
        assert response.status_code == 400, action
    response = client.post(
        action_url(sr, "priority"),
        {"priority-priority": "99", "priority-expected_version": sr.version},
    )
    assert response.status_code == 400
    response = client.post(
        action_url(sr, "note"),
        {"note-note": "x" * 5000, "note-visibility": "public", "note-expected_version": sr.version},
    )
    assert response.status_code == 400
    assert client.get("/staff/intake/no-such-service/").status_code == 404
    assert client.get("/staff/intake/received/nope/").status_code == 404
    assert client.get("/staff/intake/", {"service": "nope"}).status_code == 400
    assert client.get("/staff/kb/no-such-article/").status_code == 404
    assert client.get("/staff/kb/", {"service": "<x>", "q": "\x00"}).status_code == 200
    assert client.get(QUEUE, {"q": "a\x00b", "team": "\x00"}).status_code == 200
    assert client.get("/staff/intake/received/%00/").status_code == 404
    response = client.post(
        action_url(sr, "merge"), {"merge-parent": "\x00", "merge-expected_version": sr.version}
    )
    assert response.status_code == 400
    assert fresh(sr).version == sr.version


# --------------------------------------------------------------------------------------
# Phone intake


def test_call_taker_takes_a_call_and_reads_back_the_number() -> None:
    earlier = make_request("pothole")
    client = client_for("calltaker")
    found = client.get("/staff/intake/", {"q": "bache"})
    assert found.status_code == 200 and "/staff/intake/pothole/" in text(found)
    chosen = client.get("/staff/intake/", {"service": "pothole"})
    assert chosen["Location"] == "/staff/intake/pothole/"
    form = client.get("/staff/intake/pothole/")
    body = text(form)
    assert "About how big is the pothole?" in body
    assert "Potholes: what to ask, what to tell" in body  # the article beside the form
    assert (
        body.index('name="address"')
        < body.index('name="attribute_size"')
        < body.index('name="name"')
    )  # visual order is tab order: no tabindex games
    assert 'tabindex="1' not in body

    response = client.post(
        "/staff/intake/pothole/",
        {
            "address": "200 Main St",
            "lat": str(DOWNTOWN[0]),
            "long": str(DOWNTOWN[1]),
            "attribute_size": "medium",
            "attribute_in_traffic_lane": "yes",
            "description": "Caller says it is getting bigger",
            "name": "María López",
            "phone": "555-0199",
            "email": "",
            "preferred_language": "es",
            "priority": str(Priority.HIGH),
        },
    )
    assert response.status_code == 302
    created = ServiceRequest.objects.select_related("reporter").latest("id")
    assert response["Location"] == f"/staff/intake/received/{created.public_id}/"
    assert created.channel == Channel.PHONE and created.priority == Priority.HIGH
    assert created.reporter is not None and created.reporter.preferred_language == "es"
    assert created.reporter.phone == "555-0199"
    assert RequestEvent.objects.get(request=created, kind="created").actor == staff("calltaker")
    done = client.get(response["Location"])
    assert created.public_id in text(done) and earlier.public_id in text(done)


def test_intake_errors_are_shown_by_their_fields() -> None:
    client = client_for("calltaker")
    response = client.post(
        "/staff/intake/pothole/",
        {"attribute_size": "medium", "lat": "91", "long": "-89", "preferred_language": "en"},
    )
    assert response.status_code == 400
    body = text(response)
    assert 'class="error-summary"' in body and 'href="#id_lat"' in body
    assert 'href="#id_attribute_in_traffic_lane"' in body
    response = client.post(
        "/staff/intake/pothole/",
        {
            "attribute_size": "medium",
            "attribute_in_traffic_lane": "yes",
            "preferred_language": "en",
            "priority": "2",
        },
    )
    assert response.status_code == 400 and 'href="#id_address"' in text(response)
    assert not ServiceRequest.objects.exists()
    # An emergency service may be taken by phone; its notice is shown.
    assert "Emergency service." in text(client.get("/staff/intake/gas-odor/"))


# --------------------------------------------------------------------------------------
# Knowledge base


def test_knowledge_base_search_in_english_and_spanish() -> None:
    client = client_for("calltaker")

    def titles(**params: Any) -> list[str]:
        response = client.get("/staff/kb/", params)
        assert response.status_code == 200
        return [a.slug for a in response.context["articles"]]

    assert 6 <= len(titles()) <= 10
    assert titles(q="pothole") == ["potholes-what-to-ask"]
    assert titles(q="bache") == ["potholes-what-to-ask"]
    assert "missed-trash-or-recycling-pickup" in titles(q="recoleccion omitida")
    assert "missed-trash-or-recycling-pickup" in titles(q="Recolección")
    assert titles(service="graffiti") == ["graffiti-removal"]
    assert set(titles(service="general")) == {"taking-a-311-call", "emergencies-transfer-to-911"}
    page = client.get("/staff/kb/potholes-what-to-ask/")
    assert "Illinois Department of Transportation" in text(page)
    assert 'lang="es"' in text(page) and "Baches: qué preguntar" in text(page)
    spanish = client_for("calltaker", "es").get("/staff/kb/potholes-what-to-ask/")
    assert "<h1" in text(spanish) and "Baches: qué preguntar, qué decir</h1>" in text(spanish)


def test_supervisors_write_articles_call_takers_read_them() -> None:
    call_taker = client_for("calltaker")
    assert call_taker.get("/staff/kb/new/").status_code == 403
    assert call_taker.post("/staff/kb/new/", {"title": "x", "body": "y"}).status_code == 403
    supervisor = client_for("san.supervisor")
    response = supervisor.post(
        "/staff/kb/new/",
        {
            "title": "Leaf piles",
            "body": "Ask where the pile is.\n\nTell them: within 10 days.",
            "title_es": "Montones de hojas",
            "body_es": "Pregunte dónde está el montón.",
            "service": "",
        },
    )
    assert response.status_code == 302
    article = KnowledgeArticle.objects.get(title="Leaf piles")
    assert response["Location"] == f"/staff/kb/{article.slug}/"
    assert article.updated_by == staff("san.supervisor") and not article.published
    assert article.translations == {
        "es": {"title": "Montones de hojas", "body": "Pregunte dónde está el montón."}
    }
    assert call_taker.get(f"/staff/kb/{article.slug}/").status_code == 404  # not published
    page = supervisor.get(f"/staff/kb/{article.slug}/")
    assert "<p>Ask where the pile is.</p>" in text(page)
    response = supervisor.post(
        f"/staff/kb/{article.slug}/edit/",
        {
            "title": "Leaf piles",
            "body": "Updated.",
            "title_es": "Montones de hojas",
            "body_es": "Actualizado.",
            "published": "on",
            "service": "",
        },
    )
    assert response.status_code == 302
    found = call_taker.get("/staff/kb/", {"q": "hojas"}).context["articles"]
    assert [a.slug for a in found] == [article.slug]
    assert call_taker.get(f"/staff/kb/{article.slug}/").status_code == 200
    invalid = supervisor.post("/staff/kb/new/", {"title": "", "body": ""})
    assert invalid.status_code == 400 and 'class="error-summary"' in text(invalid)


def test_demo_articles_load_again_without_duplicates() -> None:
    from civicdesk.console.demo import knowledge_articles_load

    before = KnowledgeArticle.objects.count()
    assert knowledge_articles_load() == before
    assert KnowledgeArticle.objects.count() == before
    article = KnowledgeArticle.objects.get(slug="potholes-what-to-ask")
    assert article.service is not None and article.service.service_code == "pothole"
    assert "bache" in article.search_text and article.localized("title", "es").startswith("Baches")


# --------------------------------------------------------------------------------------
# Spanish and the admin


def test_console_speaks_spanish() -> None:
    make_request()
    body = text(client_for("pw.supervisor", "es").get(QUEUE))
    assert 'lang="es"' in body
    assert "Toma de llamadas" in body and "Base de conocimiento" in body
    assert "Cerrar sesión" in body


def test_admin_pages_open_for_a_311_manager() -> None:
    make_request(email="private@example.net")
    client = client_for("admin")
    index = client.get("/admin/")
    assert index.status_code == 200
    for model in admin_site._registry:
        opts = model._meta
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        assert client.get(url).status_code == 200, url
        if admin_site._registry[model].has_add_permission(index.wsgi_request):
            add = reverse(f"admin:{opts.app_label}_{opts.model_name}_add")
            assert client.get(add).status_code == 200, add
    # An article written in the admin is saved like one written in the console.
    response = client.post(
        reverse("admin:console_knowledgearticle_add"),
        {
            "title": "Dead animals",
            "slug": "",
            "body": "Ask how big it is.",
            "service": "",
            "published": "on",
            "translations": '{"es": {"title": "Animales muertos"}}',
        },
    )
    assert response.status_code == 302, text(response)[:2000]
    article = KnowledgeArticle.objects.get(title="Dead animals")
    assert article.slug == "dead-animals" and article.updated_by == staff("admin")
    assert "animales muertos" in article.search_text
    sr = ServiceRequest.objects.first()
    assert sr is not None
    change = client.get(reverse("admin:servicerequests_servicerequest_change", args=[sr.pk]))
    assert change.status_code == 200 and 'name="_save"' not in text(change)  # read-only
    assert "private@example.net" not in text(change)  # nor the reporter's details
