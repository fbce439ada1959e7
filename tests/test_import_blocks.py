"""The fast reader (blocks of plain CSV, converted by columns, written a block at a time)
against the exact one (Python's csv module, one row at a time, the row-by-row loader): the
same files must give the same requests, timelines and messages, line for line."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from django.db import IntegrityError, connection, transaction
from django.db.models import Q

from civicdesk.performance.imports import blocks, run
from civicdesk.performance.imports.blocks import block_shape
from civicdesk.performance.imports.frames import frame_records
from civicdesk.performance.imports.loader import Loader
from civicdesk.performance.imports.mapping import mapping_load, preset_load
from civicdesk.performance.imports.records import FileProblem
from civicdesk.performance.imports.run import file_import
from civicdesk.servicerequests.models import RequestEvent, ServiceRequest
from civicdesk.servicerequests.timeline import TIMELINE_FIELDS, timelines_complete
from tests.conftest import OUTSIDE

pytestmark = pytest.mark.usefixtures("city")

SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "311"
DATA = Path(__file__).resolve().parent / "data" / "imports"
HEADER = "Case ID,Opened,Closed,Type,Dept,State,Notes,Lat,Lon,Where,Via\n"


def _snapshot(source: str) -> dict[str, Any]:
    requests = {
        r["public_id"]: r
        for r in ServiceRequest.objects.filter(source=source).values(
            "public_id", "service__service_code", "department__code", "status", "status_notes",
            "description", "address", "zipcode", "lat", "long", "district__code", "ward__code",
            "channel", "requested_at", "updated_at", "due_at", "closed_at", "source_id",
        )
    }  # fmt: skip
    rows = list(ServiceRequest.objects.filter(source=source).values("public_id", *TIMELINE_FIELDS))
    stored = RequestEvent.objects.filter(request__source=source).order_by("created_at", "id")
    public_ids = {r["id"]: r["public_id"] for r in rows}
    events = sorted(
        (public_ids[pk], e.kind, e.from_status, e.to_status, e.note, e.data, e.actor_label,
         e.created_at)
        for pk, timeline in timelines_complete(rows, stored).items()
        for e in timeline
    )  # fmt: skip
    return {"requests": requests, "events": events}


def _import(path: Path, mapping: Any, *, exact: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Import in a transaction that is rolled back: (report, what it wrote)."""
    with monkeypatch.context() as patch:
        if exact:
            patch.setattr(blocks, "block_reading_possible", lambda *a: False)
            patch.setattr(Loader, "load_frame", lambda self, f: self.load(frame_records(f)))
        with transaction.atomic():
            report = file_import(path=path, mapping=mapping)
            written = _snapshot(mapping.source)
            transaction.set_rollback(True)
    return report, written


def _same_both_ways(path: Path, mapping: Any, monkeypatch: pytest.MonkeyPatch) -> Any:
    fast, fast_written = _import(path, mapping, exact=False, monkeypatch=monkeypatch)
    exact, exact_written = _import(path, mapping, exact=True, monkeypatch=monkeypatch)
    assert (fast.read, fast.created, fast.rejected) == (exact.read, exact.created, exact.rejected)
    assert fast.errors == exact.errors
    assert fast_written["requests"] == exact_written["requests"]
    assert fast_written["events"] == exact_written["events"]
    return fast, fast_written


@pytest.fixture
def no_boundaries(city: None) -> None:
    from civicdesk.geo.models import BoundaryLayer

    BoundaryLayer.objects.all().delete()


