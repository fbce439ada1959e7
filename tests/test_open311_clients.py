"""The GeoReport v2 API as a third-party app reads it: the ``georeport`` client from PyPI
(read-only), over real HTTP against a live server, in JSON and in XML. Both formats must carry
the same data, and the client's error path must see the specification's 404 and error list.
"""

from __future__ import annotations

import datetime as dt
import gc
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from django.conf import settings
from georeport import GeoReport

from civicdesk.catalog.models import Service, ServiceAttribute
from civicdesk.servicerequests.services import request_transition
from civicdesk.servicerequests.statuses import Status
from tests.conftest import DOWNTOWN, EAST_SIDE, make_request

# live_server answers from another thread, so the data must be committed; the city fixture
# reloads the demo city after an earlier transactional test flushed it.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("city")]

FORMATS = ("json", "xml")
# The specification's list elements (parent -> item) inside a service definition.
XML_LISTS = {"attributes": "attribute", "values": "value"}
TIMEOUT = 10


@pytest.fixture
def base(live_server: Any) -> Iterator[str]:
    yield f"{live_server.url}/open311/v2"
    # A caught HTTPError keeps its response, and so the client's keep-alive socket, in a
    # reference cycle; the server thread waiting on that socket keeps its database connection
    # (PostgreSQL then cannot drop the test database). Free them and let the threads end.
    gc.collect()
    deadline = time.monotonic() + 5
    for thread in threading.enumerate():
        if thread.name.endswith("(process_request_thread)"):
            thread.join(timeout=max(0.0, deadline - time.monotonic()))


@pytest.fixture
def clients(base: str) -> dict[str, GeoReport]:
    """One client per format, both naming our jurisdiction as a multi-city app would."""
    return {
        fmt: GeoReport(base, jurisdiction=settings.CIVICDESK_JURISDICTION_ID, output_format=fmt)
        for fmt in FORMATS
    }


def as_list(value: Any) -> list[Any]:
    """xmltodict gives one child element as a dict, several as a list, none as None."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def from_xml(value: Any, name: str = "") -> Any:
    """An xmltodict value with the specification's list elements turned back into lists."""
    if name in XML_LISTS:
        items = as_list(value[XML_LISTS[name]]) if value else []
        return [from_xml(item) for item in items]
    if isinstance(value, dict):
        return {key: from_xml(child, key) for key, child in value.items()}
    return value


def as_xml_text(value: Any) -> Any:
    """A JSON value as the XML carries it: every scalar is text, null and "" an empty element."""
    if isinstance(value, dict):
        return {key: as_xml_text(child) for key, child in value.items()}
    if isinstance(value, list):
        return [as_xml_text(child) for child in value]
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def w3c(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["service_request_id"] for r in records]


@pytest.fixture
def world() -> Iterator[dict[str, str]]:
    """Five requests: two open today, one closed today, one from 10 days and one from 100 days
    ago (outside the default 90-day window)."""
    now = dt.datetime.now(dt.UTC)
    pothole = make_request("pothole", at=DOWNTOWN, description="Deep hole by the bank")
    graffiti = make_request("graffiti", at=EAST_SIDE)
    resolved = make_request("pothole", at=EAST_SIDE, description="Small hole near the school")
    request_transition(request=resolved, to_status=Status.RESOLVED, note="Filled the hole")
    older = make_request("graffiti", at=DOWNTOWN, requested_at=now - dt.timedelta(days=10))
    ancient = make_request("pothole", at=EAST_SIDE, requested_at=now - dt.timedelta(days=100))
    yield {
        "pothole": pothole.public_id,
        "graffiti": graffiti.public_id,
        "resolved": resolved.public_id,
        "older": older.public_id,
        "ancient": ancient.public_id,
    }


def test_services_list_is_the_catalogue_in_both_formats(clients: dict[str, GeoReport]) -> None:
    as_json = clients["json"].get_service_list()
    as_xml = as_list(clients["xml"].get_service_list())

    active = Service.objects.filter(active=True)
    assert sorted(s["service_code"] for s in as_json) == sorted(
        active.values_list("service_code", flat=True)
    )
    with_questions = set(
        ServiceAttribute.objects.filter(service__active=True, variable=True).values_list(
            "service__service_code", flat=True
        )
    )
    flags = {s["service_code"]: s["metadata"] for s in as_json}
    assert flags == {code: code in with_questions for code in flags}
    assert flags["pothole"] is True
    assert flags["gas-odor"] is False  # no questions: a client need not fetch a definition
    assert {s["type"] for s in as_json} == {"realtime"}
    pothole = next(s for s in as_json if s["service_code"] == "pothole")
    assert pothole["service_name"] == "Pothole"
    assert pothole["group"] == "Streets and Sidewalks"

    assert [from_xml(s) for s in as_xml] == as_xml_text(as_json)


