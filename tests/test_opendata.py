"""Open data exports of service requests (CSV, JSON, GeoJSON) as a downloader sees them: the
bulk columns, no personal data, coarse locations for sensitive services, filters and their
errors, streaming, keyset paging, and the `civicdesk export` command."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection
from django.http import StreamingHttpResponse
from django.test import Client
from django.test.utils import CaptureQueriesContext
from shapely.geometry import shape

from civicdesk.ops.seed import requests_seed
from civicdesk.performance.opendata import (
    ExportFilter,
    export_filter_parse,
    request_export_pages,
)
from civicdesk.servicerequests.models import Contact, ServiceRequest
from civicdesk.servicerequests.services import (
    ContactInput,
    request_note_add,
    request_transition,
)
from civicdesk.servicerequests.statuses import Status
from tests.conftest import DOWNTOWN, EAST_SIDE, make_request

pytestmark = pytest.mark.usefixtures("city")

FORMATS = ("csv", "json", "geojson")
# The GeoReport Bulk specification's fields, in its order (open311.org/GeoReport/bulk).
BULK_HEADER = (
    "service_request_id,requested_datetime,updated_datetime,closed_date,status_description,"
    "status_notes,source,service_name,service_subtype,description,agency_responsible,"
    "address,lat,long"
)
BULK_COLUMNS = BULK_HEADER.split(",")
REPORTER = ContactInput(
    name="Zenobia Quillfeather", email="zenobia.q@private-mail.example", phone="+1 (555) 013-9876"
)
INTERNAL_NOTE = "Caller sounded upset; crew lead owes her a callback"
TZ = ZoneInfo(settings.TIME_ZONE)


def local(
    year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0
) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, second, tzinfo=TZ)


def download(client: Client, fmt: str, **params: Any) -> StreamingHttpResponse:
    response = client.get(f"/open-data/requests.{fmt}", params)
    assert response.status_code == 200, response.content
    assert isinstance(response, StreamingHttpResponse)
    return response


def body(response: StreamingHttpResponse) -> str:
    return b"".join(response.streaming_content).decode("utf-8")  # type: ignore[arg-type]


def records(client: Client, fmt: str, **params: Any) -> list[dict[str, Any]]:
    """The export as one dict per request, whatever the format."""
    text = body(download(client, fmt, **params))
    if fmt == "csv":
        return list(csv.DictReader(io.StringIO(text, newline="")))
    if fmt == "json":
        return list(json.loads(text))
    return [feature["properties"] for feature in json.loads(text)["features"]]


def ids(rows: list[dict[str, Any]]) -> list[str]:
    return [row["service_request_id"] for row in rows]


@pytest.fixture
def pothole() -> ServiceRequest:
    request = make_request(
        "pothole",
        at=DOWNTOWN,
        description='Deep hole, "very" deep\nby the library',
        address="200 Main Street",
        contact=REPORTER,
        requested_at=local(2025, 3, 10, 9, 30),
    )
    request_note_add(request=request, note=INTERNAL_NOTE, public=False)
    return request


@pytest.fixture
def encampment() -> ServiceRequest:
    return make_request(
        "homeless-encampment",
        at=DOWNTOWN,
        description="Two tents under the bridge",
        address="1234 Elm Street",
        address_id="ADDR-1234",
        attributes={},
        requested_at=local(2025, 3, 11, 8, 0),
    )


# --------------------------------------------------------------------------------------
# Columns and values


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_has_exactly_the_bulk_columns(
    client: Client, pothole: ServiceRequest, fmt: str
) -> None:
    text = body(download(client, fmt))
    if fmt == "csv":
        assert text.startswith(BULK_HEADER + "\r\n")
    rows = records(client, fmt)
    assert rows and all(list(row) == BULK_COLUMNS for row in rows)


def test_values_of_a_request(client: Client, pothole: ServiceRequest) -> None:
    request_transition(request=pothole, to_status=Status.RESOLVED, note="Filled the hole")
    pothole.refresh_from_db()
    [row] = records(client, "json")
    assert row == {
        "service_request_id": pothole.public_id,
        "requested_datetime": "2025-03-10T09:30:00-05:00",
        "updated_datetime": pothole.updated_at.astimezone(TZ).isoformat(timespec="seconds"),
        "closed_date": pothole.closed_at.astimezone(TZ).isoformat(timespec="seconds"),  # type: ignore[union-attr]
        "status_description": "resolved",
        "status_notes": pothole.status_notes or None,
        "source": "web",
        "service_name": "Pothole",
        "service_subtype": None,
        "description": 'Deep hole, "very" deep\nby the library',
        "agency_responsible": pothole.department.name,
        "address": "200 Main Street",
        "lat": DOWNTOWN[0],
        "long": DOWNTOWN[1],
    }
    # CSV carries the same values as text (quotes and line breaks survive); empty is "".
    [csv_row] = records(client, "csv")
    assert csv_row == {
        k: "" if v is None else str(v) for k, v in row.items()
    }  # str(float) is the shortest repr both ways


def test_a_request_without_a_location(client: Client) -> None:
    request = make_request("pothole", at=(0, 0), lat=None, long=None, address="200 Main Street")
    [row] = records(client, "json")
    assert row["service_request_id"] == request.public_id
    assert row["lat"] is None and row["long"] is None
    [feature] = json.loads(body(download(client, "geojson")))["features"]
    assert feature["geometry"] is None
    assert feature["properties"]["address"] == "200 Main Street"


# --------------------------------------------------------------------------------------
# Privacy


@pytest.mark.parametrize("fmt", FORMATS)
def test_no_personal_data_in_any_format(client: Client, pothole: ServiceRequest, fmt: str) -> None:
    requests_seed(count=150, seed=5)  # the demo city's residents: names, emails, phones
    people = list(Contact.objects.values_list("name", "email", "phone"))
    assert len(people) > 20
    secrets = {value for person in people for value in person if value}
    secrets |= {"Quillfeather", "private-mail", "013-9876", INTERNAL_NOTE, "callback"}
    text = body(download(client, fmt))
    assert pothole.public_id in text
    leaked = sorted(s for s in secrets if s in text)
    assert leaked == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_sensitive_locations_are_coarsened_in_every_format(
    client: Client, pothole: ServiceRequest, encampment: ServiceRequest, fmt: str
) -> None:
    coarse = (round(DOWNTOWN[0], 3), round(DOWNTOWN[1], 3))
    response = download(client, fmt, service="homeless-encampment")
    text = body(response)
    for exact in (str(DOWNTOWN[0]), str(DOWNTOWN[1]), "1234", "ADDR-1234"):
        assert exact not in text, exact
    [row] = records(client, fmt, service="homeless-encampment")
    assert row["service_request_id"] == encampment.public_id
    assert row["address"] == "1200 block of Elm Street"
    assert (float(row["lat"]), float(row["long"])) == coarse
    if fmt == "geojson":
        [feature] = json.loads(text)["features"]
        assert feature["geometry"]["coordinates"] == [coarse[1], coarse[0]]
    # A request of an ordinary service at the same spot keeps its exact point.
    [other] = records(client, fmt, service="pothole")
    assert (float(other["lat"]), float(other["long"])) == DOWNTOWN


# --------------------------------------------------------------------------------------
# Filters


@pytest.fixture
def around_midnight() -> dict[str, ServiceRequest]:
    """Requests either side of the local days 10 to 12 March 2025."""
    moments = {
        "before": local(2025, 3, 9, 23, 59, 59),
        "first": local(2025, 3, 10, 0, 0, 0),
        "last": local(2025, 3, 12, 23, 59, 59),
        "after": local(2025, 3, 13, 0, 0, 0),
    }
    made = {name: make_request("pothole", requested_at=at) for name, at in moments.items()}
    made["graffiti"] = make_request("graffiti", at=EAST_SIDE, requested_at=local(2025, 3, 11))
    return made


@pytest.mark.parametrize("fmt", FORMATS)
def test_date_filters_take_whole_local_days(
    client: Client, around_midnight: dict[str, ServiceRequest], fmt: str
) -> None:
    r = {name: request.public_id for name, request in around_midnight.items()}
    assert ids(records(client, fmt, **{"from": "2025-03-10", "to": "2025-03-12"})) == [
        r["first"],
        r["graffiti"],
        r["last"],
    ]
    assert ids(records(client, fmt, **{"from": "2025-03-13"})) == [r["after"]]
    assert ids(records(client, fmt, to="2025-03-09")) == [r["before"]]
    assert ids(records(client, fmt, **{"from": "2025-03-11", "to": "2025-03-11"})) == [
        r["graffiti"]
    ]
    # Everything, oldest first, when no filter is given.
    assert ids(records(client, fmt)) == [
        r["before"],
        r["first"],
        r["graffiti"],
        r["last"],
        r["after"],
    ]


def test_service_filter(client: Client, around_midnight: dict[str, ServiceRequest]) -> None:
    graffiti = around_midnight["graffiti"].public_id
    assert ids(records(client, "csv", service="graffiti")) == [graffiti]
    assert len(records(client, "csv", service="pothole")) == 4
    # Several services: the field repeated, or codes separated by commas.
    assert len(records(client, "csv", service=["graffiti", "pothole"])) == 5
    assert len(records(client, "csv", service="graffiti,pothole")) == 5
    assert records(client, "csv", service="missed-pickup") == []
    assert body(download(client, "csv", service="missed-pickup")) == BULK_HEADER + "\r\n"
    assert json.loads(body(download(client, "json", service="missed-pickup"))) == []
    empty = json.loads(body(download(client, "geojson", service="missed-pickup")))
    assert empty == {"type": "FeatureCollection", "features": []}


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("params", "words"),
    [
        ({"from": "yesterday"}, ["“yesterday” is not a date", "YYYY-MM-DD"]),
        ({"to": "2025-02-30"}, ["“2025-02-30” is not a date"]),
        ({"from": "20250301"}, ["“20250301” is not a date"]),
        ({"from": "0001-01-01"}, ["0001-01-01 is out of range", "1900"]),
        ({"to": "9999-12-31"}, ["9999-12-31 is out of range"]),
        ({"from": "2025-03-12", "to": "2025-03-10"}, ["must not be before the start date"]),
        ({"service": "no-such-service"}, ["no service with the code “no-such-service”"]),
        ({"service": "pot\x00hole"}, ["no service with the code"]),
        ({"service": "x" * 500}, ["no service with the code"]),
        ({"service": ",".join(f"s{i}" for i in range(101))}, ["at most 100 services"]),
        ({"from": "\x00"}, ["is not a date"]),
    ],
)
def test_bad_filters_answer_400_with_a_specific_message(
    client: Client, fmt: str, params: dict[str, str], words: list[str]
) -> None:
    response = client.get(f"/open-data/requests.{fmt}", params)
    assert response.status_code == 400
    assert not isinstance(response, StreamingHttpResponse)
    page = response.content.decode()
    assert 'class="error-summary"' in page
    for word in words:
        assert word.replace("“", "&ldquo;").replace("”", "&rdquo;") in page or word in page, word


def test_filter_errors_in_spanish(client: Client) -> None:
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "es"
    response = client.get(
        "/open-data/requests.csv", {"from": "ayer", "to": "2025-01-01", "service": "nada"}
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'lang="es"' in page
    assert "“ayer” no es una fecha" in page
    assert "No hay ningún servicio con el código “nada”" in page


def test_filters_parse_for_every_door() -> None:
    parsed = export_filter_parse(
        date_from=" 2025-03-10 ", date_to="", services=["pothole, graffiti", "pothole"]
    )
    assert parsed.date_from == dt.date(2025, 3, 10) and parsed.date_to is None
    assert parsed.service_codes == ("pothole", "graffiti")
    assert len(parsed.service_ids) == 2
    assert export_filter_parse() == ExportFilter()


# --------------------------------------------------------------------------------------
# Streaming and paging


@pytest.mark.parametrize(
    ("fmt", "media_type"),
    [
        ("csv", "text/csv; charset=utf-8"),
        ("json", "application/json; charset=utf-8"),
        ("geojson", "application/geo+json; charset=utf-8"),
    ],
)
def test_downloads_stream_with_a_file_name(
    client: Client, pothole: ServiceRequest, fmt: str, media_type: str
) -> None:
    response = download(client, fmt)
    assert response["Content-Type"] == media_type
    assert response["Content-Disposition"] == f'attachment; filename="service-requests.{fmt}"'
    assert response["Access-Control-Allow-Origin"] == "*"
    dated = download(client, fmt, **{"from": "2025-01-01", "to": "2025-03-31"})
    assert dated["Content-Disposition"] == (
        f'attachment; filename="service-requests_from-2025-01-01_to-2025-03-31.{fmt}"'
    )
    head = client.head(f"/open-data/requests.{fmt}")
    assert head.status_code == 200 and head["Content-Type"] == media_type
    assert b"".join(head.streaming_content) == b""  # type: ignore[attr-defined]


def test_pages_hold_every_row_once_in_order_across_ties() -> None:
    """Keyset paging: each page seeks past the last (requested_at, id), with no OFFSET, so
    rows sharing a requested_at on a page boundary are neither lost nor repeated."""
    same = local(2025, 5, 1, 12, 0)
    made = [make_request("pothole", requested_at=same) for _ in range(7)]
    made += [make_request("graffiti", at=EAST_SIDE, requested_at=local(2025, 4, 30, 8, 0))]
    made += [make_request("pothole", requested_at=local(2025, 5, 2, 8, 0)) for _ in range(3)]
    expected = list(
        ServiceRequest.objects.order_by("requested_at", "id").values_list("public_id", flat=True)
    )
    assert len(expected) == 11
    for page_size in (1, 2, 3, 4, 11, 12, 1000):
        with CaptureQueriesContext(connection) as queries:
            pages = list(request_export_pages(ExportFilter(), page_size=page_size))
        assert [row[0] for page in pages for row in page] == expected, page_size
        assert all(0 < len(page) <= page_size for page in pages)
        assert len(pages) == -(-11 // page_size)
        selects = [q["sql"] for q in queries if "servicerequest" in q["sql"]]
        # One query a page (one more when the last page is full), none with OFFSET.
        assert len(selects) == len(pages) + (11 % page_size == 0)
        assert not any("OFFSET" in sql.upper() for sql in selects)
    # Paging composes with the filters.
    narrowed = export_filter_parse(date_from="2025-05-01", date_to="2025-05-01")
    pages = list(request_export_pages(narrowed, page_size=2))
    assert [row[0] for page in pages for row in page] == expected[1:8]


def test_several_services_merge_in_order_across_ties() -> None:
    """Several services are read one index range each and merged: still every row once,
    in (requested_at, id) order, ties across services included."""
    same = local(2025, 5, 1, 12, 0)
    for i in range(30):
        at = same if i % 2 else local(2025, 5, 1, 12, i)
        if i % 3 == 2:
            make_request("homeless-encampment", attributes={}, requested_at=at)
        else:
            make_request(("pothole", "graffiti")[i % 3], at=EAST_SIDE, requested_at=at)
    wanted = ServiceRequest.objects.filter(service__service_code__in=["pothole", "graffiti"])
    expected = list(wanted.order_by("requested_at", "id").values_list("public_id", flat=True))
    assert len(expected) == 20
    parsed = export_filter_parse(services=["graffiti,pothole"])
    for page_size in (1, 3, 7, 1000):
        pages = list(request_export_pages(parsed, page_size=page_size))
        assert [row[0] for page in pages for row in page] == expected, page_size
        assert all(0 < len(page) <= page_size for page in pages)


def test_geojson_is_a_valid_feature_collection(
    client: Client, pothole: ServiceRequest, encampment: ServiceRequest
) -> None:
    unlocated = make_request("pothole", lat=None, long=None, address="9 Oak Street")
    document = json.loads(body(download(client, "geojson")))
    assert set(document) == {"type", "features"}
    assert document["type"] == "FeatureCollection"
    by_id = {}
    for feature in document["features"]:
        assert set(feature) == {"type", "id", "geometry", "properties"}
        assert feature["type"] == "Feature"
        assert feature["id"] == feature["properties"]["service_request_id"]
        by_id[feature["id"]] = feature
        if feature["geometry"] is not None:
            point = shape(feature["geometry"])
            assert point.geom_type == "Point" and point.is_valid
            long, lat = feature["geometry"]["coordinates"]  # RFC 7946: longitude first
            assert -180 <= long <= 180 and -90 <= lat <= 90
            assert (lat, long) == (feature["properties"]["lat"], feature["properties"]["long"])
    assert by_id[pothole.public_id]["geometry"]["coordinates"] == [DOWNTOWN[1], DOWNTOWN[0]]
    assert by_id[unlocated.public_id]["geometry"] is None


def test_json_is_an_array_of_objects(client: Client, pothole: ServiceRequest) -> None:
    make_request("graffiti", at=EAST_SIDE, description="Ünïcode ✓ «tag»")
    document = json.loads(body(download(client, "json")))
    assert isinstance(document, list) and len(document) == 2
    assert document[1]["description"] == "Ünïcode ✓ «tag»"


# --------------------------------------------------------------------------------------
# The page and the command


def test_open_data_page_links_the_downloads(client: Client) -> None:
    page = client.get("/open-data/").content.decode()
    for fmt in FORMATS:
        assert f'href="/open-data/requests.{fmt}"' in page
        assert f'formaction="/open-data/requests.{fmt}"' in page
    for column in BULK_COLUMNS:
        assert f"<code>{column}</code>" in page
    assert 'value="homeless-encampment"' in page
    assert 'href="/open-data/"' in client.get("/").content.decode()  # the footer link
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "es"
    assert "Datos abiertos" in client.get("/open-data/").content.decode()


def test_export_command(tmp_path: Path, pothole: ServiceRequest) -> None:
    graffiti = make_request("graffiti", at=EAST_SIDE, requested_at=local(2025, 6, 1))
    out, err = io.StringIO(), io.StringIO()
    call_command("export", "requests", "--service", "pothole", stdout=out, stderr=err)
    rows = list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))
    assert ids(rows) == [pothole.public_id]
    assert "Exported 1 request to standard output." in err.getvalue()

    target = tmp_path / "requests.geojson"
    call_command(
        "export",
        "requests",
        "--format=geojson",
        "--from=2025-06-01",
        f"--out={target}",
        stdout=out,
        stderr=err,
    )
    features = json.loads(target.read_text(encoding="utf-8"))["features"]
    assert [f["id"] for f in features] == [graffiti.public_id]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["requests.geojson"]

    with pytest.raises(CommandError, match="“tomorrow” is not a date"):
        call_command("export", "requests", "--to=tomorrow", stdout=out, stderr=err)
    with pytest.raises(CommandError, match="no service with the code “nope”"):
        call_command("export", "requests", "--service=nope", stdout=out, stderr=err)
