"""The demo city and synthetic requests: what a person trying civicdesk sees after
``civicdesk seed`` must look like a real 311 program and obey the same rules as real intake."""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from io import StringIO
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db.models import Count

from civicdesk.accounts.models import User
from civicdesk.catalog.attributes import answers_clean
from civicdesk.catalog.models import (
    BusinessCalendar,
    Department,
    Holiday,
    Service,
    ServiceAttribute,
    Team,
)
from civicdesk.catalog.service_levels import due_at_compute, working_calendar_for
from civicdesk.geo.models import BoundaryLayer, RoutingRule, Zone
from civicdesk.geo.services import route_resolve
from civicdesk.geo.zones import place
from civicdesk.ops.demo import DEMO_PASSWORD, demo_city_load
from civicdesk.ops.seed import WINDOW_DAYS, requests_seed
from civicdesk.servicerequests.models import (
    Contact,
    EventKind,
    Follower,
    RequestEvent,
    ServiceRequest,
)
from civicdesk.servicerequests.statuses import CLOSED_STATUSES, OPEN_STATUSES, Status
from tests.conftest import make_request

CHI = ZoneInfo("America/Chicago")
NOW = dt.datetime(2026, 11, 20, 18, 0, tzinfo=dt.UTC)
PUBLIC_ID = re.compile(r"^\d{2}-\d{6}$")


@pytest.fixture
def seeded(city: None) -> list[ServiceRequest]:
    """Three hundred synthetic requests, seed 1, as of a fixed moment."""
    stats = requests_seed(count=300, seed=1, now=NOW)
    assert stats.requests == 300
    requests = list(ServiceRequest.objects.select_related("service", "department").order_by("id"))
    assert len(requests) == 300
    return requests


def fingerprint(requests: list[ServiceRequest]) -> list[tuple[Any, ...]]:
    """What a person sees of each request, without the ids a second run must renumber."""
    return [
        (
            r.service.service_code,
            r.description,
            r.attributes,
            r.lat,
            r.long,
            r.address,
            r.channel,
            r.priority,
            r.status,
            r.department_id,
            r.team_id,
            r.assignee_id,
            r.requested_at,
            r.due_at,
            r.closed_at,
            r.parent_id is not None,
            (r.reporter.name, r.reporter.email) if r.reporter else None,
            list(r.events.values_list("kind", "to_status", "created_at")),
        )
        for r in requests
    ]


# --------------------------------------------------------------------------------------
# The requests


def test_seeded_requests_are_inside_the_city_with_their_district_and_ward(
    seeded: list[ServiceRequest],
) -> None:
    for request in seeded:
        placement = place(request.lat, request.long)  # type: ignore[arg-type]
        assert placement.inside_jurisdiction, request.public_id
        assert request.district_id == placement.district_id, request.public_id
        assert request.ward_id == placement.ward_id, request.public_id
    assert len({r.district_id for r in seeded}) == 6


def test_seeded_requests_are_routed_as_intake_would_route_them(
    seeded: list[ServiceRequest],
) -> None:
    for request in seeded:
        route = route_resolve(
            service=request.service,
            zone_ids=place(request.lat, request.long).zone_ids,  # type: ignore[arg-type]
        )
        assert (request.department_id, request.team_id) == (route.department_id, route.team_id)


def test_seeded_public_ids_are_unique_and_follow_the_year_of_intake(
    seeded: list[ServiceRequest],
) -> None:
    ids = [r.public_id for r in seeded]
    assert len(set(ids)) == len(ids)
    for request in seeded:
        assert PUBLIC_ID.match(request.public_id), request.public_id
        assert request.public_id[:2] == request.requested_at.astimezone(CHI).strftime("%y")
    # Intake after seeding carries on from the seeded numbers, with a new row id.
    fresh = make_request()
    assert fresh.public_id not in ids
    assert fresh.id > max(r.id for r in seeded)


def test_seeded_requests_fall_in_the_last_eighteen_months(seeded: list[ServiceRequest]) -> None:
    earliest = NOW - dt.timedelta(days=WINDOW_DAYS + 1)
    for request in seeded:
        assert earliest <= request.requested_at <= NOW, request.public_id
    # Spread over the window, not bunched on one day.
    assert len({r.requested_at.astimezone(CHI).date() for r in seeded}) > 150


def test_closed_requests_have_a_close_time_and_open_ones_do_not(
    seeded: list[ServiceRequest],
) -> None:
    for request in seeded:
        if request.status in CLOSED_STATUSES:
            assert request.closed_at is not None, request.public_id
            assert request.requested_at < request.closed_at <= NOW
        else:
            assert request.status in OPEN_STATUSES
            assert request.closed_at is None, request.public_id


