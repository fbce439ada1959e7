"""One import from start to finish, all or nothing.

The whole import runs in one transaction: a file-level problem (encoding, columns, an
unreachable server) rolls everything back; a bad row is skipped and reported, or with
``strict`` rolls everything back too; ``dry_run`` goes through every check and rolls back.
Each run that could write leaves an ``ImportRun``; after a committed import the daily
rollups are brought up to date.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import polars as pl
from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.utils import timezone

from civicdesk.errors import InvalidInput
from civicdesk.ops.bulkload import sqlite_settings, tables_analyze
from civicdesk.performance.models import ImportRun
from civicdesk.performance.rollups import rollups_recompute, rollups_refresh
from civicdesk.servicerequests.models import ServiceRequest

from .loader import DeferredIndexes, Loader
from .mapping import ID_PREFIX_RE, SOURCE_NAME_RE, Mapping, MappingError
from .open311_client import Open311Server, records_of, server_mapping
from .process import chunks_read_apart
from .reader import CsvExport
from .records import Record, RowError

CHUNK = 10_000
ERRORS_KEPT = 200  # on the ImportRun; the command and --errors report all of them
IMPORT_CACHE_KIB = 128 * 1024  # SQLite's page cache during an import
ANALYZE_AFTER = 50_000  # rows written: refresh the planner's statistics after a big load
# An import expected to bring at least this many rows, and that many times what the
# requests table holds, builds the tables' indexes once at the end (``DeferredIndexes``).
BULK_ROWS = 100_000
BULK_FACTOR = 4
# A file at least this large is read by a process of its own (its first chunk comes about
# two thirds of a second after it starts).
PROCESS_BYTES = 64 << 20
# SQLite: a file at least this large is written straight into the database file when
# nothing else has the database open (``_direct_writing``).
DIRECT_WRITE_BYTES = 64 << 20
SYNCHRONOUS_FULL = 2

# rows read so far, and the share of the source done (0..1)
Progress = Callable[[int, float], None]
Chunks = Iterable[tuple[list[Record] | pl.DataFrame, list[RowError], float]]


@dataclass
class ImportReport:
    source: str
    location: str
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    services_created: int = 0
    departments_created: int = 0
    districts_created: int = 0
    seconds: float = 0.0
    rollup_seconds: float = 0.0
    committed: bool = False
    dry_run: bool = False
    strict: bool = False
    run_id: int | None = None

    @property
    def rejected(self) -> int:
        return len(self.errors)

    @property
    def rows_per_second(self) -> float:
        return self.read / self.seconds if self.seconds > 0 else 0.0


def _run_record(
    report: ImportReport, started: dt.datetime, started_by: str, extra: str = ""
) -> int:
    errors: list[dict[str, Any]] = [
        {"line": e.line, "source_id": e.source_id, "reason": e.reason}
        for e in report.errors[:ERRORS_KEPT]
    ]
    if extra:
        errors.insert(0, {"line": None, "source_id": "", "reason": extra})
    run = ImportRun.objects.create(
        source=report.source,
        location=report.location[:1000],
        started_at=started,
        finished_at=timezone.now(),
        rows_read=report.read,
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        rejected=report.rejected,
        errors=errors,
        succeeded=report.committed,
        started_by=started_by[:150],
    )
    return run.pk


def _journal_to_rollback() -> bool:
    """SQLite in WAL mode: switch to a rollback journal if no other connection has the
    database open (else leave it as it is). Did it switch?"""
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA journal_mode")
        if cursor.fetchone()[0] != "wal":
            return False
        try:
            cursor.execute("PRAGMA journal_mode = DELETE")
        except OperationalError:  # "database is locked", at once: another has it open
            return False
        return bool(cursor.fetchone()[0] == "delete")


def _journal_to_log() -> None:
    """Back to the write-ahead log after ``_journal_to_rollback``."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode = WAL")
    except OperationalError:
        # Readers held the database past the busy timeout: this connection goes (the
        # import is over either way) and the next one turns the log on.
        connection.close()


