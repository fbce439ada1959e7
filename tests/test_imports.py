"""Importing history: `civicdesk import` (presets on the real New York, San Francisco and Los
Angeles samples, and a mapping file) and `civicdesk import-open311` against a live GeoReport
server. Every bad input must name its row or its mapping line and leave nothing behind."""

from __future__ import annotations

import csv
import dataclasses
import datetime as dt
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count

from civicdesk.catalog.models import Department, Service
from civicdesk.catalog.service_levels import service_due_at
from civicdesk.geo.models import BoundaryLayer, LayerRole, Zone
from civicdesk.ops.bulkload import sqlite_settings
from civicdesk.performance.imports import run as import_run
from civicdesk.performance.imports.frames import frame_records
from civicdesk.performance.imports.loader import Catalogue, Loader, ServiceInfo
from civicdesk.performance.models import ImportRun
from civicdesk.servicerequests.models import Channel, EventKind, RequestEvent, ServiceRequest
from civicdesk.servicerequests.selectors import request_timeline
from civicdesk.servicerequests.statuses import Status
from tests.conftest import OUTSIDE

pytestmark = pytest.mark.usefixtures("city")

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "311"
DATA = Path(__file__).resolve().parent / "data" / "imports"
MAPPING = DATA / "oldcrm.toml"
EXPORT = DATA / "oldcrm.csv"
UTC = dt.UTC


def run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def refused(*args: str) -> str:
    """Run a command that must fail; its message."""
    before = (ServiceRequest.objects.count(), RequestEvent.objects.count(), Service.objects.count())
    with pytest.raises(CommandError) as failure:
        run(*args)
    after = (ServiceRequest.objects.count(), RequestEvent.objects.count(), Service.objects.count())
    assert after == before, "a refused import must leave nothing behind"
    return str(failure.value)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def imported(source: str) -> Any:
    return ServiceRequest.objects.filter(source=source)


@pytest.fixture
def no_boundaries(city: None) -> None:
    """A real city's rows all lie outside the demo city: forget its boundaries (rolled back
    with the test), so the preset's bounds decide what is inside."""
    BoundaryLayer.objects.all().delete()


# --------------------------------------------------------------------------------------
# Presets on the real samples


@pytest.mark.slow
@pytest.mark.usefixtures("no_boundaries")
def test_new_york_preset_loads_the_real_sample() -> None:
    out, err = run("import", str(SAMPLES / "nyc_sample.csv"), "--preset", "nyc")
    assert "5,895 created, 0 updated, 0 unchanged, 0 rejected" in out
    assert err == ""
    requests = imported("nyc311")
    assert requests.count() == 5895
    first = requests.select_related("service", "department").get(source_id="45633481")
    assert first.public_id == "NYC-45633481"
    assert first.service.name == "Illegal Animal Kept as Pet"
    assert not first.service.active  # created for history; residents cannot pick it
    assert first.department.name == "Department of Health and Mental Hygiene"
    assert first.status == Status.IN_PROGRESS
    assert first.channel == Channel.WEB  # ONLINE
    assert first.description == "Rooster / Residence"
    assert first.address == "38-17 254 STREET"
    assert first.zipcode == "11363"
    assert first.lat == pytest.approx(40.775434349303865)
    # 02/17/2020 12:19:00 PM in New York
    assert first.requested_at == dt.datetime(2020, 2, 17, 17, 19, tzinfo=UTC)
    assert first.closed_at is None
    timeline = [
        (e.kind, e.from_status, e.to_status, e.actor_label)
        for e in request_timeline(first, public_only=True)
    ]
    assert timeline == [
        (EventKind.CREATED, "", Status.NEW, "import"),
        (EventKind.STATUS_CHANGE, Status.NEW, Status.IN_PROGRESS, "import"),
    ]
    # Read from the rows: an import writes no timeline entries.
    assert not RequestEvent.objects.exists()
    statuses = dict(requests.values_list("status").annotate(n=Count("id")))
    assert statuses == {
        Status.CLOSED: 2462,
        Status.IN_PROGRESS: 1682,
        Status.ASSIGNED: 1183,
        Status.NEW: 565,  # Open and Unspecified
        Status.ON_HOLD: 3,  # Pending
    }
    closed = requests.filter(status=Status.CLOSED)
    assert not closed.filter(closed_at__isnull=True).exists()
    run_record = ImportRun.objects.get(source="nyc311")
    assert (run_record.rows_read, run_record.created, run_record.succeeded) == (5895, 5895, True)


