"""Duplicate detection at intake, merging duplicates into the request reported first, and
following / unfollowing a request: what call takers and residents see."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from civicdesk.catalog.models import Service
from civicdesk.errors import InvalidInput, TransitionNotAllowed
from civicdesk.notifications.models import Notification
from civicdesk.notifications.sms import MemorySmsAdapter
from civicdesk.servicerequests.models import (
    Contact,
    EventKind,
    Follower,
    RequestEvent,
    ServiceRequest,
)
from civicdesk.servicerequests.selectors import duplicates_find
from civicdesk.servicerequests.services import (
    ContactInput,
    request_follow,
    request_merge,
    request_note_add,
    request_transition,
    request_unfollow,
)
from civicdesk.servicerequests.statuses import Status
from tests.conftest import DOWNTOWN, make_request, staff

METRES_PER_DEGREE_LAT = 111_195.0  # on the earth sphere used by civicdesk.geo.distance


def north_of_downtown(metres: float) -> tuple[float, float]:
    return DOWNTOWN[0] + metres / METRES_PER_DEGREE_LAT, DOWNTOWN[1]


def ago(hours: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(hours=hours)


def follower_emails(request: ServiceRequest) -> list[str]:
    return sorted(Follower.objects.filter(request=request).values_list("contact__email", flat=True))


def emails_to(outbox: list[Any]) -> list[str]:
    return sorted(address for message in outbox for address in message.to)


def candidate_ids(found: list[Any]) -> list[str]:
    return [c.public_id for c in found]


# --------------------------------------------------------------------------------------
# Finding duplicates


@pytest.fixture
def pothole_neighbourhood(city: None) -> dict[str, ServiceRequest]:
    """Requests around downtown; only some are duplicate candidates of a new pothole there."""
    at_10m = make_request(at=north_of_downtown(10), description="Deep hole by the bank")
    at_30m = make_request(at=north_of_downtown(30))
    request_transition(request=at_30m, to_status=Status.IN_PROGRESS)
    at_50m_60h_old = make_request(at=north_of_downtown(50), requested_at=ago(60))
    return {
        "at_10m": at_10m,
        "at_30m": at_30m,
        "at_50m_60h_old": at_50m_60h_old,
        "at_120m": make_request(at=north_of_downtown(120)),
        "at_20m_80h_old": make_request(at=north_of_downtown(20), requested_at=ago(80)),
        "graffiti_at_5m": make_request("graffiti", at=north_of_downtown(5)),
        "resolved_at_15m": request_transition(
            request=make_request(at=north_of_downtown(15)), to_status=Status.RESOLVED
        ),
        "new": make_request(at=DOWNTOWN),
    }


def _find(near: dict[str, ServiceRequest], **kwargs: Any) -> list[Any]:
    new = near["new"]
    return duplicates_find(
        service=Service.objects.get(service_code="pothole"),
        lat=DOWNTOWN[0],
        long=DOWNTOWN[1],
        exclude_id=new.pk,
        **kwargs,
    )


def test_candidates_are_open_same_service_near_and_recent_nearest_first(
    pothole_neighbourhood: dict[str, ServiceRequest],
) -> None:
    near = pothole_neighbourhood
    found = _find(near)

    # Default radius 75 m and window 72 h: not the graffiti, the one 120 m away, the resolved
    # one, the one reported 80 hours ago, nor the new request itself.
    assert candidate_ids(found) == [
        near["at_10m"].public_id,
        near["at_30m"].public_id,
        near["at_50m_60h_old"].public_id,
    ]
    assert [c.distance_m for c in found] == [
        pytest.approx(10, abs=0.5),
        pytest.approx(30, abs=0.5),
        pytest.approx(50, abs=0.5),
    ]
    first = found[0]
    assert first.id == near["at_10m"].pk
    assert first.description == "Deep hole by the bank"
    assert first.status == Status.NEW
    assert found[1].status == Status.IN_PROGRESS  # a request being worked is still open

    assert candidate_ids(_find(near, limit=1)) == [near["at_10m"].public_id]


def test_the_request_itself_is_a_candidate_only_when_not_excluded(
    pothole_neighbourhood: dict[str, ServiceRequest],
) -> None:
    near = pothole_neighbourhood
    found = duplicates_find(
        service=Service.objects.get(service_code="pothole"), lat=DOWNTOWN[0], long=DOWNTOWN[1]
    )
    assert candidate_ids(found)[0] == near["new"].public_id
    assert found[0].distance_m == pytest.approx(0, abs=0.1)
    assert near["new"].public_id not in candidate_ids(_find(near))


def test_the_window_ends_at_the_moment_asked_about(
    pothole_neighbourhood: dict[str, ServiceRequest],
) -> None:
    near = pothole_neighbourhood
    # Looking from 70 hours ago: only the request reported 80 hours ago existed (and was recent).
    found = _find(near, at=ago(70))
    assert candidate_ids(found) == [near["at_20m_80h_old"].public_id]


def test_site_settings_set_the_radius_and_the_window(
    pothole_neighbourhood: dict[str, ServiceRequest], settings: Any
) -> None:
    near = pothole_neighbourhood
    settings.CIVICDESK_DUPLICATE_RADIUS_M = 20
    assert candidate_ids(_find(near)) == [near["at_10m"].public_id]

    settings.CIVICDESK_DUPLICATE_RADIUS_M = 150
    settings.CIVICDESK_DUPLICATE_WINDOW_HOURS = 100
    assert candidate_ids(_find(near)) == [
        near["at_10m"].public_id,
        near["at_20m_80h_old"].public_id,
        near["at_30m"].public_id,
        near["at_50m_60h_old"].public_id,
        near["at_120m"].public_id,
    ]

    settings.CIVICDESK_DUPLICATE_WINDOW_HOURS = 48
    assert near["at_50m_60h_old"].public_id not in candidate_ids(_find(near))


def test_a_service_s_own_radius_and_window_override_the_site_settings(
    pothole_neighbourhood: dict[str, ServiceRequest], settings: Any
) -> None:
    near = pothole_neighbourhood
    settings.CIVICDESK_DUPLICATE_RADIUS_M = 5
    settings.CIVICDESK_DUPLICATE_WINDOW_HOURS = 1
    Service.objects.filter(service_code="pothole").update(
        duplicate_radius_m=150, duplicate_window_hours=100
    )
    assert candidate_ids(_find(near)) == [
        near["at_10m"].public_id,
        near["at_20m_80h_old"].public_id,
        near["at_30m"].public_id,
        near["at_50m_60h_old"].public_id,
        near["at_120m"].public_id,
    ]


# --------------------------------------------------------------------------------------
# Merging


def test_merge_closes_the_duplicate_and_moves_its_people_to_the_parent(
    city: None, deliver: Any, outbox: list[Any]
) -> None:
    parent = make_request(email="first@example.org")
    duplicate = make_request(email="second@example.org")
    request_follow(request=duplicate, contact=ContactInput(email="neighbour@example.org"))
    supervisor = staff("pw.supervisor")

    with deliver():
        result = request_merge(
            duplicate=duplicate, parent=parent, note="Same pothole", actor=supervisor
        )

    assert result.pk == parent.pk
    duplicate.refresh_from_db()
    assert duplicate.status == Status.DUPLICATE
    assert duplicate.open311_status == "closed"
    assert duplicate.parent_id == parent.pk
    assert duplicate.closed_at is not None
    assert duplicate.status_notes == "Same pothole"

    dup_events = list(
        RequestEvent.objects.filter(request=duplicate)
        .exclude(kind__in=[EventKind.CREATED, EventKind.FOLLOW])
        .values_list("kind", "public", "to_status", "note", "data", "actor__username")
    )
    assert dup_events == [
        (EventKind.STATUS_CHANGE, True, Status.DUPLICATE, "Same pothole", {}, "pw.supervisor"),
        (EventKind.MERGE, True, "", "", {"parent": parent.public_id}, "pw.supervisor"),
    ]
    parent_events = list(
        RequestEvent.objects.filter(request=parent)
        .exclude(kind=EventKind.CREATED)
        .values_list("kind", "public", "data")
    )
    assert parent_events == [
        (EventKind.MERGE, False, {"duplicate": duplicate.public_id, "followers_added": 2}),
    ]

    parent.refresh_from_db()
    assert parent.status == Status.NEW  # the surviving request carries on as it was
    assert follower_emails(parent) == [
        "first@example.org",
        "neighbour@example.org",
        "second@example.org",
    ]

    # The duplicate's reporter and follower are told where their report went; the parent's
    # reporter hears nothing.
    assert emails_to(outbox) == ["neighbour@example.org", "second@example.org"]
    for message in outbox:
        assert message.subject == f"Request {duplicate.public_id} joined {parent.public_id}"
        assert f"has been joined to request {parent.public_id}" in message.body
        assert f"/requests/{duplicate.public_id}/" in message.body
    assert set(Notification.objects.filter(kind="merged").values_list("recipient", "status")) == {
        ("second@example.org", "sent"),
        ("neighbour@example.org", "sent"),
    }


def test_after_a_merge_the_parent_s_news_reaches_the_merged_reporter(
    city: None, deliver: Any, outbox: list[Any]
) -> None:
    parent = make_request(email="first@example.org")
    duplicate = make_request(email="second@example.org", language="es")
    texting = make_request(
        contact=ContactInput(phone="+1 217 555 0142", sms_opt_in=True),
    )
    request_merge(duplicate=duplicate, parent=parent)
    request_merge(duplicate=texting, parent=parent)
    MemorySmsAdapter.outbox.clear()

    with deliver():
        request_note_add(request=parent, note="Crew booked for Tuesday", public=True)
    assert emails_to(outbox) == ["first@example.org", "second@example.org"]
    assert all("Crew booked for Tuesday" in m.body for m in outbox)
    assert all(parent.public_id in m.subject for m in outbox)
    assert [(m["to"], parent.public_id in m["body"]) for m in MemorySmsAdapter.outbox] == [
        ("+1 217 555 0142", True)
    ]
    assert (
        Notification.objects.get(kind="public_note", recipient="second@example.org").language
        == "es"
    )

    outbox.clear()
    MemorySmsAdapter.outbox.clear()
    with deliver():
        request_transition(request=parent, to_status=Status.RESOLVED, note="Filled")
    assert emails_to(outbox) == ["first@example.org", "second@example.org"]
    assert len(MemorySmsAdapter.outbox) == 1


def _reported_and_followed_twice() -> tuple[ServiceRequest, ServiceRequest]:
    parent = make_request(email="same@example.org")
    duplicate = make_request(email="Same@Example.org")  # the same resident reported twice
    request_follow(request=parent, contact=ContactInput(email="watcher@example.org"))
    request_follow(request=duplicate, contact=ContactInput(email="watcher@example.org"))
    return parent, duplicate


def test_a_person_following_both_requests_hears_once_after_the_merge(
    city: None, deliver: Any, outbox: list[Any]
) -> None:
    parent, duplicate = _reported_and_followed_twice()
    request_merge(duplicate=duplicate, parent=parent)

    with deliver():
        request_note_add(request=parent, note="Scheduled", public=True)
    assert emails_to(outbox) == ["same@example.org", "watcher@example.org"]


def test_a_person_following_both_requests_follows_the_parent_once(city: None) -> None:
    parent, duplicate = _reported_and_followed_twice()
    request_merge(duplicate=duplicate, parent=parent)

    assert follower_emails(parent) == ["same@example.org", "watcher@example.org"]
    merge_event = RequestEvent.objects.get(request=parent, kind=EventKind.MERGE)
    assert merge_event.data["followers_added"] == 0


def test_merging_into_a_duplicate_merges_into_its_parent(
    city: None, deliver: Any, outbox: list[Any]
) -> None:
    root = make_request(email="root@example.org")
    middle = make_request()
    request_merge(duplicate=middle, parent=root)
    late = make_request(email="late@example.org")

    with deliver():
        result = request_merge(duplicate=late, parent=middle)

    assert result.pk == root.pk
    late.refresh_from_db()
    assert (late.status, late.parent_id) == (Status.DUPLICATE, root.pk)
    assert "late@example.org" in follower_emails(root)
    assert "late@example.org" not in follower_emails(middle)
    assert RequestEvent.objects.get(request=late, kind=EventKind.MERGE).data == {
        "parent": root.public_id
    }
    [message] = outbox
    assert message.to == ["late@example.org"]
    assert message.subject == f"Request {late.public_id} joined {root.public_id}"


def test_requests_merged_into_the_duplicate_earlier_follow_it_to_the_new_parent(
    city: None, deliver: Any, outbox: list[Any]
) -> None:
    earlier = make_request(email="earlier@example.org")
    duplicate = make_request(email="dup@example.org")
    request_merge(duplicate=earlier, parent=duplicate)
    parent = make_request(email="parent@example.org")

    request_merge(duplicate=duplicate, parent=parent)

    earlier.refresh_from_db()
    assert (earlier.status, earlier.parent_id) == (Status.DUPLICATE, parent.pk)
    assert list(parent.duplicates.order_by("id").values_list("public_id", flat=True)) == [
        earlier.public_id,
        duplicate.public_id,
    ]
    assert follower_emails(parent) == [
        "dup@example.org",
        "earlier@example.org",
        "parent@example.org",
    ]
    with deliver():
        request_transition(request=parent, to_status=Status.IN_PROGRESS)
    assert emails_to(outbox) == ["dup@example.org", "earlier@example.org", "parent@example.org"]


def _snapshot(*requests: ServiceRequest) -> list[tuple[Any, ...]]:
    rows = []
    for request in requests:
        request.refresh_from_db()
        rows.append(
            (
                request.status,
                request.parent_id,
                request.closed_at,
                request.version,
                RequestEvent.objects.filter(request=request).count(),
                follower_emails(request),
            )
        )
    rows.append((Notification.objects.count(), Contact.objects.count()))
    return rows


def test_a_request_cannot_be_merged_into_itself(city: None) -> None:
    request = make_request(email="me@example.org")
    before = _snapshot(request)

    with pytest.raises(InvalidInput) as error:
        request_merge(duplicate=request, parent=request)
    assert error.value.field_errors == {"parent": ["a request cannot be merged into itself"]}
    assert _snapshot(request) == before


def test_a_parent_cannot_be_merged_into_its_own_duplicate(city: None) -> None:
    parent = make_request(email="parent@example.org")
    duplicate = make_request(email="dup@example.org")
    request_merge(duplicate=duplicate, parent=parent)
    before = _snapshot(parent, duplicate)

    with pytest.raises(InvalidInput) as error:
        request_merge(duplicate=parent, parent=duplicate)
    assert "cannot be merged into itself" in str(error.value)
    assert _snapshot(parent, duplicate) == before


@pytest.mark.parametrize("ending", [Status.RESOLVED, Status.CLOSED, Status.REFERRED])
def test_a_closed_request_cannot_be_merged(city: None, ending: str) -> None:
    parent = make_request(email="parent@example.org")
    closed = make_request(email="closed@example.org")
    referred_to = "County Highway Dept" if ending == Status.REFERRED else ""
    request_transition(request=closed, to_status=ending, referred_to=referred_to)
    before = _snapshot(parent, closed)

    with pytest.raises(TransitionNotAllowed) as error:
        request_merge(duplicate=closed, parent=parent)
    assert str(error.value) == (
        f"request {closed.public_id} is {Status(ending).label}; only an open request can be merged"
    )
    assert _snapshot(parent, closed) == before


def test_a_duplicate_cannot_be_merged_again(city: None) -> None:
    parent, other = make_request(), make_request()
    duplicate = make_request(email="dup@example.org")
    request_merge(duplicate=duplicate, parent=parent)
    before = _snapshot(parent, other, duplicate)

    with pytest.raises(TransitionNotAllowed, match="is Duplicate; only an open request"):
        request_merge(duplicate=duplicate, parent=other)
    assert _snapshot(parent, other, duplicate) == before


# --------------------------------------------------------------------------------------
# Following


def test_following_needs_an_email_or_a_phone_for_text_messages(city: None) -> None:
    request = make_request()
    message = "give an email address, or a phone number for text messages, to receive updates"

    for contact in (
        ContactInput(name="Nobody"),
        ContactInput(name="Calls only", phone="+1 217 555 0100"),
    ):
        with pytest.raises(InvalidInput) as error:
            request_follow(request=request, contact=contact)
        assert error.value.field_errors == {"email": [message]}
    with pytest.raises(InvalidInput) as error:
        request_follow(request=request, contact=ContactInput(email="not-an-address"))
    assert error.value.field_errors["email"][0] == "'not-an-address' is not an email address"
    with pytest.raises(InvalidInput) as error:
        request_follow(request=request, contact=ContactInput(phone="call me", sms_opt_in=True))
    assert error.value.field_errors["phone"] == ["'call me' is not a phone number"]
    assert not Follower.objects.filter(request=request).exists()
    assert not RequestEvent.objects.filter(request=request, kind=EventKind.FOLLOW).exists()

    texting = request_follow(
        request=request, contact=ContactInput(phone="+1 217 555 0100", sms_opt_in=True)
    )
    emailing = request_follow(request=request, contact=ContactInput(email="a@example.org"))
    assert texting.contact.sms_opt_in and emailing.contact.email == "a@example.org"
    assert Follower.objects.filter(request=request).count() == 2


def test_following_twice_with_the_same_email_gives_one_follower(
    city: None, deliver: Any, outbox: list[Any]
) -> None:
    request = make_request()
    first = request_follow(
        request=request, contact=ContactInput(name="Kim", email=" Kim@Example.org ")
    )
    second = request_follow(request=request, contact=ContactInput(email="kim@example.org"))

    assert second.pk == first.pk
    assert follower_emails(request) == ["kim@example.org"]
    follow_events = RequestEvent.objects.filter(request=request, kind=EventKind.FOLLOW)
    assert [(e.public, e.actor_label) for e in follow_events] == [(False, "resident")]

    with deliver():
        request_note_add(request=request, note="Crew on site", public=True)
    assert emails_to(outbox) == ["kim@example.org"]


def test_unfollow_stops_the_updates(city: None, deliver: Any, outbox: list[Any]) -> None:
    request = make_request(email="reporter@example.org")
    request_follow(request=request, contact=ContactInput(email="kim@example.org"))
    request_follow(request=request, contact=ContactInput(phone="+1 217 555 0199", sms_opt_in=True))

    assert request_unfollow(request=request, email=" KIM@example.org") == 1
    assert request_unfollow(request=request, email="kim@example.org") == 0
    assert request_unfollow(request=request.pk, phone="+1 217 555 0199") == 1
    with pytest.raises(InvalidInput) as error:
        request_unfollow(request=request)
    assert error.value.field_errors == {
        "email": ["give the email address or phone number that follows"]
    }

    with deliver():
        request_note_add(request=request, note="Crew on site", public=True)
    assert emails_to(outbox) == ["reporter@example.org"]
    assert MemorySmsAdapter.outbox == []