@pytest.mark.slow
@pytest.mark.usefixtures("no_boundaries")
@pytest.mark.parametrize(
    ("sample", "preset", "created"),
    [
        ("nyc_sample.csv", "nyc", 5895),
        ("sf_2008_2018_sample.csv", "sf", None),
        ("la_2017_sample.csv", "la", None),
    ],
)
def test_the_real_exports_read_the_same_both_ways(
    sample: str, preset: str, created: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    report, written = _same_both_ways(SAMPLES / sample, preset_load(preset), monkeypatch)
    assert report.created == len(written["requests"]) > 1000
    if created is not None:
        assert report.created == created


def test_awkward_rows_read_the_same_both_ways_across_small_blocks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        "A-1,2025-03-01 08:15,,Pot hole,Public Works,Open,,40.01346,-89.06441,1 Main St,Phone",
        # a note over two lines, quotes doubled inside a quoted field
        'A-2,2025-03-02 09:30,2025-03-04 16:00,Graffiti,Public Works,Done,"Painted ""twice"",\n'
        'both sides",40.01156,-88.94227,2 Oak Ave,Web',
        # 02:30 on the spring-forward night does not exist in Chicago
        "A-3,2025-03-09 02:30,,Pot hole,,Open,,,,3 Elm St,App",
        "A-4,2025-03-03 10:00,,Pot hole,,Sleeping,,,,4 Elm St,App",  # no such status
        "A-5,2025-02-30 10:00,,Pot hole,,Open,,,,5 Elm St,App",  # no such day
        "A-6,2025-03-03 10:00,,Pot hole,,Done,,,,6 Elm St,App",  # closed, no closing time
        "A-7,2025-03-03 10:00,,Pot hole,,Open,,91,10,7 Elm St,App",  # not a latitude
        f"A-8,2025-03-03 10:00,,Pot hole,,Open,,{OUTSIDE[0]},{OUTSIDE[1]},8 Elm St,App",
        "A-1,2025-03-03 10:00,,Pot hole,,Open,,,,again,App",  # a repeated id
        "A-9,2025-3-3 7:05,,Pot hole,,Open,,,,9 Elm St,App",  # unpadded: the row converter
        "A-10,  2025-03-03 10:00 ,,  Pot hole ,, open ,,,,10 Elm St, phone ",
        "A-11,2025-03-03 10:00,,,,Open,,,,no service,App",
    ]
    plain = tmp_path / "plain.csv"
    plain.write_text(HEADER + "\n".join(rows * 1) + "\n", encoding="utf-8")
    mapping = mapping_load(DATA / "oldcrm.toml")
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 128)
    report, written = _same_both_ways(plain, mapping, monkeypatch)
    reasons = {e.line: e.reason for e in report.errors}
    assert len(written["requests"]) == 5
    assert "Sleeping" in reasons[6] and "30" in reasons[7] and "outside" in reasons[10]
    assert "already appears on row 2" in reasons[11]
    # After a blank line, a short row and a lone carriage return the exact reader goes on.
    broken = tmp_path / "broken.csv"
    broken.write_bytes(
        (HEADER + "\n".join(rows[:3]) + "\n\n" + "A-20,2025-03-03 10:00,,Pot hole\n"
         + "A-21,2025-03-03 10:00,,Pot hole,,Open,,,,21 Elm St,App\r"
         + 'A-22,2025-03-03 10:00,,Pot hole,,Open,,,,a "quoted" word,App\n'
         + "A-23,2025-03-03 10:00,,Pot hole,,Open,,,,23 Elm St,App").encode()
    )  # fmt: skip
    report, written = _same_both_ways(broken, mapping, monkeypatch)
    assert any(e.reason == "has 4 fields where the header has 11" for e in report.errors)
    assert {"OLD-A-21", "OLD-A-22", "OLD-A-23"} <= set(written["requests"])