@pytest.mark.parametrize("service_code", ["pothole", "streetlight-out", "gas-odor"])
def test_service_definition_in_both_formats(
    clients: dict[str, GeoReport], service_code: str
) -> None:
    as_json = clients["json"].get_service_definition(service_code)
    as_xml = from_xml(clients["xml"].get_service_definition(service_code))

    service = Service.objects.get(service_code=service_code)
    stored = list(service.attributes.order_by("order", "code"))
    assert as_json["service_code"] == service_code
    assert [a["code"] for a in as_json["attributes"]] == [a.code for a in stored]
    for answer, attribute in zip(as_json["attributes"], stored, strict=True):
        assert answer["datatype"] == attribute.datatype
        assert answer["variable"] is attribute.variable
        assert answer["required"] is attribute.required
        assert answer["order"] == attribute.order
        assert answer["description"] == attribute.label
        assert [v["key"] for v in answer["values"]] == [str(v["key"]) for v in attribute.values]
    if service_code == "pothole":
        size = as_json["attributes"][0]
        assert (size["code"], size["datatype"]) == ("size", "singlevaluelist")
        assert "small" in [v["key"] for v in size["values"]]
    if service_code == "streetlight-out":
        info = as_json["attributes"][0]
        assert info["variable"] is False  # an informational text, not a question
        assert info["required"] is False

    assert as_xml == as_xml_text(as_json)


def test_requests_with_each_filter_in_both_formats(
    clients: dict[str, GeoReport], world: dict[str, str]
) -> None:
    now = dt.datetime.now(dt.UTC)
    today = [world["resolved"], world["graffiti"], world["pothole"]]  # newest first
    queries: list[tuple[dict[str, str], list[str]]] = [
        ({}, [*today, world["older"]]),  # default: the last 90 days
        (
            {"service_request_id": f"{world['pothole']},{world['ancient']}"},
            [world["pothole"], world["ancient"]],  # ids override the default window
        ),
        ({"service_request_id": world["ancient"]}, [world["ancient"]]),
        ({"service_code": "graffiti"}, [world["graffiti"], world["older"]]),
        ({"service_code": "pothole,graffiti"}, [*today, world["older"]]),
        ({"status": "closed"}, [world["resolved"]]),
        ({"status": "open"}, [world["graffiti"], world["pothole"], world["older"]]),
        ({"status": "open", "service_code": "pothole"}, [world["pothole"]]),
        (
            {
                "start_date": w3c(now - dt.timedelta(days=105)),
                "end_date": w3c(now - dt.timedelta(days=20)),
            },
            [world["ancient"]],
        ),
        (
            {
                "start_date": w3c(now - dt.timedelta(days=11)),
                "end_date": w3c(now - dt.timedelta(days=9)),
            },
            [world["older"]],
        ),
        ({"start_date": w3c(now - dt.timedelta(days=1))}, today),
        ({"end_date": w3c(now - dt.timedelta(days=5))}, [world["older"]]),
    ]
    for params, expected in queries:
        as_json = clients["json"].get_service_requests(**params)
        as_xml = as_list(clients["xml"].get_service_requests(**params))
        assert ids(as_json) == expected, params
        assert as_xml == as_xml_text(as_json), params

    for record in clients["json"].get_service_requests(status="closed,open"):
        assert record["requested_datetime"].endswith(("Z", "-06:00", "-05:00"))


def test_one_request_by_id_in_both_formats(
    clients: dict[str, GeoReport], world: dict[str, str]
) -> None:
    as_json = clients["json"].get_service_request(world["resolved"])
    as_xml = clients["xml"].get_service_request(world["resolved"])

    assert as_json["service_request_id"] == world["resolved"]
    assert as_json["status"] == "closed"
    assert as_json["status_notes"] == "Filled the hole"
    assert as_json["service_code"] == "pothole"
    assert as_json["service_name"] == "Pothole"
    assert as_json["description"] == "Small hole near the school"
    assert (as_json["lat"], as_json["long"]) == pytest.approx(EAST_SIDE)
    assert dt.datetime.fromisoformat(as_json["requested_datetime"]).utcoffset() is not None
    # In XML every value is text; the client hands back one <request> as a dict.
    assert isinstance(as_xml, dict)
    assert as_xml["lat"] == str(as_json["lat"])
    assert as_xml == as_xml_text(as_json)


def test_unknown_resources_are_404_with_the_error_list(
    base: str, clients: dict[str, GeoReport], world: dict[str, str]
) -> None:
    missing = "26-999999"
    for fmt, client in clients.items():
        with pytest.raises(requests.HTTPError) as excinfo:
            client.get_service_request(missing)
        assert excinfo.value.response.status_code == 404, fmt
        with pytest.raises(requests.HTTPError) as excinfo:
            client.get_service_definition("no-such-service")
        assert excinfo.value.response.status_code == 404, fmt
        elsewhere = GeoReport(base, jurisdiction="elsewhere.example", output_format=fmt)
        with pytest.raises(requests.HTTPError) as excinfo:
            elsewhere.get_service_list()
        assert excinfo.value.response.status_code == 404, fmt

    # The client does not read error bodies: fetch them as any app would.
    response = requests.get(f"{base}/requests/{missing}.json", timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("application/json")
    errors = response.json()
    assert isinstance(errors, list)
    assert errors
    for error in errors:
        assert set(error) == {"code", "description"}
        assert error["code"] == 404
    assert missing in errors[0]["description"]

    response = requests.get(f"{base}/requests/{missing}.xml", timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith("text/xml")
    assert response.content.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
    root = ET.fromstring(response.content)  # noqa: S314 (our own server's answer)
    assert root.tag == "errors"
    assert [child.tag for child in root] == ["error"] * len(errors)
    assert [(e.findtext("code"), e.findtext("description")) for e in root] == [
        (str(e["code"]), e["description"]) for e in errors
    ]