def test_seeded_due_dates_come_from_due_at_compute(seeded: list[ServiceRequest]) -> None:
    calendars: dict[int, Any] = {}
    for request in seeded:
        service = request.service
        if service.id not in calendars:
            calendars[service.id] = working_calendar_for(service)
        expected = due_at_compute(
            amount=service.sla_amount,
            unit=service.sla_unit,
            requested_at=request.requested_at,
            calendar=calendars[service.id],
        )
        assert request.due_at == expected, request.public_id


def test_seeded_answers_meet_each_service_questions(seeded: list[ServiceRequest]) -> None:
    questions = {
        service.id: list(service.attributes.all())
        for service in Service.objects.prefetch_related("attributes")
    }
    for request in seeded:
        assert answers_clean(questions[request.service_id], request.attributes) == (
            request.attributes
        ), request.public_id


def test_seeded_requests_mix_statuses_channels_and_services(seeded: list[ServiceRequest]) -> None:
    statuses = Counter(r.status for r in seeded)
    channels = Counter(r.channel for r in seeded)
    services = Counter(r.service.service_code for r in seeded)
    assert statuses[Status.CLOSED] > statuses[Status.RESOLVED] > 0
    assert sum(statuses[s] for s in OPEN_STATUSES) > 0
    assert len(statuses) >= 5
    assert channels["phone"] > 0 and channels["web"] > 0 and channels["mobile_app"] > 0
    assert len(channels) >= 5
    assert len(services) >= 20
    # Emergencies are phoned in, never part of the online backlog.
    assert not services["gas-odor"] and not services["downed-power-line"]
    # Some requests are late: the demo shows overdue and escalated work. An escalation comes
    # after the due time (the sweep runs every few minutes), never before.
    hour = dt.timedelta(hours=1)
    late = [r for r in seeded if r.due_at and (r.closed_at or NOW) > r.due_at + hour]
    assert late and all(r.escalated_at is not None for r in late)
    for request in seeded:
        if request.escalated_at is not None:
            assert request.due_at is not None and request.escalated_at > request.due_at


def test_each_timeline_starts_with_created_and_ends_in_the_current_status(
    seeded: list[ServiceRequest],
) -> None:
    events: dict[int, list[RequestEvent]] = {}
    for event in RequestEvent.objects.filter(request__in=seeded).order_by("created_at", "id"):
        events.setdefault(event.request_id, []).append(event)
    for request in seeded:
        timeline = events[request.id]
        first = timeline[0]
        assert first.kind == EventKind.CREATED, request.public_id
        assert first.to_status == Status.NEW
        assert first.created_at == request.requested_at
        assert first.data == {"channel": request.channel}
        changes = [e for e in timeline if e.kind == EventKind.STATUS_CHANGE]
        if changes:
            assert changes[-1].to_status == request.status, request.public_id
        else:
            assert request.status == Status.NEW
        assert all(e.created_at <= NOW for e in timeline)


def test_reporters_follow_their_requests(seeded: list[ServiceRequest]) -> None:
    with_reporter = [r for r in seeded if r.reporter_id is not None]
    assert 60 < len(with_reporter) < 240  # most but not all residents leave contact details
    followed = set(
        Follower.objects.filter(request__in=seeded).values_list("request_id", "contact_id")
    )
    assert followed == {(r.id, r.reporter_id) for r in with_reporter}
    for contact in Contact.objects.filter(id__in=[r.reporter_id for r in with_reporter]):
        assert contact.email.endswith("@example.net")
        assert contact.preferred_language in {"en", "es"}


def test_duplicates_point_at_an_earlier_request_of_the_same_service(city: None) -> None:
    requests_seed(count=300, seed=1, now=NOW)
    duplicates = ServiceRequest.objects.filter(status=Status.DUPLICATE).select_related("parent")
    for duplicate in duplicates:
        assert duplicate.parent is not None
        assert duplicate.parent.service_id == duplicate.service_id
        assert duplicate.parent.requested_at <= duplicate.requested_at


def test_the_same_seed_gives_the_same_requests(city: None) -> None:
    requests_seed(count=40, seed=7, now=NOW)
    first = list(ServiceRequest.objects.order_by("id"))
    requests_seed(count=40, seed=7, now=NOW)
    second = list(ServiceRequest.objects.order_by("id"))[40:]
    assert fingerprint(second) == fingerprint(first)
    assert {r.public_id for r in first}.isdisjoint(r.public_id for r in second)
    requests_seed(count=40, seed=8, now=NOW)
    third = list(ServiceRequest.objects.order_by("id"))[80:]
    assert fingerprint(third) != fingerprint(first)