def test_a_block_the_database_refuses_stops_the_import_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On PostgreSQL each block's COPY runs beside the preparation of the next one: its
    # failure must still stop the import, with the database's own message, and roll back
    # the blocks before it. The database refuses one address (a real check of its own).
    table = ServiceRequest._meta.db_table
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"ALTER TABLE {table} ADD CONSTRAINT refused_by_the_test "
                "CHECK (address <> '13 Refused Road')"
            )
        else:
            cursor.execute(
                f"CREATE TRIGGER refused_by_the_test BEFORE INSERT ON {table} "
                "WHEN NEW.address = '13 Refused Road' "
                "BEGIN SELECT RAISE(ABORT, 'refused_by_the_test'); END"
            )
    rows = [f"B-{i},2025-03-03 10:00,,Pot hole,,Open,,,,{i} Elm St,App" for i in range(40)]
    rows[25] = "B-25,2025-03-03 10:00,,Pot hole,,Open,,,,13 Refused Road,App"
    export = tmp_path / "export.csv"
    export.write_text(HEADER + "\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.setattr(blocks, "BLOCK_BYTES", 256)  # a few rows a block
    # The driver's own error: the blocks are written by the driver's cursor, not Django's.
    refused = (IntegrityError, sqlite3.IntegrityError, psycopg.IntegrityError)
    with pytest.raises(refused, match="refused_by_the_test"):
        file_import(path=export, mapping=mapping_load(DATA / "oldcrm.toml"))
    assert not ServiceRequest.objects.filter(source="oldcrm").exists()


def test_a_file_in_another_encoding_reads_the_same_both_ways(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mapping_text = (
        (DATA / "oldcrm.toml")
        .read_text()
        .replace(
            'timezone = "America/Chicago"', 'timezone = "America/Chicago"\nencoding = "cp1252"'
        )
    )
    mapping_file = tmp_path / "cp1252.toml"
    mapping_file.write_text(mapping_text)
    export = tmp_path / "cp1252.csv"
    export.write_bytes(
        (HEADER + "B-1,2025-03-01 08:15,,Pot hole,,Open,Café “quoted”,,,1 Peña St,Phone\n").encode(
            "cp1252"
        )
    )
    _report, written = _same_both_ways(export, mapping_load(mapping_file), monkeypatch)
    assert written["requests"]["OLD-B-1"]["address"] == "1 Peña St"
    assert written["requests"]["OLD-B-1"]["status_notes"] == "Café “quoted”"


def test_times_with_and_without_fractions_of_a_second_are_written_as_django_writes_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite keeps datetimes as text and compares them as text: a whole second written
    # "12:00:00.000000" would not match the "12:00:00" Django looks for.
    mapping_file = tmp_path / "iso.toml"
    mapping_file.write_text(
        (DATA / "oldcrm.toml").read_text().replace('format = "%Y-%m-%d %H:%M"', 'format = "iso"')
    )
    export = tmp_path / "iso.csv"
    export.write_text(
        HEADER
        + "F-1,2025-03-01T08:15:00,2025-03-02T09:30:00.250000,Pot hole,,Done,,,,1 Main St,Phone\n"
        + "F-2,2025-03-01T08:15:07.000001,,Pot hole,,Open,,,,2 Main St,Phone\n",
        encoding="utf-8",
    )
    _report, written = _same_both_ways(export, mapping_load(mapping_file), monkeypatch)
    chicago = ZoneInfo("America/Chicago")
    assert written["requests"]["OLD-F-1"]["closed_at"] == dt.datetime(
        2025, 3, 2, 9, 30, 0, 250000, tzinfo=chicago
    )
    with transaction.atomic():
        file_import(path=export, mapping=mapping_load(mapping_file))
        for moment in (
            dt.datetime(2025, 3, 1, 8, 15, tzinfo=chicago),
            dt.datetime(2025, 3, 2, 9, 30, 0, 250000, tzinfo=chicago),
            dt.datetime(2025, 3, 1, 8, 15, 7, 1, tzinfo=chicago),
        ):
            found = ServiceRequest.objects.filter(
                Q(requested_at=moment) | Q(closed_at=moment), source="oldcrm"
            )
            assert found.count() == 1, moment
        transaction.set_rollback(True)


def test_block_shape_finds_each_rows_line_and_refuses_what_is_not_plain() -> None:
    data = b'a,b\n1,"x\ny"\n2,z\n3,w'
    shape = block_shape(data, final=True, delimiter=ord(","), width=2)
    assert shape is not None
    assert list(shape.lines) == [0, 1, 3, 4]  # the quoted line end belongs to row 2
    assert shape.cut == len(data)
    partial = block_shape(b'a,b\n1,"x\ny', final=False, delimiter=ord(","), width=2)
    assert partial is not None and partial.cut == 4 and len(partial.starts) == 1
    for not_plain in (
        b"a,b\n\n1,2\n",
        b"a,b\n1\n",
        b"a,b\n1,2,3\n",
        b'a,b\n1,x"y\n',
        b"a,b\r1,2\n",
    ):
        assert block_shape(not_plain, final=True, delimiter=ord(","), width=2) is None


def test_reading_stops_at_the_first_block_that_is_not_plain(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b\n1,2\n3,4\n5\n6,7\n")
    with path.open("rb") as binary:
        reader_ = blocks.BlockReader(
            binary, encoding="utf-8", delimiter=",", width=2, columns=[0, 1], block_bytes=4
        )
        got = [(b.fields.rows(), list(b.lines)) for b in reader_]
    assert got == [([("1", "2")], [2]), ([("3", "4")], [3])]  # a block of rows each
    assert not reader_.plain
    assert (reader_.line, reader_.offset) == (4, 12)  # "5" starts line 4, byte 12


def test_a_first_block_that_is_not_plain_is_read_after_the_header(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    export = tmp_path / "short.csv"
    export.write_text(
        HEADER
        + "Z-1,2025-13-01 08:15,,Pot hole,,Open,,,,1 Main St,Phone\n"
        + "Z-2,2025-03-01 08:15,,Pot hole,,Open,,,,2 Main St\n"
        + "Z-3,2025-03-01 08:15,,Pot hole,,Open,,,,3 Main St,Web\n"
    )
    report, written = _same_both_ways(export, mapping_load(DATA / "oldcrm.toml"), monkeypatch)
    assert [(e.line, e.source_id) for e in report.errors] == [(2, "Z-1"), (3, "Z-2")]
    assert report.errors[1].reason == "has 10 fields where the header has 11"
    assert list(written["requests"]) == ["OLD-Z-3"]


def test_a_reading_process_gives_the_same_rows_and_messages(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mapping = mapping_load(DATA / "oldcrm.toml")
    export = tmp_path / "export.csv"
    export.write_text(
        HEADER
        + "P-1,2025-03-01 08:15,,Pot hole,,Open,,,,1 Main St,Phone\n"
        + "P-2,2025-13-01 08:15,,Pot hole,,Open,,,,2 Main St,Web\n"
        + 'P-3,2025-03-02 09:30,2025-03-04 16:00,Graffiti,,Done,"two\nlines",,,3 Oak,Web\n'
    )

    def imported() -> tuple[Any, Any]:
        with transaction.atomic():
            report = file_import(path=export, mapping=mapping)
            written = _snapshot("oldcrm")
            transaction.set_rollback(True)
        return report, written

    here = imported()
    monkeypatch.setattr(run, "PROCESS_BYTES", 0)  # every file read by a child process
    apart = imported()
    assert apart[0].errors == here[0].errors and [e.line for e in here[0].errors] == [3]
    assert apart[1] == here[1] and set(here[1]["requests"]) == {"OLD-P-1", "OLD-P-3"}
    # A file-level problem found by the child is the same message, and nothing is written.
    export.write_bytes(HEADER.encode() + b"P-9,2025-03-01 08:15,,Caf\xe9,,Open,,,,9 Main,Phone\n")
    with pytest.raises(FileProblem) as apart_problem:
        imported()
    monkeypatch.setattr(run, "PROCESS_BYTES", 1 << 40)
    with pytest.raises(FileProblem) as here_problem:
        imported()
    assert str(apart_problem.value) == str(here_problem.value)
    assert "line 2 (byte" in str(here_problem.value)


# A fresh installation in a file of its own (the test database is in memory, where SQLite has
# no write-ahead log): the import of a large file, with the threshold lowered.
_DIRECT_SCRIPT = """
import json, os, sqlite3, sys
import django
django.setup()
from django.core.management import call_command
from django.db import connection
from civicdesk.performance.imports import run
from civicdesk.performance.imports.mapping import preset_load
from civicdesk.servicerequests.models import ServiceRequest

call_command("migrate", verbosity=0)
run.DIRECT_WRITE_BYTES = 0
sample, bad = sys.argv[1], sys.argv[2]
mapping = preset_load("nyc")

def pragmas():
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        mode = cursor.fetchone()[0]
        cursor.execute("PRAGMA synchronous")
        synchronous = cursor.fetchone()[0]
        cursor.execute("PRAGMA foreign_keys")
        return [mode, synchronous, cursor.fetchone()[0]]

seen = {}
def noting(case):
    def progress(rows, done):
        seen.setdefault(case, pragmas())
    return progress

out = {"before": pragmas()}
# Another connection has the database open (a server, a worker): the import goes through
# the log, at once.
other = sqlite3.connect(os.environ["DB_FILE"])
other.execute("SELECT count(*) FROM django_migrations").fetchall()
report = run.file_import(path=sample, mapping=mapping, progress=noting("shared"))
out["shared"] = [report.created, report.seconds, seen["shared"], pragmas()]
other.close()
ServiceRequest.objects.all().delete()
# Alone: straight into the database file, and the log back afterwards.
report = run.file_import(path=sample, mapping=mapping, progress=noting("alone"))
out["alone"] = [report.created, seen["alone"], pragmas(), ServiceRequest.objects.count()]
# A strict import with a bad row: nothing written, the log back all the same.
ServiceRequest.objects.all().delete()
report = run.file_import(path=bad, mapping=mapping, strict=True, progress=noting("strict"))
out["strict"] = [report.committed, report.rejected, seen["strict"], pragmas()]
out["strict"].append(ServiceRequest.objects.count())
print(json.dumps(out))
"""


@pytest.mark.slow
def test_a_large_import_into_sqlite_writes_past_the_log_only_when_it_has_the_database_alone(
    tmp_path: Path,
) -> None:
    sample = SAMPLES / "nyc_sample.csv"
    bad = tmp_path / "bad.csv"
    text = sample.read_text(encoding="utf-8")
    header, first = text.splitlines()[:2]
    bad.write_text(f"{header}\n{first}\n" + first.replace("/20", "/x", 1) + "\n", encoding="utf-8")
    db_file = tmp_path / "city.sqlite3"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{db_file}",
        "DB_FILE": str(db_file),
        "CIVICDESK_VAR_DIR": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "civicdesk.settings",
    }
    env.pop("DEBUG", None)
    result = subprocess.run(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", _DIRECT_SCRIPT, str(sample), str(bad)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    # journal, synchronous, foreign keys (enforced except while an import writes)
    wal, normal, full, on, off = "wal", 1, 2, 1, 0
    assert out["before"] == [wal, normal, on]
    created, seconds, during, after = out["shared"]
    assert created > 1000 and during == [wal, normal, off] and after == [wal, normal, on]
    assert seconds < 15, "the import waited for the other connection instead of going on"
    created_alone, during, after, stored = out["alone"]
    assert created_alone == created == stored
    assert during == ["delete", full, off] and after == [wal, normal, on]
    committed, rejected, during, after, stored = out["strict"]
    assert not committed and rejected == 1 and stored == 0
    assert during == ["delete", full, off] and after == [wal, normal, on]
