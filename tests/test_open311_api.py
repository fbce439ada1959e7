"""The Open311 GeoReport v2 read endpoints as an API client sees them: every resource in
JSON and XML, checked against the published JSON Schemas and the specification's element
names, the GET arguments and civicdesk's extensions, privacy, and the error list."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
import xml.etree.ElementTree as ET
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone
from jsonschema import Draft4Validator, FormatChecker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from civicdesk.geo.distance import bounding_box, distance_m
from civicdesk.open311.keys import apikey_create
from civicdesk.servicerequests.models import ServiceRequest
from civicdesk.servicerequests.services import (
    ContactInput,
    request_merge,
    request_note_add,
    request_transition,
)
from civicdesk.servicerequests.statuses import Status
from tests.conftest import DOWNTOWN, EAST_SIDE, make_request

pytestmark = pytest.mark.usefixtures("city")

BASE = "/open311/v2"
FORMATS = ("json", "xml")
SCHEMA_DIR = Path(__file__).resolve().parents[2] / "shared" / "reference" / "open311-schemas"
# ISO 8601 / RFC 3339 with a mandatory offset (GeoReport v2 requires a time zone).
DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")

# The reporter's personal data and an internal note: never in any public answer.
REPORTER_NAME = "Zenobia Quillfeather"
REPORTER_EMAIL = "zenobia.q@private-mail.example"
REPORTER_PHONE = "+1 (555) 013-9876"
INTERNAL_NOTE = "Caller sounded upset; crew lead owes her a callback (internal only)"
PUBLIC_NOTE = "Crew scheduled for Thursday"
SECRETS = (
    REPORTER_NAME,
    "Zenobia",
    "Quillfeather",
    REPORTER_EMAIL,
    "private-mail",
    REPORTER_PHONE,
    "013-9876",
    "0139876",
    INTERNAL_NOTE,
    "callback",
)


# --------------------------------------------------------------------------------------
# Helpers


@cache
def _registry() -> Registry:
    if not SCHEMA_DIR.is_dir():
        pytest.fail(
            f"the Open311 JSON Schemas are missing: expected them in {SCHEMA_DIR} "
            "(../shared/reference/open311-schemas beside the clone)"
        )
    resources = []
    for name in ("services.json", "service.json", "service-definition.json"):
        resources.append(name)
    resources += ["requests.json", "request.json"]
    return Registry().with_resources(
        (
            name,
            Resource.from_contents(
                json.loads((SCHEMA_DIR / name).read_text()), default_specification=DRAFT4
            ),
        )
        for name in resources
    )


def _format_checker() -> FormatChecker:
    checker = FormatChecker()

    @checker.checks("date-time")
    def _datetime(value: object) -> bool:
        return not isinstance(value, str) or bool(DATETIME_RE.match(value))

    return checker


def validate(document: Any, schema_name: str) -> None:
    registry = _registry()
    validator = Draft4Validator(
        registry.contents(schema_name), registry=registry, format_checker=_format_checker()
    )
    errors = sorted(validator.iter_errors(document), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def url(resource: str, fmt: str = "json", **params: Any) -> str:
    query = f"?{urlencode(params, doseq=True)}" if params else ""
    return f"{BASE}/{resource}.{fmt}{query}"


def get_json(client: Client, resource: str, expect: int = 200, **params: Any) -> Any:
    response = client.get(url(resource, "json", **params))
    assert response.status_code == expect, response.content[:500]
    assert response["Content-Type"].startswith("application/json")
    return response.json()


def parse_xml(response: Any) -> ET.Element:
    body = response.content
    assert re.match(rb"<\?xml version=\"1.0\" encoding=\"utf-8\"\?>", body, re.I), body[:80]
    assert response["Content-Type"].startswith("text/xml")
    assert "utf-8" in response["Content-Type"].lower()
    return ET.fromstring(body)  # noqa: S314 (our own answer, under test)


def get_xml(client: Client, resource: str, expect: int = 200, **params: Any) -> ET.Element:
    response = client.get(url(resource, "xml", **params))
    assert response.status_code == expect, response.content[:500]
    return parse_xml(response)


def ids(records: list[dict[str, Any]]) -> list[str]:
    return [r["service_request_id"] for r in records]


def assert_same(element: ET.Element, value: Any, where: str = "") -> None:
    """The XML element carries exactly the JSON value (JSON mirrors the XML)."""
    where = f"{where}/{element.tag}"
    if value is None:
        assert element.text is None and len(element) == 0, where
    elif isinstance(value, dict):
        assert [child.tag for child in element] == list(value), where
        for child, item in zip(element, value.values(), strict=True):
            assert_same(child, item, where)
    elif isinstance(value, list):
        assert len(element) == len(value), where
        for child, item in zip(element, value, strict=True):
            assert_same(child, item, where)
    elif isinstance(value, bool):
        assert element.text == ("true" if value else "false"), where
    else:
        assert element.text == str(value), where


def assert_datetimes_have_offsets(value: Any) -> int:
    """Every datetime anywhere in a JSON document carries an offset; returns how many."""
    seen = 0
    if isinstance(value, dict):
        for key, item in value.items():
            if (key.endswith("datetime") or key == "changeset") and item is not None:
                assert isinstance(item, str) and DATETIME_RE.match(item), (key, item)
                assert dt.datetime.fromisoformat(item).utcoffset() is not None
                seen += 1
            else:
                seen += assert_datetimes_have_offsets(item)
    elif isinstance(value, list):
        seen += sum(assert_datetimes_have_offsets(item) for item in value)
    return seen


def assert_error(response: Any, status: int, *words: str) -> list[str]:
    """The specification's error list, in the response's own format; returns the texts."""
    assert response.status_code == status, response.content[:500]
    if response["Content-Type"].startswith("text/xml"):
        root = parse_xml(response)
        assert root.tag == "errors"
        assert len(root) >= 1 and all(e.tag == "error" for e in root)
        for error in root:
            assert [c.tag for c in error] == ["code", "description"]
            assert error.findtext("code") == str(status)
        texts = [e.findtext("description") or "" for e in root]
    else:
        assert response["Content-Type"].startswith("application/json")
        body = response.json()
        assert isinstance(body, list) and body
        for error in body:
            assert set(error) == {"code", "description"}
            assert error["code"] == status
            assert isinstance(error["description"], str) and error["description"]
        texts = [e["description"] for e in body]
    joined = " ".join(texts)
    for word in words:
        assert word in joined, (word, joined)
    return texts


def ago(**delta: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(**delta)


def stamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------
# A small city's worth of requests


@dataclasses.dataclass
class World:
    pothole: ServiceRequest  # DOWNTOWN, reporter contact, internal and public notes
    graffiti: ServiceRequest  # EAST_SIDE
    encampment: ServiceRequest  # sensitive location
    resolved: ServiceRequest  # closed
    older: ServiceRequest  # requested 10 days ago
    ancient: ServiceRequest  # requested 100 days ago: outside the default window

    @property
    def recent(self) -> list[ServiceRequest]:
        return [self.pothole, self.graffiti, self.encampment, self.resolved, self.older]


@pytest.fixture
def world() -> World:
    pothole = make_request(
        "pothole",
        at=DOWNTOWN,
        description="Deep pothole by the library steps",
        address="200 Main Street",
        contact=ContactInput(name=REPORTER_NAME, email=REPORTER_EMAIL, phone=REPORTER_PHONE),
    )
    request_note_add(request=pothole, note=INTERNAL_NOTE, public=False)
    request_note_add(request=pothole, note=PUBLIC_NOTE, public=True)
    graffiti = make_request("graffiti", at=EAST_SIDE, description="Tag on the stop sign")
    encampment = make_request(
        "homeless-encampment",
        at=DOWNTOWN,
        description="Two tents under the bridge",
        address="1234 Elm Street",
        address_id="ADDR-1234",
    )
    resolved = make_request("pothole", at=EAST_SIDE, description="Small hole near the school")
    request_transition(request=resolved, to_status=Status.RESOLVED, note="Filled the hole")
    older = make_request("graffiti", at=DOWNTOWN, requested_at=ago(days=10))
    ancient = make_request("pothole", at=EAST_SIDE, requested_at=ago(days=100))
    return World(pothole, graffiti, encampment, resolved, older, ancient)


# --------------------------------------------------------------------------------------
# Every GET endpoint in both formats


def test_discovery_in_both_formats(client: Client) -> None:
    document = get_json(client, "discovery")
    assert isinstance(document, dict)
    assert document["contact"] == settings.CIVICDESK_OPEN311_CONTACT
    assert document["key_service"] == settings.CIVICDESK_OPEN311_KEY_SERVICE
    [endpoint] = document["endpoints"]
    assert endpoint["url"] == "http://testserver/open311/v2"
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["type"] == "production"
    assert set(endpoint["formats"]) == {"text/xml", "application/json"}
    assert assert_datetimes_have_offsets(document) == 2

    root = get_xml(client, "discovery")
    assert root.tag == "discovery"
    assert [e.tag for e in root.find("endpoints") or []] == ["endpoint"]
    formats = root.find("endpoints/endpoint/formats")
    assert formats is not None
    assert [f.tag for f in formats] == ["format", "format"]
    assert {f.text for f in formats} == {"text/xml", "application/json"}
    assert_same(root, document)


def test_services_list_in_both_formats(client: Client) -> None:
    services = get_json(client, "services")
    validate(services, "services.json")
    by_code = {s["service_code"]: s for s in services}
    assert {"pothole", "graffiti", "missed-pickup", "homeless-encampment"} <= set(by_code)
    pothole = by_code["pothole"]
    assert pothole["service_name"] == "Pothole"
    assert pothole["metadata"] is True and pothole["type"] == "realtime"
    assert pothole["group"] == "Streets and Sidewalks"
    assert "asphalt" in pothole["keywords"]

    root = get_xml(client, "services")
    assert root.tag == "services"
    assert {e.tag for e in root} == {"service"}
    assert [e.findtext("service_code") for e in root] == list(by_code)
    assert_same(root, services)


def test_service_definition_in_both_formats(client: Client) -> None:
    definition = get_json(client, "services/pothole")
    validate(definition, "service-definition.json")
    assert definition["service_code"] == "pothole"
    codes = [a["code"] for a in definition["attributes"]]
    assert codes == ["size", "in_traffic_lane", "depth_inches"]
    size = definition["attributes"][0]
    assert size["datatype"] == "singlevaluelist"
    assert size["required"] is True and size["variable"] is True
    assert size["description"] == "About how big is the pothole?"
    assert [v["key"] for v in size["values"]] == ["small", "medium", "large", "very_large"]
    assert definition["attributes"][2]["datatype"] == "number"
    assert definition["attributes"][2]["values"] == []

    missed = get_json(client, "services/missed-pickup")
    validate(missed, "service-definition.json")
    datatypes = {a["code"]: a["datatype"] for a in missed["attributes"]}
    assert datatypes == {"carts_missed": "multivaluelist", "cart_out_time": "datetime"}

    root = get_xml(client, "services/pothole")
    assert root.tag == "service_definition"
    assert root.findtext("service_code") == "pothole"
    attributes = root.find("attributes")
    assert attributes is not None and {a.tag for a in attributes} == {"attribute"}
    values = root.find("attributes/attribute/values")
    assert values is not None and {v.tag for v in values} == {"value"}
    assert [v.findtext("key") for v in values] == ["small", "medium", "large", "very_large"]
    assert values[0].findtext("name") == "Smaller than a dinner plate"
    assert_same(root, definition)


@pytest.mark.parametrize("extensions", ["", "true"])
def test_requests_list_in_both_formats(client: Client, world: World, extensions: str) -> None:
    records = get_json(client, "requests", extensions=extensions)
    validate(records, "requests.json")
    # Newest first; the default window is the last 90 days.
    newest_first = [world.resolved, world.encampment, world.graffiti, world.pothole, world.older]
    assert ids(records) == [r.public_id for r in newest_first]
    first = records[3]
    assert first["service_request_id"] == world.pothole.public_id
    assert first["status"] == "open"
    assert first["service_code"] == "pothole" and first["service_name"] == "Pothole"
    assert first["description"] == "Deep pothole by the library steps"
    assert first["agency_responsible"] == "Public Works"
    assert first["address"] == "200 Main Street"
    assert first["lat"] == DOWNTOWN[0] and first["long"] == DOWNTOWN[1]
    assert first["status_notes"] == PUBLIC_NOTE
    assert first["media_url"] is None
    assert ("extended_attributes" in first) is bool(extensions)
    closed = next(r for r in records if r["service_request_id"] == world.resolved.public_id)
    assert closed["status"] == "closed" and closed["status_notes"] == "Filled the hole"
    assert assert_datetimes_have_offsets(records) >= 3 * len(records)

    response = client.get(url("requests", "xml", extensions=extensions))
    assert response["X-Total-Count"] == "5"
    root = parse_xml(response)
    assert root.tag == "service_requests"
    assert {e.tag for e in root} == {"request"}
    assert [e.findtext("service_request_id") for e in root] == ids(records)
    assert_same(root, records)
    if extensions:
        notes = root.find("request/notes")
        assert notes is not None and {n.tag for n in notes} == {"note"}


@pytest.mark.parametrize("extensions", ["", "true"])
def test_one_request_in_both_formats(client: Client, world: World, extensions: str) -> None:
    public_id = world.graffiti.public_id
    records = get_json(client, f"requests/{public_id}", extensions=extensions)
    validate(records, "requests.json")
    assert ids(records) == [public_id]
    [record] = records
    assert record["service_code"] == "graffiti"
    assert record["lat"] == EAST_SIDE[0] and record["long"] == EAST_SIDE[1]
    assert record["expected_datetime"] is not None
    assert ("notes" in record) is bool(extensions)
    assert_datetimes_have_offsets(records)
    # An old request is found by id even though it is outside the default window.
    assert ids(get_json(client, f"requests/{world.ancient.public_id}")) == [world.ancient.public_id]

    root = get_xml(client, f"requests/{public_id}", extensions=extensions)
    assert root.tag == "service_requests"
    assert [e.tag for e in root] == ["request"]
    assert_same(root, records)


def test_token_in_both_formats(client: Client) -> None:
    _, key = apikey_create(name="Token app")
    response = client.post(
        url("requests"),
        {
            "api_key": key,
            "service_code": "pothole",
            "lat": DOWNTOWN[0],
            "long": DOWNTOWN[1],
            "attribute[size]": "small",
            "attribute[in_traffic_lane]": "yes",
        },
    )
    assert response.status_code == 201
    token = response["X-Open311-Token"]
    [posted] = response.json()
    body = get_json(client, f"tokens/{token}")
    assert body == [{"service_request_id": posted["service_request_id"], "token": token}]
    root = get_xml(client, f"tokens/{token}")
    assert root.tag == "service_requests"
    assert [e.tag for e in root] == ["request"]
    assert_same(root, body)


def test_head_answers_like_get_without_a_body(client: Client, world: World) -> None:
    response = client.head(url("requests"))
    assert response.status_code == 200
    assert response["X-Total-Count"] == "5"
    assert response.content == b""


# --------------------------------------------------------------------------------------
# GET requests: the core arguments


def test_service_request_id_overrides_every_other_argument(client: Client, world: World) -> None:
    wanted = [world.pothole.public_id, world.resolved.public_id, world.ancient.public_id]
    records = get_json(
        client,
        "requests",
        service_request_id=" , ".join(wanted),
        status="closed",
        service_code="graffiti",
        start_date=stamp(ago(days=400)),
        end_date=stamp(ago(days=390)),
        q="nothing matches this",
        bbox="0,0,1,1",
        agency_responsible="SAN",
    )
    assert sorted(ids(records)) == sorted(wanted)
    # An id that does not exist is simply absent from the list.
    records = get_json(
        client, "requests", service_request_id=f"{world.graffiti.public_id},99-999999"
    )
    assert ids(records) == [world.graffiti.public_id]


def test_service_code_and_status_take_lists(client: Client, world: World) -> None:
    def found(**params: str) -> set[str]:
        return set(ids(get_json(client, "requests", **params)))

    assert found(service_code="graffiti") == {world.graffiti.public_id, world.older.public_id}
    assert found(service_code="graffiti,homeless-encampment") == {
        world.graffiti.public_id,
        world.older.public_id,
        world.encampment.public_id,
    }
    assert found(status="closed") == {world.resolved.public_id}
    assert found(status="open") == {r.public_id for r in world.recent} - {world.resolved.public_id}
    assert found(status="open,closed") == {r.public_id for r in world.recent}
    assert found(status="OPEN") == found(status="open")
    assert found(service_code="pothole", status="closed") == {world.resolved.public_id}
    # The detailed statuses (extension).
    assert found(status="resolved") == {world.resolved.public_id}
    assert found(service_code="no-such-service") == set()


def test_dates_filter_on_requested_time_within_90_days(client: Client, world: World) -> None:
    def found(**params: str) -> set[str]:
        return set(ids(get_json(client, "requests", **params)))

    everything_recent = {r.public_id for r in world.recent}
    # Default: the last 90 days.
    assert found() == everything_recent
    assert world.ancient.public_id not in found()
    assert found(start_date=stamp(ago(days=120)), end_date=stamp(ago(days=80))) == {
        world.ancient.public_id
    }
    assert found(start_date=stamp(ago(days=15)), end_date=stamp(ago(days=5))) == {
        world.older.public_id
    }
    assert found(start_date=stamp(ago(days=5))) == everything_recent - {world.older.public_id}
    assert found(end_date=stamp(ago(days=5))) == {world.older.public_id}
    # A plain date is midnight in the city's time zone.
    day = timezone.localdate() - dt.timedelta(days=11)
    assert world.older.public_id in found(start_date=day.isoformat())
    # Datetimes with other offsets mean the same instant.
    moment = ago(days=9).astimezone(dt.timezone(dt.timedelta(hours=5, minutes=30)))
    assert found(end_date=moment.isoformat(timespec="seconds")) == {world.older.public_id}

    response = client.get(
        url("requests", start_date=stamp(ago(days=100)), end_date=stamp(ago(days=5)))
    )
    assert_error(response, 400, "end_date", "90 days")
    response = client.get(
        url("requests", start_date=stamp(ago(days=5)), end_date=stamp(ago(days=10)))
    )
    assert_error(response, 400, "end_date", "before")
    # Exactly 90 days is allowed.
    start = ago(days=95)
    assert found(start_date=stamp(start), end_date=stamp(start + dt.timedelta(days=90)))


def test_empty_arguments_are_the_same_as_absent(client: Client, world: World) -> None:
    plain = get_json(client, "requests")
    empty = get_json(
        client,
        "requests",
        service_request_id="",
        service_code="",
        status="",
        start_date="",
        end_date="",
        updated_after=" ",
        updated_before="",
        q="",
        bbox="",
        lat="",
        long="",
        radius="",
        agency_responsible="",
        extensions="",
        page="",
        page_size="",
        jurisdiction_id="",
    )
    assert empty == plain and len(plain) == 5


@pytest.mark.parametrize(
    "resource", ["discovery", "services", "services/pothole", "requests", "tokens/abc"]
)
def test_jurisdiction_id(client: Client, world: World, resource: str) -> None:
    mine = settings.CIVICDESK_JURISDICTION_ID
    expected = 404 if resource.startswith("tokens") else 200
    for fmt in FORMATS:
        response = client.get(url(resource, fmt, jurisdiction_id=mine))
        assert response.status_code == expected
        response = client.get(url(resource, fmt, jurisdiction_id="springfield.example"))
        assert_error(response, 404, "springfield.example")
    response = client.get(
        url(f"requests/{world.pothole.public_id}", jurisdiction_id="springfield.example")
    )
    assert_error(response, 404, "jurisdiction_id")


def test_default_limit_and_page_size_cap(client: Client, world: World) -> None:
    response = client.get(url("requests"))
    assert response["X-Total-Count"] == "5"
    assert response["X-Page"] == "1"
    assert response["X-Page-Size"] == "1000"  # at most 1,000 records by default
    assert "Link" not in response
    response = client.get(url("requests", page_size=1000))
    assert response.status_code == 200 and len(response.json()) == 5
    assert_error(client.get(url("requests", page_size=1001)), 400, "page_size")


# --------------------------------------------------------------------------------------
# Extensions


def _links(response: Any) -> dict[str, str]:
    links = {}
    for part in response.get("Link", "").split(","):
        match = re.match(r'\s*<([^>]+)>;\s*rel="(\w+)"', part)
        if match:
            links[match.group(2)] = match.group(1)
    return links


@pytest.mark.parametrize("fmt", FORMATS)
def test_paging_headers_and_links(client: Client, world: World, fmt: str) -> None:
    response = client.get(url("requests", fmt, page_size=2, service_code="pothole,graffiti"))
    seen: list[str] = []
    pages = []
    while True:
        assert response.status_code == 200
        assert response["X-Total-Count"] == "4"
        assert response["X-Page-Size"] == "2"
        pages.append(int(response["X-Page"]))
        if fmt == "json":
            seen += ids(response.json())
        else:
            seen += [e.findtext("service_request_id") or "" for e in parse_xml(response)]
        links = _links(response)
        assert ("prev" in links) is (pages[-1] > 1)
        if "next" not in links:
            break
        parts = urlsplit(links["next"])
        assert parts.netloc == "testserver" and parts.path == f"{BASE}/requests.{fmt}"
        assert "service_code=pothole%2Cgraffiti" in parts.query
        response = client.get(f"{parts.path}?{parts.query}")
    assert pages == [1, 2]
    expected = [world.resolved, world.graffiti, world.pothole, world.older]
    assert seen == [r.public_id for r in expected]
    # Back again through rel="prev".
    prev = urlsplit(_links(response)["prev"])
    again = client.get(f"{prev.path}?{prev.query}")
    assert again["X-Page"] == "1"
    # A page past the end is empty, not an error.
    response = client.get(url("requests", page=9, page_size=2))
    assert response.status_code == 200 and response["X-Total-Count"] == "5"
    assert "next" not in _links(response) and "prev" in _links(response)


def test_extended_attributes(client: Client, world: World) -> None:
    duplicate = make_request("pothole", at=DOWNTOWN, description="Same hole, reported again")
    request_merge(duplicate=duplicate, parent=world.pothole)
    records = {r["service_request_id"]: r for r in get_json(client, "requests", extensions="true")}
    validate(list(records.values()), "requests.json")
    pothole = records[world.pothole.public_id]["extended_attributes"]
    assert pothole["channel"] == "web"
    assert pothole["council_district"] == "1"
    assert pothole["ward"] == "W03"
    assert pothole["detailed_status"] == "new"
    assert pothole["duplicate"] is False
    assert pothole["parent_service_request_id"] is None
    assert {"code": "size", "value": "small"} in pothole["attributes"]
    east = records[world.graffiti.public_id]["extended_attributes"]
    assert (east["council_district"], east["ward"]) == ("3", "W09")

    merged = records[duplicate.public_id]
    assert merged["status"] == "closed"
    assert merged["extended_attributes"]["duplicate"] is True
    assert merged["extended_attributes"]["detailed_status"] == "duplicate"
    assert merged["extended_attributes"]["parent_service_request_id"] == world.pothole.public_id
    assert merged["extended_attributes"]["closed_datetime"] is not None
    assert any(n["type"] == "merge" for n in merged["notes"])

    resolved = records[world.resolved.public_id]["extended_attributes"]
    assert resolved["detailed_status"] == "resolved"
    assert DATETIME_RE.match(resolved["closed_datetime"])


def test_notes_are_the_public_timeline_only(client: Client, world: World) -> None:
    [record] = get_json(client, f"requests/{world.pothole.public_id}", extensions="true")
    notes = record["notes"]
    assert [n["type"] for n in notes] == ["created", "public_note"]
    assert notes[0]["summary"] == "Request received"
    assert notes[1]["summary"] == "Note" and notes[1]["description"] == PUBLIC_NOTE
    assert all(DATETIME_RE.match(n["datetime"]) for n in notes)
    assert INTERNAL_NOTE not in json.dumps(record)
    [resolved] = get_json(client, f"requests/{world.resolved.public_id}", extensions="true")
    change = resolved["notes"][-1]
    assert change["type"] == "status_change"
    assert change["summary"] == "Status changed to Resolved"
    assert change["description"] == "Filled the hole"


def test_updated_after_and_before(client: Client, world: World) -> None:
    def found(**params: str) -> set[str]:
        return set(ids(get_json(client, "requests", **params)))

    cut = stamp(ago(days=5))
    recent = {r.public_id for r in world.recent}
    assert found(updated_after=cut) == recent - {world.older.public_id}
    # Without start/end dates, updated_* replace the default window.
    assert found(updated_before=cut) == {world.older.public_id, world.ancient.public_id}
    assert found(updated_after=stamp(ago(days=200)), updated_before=cut) == {
        world.older.public_id,
        world.ancient.public_id,
    }
    # A later change moves a request's updated time.
    request_note_add(request=world.older, note="Painted over", public=True)
    assert world.older.public_id in found(updated_after=cut)
    response = client.get(url("requests", updated_after=cut, updated_before=stamp(ago(days=6))))
    assert_error(response, 400, "updated_before")


def test_q_searches_text(client: Client, world: World) -> None:
    def found(q: str) -> set[str]:
        return set(ids(get_json(client, "requests", q=q)))

    assert found("library") == {world.pothole.public_id}
    assert found("LIBRARY STEPS") == {world.pothole.public_id}
    assert found("main street") == {world.pothole.public_id}
    assert found(world.graffiti.public_id) == {world.graffiti.public_id}
    assert found("Homeless") == {world.encampment.public_id}  # the service's name
    assert found("100%") == set()
    assert found("no such words anywhere") == set()
    assert set(ids(get_json(client, "requests", search="bridge"))) == {world.encampment.public_id}


def test_bbox(client: Client, world: World) -> None:
    lat, long = DOWNTOWN
    box = f"{long - 0.01},{lat - 0.01},{long + 0.01},{lat + 0.01}"
    found = set(ids(get_json(client, "requests", bbox=box)))
    assert found == {world.pothole.public_id, world.encampment.public_id, world.older.public_id}
    lat, long = EAST_SIDE
    box = f"{long - 0.01},{lat - 0.01},{long + 0.01},{lat + 0.01}"
    found = set(ids(get_json(client, "requests", bbox=box)))
    assert found == {world.graffiti.public_id, world.resolved.public_id}


def test_radius_search_is_a_true_circle(client: Client) -> None:
    radius = 1000.0
    lat, long = DOWNTOWN
    _, _, max_lat, max_long = bounding_box(lat, long, radius)
    # In the corner of the bounding box: inside the box, outside the circle.
    corner = (lat + 0.9 * (max_lat - lat), long + 0.9 * (max_long - long))
    near = (lat + 0.7 * (max_lat - lat), long)
    assert distance_m(lat, long, *corner) > radius > distance_m(lat, long, *near)
    in_corner = make_request("graffiti", at=corner)
    inside = make_request("graffiti", at=near)
    centre = make_request("graffiti", at=DOWNTOWN)
    far = make_request("graffiti", at=EAST_SIDE)
    response = client.get(url("requests", lat=lat, long=long, radius=radius))
    assert set(ids(response.json())) == {inside.public_id, centre.public_id}
    assert response["X-Total-Count"] == "2"
    assert in_corner.public_id not in response.content.decode()
    # The default radius is 500 m.
    assert ids(get_json(client, "requests", lat=lat, long=long)) == [centre.public_id]
    # Radius search with paging.
    response = client.get(url("requests", lat=lat, long=long, radius=radius, page_size=1))
    assert response["X-Total-Count"] == "2" and len(response.json()) == 1
    assert "next" in _links(response)
    assert far.public_id in ids(get_json(client, "requests", lat=EAST_SIDE[0], long=EAST_SIDE[1]))


def test_agency_responsible_by_code_or_name(client: Client, world: World) -> None:
    missed = make_request(
        "missed-pickup",
        attributes={"carts_missed": ["trash"], "cart_out_time": "2026-11-25T06:00:00"},
    )

    def found(agency: str) -> set[str]:
        return set(ids(get_json(client, "requests", agency_responsible=agency)))

    # Routing decides the department (downtown graffiti goes to another one).
    public_works = {r.public_id for r in world.recent if r.department.code == "PW"}
    assert {world.pothole.public_id, world.graffiti.public_id} <= public_works
    assert found("PW") == public_works
    assert found("pw") == public_works
    assert found("public works") == public_works
    other = world.older.department
    assert other.code != "PW"
    assert world.older.public_id in found(other.name) == found(other.code)
    assert found("SAN") == {missed.public_id}
    assert found("Solid Waste and Recycling") == {missed.public_id}
    assert found("Nobody") == set()
    [record] = get_json(client, f"requests/{missed.public_id}")
    assert record["agency_responsible"] == "Solid Waste and Recycling"


# --------------------------------------------------------------------------------------
# Privacy


def _every_public_answer(client: Client, public_ids: list[str], token: str) -> list[str]:
    bodies = []
    for fmt in FORMATS:
        for extensions in ("", "true"):
            for resource in ["requests", *(f"requests/{p}" for p in public_ids)]:
                response = client.get(url(resource, fmt, extensions=extensions))
                assert response.status_code == 200
                bodies.append(response.content.decode())
            response = client.get(
                url("requests", fmt, extensions=extensions, service_request_id=",".join(public_ids))
            )
            bodies.append(response.content.decode())
        for resource in ("discovery", "services", "services/pothole", f"tokens/{token}"):
            response = client.get(url(resource, fmt))
            assert response.status_code == 200
            bodies.append(response.content.decode())
    return bodies


def test_no_answer_reveals_reporters_or_internal_notes(client: Client, world: World) -> None:
    _, key = apikey_create(name="Privacy app")
    response = client.post(
        url("requests"),
        {
            "api_key": key,
            "service_code": "graffiti",
            "lat": EAST_SIDE[0],
            "long": EAST_SIDE[1],
            "attribute[surface]": "park",
            "attribute[offensive]": "no",
            "first_name": "Zenobia",
            "last_name": "Quillfeather",
            "email": REPORTER_EMAIL,
            "phone": REPORTER_PHONE,
            "device_id": "device-7f3e-private",
            "account_id": "acct-99-private",
        },
    )
    assert response.status_code == 201
    posted = response.json()[0]["service_request_id"]
    token = response["X-Open311-Token"]
    request_transition(
        request=ServiceRequest.objects.get(public_id=posted),
        to_status=Status.IN_PROGRESS,
        note=INTERNAL_NOTE,
        note_public=False,
    )
    public_ids = [world.pothole.public_id, posted]
    bodies = _every_public_answer(client, public_ids, token)
    everything = "\n".join(bodies)
    assert world.pothole.public_id in everything and posted in everything
    for secret in (*SECRETS, "device-7f3e-private", "acct-99-private", REPORTER_EMAIL.upper()):
        assert secret.lower() not in everything.lower(), secret
    # Searching by a reporter's details finds nothing either.
    for secret in (REPORTER_EMAIL, "Quillfeather", "013-9876", "Caller sounded"):
        assert get_json(client, "requests", q=secret) == []


def test_sensitive_locations_are_coarsened(client: Client, world: World) -> None:
    public_id = world.encampment.public_id
    expected = (round(DOWNTOWN[0], 3), round(DOWNTOWN[1], 3))
    for extensions in ("", "true"):
        [record] = get_json(client, f"requests/{public_id}", extensions=extensions)
        assert (record["lat"], record["long"]) == expected
        assert record["address"] == "1200 block of Elm Street"
        assert record["address_id"] is None
        listed = get_json(client, "requests", extensions=extensions, service_request_id=public_id)
        assert listed == [record]
        for fmt in FORMATS:
            body = client.get(url(f"requests/{public_id}", fmt, extensions=extensions)).content
            for exact in (str(DOWNTOWN[0]), str(DOWNTOWN[1]), "1234", "ADDR-1234"):
                assert exact.encode() not in body, exact
        root = get_xml(client, f"requests/{public_id}", extensions=extensions)
        assert root.findtext("request/lat") == str(expected[0])
        assert root.findtext("request/address") == "1200 block of Elm Street"
    # Other requests at the same spot keep their exact location.
    [pothole] = get_json(client, f"requests/{world.pothole.public_id}")
    assert (pothole["lat"], pothole["long"]) == DOWNTOWN


def test_location_searches_do_not_pinpoint_sensitive_requests(client: Client, world: World) -> None:
    """Searches match a sensitive request where it is shown (its coarse point), so a client
    cannot narrow a box or circle until it finds the exact spot."""
    public_id = world.encampment.public_id
    lat, long = DOWNTOWN
    coarse_lat, coarse_long = round(lat, 3), round(long, 3)
    tiny = 0.00005
    around_exact = f"{long - tiny},{lat - tiny},{long + tiny},{lat + tiny}"
    around_coarse = (
        f"{coarse_long - tiny},{coarse_lat - tiny},{coarse_long + tiny},{coarse_lat + tiny}"
    )
    assert public_id not in ids(get_json(client, "requests", bbox=around_exact))
    assert public_id in ids(get_json(client, "requests", bbox=around_coarse))
    assert world.pothole.public_id in ids(get_json(client, "requests", bbox=around_exact))
    assert public_id not in ids(get_json(client, "requests", lat=lat, long=long, radius=5))
    assert public_id in ids(
        get_json(client, "requests", lat=coarse_lat, long=coarse_long, radius=5)
    )
    # Nor does text search reveal the house number behind the block.
    assert public_id not in ids(get_json(client, "requests", q="1234 Elm"))
    assert public_id in ids(get_json(client, "requests", q="tents"))


# --------------------------------------------------------------------------------------
# Errors


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("requests/99-999999.{fmt}", ["99-999999"]),
        ("services/no-such-service.{fmt}", ["no-such-service"]),
        ("tokens/0123456789abcdef.{fmt}", ["0123456789abcdef"]),
        ("tokens/" + "a" * 60 + ".{fmt}", ["token"]),
        ("nothing-here.{fmt}", ["nothing-here"]),
        ("requests/99-999999/notes.{fmt}", []),
        ("services.{fmt}/extra", []),
    ],
)
def test_unknown_resources_are_404(client: Client, fmt: str, path: str, words: list[str]) -> None:
    response = client.get(f"{BASE}/{path.format(fmt=fmt)}")
    assert_error(response, 404, *words)
    if not path.endswith("/extra"):
        assert response["Content-Type"].startswith("text/xml" if fmt == "xml" else "application")


@pytest.mark.parametrize("path", ["requests.csv", "services.html", "discovery.JSON", "", "v3"])
def test_unknown_formats_and_paths_are_404(client: Client, path: str) -> None:
    assert_error(client.get(f"{BASE}/{path}"), 404)


@pytest.mark.parametrize("method", ["DELETE", "PUT", "PATCH", "TRACE"])
@pytest.mark.parametrize(
    ("resource", "allowed"),
    [
        ("discovery", "GET, HEAD"),
        ("services", "GET, HEAD"),
        ("services/pothole", "GET, HEAD"),
        ("requests", "GET, HEAD, POST"),
        ("requests/26-000001", "GET, HEAD"),
        ("tokens/abc", "GET, HEAD"),
    ],
)
def test_other_methods_are_405_with_allow(
    client: Client, method: str, resource: str, allowed: str
) -> None:
    for fmt in FORMATS:
        response = client.generic(method, url(resource, fmt))
        assert_error(response, 405, method)
        assert response["Allow"] == allowed


def test_post_on_read_only_resources_is_405(client: Client) -> None:
    response = client.post(url("services"), {"service_code": "pothole"})
    assert_error(response, 405)
    assert response["Allow"] == "GET, HEAD"


BAD_ARGUMENTS = [
    ({"start_date": "yesterday"}, "start_date"),
    ({"start_date": "2026-13-45T00:00:00Z"}, "start_date"),
    ({"start_date": "2026-11-01T25:00:00Z"}, "start_date"),
    ({"end_date": "26/11/2026"}, "end_date"),
    ({"end_date": "1850-01-01T00:00:00Z"}, "end_date"),
    ({"updated_after": "soon"}, "updated_after"),
    ({"updated_before": "2026-11-01T00:00:00+99:00"}, "updated_before"),
    ({"bbox": "1,2,3"}, "bbox"),
    ({"bbox": "a,b,c,d"}, "bbox"),
    ({"bbox": "-89.0,40.1,-89.1,40.0"}, "bbox"),  # min above max
    ({"bbox": "-200,40,-89,41"}, "bbox"),
    ({"bbox": "nan,40,-89,41"}, "bbox"),
    ({"lat": "40.0"}, "lat"),
    ({"long": "-89.0"}, "lat"),
    ({"radius": "100"}, "lat"),
    ({"lat": "95", "long": "-89"}, "lat"),
    ({"lat": "north", "long": "-89"}, "lat"),
    ({"lat": "40", "long": "-89", "radius": "-5"}, "radius"),
    ({"lat": "40", "long": "-89", "radius": "0"}, "radius"),
    ({"lat": "40", "long": "-89", "radius": "wide"}, "radius"),
    ({"lat": "40", "long": "-89", "radius": "1e9"}, "radius"),
    ({"lat": "40", "long": "-89", "radius": "inf"}, "radius"),
    ({"page": "0"}, "page"),
    ({"page": "-1"}, "page"),
    ({"page": "two"}, "page"),
    ({"page": "1.5"}, "page"),
    ({"page_size": "5000"}, "page_size"),
    ({"page_size": "0"}, "page_size"),
    ({"status": "bogus"}, "status"),
    ({"status": "open,bogus"}, "status"),
    ({"extensions": "maybe"}, "extensions"),
    ({"q": "x" * 201}, "q"),
    ({"agency_responsible": "x" * 201}, "agency_responsible"),
    ({"service_code": "pot hole"}, "service_code"),
    ({"service_request_id": "26-000001,not an id"}, "service_request_id"),
    ({"service_request_id": ",".join(f"26-{n:06d}" for n in range(1001))}, "service_request_id"),
]


@pytest.mark.parametrize(
    ("params", "field"), BAD_ARGUMENTS, ids=[f"{i}-{a[1]}" for i, a in enumerate(BAD_ARGUMENTS)]
)
def test_malformed_arguments_are_400_naming_the_argument(
    client: Client, params: dict[str, str], field: str
) -> None:
    texts = assert_error(client.get(url("requests", **params)), 400, field)
    assert texts == assert_error(client.get(url("requests", "xml", **params)), 400, field)


@pytest.mark.parametrize("fmt", FORMATS)
def test_one_request_path_names_exactly_one_request(client: Client, world: World, fmt: str) -> None:
    """A list or an impossible id in the path is an unknown resource, never a search."""
    both = f"{world.pothole.public_id},{world.graffiti.public_id}"
    for request_id in (both, ",,,", ",", "not an id", "x" * 40, "%00"):
        response = client.get(f"{BASE}/requests/{request_id}.{fmt}")
        assert_error(response, 404)
        assert world.pothole.public_id.encode() not in response.content or request_id == both


def test_bad_extensions_on_one_request_is_400(client: Client, world: World) -> None:
    response = client.get(url(f"requests/{world.pothole.public_id}", extensions="maybe"))
    assert_error(response, 400, "extensions")


NASTY = [
    "\x00",
    "a\x00b",
    "2026-11-01T00:00:00Z\x00",
    "9" * 400,
    "9" * 5000,  # past int()'s 4,300-digit limit
    "-" + "9" * 40,
    "1e309",
    "NaN",
    "-inf",
    "\u00b2",  # superscript two: a "digit" to str.isdigit, not to int()
    "\u0661\u0662",  # Arabic-Indic digits
    "\uff11\uff12",  # fullwidth digits
    "ünïcødé ☃ \U0001d518\U0001d52b",
    "\u202e\ufeff\ud7ff",
    "' OR 1=1 --",
    '"; DROP TABLE servicerequests_servicerequest; --',
    "%",
    "%%25_\\",
    "x" * 5000,
    "<![CDATA[<error>]]>&amp;",
    "0001-01-01",
    "9999-12-31T23:59:59-23:59",
    "2026-03-08T02:30:00",  # a time that does not exist in Chicago (DST gap)
    ",,,",
    "1,2,3,4",
    "-89.1,40.0,-89.0,40.1",
]
GET_ARGUMENTS = [
    "service_request_id",
    "service_code",
    "status",
    "start_date",
    "end_date",
    "updated_after",
    "updated_before",
    "q",
    "search",
    "bbox",
    "lat",
    "long",
    "radius",
    "agency_responsible",
    "extensions",
    "page",
    "page_size",
    "jurisdiction_id",
    "api_key",
]


@pytest.mark.parametrize("value", NASTY, ids=[f"nasty{i}" for i in range(len(NASTY))])
def test_nasty_inputs_never_cause_a_500(client: Client, world: World, value: str) -> None:
    for name in GET_ARGUMENTS:
        for params in ({name: value}, {name: value, "lat": "40.01", "long": "-89.06"}):
            response = client.get(url("requests", **params))
            assert response.status_code < 500, (name, value)
            if response.status_code != 200:
                assert_error(response, response.status_code)
    response = client.get(url("requests", "xml", q=value, extensions="true"))
    assert response.status_code < 500
    parse_xml(response)
    for resource in ("requests/{}", "services/{}", "tokens/{}"):
        for fmt in FORMATS:
            path = f"{BASE}/{resource.format(value[:60])}.{fmt}"
            response = client.get(path, {"extensions": "true"})
            assert response.status_code < 500, (path, value)
            assert_error(response, response.status_code)


def test_huge_page_numbers_are_fine(client: Client, world: World) -> None:
    response = client.get(url("requests", page=1_000_000, page_size=1000))
    assert response.status_code == 200 and response.json() == []


# --------------------------------------------------------------------------------------
# The OpenAPI document


def test_openapi_document_lists_every_path_in_both_formats(client: Client) -> None:
    response = client.get(f"{BASE}/openapi.json")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    document = response.json()
    assert re.match(r"^3\.0\.\d+$", document["openapi"])
    assert document["info"]["title"] and document["info"]["version"]
    resources = [
        "discovery",
        "services",
        "services/{service_code}",
        "requests",
        "requests/{service_request_id}",
        "tokens/{token}",
    ]
    expected = {f"{BASE}/{r}.{fmt}" for r in resources for fmt in FORMATS}
    assert set(document["paths"]) == expected
    for path, operations in document["paths"].items():
        assert "get" in operations, path
        assert "200" in operations["get"]["responses"], path
        for parameter in re.findall(r"\{(\w+)\}", path):
            declared = [p["name"] for p in operations["get"]["parameters"] if p["in"] == "path"]
            assert parameter in declared, path
    assert "post" in document["paths"][f"{BASE}/requests.json"]
    names = {p["name"] for p in document["paths"][f"{BASE}/requests.json"]["get"]["parameters"]}
    assert set(GET_ARGUMENTS) - {"search", "api_key"} <= names


def _nullable_as_json_schema(schema: Any) -> Any:
    """OpenAPI 3.0's ``nullable`` as plain JSON Schema (``type: [kind, "null"]``)."""
    if isinstance(schema, list):
        return [_nullable_as_json_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    widened = {k: _nullable_as_json_schema(v) for k, v in schema.items() if k != "nullable"}
    if schema.get("nullable"):
        widened["type"] = [schema["type"], "null"]
    return widened


def test_openapi_request_schema_accepts_real_answers(client: Client, world: World) -> None:
    """The OpenAPI description and the live answers agree."""
    document = client.get(f"{BASE}/openapi.json").json()
    get = document["paths"][f"{BASE}/requests.json"]["get"]
    schema = _nullable_as_json_schema(get["responses"]["200"]["content"]["application/json"])
    records = get_json(client, "requests", extensions="true")
    errors = list(Draft4Validator(schema["schema"]).iter_errors(records))
    assert not errors, errors[0].message


def test_total_count_follows_every_change(client: Client) -> None:
    """X-Total-Count is remembered between pages, but never past a change."""

    def total(**args: str) -> int:
        return int(
            client.get("/open311/v2/requests.json", {"page_size": "1", **args})["X-Total-Count"]
        )

    before = total()
    assert total() == before  # asked again, same answer (from the cache)
    request = make_request()
    assert total() == before + 1
    open_before = total(status="open")
    request_transition(request=request, to_status=Status.CLOSED)
    assert total(status="open") == open_before - 1