@pytest.mark.slow
@pytest.mark.usefixtures("no_boundaries")
def test_san_francisco_preset_reports_bad_rows_by_line(tmp_path: Path) -> None:
    errors = tmp_path / "rejected.csv"
    out, err = run(
        "import",
        str(SAMPLES / "sf_2008_2018_sample.csv"),
        "--preset",
        "sf",
        "--errors",
        str(errors),
    )
    assert "9,983 created, 0 updated, 0 unchanged, 17 rejected" in out
    # Rows spanning several lines (notes with line breaks) are named by their first line.
    assert (
        "row 9145 (source id 4264718): closed before it was received: closed_date "
        "2014-12-03 05:09:34+00:00 is before created_date 2014-12-03 08:22:41+00:00"
    ) in err
    with errors.open(newline="") as fh:
        rejected = list(csv.DictReader(fh))
    assert len(rejected) == 17
    assert rejected[0]["line"] == "7058"
    assert {r["line"] for r in rejected} >= {"9145", "9161", "9182", "9276"}

    requests = imported("sf311")
    first = requests.get(source_id="6078653")
    assert first.public_id == "SF-6078653"
    assert (first.lat, first.long) == (None, None)  # 0.0, 0.0 in the export
    assert first.status == Status.CLOSED
    assert first.closed_at == dt.datetime(2016, 7, 14, 12, 13, 22, tzinfo=UTC)
    assert first.status_notes == "Field Work has been completed."
    assert first.description == "Odor / Odor From_catch_basin"
    assert first.channel == Channel.WEB
    assert first.district is None
    last = request_timeline(first, public_only=True)[-1]
    assert (last.kind, last.to_status, last.created_at) == (
        EventKind.STATUS_CHANGE,
        Status.CLOSED,
        first.closed_at,
    )
    # Supervisor districts become council-district zones known by code only.
    layer = BoundaryLayer.objects.get(role=LayerRole.COUNCIL_DISTRICT)
    codes = set(Zone.objects.filter(layer=layer).values_list("code", flat=True))
    assert codes == {str(n) for n in range(1, 12)}  # "-1" means none
    assert not Zone.objects.filter(layer=layer, geometry__isnull=False).exists()
    assert requests.filter(district__code="10").count() > 1000


@pytest.mark.slow
@pytest.mark.usefixtures("no_boundaries")
def test_los_angeles_preset_names_departments_and_districts() -> None:
    out, err = run("import", str(SAMPLES / "la_2017_sample.csv"), "--preset", "la")
    assert "9,987 created, 0 updated, 0 unchanged, 12 rejected" in out
    assert "row 1015 (source id 1-870332239): closed before it was received" in err
    request = (
        imported("la311")
        .select_related("department", "district", "service")
        .get(source_id="1-870704831")
    )
    assert request.public_id == "LA-1-870704831"
    assert request.department.name == "Bureau of Sanitation"
    # "Homeless Encampment" is a service the city already has (the same name, any case).
    assert request.service.service_code == "homeless-encampment"
    assert request.service.active
    assert request.district is not None and request.district.code == "13"
    assert request.channel == Channel.PHONE
    assert request.status == Status.CLOSED
    assert request.address == "2111 W BELLEVUE AVE, 90026"
    # 12/31/2017 11:59:58 PM in Los Angeles
    assert request.requested_at == dt.datetime(2018, 1, 1, 7, 59, 58, tzinfo=UTC)
    assert imported("la311").filter(status=Status.REFERRED).count() == 9  # Referred Out


@pytest.mark.slow
@pytest.mark.usefixtures("no_boundaries")
def test_running_a_preset_twice_creates_nothing_new() -> None:
    sample = str(SAMPLES / "nyc_sample.csv")
    run("import", sample, "--preset", "nyc")
    events = RequestEvent.objects.count()
    services, departments = Service.objects.count(), Department.objects.count()
    out, _ = run("import", sample, "--preset", "nyc")
    assert "0 created, 0 updated, 5,895 unchanged, 0 rejected" in out
    assert imported("nyc311").count() == 5895
    assert RequestEvent.objects.count() == events
    assert (Service.objects.count(), Department.objects.count()) == (services, departments)


# --------------------------------------------------------------------------------------
# A mapping file