@contextmanager
def _direct_writing(wanted: bool) -> Iterator[None]:
    """SQLite: while a large import runs, write into the database file itself, with a
    rollback journal, instead of through the write-ahead log, when nothing else has the
    database open.

    Through the log, every page is written twice: into the log, then into the database by
    the checkpoint at the commit (a fifth of the time of a fresh import of a million rows).
    The price: once the import has written more than its page cache holds, nothing else
    can read the database until it commits. So the switch is only taken when no other
    connection (a server, a worker) has the database open; otherwise the import goes
    through the log as before. The log comes back when the import ends, however it ends.
    A crash in between leaves a rollback journal that SQLite plays back on the next open,
    and the next connection turns the log on again (the settings' ``init_command``).
    """
    if not (
        wanted
        and connection.vendor == "sqlite"
        and not connection.in_atomic_block
        and _journal_to_rollback()
    ):
        yield
        return
    try:
        # FULL: the rollback journal's safe level (NORMAL is safe only with the log).
        with sqlite_settings(synchronous=SYNCHRONOUS_FULL):
            yield
    finally:
        _journal_to_log()


def records_import(
    *,
    mapping: Mapping,
    location: str,
    chunks: Chunks,
    strict: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    started_by: str = "",
    large: bool = False,
) -> ImportReport:
    """Load every chunk of records in one transaction; see the module's docstring.
    ``large``: the caller expects a large import (``_direct_writing``)."""
    started = timezone.now()
    clock = time.perf_counter()
    report = ImportReport(source=mapping.source, location=location, dry_run=dry_run, strict=strict)
    try:
        with (
            _direct_writing(large and not dry_run),
            # SQLite: no foreign key enforcement while the import writes; the loader checks
            # the references it wrote before the commit (``Loader.references_check``).
            # Only outside a transaction: SQLite ignores the switch inside one.
            connection.constraint_checks_disabled(),
            # A million rows touch many indexes: with the default page cache most of their
            # pages fall out between chunks and are read again.
            sqlite_settings(cache_size=-IMPORT_CACHE_KIB),
            transaction.atomic(),
        ):
            loader = Loader(mapping, strict=strict)
            deferred = DeferredIndexes()
            decided = False
            try:
                for records, errors, done in chunks:
                    rows = len(records) + len(errors)
                    if not decided and done > 0 and rows:
                        # Decided on the first chunk read, before it is written.
                        decided = True
                        expected = rows / done
                        if expected >= BULK_ROWS and not dry_run and not strict:
                            existing = ServiceRequest.objects.count()
                            if existing * BULK_FACTOR <= expected:
                                deferred.drop(
                                    [ServiceRequest],
                                    unique=loader.fresh
                                    and not loader.check_public_ids
                                    and isinstance(records, pl.DataFrame),
                                )
                    loader.reject(errors)
                    if isinstance(records, pl.DataFrame):
                        loader.load_frame(records)
                    else:
                        loader.load(records)
                    if progress is not None:
                        progress(loader.counts.read, done)
            except BaseException:
                loader.settle(quietly=True)  # nothing may use the connection beside a rollback
                raise
            loader.settle()
            loader.references_check()
            deferred.restore()
            if progress is not None:
                progress(loader.counts.read, 1.0)
            counts = loader.counts
            report.read, report.created = counts.read, counts.created
            report.updated, report.unchanged = counts.updated, counts.unchanged
            report.errors = sorted(counts.errors, key=lambda e: e.line)
            report.services_created = loader.catalogue.services_created
            report.departments_created = loader.catalogue.departments_created
            report.districts_created = loader.districts.created
            report.committed = not dry_run and not (strict and report.errors)
            if report.committed:
                report.run_id = _run_record(report, started, started_by)
            else:
                transaction.set_rollback(True)
    except InvalidInput as exc:
        report.seconds = time.perf_counter() - clock
        if not dry_run:
            report.committed = False
            _run_record(report, started, started_by, extra=str(exc))
        raise
    report.seconds = time.perf_counter() - clock
    if not report.committed:
        if not dry_run:
            report.run_id = _run_record(report, started, started_by)
        return report
    written = report.created + report.updated
    if written >= ANALYZE_AFTER and not connection.in_atomic_block:
        # Before the rollups: a table that grew by a million rows since the planner last
        # looked is read by full scans until it is analysed again.
        tables_analyze([ServiceRequest])
    if written:
        clock = time.perf_counter()
        # New requests have ids past the rollups' last one; updated ones keep their past
        # updated_at (the source's), so their days are recomputed by name.
        rollups_recompute(loader.changed_moments)
        rollups_refresh()
        report.rollup_seconds = time.perf_counter() - clock
    return report