def test_seeding_without_a_catalogue_is_refused(city: None) -> None:
    Service.objects.update(active=False)
    with pytest.raises(ValueError, match="no active services"):
        requests_seed(count=10, seed=1, now=NOW)
    assert not ServiceRequest.objects.exists()


# --------------------------------------------------------------------------------------
# The demo city


def city_counts() -> dict[str, Any]:
    return {
        "departments": Department.objects.count(),
        "teams": Team.objects.count(),
        "services": Service.objects.count(),
        "attributes": ServiceAttribute.objects.count(),
        "calendars": BusinessCalendar.objects.count(),
        "holidays": Holiday.objects.count(),
        "layers": BoundaryLayer.objects.count(),
        "zones": sorted(Zone.objects.values_list("id", "layer__slug", "code")),
        "rules": sorted(RoutingRule.objects.values_list("id", "service_id", "zone_id")),
        "staff": sorted(User.objects.values_list("id", "username")),
    }


def test_loading_the_demo_city_twice_changes_nothing(city: None) -> None:
    before = city_counts()
    admin = User.objects.get(username="admin")
    admin.set_password("a-new-secret-for-this-city")
    admin.save()
    summary = demo_city_load(today=dt.date(2026, 11, 26))
    assert city_counts() == before
    assert (summary.departments, summary.services, summary.staff) == (8, 33, 13)
    assert summary.zones == 1 + 6 + 18 + 4
    # An administrator's own password survives a reload.
    admin.refresh_from_db()
    assert admin.check_password("a-new-secret-for-this-city")
    assert not admin.check_password(DEMO_PASSWORD)


def test_the_demo_city_holds_what_the_docs_promise(city: None) -> None:
    assert BusinessCalendar.objects.get(is_default=True).timezone == "America/Chicago"
    holidays = set(Holiday.objects.values_list("date", flat=True))
    assert {dt.date(2026, 11, 26), dt.date(2026, 11, 27), dt.date(2026, 12, 25)} <= holidays
    assert dt.date(2026, 7, 3) in holidays  # Independence Day on a Saturday, observed Friday
    layers = dict(BoundaryLayer.objects.annotate(n=Count("zones")).values_list("slug", "n"))
    assert layers == {"city-limits": 1, "council-districts": 6, "wards": 18, "sanitation-zones": 4}
    staff = User.objects.get(username="pw.crew")
    assert staff.check_password(DEMO_PASSWORD)
    assert (staff.department.code, staff.team.code) == ("PW", "streets")  # type: ignore[union-attr]


# --------------------------------------------------------------------------------------
# The command


def test_seed_command_adds_the_requests_asked_for(city: None) -> None:
    out = StringIO()
    call_command("seed", "--requests", "50", "--seed", "3", stdout=out)
    assert ServiceRequest.objects.count() == 50
    text = out.getvalue()
    assert "Demo city loaded: 8 departments, 33 services, 29 zones, 13 staff accounts" in text
    assert "Added 50 requests" in text
    assert RequestEvent.objects.filter(kind=EventKind.CREATED).count() == 50


def test_seed_command_if_empty_does_nothing_when_requests_exist(city: None) -> None:
    make_request()
    out = StringIO()
    call_command("seed", "--if-empty", "--requests", "50", stdout=out)
    assert ServiceRequest.objects.count() == 1
    assert out.getvalue().strip() == "The database already holds 1 request; nothing to do."


def test_seed_command_without_a_count_adds_none_to_a_city_with_requests(city: None) -> None:
    make_request()
    out = StringIO()
    call_command("seed", stdout=out)
    assert ServiceRequest.objects.count() == 1
    assert "none added (use --requests N to add more)" in out.getvalue()


def test_seed_command_with_zero_requests_only_loads_the_city(city: None) -> None:
    out = StringIO()
    call_command("seed", "--requests", "0", stdout=out)
    assert not ServiceRequest.objects.exists()
    assert "Demo city loaded" in out.getvalue()


def test_seed_command_refuses_a_negative_count(city: None) -> None:
    before = city_counts()
    with pytest.raises(CommandError, match="--requests must be zero or more"):
        call_command("seed", "--requests", "-1")
    assert not ServiceRequest.objects.exists()
    assert city_counts() == before


def test_seed_command_refuses_a_count_that_is_not_a_number(city: None) -> None:
    with pytest.raises(CommandError, match="invalid int value: 'many'"):
        call_command("seed", "--requests", "many")