def test_a_mapping_file_imports_a_small_city_export() -> None:
    out, err = run("import", str(EXPORT), "--mapping", str(MAPPING))
    assert "4 created, 0 updated, 0 unchanged, 0 rejected" in out
    assert "new: 1 service, 1 department\n" in out  # the goat, Animal Control
    assert err == ""
    rows = {r.source_id: r for r in imported("oldcrm").select_related("service", "department")}
    pothole = rows["A-1001"]
    assert pothole.service.service_code == "pothole"  # the mapping's [services] rule
    assert pothole.department.code == "PW"  # matched by name
    assert pothole.district is not None and pothole.ward is not None  # placed by point
    assert pothole.channel == Channel.PHONE
    graffiti = rows["A-1002"]
    assert graffiti.service.service_code == "graffiti"  # matched by name
    assert graffiti.status_notes == "Painted over,\nboth sides"
    assert graffiti.closed_at == dt.datetime(2025, 3, 4, 22, 0, tzinfo=UTC)  # 16:00 in Chicago
    light = rows["A-1003"]
    assert light.service.service_code == "streetlight-out"
    assert light.department_id == light.service.department_id  # no department given
    goat = rows["A-1004"]
    assert goat.service.service_code == "loose-goat" and not goat.service.active
    assert goat.department.name == "Animal Control"
    assert goat.lat is None  # 0, 0
    assert goat.channel == Channel.WEB  # "Fax" is not mapped: the default
    # No due date in the export: the service's level target (3 business days) gives it.
    assert pothole.service.sla_amount
    assert pothole.due_at == service_due_at(pothole.service, pothole.requested_at)
    assert pothole.due_at == dt.datetime(2025, 3, 6, 23, 0, tzinfo=UTC)  # Thursday, close


def test_new_requests_keep_awkward_text_and_get_their_timeline(tmp_path: Path) -> None:
    # PostgreSQL's COPY lines are built by hand: tabs, backslashes, quotes and line breaks
    # must come back as written; the timeline is read from the rows.
    export = write(
        tmp_path / "export.csv",
        EXPORT.read_text()
        + 'A-1005,2025-03-05 07:00,2025-03-05 07:00,Pot hole,Public Works,Done,"tab\there, '
        + 'back\\slash \\N, \'quote\' ""dq""\r\nend",,,"9\t\\ Elm",Phone\n',
    )
    out, _ = run("import", str(export), "--mapping", str(MAPPING))
    assert "5 created, 0 updated, 0 unchanged, 0 rejected" in out
    odd = imported("oldcrm").get(source_id="A-1005")
    assert odd.status_notes == "tab\there, back\\slash \\N, 'quote' \"dq\"\r\nend"
    assert odd.address == "9\t\\ Elm"
    for request in imported("oldcrm"):
        events = request_timeline(request, public_only=False)
        assert events[0].kind == EventKind.CREATED and events[0].created_at == request.requested_at
        assert events[0].data == {"channel": request.channel, "imported_from": "oldcrm"}
        if request.status == Status.NEW:
            assert len(events) == 1
        else:
            assert [(e.kind, e.to_status, e.note) for e in events[1:]] == [
                (EventKind.STATUS_CHANGE, request.status, request.status_notes)
            ]
            assert events[1].created_at == (request.closed_at or request.updated_at)
    out, _ = run("import", str(export), "--mapping", str(MAPPING))
    assert "0 created, 0 updated, 5 unchanged, 0 rejected" in out


def test_a_changed_row_is_updated_with_a_timeline_entry(tmp_path: Path) -> None:
    run("import", str(EXPORT), "--mapping", str(MAPPING))
    request = imported("oldcrm").get(source_id="A-1001")
    changed = tmp_path / "export.csv"
    write(
        changed,
        EXPORT.read_text().replace(
            "A-1001,2025-03-01 08:15,,Pot hole,Public Works,Open,",
            "A-1001,2025-03-01 08:15,2025-03-06 10:00,Pot hole,Public Works,Done,Filled",
        ),
    )
    out, _ = run("import", str(changed), "--mapping", str(MAPPING))
    assert "0 created, 1 updated, 3 unchanged, 0 rejected" in out
    request.refresh_from_db()
    assert request.status == Status.CLOSED
    assert request.status_notes == "Filled"
    assert request.closed_at == dt.datetime(2025, 3, 6, 16, 0, tzinfo=UTC)
    assert request.version == 2
    # The entry read from the row before the change is stored as it was, then the change.
    stored = list(request.events.values_list("kind", "from_status", "to_status", "created_at"))
    assert stored == [
        (EventKind.CREATED, "", Status.NEW, request.requested_at),
        (EventKind.STATUS_CHANGE, Status.NEW, Status.CLOSED, request.closed_at),
    ]
    assert request_timeline(request, public_only=False) == list(request.events.all())


