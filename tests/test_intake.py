"""Intake: every bad input gets a clear, specific error, and nothing at all is written."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.utils import timezone

from civicdesk.catalog.models import Service
from civicdesk.errors import InvalidInput, OutsideJurisdiction
from civicdesk.notifications.models import Notification
from civicdesk.servicerequests.models import (
    Channel,
    Contact,
    RequestEvent,
    RequestMedia,
    ServiceRequest,
)
from civicdesk.servicerequests.services import ContactInput, request_create
from tests.conftest import DOWNTOWN, OUTSIDE, make_request

pytestmark = pytest.mark.usefixtures("city")


@pytest.fixture
def nothing_written(city: None) -> Iterator[None]:
    def counts() -> tuple[int, ...]:
        return tuple(
            m.objects.count()
            for m in (ServiceRequest, Contact, RequestEvent, RequestMedia, Notification)
        )

    before = counts()
    yield
    assert counts() == before


BAD_INPUTS: list[tuple[str, dict[str, Any], str, str]] = [
    ("unknown service", {"service_code": "unicorn"}, "service_code", "not a service"),
    (
        "missing required answer",
        {"attributes": {"size": "small"}},
        "attribute[in_traffic_lane]",
        "required",
    ),
    (
        "value not allowed",
        {"attributes": {"size": "gigantic", "in_traffic_lane": "yes"}},
        "attribute[size]",
        "not one of the choices",
    ),
    (
        "number not a number",
        {"attributes": {"size": "small", "in_traffic_lane": "yes", "depth_inches": "deep"}},
        "attribute[depth_inches]",
        "not a number",
    ),
    (
        "unknown question",
        {"attributes": {"size": "small", "in_traffic_lane": "yes", "colour": "red"}},
        "attribute[colour]",
        "no such question",
    ),
    ("latitude without longitude", {"long": None}, "long", "go together"),
    ("latitude out of range", {"lat": "91"}, "lat", "outside -90..90"),
    ("latitude not a number", {"lat": "north"}, "lat", "not a number"),
    ("no location", {"lat": None, "long": None}, "location", "give a location"),
    ("description too long", {"description": "x" * 4001}, "description", "at most 4000"),
    ("bad email", {"contact": ContactInput(email="not-an-email")}, "email", "not an email address"),
    ("bad phone", {"contact": ContactInput(phone="call me")}, "phone", "not a phone number"),
    (
        "unsupported language",
        {"contact": ContactInput(email="a@example.net", preferred_language="fr")},
        "preferred_language",
        "not offered",
    ),
    (
        "sms without phone",
        {"contact": ContactInput(email="a@example.net", sms_opt_in=True)},
        "phone",
        "needed for text messages",
    ),
    ("unknown channel", {"channel": "pigeon"}, "channel", "not a channel"),
    ("bad priority", {"priority": 7}, "priority", "not a priority"),
    ("bad media url", {"media_urls": ["javascript:alert(1)"]}, "media_url", "not an http(s) URL"),
    (
        "future date",
        {"requested_at": timezone.now() + dt.timedelta(days=2)},
        "requested_datetime",
        "future",
    ),
    (
        "naive date",
        {"requested_at": dt.datetime(2026, 1, 5, 10, 0)},
        "requested_datetime",
        "time zone",
    ),
]


@pytest.mark.usefixtures("nothing_written")
@pytest.mark.parametrize(
    ("label", "overrides", "field", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS]
)
def test_bad_input_is_refused_with_a_specific_message(
    label: str, overrides: dict[str, Any], field: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as caught:
        make_request("pothole", **overrides)
    assert field in caught.value.field_errors, caught.value.field_errors
    assert message in " ".join(caught.value.field_errors[field])


@pytest.mark.usefixtures("nothing_written")
def test_all_problems_are_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as caught:
        make_request(
            "pothole", attributes={}, description="x" * 5000, contact=ContactInput(email="nope")
        )
    assert {"attribute[size]", "attribute[in_traffic_lane]", "description", "email"} <= set(
        caught.value.field_errors
    )


@pytest.mark.usefixtures("nothing_written")
def test_outside_the_city_is_refused_clearly() -> None:
    with pytest.raises(OutsideJurisdiction, match="outside Prairie Falls"):
        make_request(at=OUTSIDE)


@pytest.mark.usefixtures("nothing_written")
def test_inactive_services_take_no_requests() -> None:
    Service.objects.filter(service_code="pothole").update(active=False)
    with pytest.raises(InvalidInput, match="no longer taken"):
        make_request("pothole")


@pytest.mark.usefixtures("nothing_written")
def test_emergencies_online_are_told_to_call() -> None:
    with pytest.raises(InvalidInput, match="911") as caught:
        request_create(service_code="gas-odor", address="12 Main St", channel=Channel.WEB)
    assert caught.value.code == "emergency_service"


def test_a_call_taker_may_record_an_emergency_call() -> None:
    request = request_create(service_code="gas-odor", address="12 Main St", channel=Channel.PHONE)
    assert request.service.service_code == "gas-odor"


@pytest.mark.usefixtures("nothing_written")
def test_services_that_need_a_callback_require_contact_details() -> None:
    with pytest.raises(InvalidInput, match="need an email address or a phone number"):
        request_create(
            service_code="sewer-backup",
            address="12 Main St",
            attributes=_answers_for("sewer-backup"),
        )


def _answers_for(code: str) -> dict[str, Any]:
    """Valid answers for any demo service: the first choice, 1, now, 'x'."""
    answers: dict[str, Any] = {}
    for attribute in Service.objects.get(service_code=code).attributes.filter(variable=True):
        if attribute.datatype in ("singlevaluelist", "multivaluelist"):
            answers[attribute.code] = attribute.values[0]["key"]
        elif attribute.datatype == "number":
            answers[attribute.code] = "1"
        elif attribute.datatype == "datetime":
            answers[attribute.code] = "2026-11-20T08:30"
        else:
            answers[attribute.code] = "x"
    return answers


def test_an_address_alone_is_a_location() -> None:
    request = request_create(
        service_code="pothole",
        address="400 W Main St",
        zipcode="61701",
        attributes={"size": "large", "in_traffic_lane": "yes"},
    )
    assert (request.lat, request.long, request.district) == (None, None, None)
    assert request.department.code == "PW"


def test_answers_are_stored_normalised() -> None:
    request = request_create(
        service_code="missed-pickup",
        address="1 Elm St",
        attributes={
            "carts_missed": ["trash", "recycling", "trash"],
            "cart_out_time": "2026-11-20T06:30",
        },
    )
    assert request.attributes == {
        "carts_missed": ["trash", "recycling"],
        "cart_out_time": "2026-11-20T06:30:00-06:00",
    }


def test_contact_details_are_kept_apart_from_the_request() -> None:
    request = make_request(
        contact=ContactInput(
            name=" Rosa Diaz ",
            email="Rosa@Example.NET ",
            phone="+1 (217) 555-0142",
            preferred_language="es-MX",
        )
    )
    assert request.reporter is not None
    assert (request.reporter.name, request.reporter.email, request.reporter.preferred_language) == (
        "Rosa Diaz",
        "rosa@example.net",
        "es",
    )
    field_names = {f.name for f in ServiceRequest._meta.get_fields()}
    assert not {"name", "email", "phone"} & field_names


def test_back_dated_intake_keeps_its_time_and_due_date() -> None:
    when = timezone.now() - dt.timedelta(days=3)
    request = make_request(requested_at=when)
    assert request.requested_at == when
    assert request.events.get().created_at == when


def test_media_urls_are_attached() -> None:
    request = make_request(media_urls=["https://photos.example.net/p/1.jpg"])
    assert list(request.media.values_list("url", flat=True)) == [
        "https://photos.example.net/p/1.jpg"
    ]


def test_location_is_placed_in_district_and_ward() -> None:
    request = make_request(at=DOWNTOWN)
    assert request.district is not None and request.ward is not None
    assert (request.district.code, request.ward.code) == ("1", "W03")