def file_import(
    *,
    path: str | Path,
    mapping: Mapping,
    strict: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    started_by: str = "",
) -> ImportReport:
    """Import a CSV export read through ``mapping`` (a mapping file or a preset)."""
    started = timezone.now()
    export = CsvExport(path, mapping)
    try:
        export.open()
    except InvalidInput as exc:
        # Refused before a row was read (no such file, wrong columns, empty).
        if not dry_run:
            _run_record(ImportReport(mapping.source, str(path)), started, started_by, str(exc))
        raise
    with export:

        def chunks() -> Iterator[tuple[pl.DataFrame, list[RowError], float]]:
            if export.total_bytes >= PROCESS_BYTES:
                yield from chunks_read_apart(export.path, mapping.text, mapping.label, CHUNK)
                return
            for frame, errors in export.frames(CHUNK):
                yield frame, errors, export.bytes_read / max(export.total_bytes, 1)

        return records_import(
            mapping=mapping,
            location=str(path),
            chunks=chunks(),
            strict=strict,
            dry_run=dry_run,
            progress=progress,
            started_by=started_by,
            large=export.total_bytes >= DIRECT_WRITE_BYTES,
        )


def open311_import(
    *,
    url: str,
    since: dt.datetime,
    until: dt.datetime,
    source: str = "",
    id_prefix: str = "",
    api_key: str = "",
    jurisdiction_id: str = "",
    page_size: int | None = None,
    timeout: float = 60,
    strict: bool = False,
    dry_run: bool = False,
    progress: Progress | None = None,
    started_by: str = "",
) -> ImportReport:
    """Import the requests another GeoReport v2 server received in ``[since, until]``."""
    server = Open311Server(
        url,
        api_key=api_key,
        jurisdiction_id=jurisdiction_id,
        page_size=page_size,
        timeout=timeout,
    )
    source = (source or server.host).lower()
    id_prefix = id_prefix or prefix_for(source)
    if not SOURCE_NAME_RE.match(source):
        raise MappingError(f'source {source!r} must be a short lowercase name like "oldcrm"')
    if not ID_PREFIX_RE.match(id_prefix):
        raise MappingError(
            f"id prefix {id_prefix!r} must be 1 to 12 letters and digits starting with a letter"
        )
    started = timezone.now()
    try:
        mapping = server_mapping(
            server,
            server.services(),
            source=source,
            id_prefix=id_prefix,
            tz=ZoneInfo(settings.TIME_ZONE),
        )
    except InvalidInput as exc:
        if not dry_run:
            _run_record(ImportReport(source, server.base), started, started_by, str(exc))
        raise
    report = records_import(
        mapping=mapping,
        location=server.base,
        chunks=records_of(server.windows(since, until), mapping.timezone),
        strict=strict,
        dry_run=dry_run,
        progress=progress,
        started_by=started_by,
    )
    report.warnings.extend(server.warnings)
    return report


def prefix_for(source: str) -> str:
    """A public-id prefix from a source's name: its first word's letters and digits."""
    word = re.sub(r"[^A-Za-z0-9]", "", source.split(".")[0])[:12].upper()
    return word if word[:1].isalpha() else "EXT"