def test_dry_run_checks_everything_and_writes_nothing() -> None:
    out, _ = run("import", str(EXPORT), "--mapping", str(MAPPING), "--dry-run")
    assert "would be: 4 created" in out
    assert "Dry run: nothing was written." in out
    assert not imported("oldcrm").exists()
    assert not ImportRun.objects.filter(source="oldcrm").exists()


def test_strict_writes_nothing_when_a_row_is_bad(tmp_path: Path) -> None:
    bad = write(
        tmp_path / "export.csv",
        EXPORT.read_text() + "A-1005,next tuesday,,Pot hole,Public Works,Open,,,,1 Main St,Web\n",
    )
    message = refused("import", str(bad), "--mapping", str(MAPPING), "--strict")
    assert message == "1 bad row; nothing was imported (--strict)"
    assert not imported("oldcrm").exists()
    run_record = ImportRun.objects.get(source="oldcrm")
    assert not run_record.succeeded
    assert run_record.errors[0]["line"] == 7


# --------------------------------------------------------------------------------------
# Bad input: a precise message, and nothing half-written


def test_a_row_outside_the_city_is_named(tmp_path: Path) -> None:
    text = EXPORT.read_text().replace("40.01156,-88.94227", f"{OUTSIDE[0]},{OUTSIDE[1]}")
    _, err = run("import", str(write(tmp_path / "e.csv", text)), "--mapping", str(MAPPING))
    assert (
        "row 3 (source id A-1002): location 40.2, -89.5 is outside the city "
        "(the jurisdiction boundary of Prairie Falls)"
    ) in err
    assert set(imported("oldcrm").values_list("source_id", flat=True)) == {
        "A-1001",
        "A-1003",
        "A-1004",
    }


def test_unparsable_dates_and_repeated_ids_are_named_by_row(tmp_path: Path) -> None:
    text = EXPORT.read_text() + (
        "A-1005,2025-13-01 08:00,,Pot hole,Public Works,Open,,,,1 Main St,Web\n"
        "A-1002,2025-03-09 08:00,,Pot hole,Public Works,Open,,,,1 Main St,Web\n"
        "A-1006,2025-03-09 08:00,,Pot hole,Public Works,Lost,,,,1 Main St,Web\n"
        "A-1007,2025-03-09 08:00,,Pot hole,Public Works,Open,,95.1,-89.1,1 Main St,Web\n"
    )
    out, err = run("import", str(write(tmp_path / "e.csv", text)), "--mapping", str(MAPPING))
    assert "4 created, 0 updated, 0 unchanged, 4 rejected" in out
    lines = err.splitlines()
    assert lines[0] == (
        "row 7 (source id A-1005): Opened '2025-13-01 08:00' is not a date in the mapping's "
        "format, %Y-%m-%d %H:%M (e.g. 2024-07-31 16:05)"
    )
    assert lines[1] == "row 8 (source id A-1002): source id A-1002 already appears on row 3"
    assert lines[2].startswith(
        "row 9 (source id A-1006): State 'Lost' is not in the mapping's [statuses] ("
    )
    assert "oldcrm.toml, line 23)" in lines[2]
    assert (
        lines[3]
        == "row 10 (source id A-1007): location 95.1, -89.1 is not a latitude and longitude"
    )


def test_a_file_in_another_encoding_names_the_line(tmp_path: Path) -> None:
    text = EXPORT.read_text().replace("300 Elm St", "300 Calle Peñasco")
    bad = write(tmp_path / "latin.csv", text, encoding="cp1252")
    message = refused("import", str(bad), "--mapping", str(MAPPING))
    assert f"{bad}, line 5 (byte " in message
    assert "are not utf-8 text" in message
    assert 'encoding = "cp1252"' in message
    assert message.endswith("Nothing was imported.")


def test_a_mapping_column_missing_from_the_file_names_the_mapping_line(tmp_path: Path) -> None:
    text = EXPORT.read_text().replace("Case ID,", "Case,", 1)
    message = refused("import", str(write(tmp_path / "e.csv", text)), "--mapping", str(MAPPING))
    assert (
        f"{MAPPING}, line 8: [columns] source_id = 'Case ID': the file has no column 'Case ID'"
    ) in message
    assert "The file's columns are: 'Case', 'Opened'" in message


def test_a_preset_on_the_wrong_file_names_the_preset_lines() -> None:
    message = refused("import", str(EXPORT), "--preset", "nyc")
    assert "preset nyc (nyc.toml), line 13: [columns] source_id = 'Unique Key'" in message
    assert "preset nyc (nyc.toml), line 27: [columns] long = 'Longitude'" in message


def test_a_bad_mapping_lists_each_problem_with_its_line(tmp_path: Path) -> None:
    text = MAPPING.read_text().replace('"Working" = "in_progress"', '"Working" = "busy"')
    text = text.replace('address = "Where"', 'adress = "Where"')
    mapping = write(tmp_path / "m.toml", text)
    message = refused("import", str(EXPORT), "--mapping", str(mapping))
    assert f"{mapping}, line 25: [statuses] Working: 'busy' is not one of new," in message
    assert f"{mapping}, line 17: [columns] adress: unknown field" in message
    unknown = write(tmp_path / "u.toml", MAPPING.read_text() + 'department = "NOPE"\n')
    assert (
        f"{unknown}, line 35: [services.\"Pot hole\"] department = 'NOPE': no department of "
        "this installation has that code"
    ) in refused("import", str(EXPORT), "--mapping", str(unknown))
    syntax = write(tmp_path / "s.toml", "[source\nname = 1\n")
    assert "not valid TOML" in refused("import", str(EXPORT), "--mapping", str(syntax))


def test_empty_and_missing_files_are_refused(tmp_path: Path) -> None:
    empty = write(tmp_path / "empty.csv", "")
    assert refused("import", str(empty), "--mapping", str(MAPPING)).startswith(
        f"{empty}: the file is empty"
    )
    missing = tmp_path / "nope.csv"
    assert f"{missing}: no such file" in refused("import", str(missing), "--mapping", str(MAPPING))
    assert "no such mapping file" in refused("import", str(EXPORT), "--mapping", "nope.toml")


# --------------------------------------------------------------------------------------
# import-open311: another vendor's GeoReport v2 server, live over HTTP

NOW = dt.datetime(2026, 11, 20, 12, 0, tzinfo=UTC)
CAP = 5  # the most requests this server returns at once


def georeport_requests() -> list[dict[str, Any]]:
    chicago = ZoneInfo("America/Chicago")
    items = []
    for n in range(23):
        requested = (NOW - dt.timedelta(days=10) + dt.timedelta(hours=9 * n)).astimezone(chicago)
        closed = n % 3 == 0
        items.append(
            {
                "service_request_id": f"{5000 + n}",
                "status": "closed" if closed else "open",
                "status_notes": "Fixed." if closed else None,
                "service_name": "Pothole" if n % 2 else "Broken bench",
                "service_code": "PH-01" if n % 2 else "BENCH",
                "description": f"Report {n}",
                "agency_responsible": "Streets",
                "requested_datetime": requested.isoformat(),
                "updated_datetime": (requested + dt.timedelta(hours=30)).isoformat(),
                "expected_datetime": None,
                "address": f"{100 + n} Main St",
                "zipcode": "61701",
                "lat": 40.01346,
                "long": -89.06441,
            }
        )
    return items


class GeoReportHandler(BaseHTTPRequestHandler):
    requests_served: list[str] = []
    fail_with: int | None = None

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        url = urlsplit(self.path)
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        self.requests_served.append(self.path)
        if self.fail_with:
            error = [{"code": self.fail_with, "description": "maintenance window"}]
            self._send(self.fail_with, json.dumps(error).encode())
        elif url.path == "/v2/services.json":
            services = [
                {"service_code": "PH-01", "service_name": "Pothole", "group": "Streets"},
                {"service_code": "BENCH", "service_name": "Broken bench", "group": "Parks"},
            ]
            self._send(200, json.dumps(services).encode())
        elif url.path == "/v2/requests.json":
            start = dt.datetime.fromisoformat(query["start_date"])
            end = dt.datetime.fromisoformat(query["end_date"])
            found = [
                r
                for r in georeport_requests()
                if start <= dt.datetime.fromisoformat(r["requested_datetime"]) <= end
            ]
            found.sort(key=lambda r: r["requested_datetime"], reverse=True)  # newest first
            self._send(200, json.dumps(found[:CAP]).encode())
        elif url.path == "/html/services.json":
            self._send(200, b"<html>Welcome</html>", "text/html")
        else:
            self._send(404, b"[]")


@pytest.fixture
def georeport() -> Iterator[str]:
    GeoReportHandler.requests_served = []
    GeoReportHandler.fail_with = None
    server = ThreadingHTTPServer(("127.0.0.1", 0), GeoReportHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_import_open311_pulls_every_window_from_another_server(georeport: str) -> None:
    since = (NOW - dt.timedelta(days=11)).date().isoformat()
    until = NOW.isoformat()
    args = ("import-open311", f"{georeport}/v2/", "--since", since, "--until", until)
    out, err = run(*args, "--source", "oldvendor", "--id-prefix", "OV")
    assert "23 created, 0 updated, 0 unchanged, 0 rejected" in out, err
    # Five at most per answer: the 11-day window had to be halved, then halved again.
    windows = [p for p in GeoReportHandler.requests_served if "requests.json" in p]
    assert len(windows) > 5
    requests = imported("oldvendor")
    assert requests.count() == 23
    first = requests.select_related("service").get(source_id="5000")
    assert first.public_id == "OV-5000"
    assert first.status == Status.CLOSED and first.status_notes == "Fixed."
    assert first.closed_at == first.updated_at
    assert first.service.name == "Broken bench" and first.service.group == "Parks"
    assert first.district is not None  # placed in the demo city by point
    assert requests.filter(status=Status.CLOSED).count() == 8
    # PH-01 "Pothole" is the city's own pothole service (same name); BENCH is new.
    assert requests.filter(service__service_code="pothole").count() == 11
    assert not first.service.active and first.service.service_code == "bench"

    out, _ = run(*args, "--source", "oldvendor", "--id-prefix", "OV")
    assert "0 created, 0 updated, 23 unchanged" in out


def test_import_open311_names_the_url_when_the_server_fails(georeport: str) -> None:
    GeoReportHandler.fail_with = 503
    message = refused("import-open311", f"{georeport}/v2", "--api-key", "s3cret")
    assert f"{georeport}/v2/services.json?api_key=***" in message
    assert "answered HTTP 503" in message and "maintenance window" in message
    assert "s3cret" not in message

    GeoReportHandler.fail_with = None
    message = refused("import-open311", f"{georeport}/html")
    assert "did not answer JSON (Content-Type text/html" in message

    message = refused("import-open311", "http://127.0.0.1:9/v2")
    assert message.startswith("cannot reach http://127.0.0.1:9/v2/services.json")
    assert "not an http(s) URL" in refused("import-open311", "ftp://example.org/v2")


def _index_definitions() -> set[str]:
    tables = [ServiceRequest._meta.db_table, RequestEvent._meta.db_table]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT indexdef FROM pg_indexes WHERE tablename = ANY(%s)", [tables])
        else:
            cursor.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name IN (%s, %s)",
                tables,
            )
        return {row[0] for row in cursor.fetchall()}


def _constraint_definitions() -> set[tuple[Any, ...]]:
    """The requests table's constraints: on PostgreSQL each with whether it was checked
    against every row (a foreign key added back ``NOT VALID`` would not be); on SQLite the
    table's own text, which holds them."""
    table = ServiceRequest._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT conname, pg_get_constraintdef(oid), convalidated FROM pg_constraint "
                "WHERE conrelid = %s::regclass",
                [table],
            )
        else:
            cursor.execute(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", [table]
            )
        return {tuple(row) for row in cursor.fetchall()}


def _sqlite_settings() -> list[int]:
    if connection.vendor != "sqlite":
        return []
    with connection.cursor() as cursor:
        values = []
        for name in ("cache_size", "threads"):
            cursor.execute(f"PRAGMA {name}")
            values.append(cursor.fetchone()[0])
        return values


@pytest.mark.parametrize(
    ("by_rows", "gone"), [(False, "service"), (True, "service"), (False, "department")]
)
def test_a_service_or_department_deleted_while_the_import_runs_stops_it(
    by_rows: bool, gone: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite imports without foreign key enforcement, and PostgreSQL checks foreign keys
    # only at the commit: the loader's own check must catch a reference that is not there
    # (here as if the service or department were deleted meanwhile), whether the rows are
    # written a block at a time or one by one. (Inside the test's transaction SQLite keeps
    # its enforcement, deferred to a commit that never comes: only the loader's check can
    # stop the import.)
    if by_rows:
        monkeypatch.setattr(Loader, "load_frame", lambda self, f: self.load(frame_records(f)))
    if gone == "service":
        found = Catalogue.service

        def deleted_meanwhile(self: Catalogue, *args: Any) -> ServiceInfo:
            return dataclasses.replace(found(self, *args), id=10**9)

        monkeypatch.setattr(Catalogue, "service", deleted_meanwhile)
    else:
        # Every department the source names, and so the one a new service is made in.
        monkeypatch.setattr(Catalogue, "department", lambda self, *args: 10**9)
    message = refused("import", str(EXPORT), "--mapping", str(MAPPING))
    assert (
        f"the rows refer to the {gone} with id 1000000000, which is not (or no longer) in "
        "the database" in message
    )
    assert "nothing was imported" in message


def test_sqlite_settings_for_a_while_are_put_back_even_when_the_work_fails() -> None:
    before = _sqlite_settings()
    with pytest.raises(RuntimeError), sqlite_settings(cache_size=-1234, threads=1):
        if connection.vendor == "sqlite":
            assert _sqlite_settings() == [-1234, 1]
        raise RuntimeError("the import failed")
    assert _sqlite_settings() == before


def test_a_large_import_builds_the_indexes_once_and_puts_them_all_back(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # As if this were a large import into an empty table: the thresholds are lowered.
    monkeypatch.setattr(import_run, "BULK_ROWS", 1)
    monkeypatch.setattr(import_run, "BULK_FACTOR", 0)
    before = _index_definitions()
    constraints = _constraint_definitions()
    settings_before = _sqlite_settings()
    out, _ = run("import", str(EXPORT), "--mapping", str(MAPPING))
    assert "4 created" in out
    assert _index_definitions() == before
    # Foreign keys and unique constraints are back as they were, each checked against
    # every row.
    assert _constraint_definitions() == constraints
    assert any("REFERENCES" in str(c) for c in constraints)
    # SQLite sorted the index keys with worker threads and a small page cache: both back.
    assert _sqlite_settings() == settings_before
    assert imported("oldcrm").filter(public_id="OLD-A-1002").exists()


def test_a_second_source_with_the_same_id_prefix_keeps_off_the_public_ids_the_first_holds(
    tmp_path: Path,
) -> None:
    run("import", str(EXPORT), "--mapping", str(MAPPING))
    mapping = write(
        tmp_path / "newcrm.toml",
        MAPPING.read_text(encoding="utf-8").replace('name = "oldcrm"', 'name = "newcrm"'),
    )
    export = write(
        tmp_path / "newcrm.csv",
        "Case ID,Opened,Closed,Type,Dept,State,Notes,Lat,Lon,Where,Via\n"
        "A-1001,2025-05-01 08:15,,Pot hole,Public Works,Open,,40.01346,-89.06441,1 Main St,Web\n"
        "B-7,2025-05-02 08:15,,Pot hole,Public Works,Open,,40.01346,-89.06441,2 Main St,Web\n",
    )
    out, err = run("import", str(export), "--mapping", str(mapping))
    assert "1 created" in out
    assert "1 rejected" in out
    assert (
        "row 2 (source id A-1001): public id OLD-A-1001 is already used by another request" in err
    )
    assert imported("oldcrm").get(public_id="OLD-A-1001").address == "100 Main St"
    assert imported("newcrm").get().public_id == "OLD-B-7"
    if connection.vendor == "postgresql":
        # The loader's first question (does another source hold ids with this prefix?)
        # can be answered from the public ids' own index, not by reading every request
        # (the planner reads a table this small whole unless told not to).
        with connection.cursor() as cursor:
            cursor.execute("SET LOCAL enable_seqscan = off")
        plan = (
            ServiceRequest.objects.filter(public_id__startswith="OLD-")
            .exclude(source="newcrm")
            .explain()
        )
        assert "servicerequests_servicerequest_public_id_key" in plan, plan
