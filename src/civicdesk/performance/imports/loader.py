"""Records into the database: in bulk, idempotently, chunk by chunk.

Each chunk of records is checked (a source id seen before in the same file, a location
outside the city, a public id that cannot be made), matched with the requests this source
already has (by source id) and split three ways: new requests are inserted, requests whose
mapped fields changed are updated (with a ``status_change`` event when the status moved),
the rest are unchanged. New requests go in by one COPY of text lines built here on
PostgreSQL, ``executemany`` on SQLite. Their timeline is not written: its first entries
(received, and the status they have) are read from the row until civicdesk first changes
it (see ``servicerequests.timeline``), so an updated request has them stored first, as the
row was. Updates: a COPY into a temporary table and one UPDATE on PostgreSQL, executemany on
SQLite. The caller holds the transaction: the loader never commits.

Services, departments and council districts named by the source are found or created once
per run (see ``Catalogue``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from typing import Any

import numpy as np
import polars as pl
from django.conf import settings
from django.db import connection
from django.db.models import Index, Model, Q, UniqueConstraint
from django.utils import timezone
from django.utils.text import slugify

from civicdesk.catalog.models import Department, Service
from civicdesk.catalog.service_levels import WorkingCalendar, due_at_compute, working_calendar_for
from civicdesk.errors import InvalidInput
from civicdesk.geo.models import BoundaryLayer, LayerRole, Zone
from civicdesk.geo.zones import zone_index
from civicdesk.ops.bulkload import epoch_adapter, next_id, rows_insert, sqlite_settings
from civicdesk.servicerequests.models import EventKind, Priority, RequestEvent, ServiceRequest
from civicdesk.servicerequests.statuses import CLOSED_STATUSES
from civicdesk.servicerequests.timeline import IMPORT_ACTOR, imported_entries_store_by_id

from .dates import EpochText
from .frames import MICRO, frame_records
from .mapping import Mapping, MappingError, value_key
from .records import Record, RowError

UTC = dt.UTC
SORT_THREADS = 4  # SQLite's worker threads for sorting index keys (at most the cores)
SORT_RUN_KIB = 4 * 1024  # the page cache, and so the sorted runs, while indexes are built


def _names(text: str) -> tuple[str, ...]:
    # Column lists as words: thirty names one per line would hide the order that matters.
    return tuple(text.split())


# Every column of a new request, in the order of the rows built below.
REQUEST_COLUMNS = _names(
    "id public_id service_id department_id status status_notes description address zipcode "
    "lat long district_id ward_id channel requested_at updated_at due_at closed_at "
    "attributes address_id priority team_id assignee_id referred_to reporter_id parent_id "
    "acknowledged_at first_action_at escalated_at version source source_id"
)
# What an import sets: an existing request whose mapped values all match is unchanged.
MAPPED_COLUMNS = REQUEST_COLUMNS[2:18]
_DATETIME_COLUMNS = frozenset({"requested_at", "updated_at", "due_at", "closed_at"})
EVENT_COLUMNS = _names(
    "request_id kind public from_status to_status note data actor_id actor_label created_at"
)
# Open311 request ids (and so public ids) are short words: see open311/params.py.
PUBLIC_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,32}$")
MAX_SOURCE_ID = 128
SQLITE_ROWS_A_STATEMENT = 200  # 3,600 values, far below SQLite's limit of 32,766


def code_for(text: str, max_length: int) -> str:
    """A stable slug code for a source's name; long names keep a hash so they stay apart."""
    slug = slugify(text)
    if slug and len(slug) <= max_length:
        return slug
    digest = hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:8]
    head = slug[: max_length - 9].rstrip("-")
    return f"{head}-{digest}" if head else f"x-{digest}"


# --------------------------------------------------------------------------------------
# Services and departments


@dataclass
class ServiceInfo:
    id: int
    department_id: int
    sla_amount: int | None
    sla_unit: str
    _calendar: WorkingCalendar | None = None
    _service: Service | None = None

    @property
    def has_level(self) -> bool:
        return bool(self.sla_amount and self.sla_unit)

    def due(self, requested: float) -> float | None:
        """The due time from the service's level target (for sources without a due date)."""
        if not self.has_level:
            return None
        if self._calendar is None:
            assert self._service is not None
            self._calendar = working_calendar_for(self._service)
        due = due_at_compute(
            amount=self.sla_amount,
            unit=self.sla_unit,
            requested_at=dt.datetime.fromtimestamp(requested, UTC),
            calendar=self._calendar,
        )
        return due.timestamp() if due is not None else None


def _remembered(cache: dict[str, Any], value: str) -> tuple[Any, str]:
    """What a source value resolved to before (by the value as written, or in its matching
    form), and its matching form."""
    found = cache.get(value)
    if found is not None:
        return found, ""  # the usual case: no need for the matching form
    key = value_key(value)
    found = cache.get(key)
    if found is not None:
        cache[value] = found
    return found, key


class Catalogue:
    """The services and departments a source names, matched or created once per run.

    A source's service is, in order: the one its ``[services."Name"]`` rule gives; an
    existing service whose code is the name's slug or whose name is the same; or a new
    service, inactive (residents do not see it in the form; reports and history do).
    Departments likewise, by ``[departments]`` rule, code or name, else created.
    """

    def __init__(self, mapping: Mapping, *, before_db: Callable[[], None] = lambda: None) -> None:
        self.mapping = mapping
        self.before_db = before_db  # called before each query after these first ones
        self.services: dict[str, ServiceInfo] = {}
        self.departments: dict[str, int] = {}
        self.services_created = 0
        self.departments_created = 0
        self._service_by_code = {s.service_code: s for s in Service.objects.all()}
        self._service_by_name = {value_key(s.name): s for s in self._service_by_code.values()}
        self._department_by_code = {d.code: d.pk for d in Department.objects.all()}
        self._department_by_name = {
            value_key(name): pk for pk, name in Department.objects.values_list("pk", "name")
        }
        problems = []
        for rule in mapping.services.values():
            if rule.department and rule.department not in self._department_by_code:
                problems.append(
                    f"{mapping.where(('services', rule.written), 'department')}: "
                    f"[services.{json.dumps(rule.written)}] department = {rule.department!r}: "
                    "no department of this installation has that code"
                )
        if problems:
            raise MappingError("\n".join(problems))

    def _info(self, service: Service) -> ServiceInfo:
        return ServiceInfo(
            id=service.pk,
            department_id=service.department_id,
            sla_amount=service.sla_amount,
            sla_unit=service.sla_unit,
            _service=service,
        )

    def department(self, key: str, name: str = "") -> int:
        """The department a source value names (the default department for a blank one)."""
        found, cache_key = _remembered(self.departments, key)
        if found is not None:
            return found
        rule = self.mapping.departments.get(cache_key)
        label = (rule.name if rule else "") or name or key or self.mapping.default_department
        code = rule.code if rule and rule.code else code_for(key or label, 32)
        department_id = (
            self._department_by_code.get(code)
            or self._department_by_name.get(value_key(label))
            or (self._department_by_name.get(value_key(key)) if key else None)
        )
        if department_id is None:
            self.before_db()
            department_id = Department.objects.create(code=code, name=label[:200]).pk
            self._department_by_code[code] = department_id
            self._department_by_name[value_key(label)] = department_id
            self.departments_created += 1
        self.departments[cache_key] = self.departments[key] = department_id
        return department_id

    def service(self, name: str, group: str, department_id: int | None) -> ServiceInfo:
        found, key = _remembered(self.services, name)
        if found is not None:
            return found
        rule = self.mapping.services.get(key)
        service = None
        if rule and rule.code:
            code = rule.code
            service = self._service_by_code.get(code)
        else:
            code = code_for(name, 64)
            service = (
                self._service_by_code.get(code)
                or self._service_by_name.get(key)
                or (self._service_by_name.get(value_key(rule.name)) if rule and rule.name else None)
            )
        if service is None:
            if rule and rule.department:
                department_id = self._department_by_code[rule.department]
            self.before_db()
            service = Service.objects.create(
                service_code=code,
                name=((rule.name if rule else "") or name)[:200],
                group=((rule.group if rule else "") or group)[:100],
                department_id=department_id or self.department(""),
                active=False,
                description=f"Created by an import from {self.mapping.source}.",
            )
            self._service_by_code[code] = service
            self.services_created += 1
        info = self.services[key] = self.services[name] = self._info(service)
        return info


class Districts:
    """Council districts by code, for rows that name one and cannot be placed by point."""

    def __init__(self, *, before_db: Callable[[], None] = lambda: None) -> None:
        self.before_db = before_db  # called before each query after these first ones
        self.layer_id: int | None = (
            BoundaryLayer.objects.filter(role=LayerRole.COUNCIL_DISTRICT)
            .values_list("pk", flat=True)
            .first()
        )
        self.codes: dict[str, int] = {}
        if self.layer_id is not None:
            self.codes = dict(Zone.objects.filter(layer_id=self.layer_id).values_list("code", "pk"))
        self.created = 0

    def zone_id(self, code: str) -> int:
        found = self.codes.get(code)
        if found is not None:
            return found
        self.before_db()
        if self.layer_id is None:
            layer, _ = BoundaryLayer.objects.get_or_create(
                role=LayerRole.COUNCIL_DISTRICT,
                defaults={
                    "slug": "council-districts",
                    "name": "Council districts",
                    "source": "created by an import (codes only, no boundaries)",
                },
            )
            self.layer_id = layer.pk
        zone = Zone.objects.create(
            layer_id=self.layer_id, code=code, name=f"District {code}", geometry=None
        )
        self.codes[code] = zone.pk
        self.created += 1
        return zone.pk


# --------------------------------------------------------------------------------------
# Source ids already met in this run


class SeenIds:
    """The source ids met so far with the line of each: 16 bytes a row (64-bit hashes of
    the ids in sorted numpy runs, merged as they grow), not a dict of strings, so a file of
    tens of millions of rows still fits. Two ids sharing a 64-bit hash would be taken for a
    repeat: about one chance in a billion for a million-row file."""

    def __init__(self) -> None:
        self.runs: list[tuple[np.ndarray, np.ndarray]] = []

    def add(self, ids: Sequence[str] | pl.Series, lines: Sequence[int] | np.ndarray) -> np.ndarray:
        """Record a chunk; returns, per id, the line it appeared on before (0 if new)."""
        # polars' hash (fixed seeds): the same id gives the same hash all through the run.
        hashes = pl.Series(ids, dtype=pl.String).hash().to_numpy().view(np.int64)
        where = np.asarray(lines, dtype=np.int64)
        before = np.zeros(len(hashes), dtype=np.int64)
        # In hash order (repeats inside the chunk side by side, the earlier line first),
        # which also makes each run's search walk forward.
        order = np.lexsort((where, hashes))
        sorted_hashes = hashes[order]
        for run_hashes, run_lines in self.runs:
            pos = np.searchsorted(run_hashes, sorted_hashes)
            pos_clipped = np.minimum(pos, len(run_hashes) - 1)
            hit = (pos < len(run_hashes)) & (run_hashes[pos_clipped] == sorted_hashes)
            hit &= before[order] == 0
            before[order[hit]] = run_lines[pos_clipped[hit]]
        # Repeats inside the chunk: the earlier line wins.
        repeat = np.flatnonzero(sorted_hashes[1:] == sorted_hashes[:-1]) + 1
        for i in repeat:
            first = i - 1
            while first > 0 and sorted_hashes[first - 1] == sorted_hashes[i]:
                first -= 1
            if before[order[i]] == 0:
                before[order[i]] = before[order[first]] or where[order[first]]
        fresh = before == 0
        keep = order[fresh[order]]
        if not len(keep):
            return before
        self.runs.append((hashes[keep], where[keep]))
        while len(self.runs) > 1 and len(self.runs[-2][0]) <= 2 * len(self.runs[-1][0]):
            (a_h, a_l), (b_h, b_l) = self.runs.pop(), self.runs.pop()
            merged = np.concatenate([b_h, a_h])
            lines_merged = np.concatenate([b_l, a_l])
            order2 = np.argsort(merged, kind="stable")
            self.runs.append((merged[order2], lines_merged[order2]))
        return before


# --------------------------------------------------------------------------------------
# Bulk updates


def rows_update(
    model: type[ServiceRequest], columns: Sequence[str], rows: list[tuple[Any, ...]]
) -> None:
    """Set ``columns`` (and bump ``version``) of the rows whose id is each tuple's last value."""
    if not rows:
        return
    table = connection.ops.quote_name(model._meta.db_table)
    quoted = [connection.ops.quote_name(c) for c in columns]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            staging = "civicdesk_import_changes"
            cursor.execute(
                f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DROP AS "  # noqa: S608
                f"SELECT {', '.join(quoted)}, id FROM {table} WITH NO DATA"
            )
            cursor.execute(f"TRUNCATE {staging}")
            with cursor.cursor.copy(f"COPY {staging} ({', '.join(quoted)}, id) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            sets = ", ".join(f"{c} = c.{c}" for c in quoted)
            cursor.execute(
                f"UPDATE {table} AS t SET {sets}, version = t.version + 1 "  # noqa: S608
                f"FROM {staging} AS c WHERE t.id = c.id"
            )
        else:
            sets = ", ".join(f"{c} = %s" for c in quoted)
            cursor.executemany(
                f"UPDATE {table} SET {sets}, version = version + 1 WHERE id = %s",  # noqa: S608
                rows,
            )


def _existing(source: str, source_ids: list[str]) -> dict[str, tuple[Any, ...]]:
    """This source's requests among ``source_ids``: source id -> (id, *mapped values) as
    stored, so they compare with the rows the loader would write."""
    if not source_ids:
        return {}
    table = connection.ops.quote_name(ServiceRequest._meta.db_table)
    selected = []
    for column in MAPPED_COLUMNS:
        quoted = connection.ops.quote_name(column)
        # SQLite: a bare datetime column is parsed into a datetime (slow, and naive); as
        # text it compares directly with what epoch_adapter writes.
        if connection.vendor == "sqlite" and column in _DATETIME_COLUMNS:
            quoted = f"CAST({quoted} AS TEXT)"
        selected.append(quoted)
    columns = ", ".join(["source_id", "id", *selected])
    # source_id <> '' lets both engines use the partial unique index (source, source_id).
    where = "source = %s AND source_id <> ''"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"SELECT {columns} FROM {table} WHERE {where} AND source_id = ANY(%s)",  # noqa: S608
                [source, source_ids],
            )
        else:
            marks = ", ".join(["%s"] * len(source_ids))
            cursor.execute(
                f"SELECT {columns} FROM {table} WHERE {where} AND source_id IN ({marks})",  # noqa: S608
                [source, *source_ids],
            )
        return {row[0]: tuple(row[1:]) for row in cursor.fetchall()}


def _epoch_of_stored(value: Any) -> float:
    """A datetime as the database returned it (SQLite: naive UTC text) as epoch seconds."""
    if isinstance(value, str):
        return dt.datetime.fromisoformat(value).replace(tzinfo=UTC).timestamp()
    return float(value.timestamp())


def _ids_reserve(count: int, first_free: Callable[[], int]) -> list[int]:
    """Primary keys for ``count`` new requests. PostgreSQL: taken from the sequence, so a
    request created meanwhile by a resident cannot collide. SQLite: the import holds the
    write lock for its whole transaction, so the next free ids are ours."""
    if connection.vendor == "postgresql":
        table = ServiceRequest._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)",
                [table, count],
            )
            return [int(r[0]) for r in cursor.fetchall()]
    start = first_free()
    return list(range(start, start + count))


def _sql_literal(value: Any) -> str:
    """A constant (None, a number, text) as SQL."""
    if value is None:
        return "NULL"
    if isinstance(value, int):
        return str(int(value))
    return "'" + str(value).replace("'", "''") + "'"


def _copy_field(value: Any) -> str:
    """A value as a field of PostgreSQL's COPY text format."""
    if value is None:
        return "\\N"
    if isinstance(value, str):
        if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
            value = (
                value.replace("\\", "\\\\")
                .replace("\t", "\\t")
                .replace("\n", "\\n")
                .replace("\r", "\\r")
            )
        return value
    if isinstance(value, bool):
        return "t" if value else "f"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _status_event(request_id: int, before: str, record: Record, at: Any) -> tuple[Any, ...]:
    """A public ``status_change`` timeline row (EVENT_COLUMNS), with the source's notes."""
    return (
        request_id,
        EventKind.STATUS_CHANGE,
        True,
        before,
        record.status,
        record.status_notes,
        "{}",
        None,
        IMPORT_ACTOR,
        at,
    )


def _only_where_set(index: Index) -> bool:
    """An index of the rows where one reference is set (``x IS NOT NULL``)."""
    condition = index.condition
    return (
        isinstance(condition, Q)
        and len(condition.children) == 1
        and not condition.negated
        and condition.children[0] == (f"{index.fields[0]}__isnull", False)
    )


class DeferredIndexes:
    """For a large import into a (nearly) empty installation: drop the secondary indexes of
    the tables it fills and build them again at the end, in the same transaction.

    Twenty indexes on the requests table, each updated row by row, cost more than the
    inserts themselves; one sort per index at the end costs far less. Unique indexes stay
    (the import's own lookups use them). While they are gone, PostgreSQL holds the tables
    locked against other users: so this is only for imports far larger than what the
    table already holds (see ``run.BULK_ROWS``). If the import fails, the rollback brings
    the indexes back as they were.

    PostgreSQL: the tables' foreign keys go too, and are added back at the end, where each
    is checked by one join instead of a trigger per row (several a row: each request refers
    to its service, department and districts). Dropping one locks the table it refers to
    (services, departments, zones, users...) until the import commits.
    """

    def __init__(self) -> None:
        self.saved: list[str] = []
        self.constraints: list[str] = []  # ADD CONSTRAINT statements, to run at the end
        self.partial: list[tuple[type[Model], Index]] = []
        self.unique: list[tuple[type[Model], UniqueConstraint]] = []
        self.referring: list[type[Model]] = []  # PostgreSQL: tables whose foreign keys went

    def drop(self, models: Sequence[type[Model]], *, unique: bool = False) -> None:
        """Drop the indexes (and on PostgreSQL the foreign keys) of ``models``' tables;
        with ``unique``, their unique indexes too, for a loader that looks nothing up by
        them (a first import: its ids are checked for repeats as they are read, and each
        unique index is built again, checking every row, before the commit)."""
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # Rows already written have their checks queued: run them first (a table
                # with checks pending cannot be altered).
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
                for model in models:
                    self._drop_constraints(cursor, model, "f")
                    self.referring.append(model)
            if unique:
                self._drop_unique(cursor, models)
            for model in models:
                table = model._meta.db_table
                if connection.vendor == "postgresql":
                    # PostgreSQL prints a partial index's condition in a form that reads
                    # back as a differently written one (``IN`` lists): the model's own
                    # partial indexes are made again as their migration made them. Those
                    # of the rows where a reference is set stay (an import sets few).
                    for index in model._meta.indexes:
                        if index.condition is not None and not _only_where_set(index):
                            cursor.execute(f"DROP INDEX {connection.ops.quote_name(index.name)}")
                            self.partial.append((model, index))
                    cursor.execute(
                        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s "
                        "AND indexdef NOT LIKE 'CREATE UNIQUE%%' "
                        "AND indexdef NOT LIKE '%% WHERE %%'",
                        [table],
                    )
                else:
                    # Indexes of the rows where a reference is set stay: an import sets
                    # few such references, and building each would read the whole table.
                    cursor.execute(
                        "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
                        "AND tbl_name = %s AND sql IS NOT NULL AND sql NOT LIKE 'CREATE UNIQUE%%' "
                        "AND sql NOT LIKE '%% IS NOT NULL'",
                        [table],
                    )
                for name, definition in cursor.fetchall():
                    cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
                    self.saved.append(definition)

    def _drop_unique(self, cursor: Any, models: Sequence[type[Model]]) -> None:
        for model in models:
            for constraint in model._meta.constraints:
                if isinstance(constraint, UniqueConstraint) and constraint.condition is not None:
                    # A partial unique constraint is a unique index on both engines. SQLite
                    # keeps its text as written; PostgreSQL's is made again by Django.
                    if connection.vendor == "sqlite":
                        cursor.execute(
                            "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = %s",
                            [constraint.name],
                        )
                        self.saved.append(cursor.fetchone()[0])
                    else:
                        self.unique.append((model, constraint))
                    cursor.execute(f"DROP INDEX {connection.ops.quote_name(constraint.name)}")
            if connection.vendor == "postgresql":
                self._drop_constraints(cursor, model, "u")

    def _drop_constraints(self, cursor: Any, model: type[Model], kind: str) -> None:
        """PostgreSQL: drop a table's foreign keys (``kind`` "f") or unique constraints
        ("u"), keeping the statements that add them back (unique ones first: foreign keys
        may need them)."""
        table = connection.ops.quote_name(model._meta.db_table)
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype = %s",
            [model._meta.db_table, kind],
        )
        for name, definition in cursor.fetchall():
            quoted = connection.ops.quote_name(name)
            cursor.execute(f"ALTER TABLE {table} DROP CONSTRAINT {quoted}")
            add = f"ALTER TABLE {table} ADD CONSTRAINT {quoted} {definition}"
            if kind == "u":
                self.constraints.insert(0, add)
            else:
                self.constraints.append(add)

    def restore(self) -> None:
        if not self.saved and not self.constraints and not self.partial and not self.unique:
            return
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # Django's foreign keys are checked at commit; PostgreSQL will not build an
                # index on a table with checks pending, so run them now.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                for definition in self.saved:
                    cursor.execute(definition)
            else:
                # SQLite sorts in memory, on one thread, whatever fits its page cache; only
                # keys that overflow it are cut into runs, and runs are sorted by its worker
                # threads. A small cache while the indexes are built makes runs of a few MB
                # sorted on the other cores: a quarter less time for the indexes of a
                # million requests on two cores (the table comes from the operating
                # system's cache either way).
                threads = min(SORT_THREADS, os.cpu_count() or 1)
                with sqlite_settings(threads=threads, cache_size=-SORT_RUN_KIB):
                    for definition in self.saved:
                        cursor.execute(definition)
            if self.partial or self.unique:
                with connection.schema_editor(atomic=False) as editor:
                    for model, index in self.partial:
                        editor.add_index(model, index)
                    for model, constraint in self.unique:
                        editor.add_constraint(model, constraint)
            for model in self.referring:
                self._references_analyze(cursor, model)
            for definition in self.constraints:
                cursor.execute(definition)  # checks every row at once
            if connection.vendor == "postgresql":
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        self.saved = []
        self.constraints = []
        self.partial = []
        self.unique = []
        self.referring = []

    @staticmethod
    def _references_analyze(cursor: Any, model: type[Model]) -> None:
        """PostgreSQL: statistics of the table's reference columns, before their foreign
        keys are added back. Each foreign key is checked by a query; for a table that grew
        by a million rows since it was last analysed, the planner guesses that most rows
        have each reference set and reads the whole table once a key. Told that a column is
        empty in every row (an import leaves team, assignee, reporter and parent unset, and
        district and ward where the city has no shapes), it reads the index of the rows
        where it is set (``request_<field>_set``): empty, so the check is instant. The
        sample costs about a quarter of a second for a million requests and spares a
        reading of the table for each column left empty (a quarter to half a second each).
        """
        columns = [f.column for f in model._meta.concrete_fields if f.is_relation and f.column]
        if columns:
            table = connection.ops.quote_name(model._meta.db_table)
            names = ", ".join(connection.ops.quote_name(c) for c in columns)
            cursor.execute(f"ANALYZE {table} ({names})")


# --------------------------------------------------------------------------------------
# The loader


@dataclass
class LoadCounts:
    read: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def rejected(self) -> int:
        return len(self.errors)


class Loader:
    """Loads chunks of records of one source; ``write=False`` checks without writing."""

    def __init__(self, mapping: Mapping, *, strict: bool = False, now: dt.datetime | None = None):
        self.mapping = mapping
        self.source = mapping.source
        self.strict = strict
        self.now = (now or timezone.now()).timestamp()
        self.counts = LoadCounts()
        # Both query the database only for what they have not met: the block written
        # beside (``_run_beside``) is waited for first.
        self.catalogue = Catalogue(mapping, before_db=self.settle)
        self.districts = Districts(before_db=self.settle)
        self.seen = SeenIds()
        # Datetimes as the engine takes them: SQLite's text (fast, cached per day) and, for
        # PostgreSQL, aware datetimes (to compare and update) and COPY text (to insert).
        self.text = EpochText()
        self.when = self.text if connection.vendor == "sqlite" else epoch_adapter()
        self.index = zone_index()
        self.has_district_shapes = LayerRole.COUNCIL_DISTRICT in self.index.roles
        self.has_ward_shapes = LayerRole.WARD in self.index.roles
        self._next_free = 0
        # A public id is PREFIX-SOURCEID; another source with the same prefix could hold one.
        self.check_public_ids = (
            ServiceRequest.objects.filter(public_id__startswith=f"{mapping.id_prefix}-")
            .exclude(source=self.source)
            .exists()
        )
        self.city = "the city"
        if self.index.has_jurisdiction:
            self.city = f"the city (the jurisdiction boundary of {settings.CIVICDESK_CITY_NAME})"
        elif mapping.bounds:
            self.city = f"the city (the bounds in {mapping.where(('source',), 'bounds')})"
        # A source with no requests yet: nothing to match, so its rows go in a block at a
        # time (``load_frame``).
        self.fresh = not ServiceRequest.objects.filter(source=self.source).exists()
        self._beside: threading.Thread | None = None
        self._beside_error: BaseException | None = None
        # Received times of updated requests (before and after), for the rollups.
        self.changed_moments: set[dt.datetime] = set()
        # The services, departments and zones the written rows refer to, checked at the
        # end (``references_check``).
        self.referenced: dict[type[Model], set[int]] = {
            Service: set(),
            Department: set(),
            Zone: set(),
        }

    @property
    def writing(self) -> bool:
        """Under --strict the first bad row stops all writing; checking goes on."""
        return not (self.strict and self.counts.errors)

    def reject(self, errors: list[RowError]) -> None:
        self.counts.read += len(errors)
        self.counts.errors.extend(errors)

    def _first_free(self) -> int:
        if not self._next_free:
            self._next_free = next_id(ServiceRequest)
        return self._next_free

    def _requests_insert(
        self, ids: list[int], new: list[tuple[Record, str, tuple[Any, ...]]]
    ) -> None:
        """The new requests (``values`` with epochs for the four times) under ``ids``.
        PostgreSQL: one COPY of text lines built here (``write_row`` per row costs more
        than everything else); SQLite: ``executemany`` of tuples."""
        if not new:
            return
        tail = self._constant_values()
        when = self.when
        if connection.vendor != "postgresql":
            # The columns every imported request has the same value in are written into
            # the statement: a third fewer values to bind, row by row.
            table = connection.ops.quote_name(ServiceRequest._meta.db_table)
            columns = ", ".join(connection.ops.quote_name(c) for c in REQUEST_COLUMNS)
            marks = ", ".join(
                ["%s"] * (2 + len(MAPPED_COLUMNS)) + [_sql_literal(v) for v in tail] + ["%s"]
            )
            with connection.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {table} ({columns}) VALUES ({marks})",  # noqa: S608
                    [
                        (request_id, public_id, *v[:12], *map(when, v[12:]), r.source_id)
                        for request_id, (r, public_id, v) in zip(ids, new, strict=True)
                    ],
                )
            return
        text = self.text
        tail_text = "\t".join(_copy_field(v) for v in tail)
        lines = []
        for request_id, (r, public_id, v) in zip(ids, new, strict=True):
            stamps = "\t".join("\\N" if t is None else f"{text(t)}+00" for t in v[12:])
            head = "\t".join(_copy_field(x) for x in (request_id, public_id, *v[:12]))
            lines.append(f"{head}\t{stamps}\t{tail_text}\t{_copy_field(r.source_id)}\n")
        table = connection.ops.quote_name(ServiceRequest._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(c) for c in REQUEST_COLUMNS)
        with (
            connection.cursor() as cursor,
            cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy,
        ):
            copy.write("".join(lines))

    def _constant_values(self) -> tuple[Any, ...]:
        """What every imported request has in the columns after the four times."""
        return (
            "{}",
            "",
            Priority.NORMAL,
            None,
            None,
            "",
            None,
            None,
            None,
            None,
            None,
            1,
            self.source,
        )

    def _run_beside(self, statement: str, data: str) -> None:
        """PostgreSQL: run ``COPY ... FROM STDIN`` (``statement``) of ``data`` in a thread on
        this connection, and return at once: the server works on it while this thread
        prepares the next block (each waited for the other: a third of a million-row
        import's time went to the client, a third of the rest to the server alone).
        ``settle`` waits for it before anything else uses the connection."""
        self.settle()
        raw = connection.cursor().cursor  # the driver's: Django's wrapper is this thread's

        def run() -> None:
            try:
                with raw.copy(statement) as copy:
                    copy.write(data)
            except BaseException as exc:  # raised in this thread by settle()
                self._beside_error = exc

        self._beside = threading.Thread(target=run, name="import-copy", daemon=True)
        self._beside.start()

    def settle(self, *, quietly: bool = False) -> None:
        """Wait for the statement running beside (``_run_beside``); raise what it raised
        (``quietly``: while another error is already on its way out)."""
        if self._beside is None:
            return
        self._beside.join()
        self._beside = None
        error, self._beside_error = self._beside_error, None
        if error is not None and not quietly:
            raise error

    def _references_note(
        self, services: list[int], departments: list[int | None], zones: list[int | None]
    ) -> None:
        refs = self.referenced
        refs[Service].update(services)
        refs[Department].update(d for d in departments if d is not None)
        refs[Zone].update(z for z in zones if z is not None)

    def references_check(self) -> None:
        """Raise ``InvalidInput`` if a service, department or zone the written rows refer to
        is not in the database. An import into SQLite runs without foreign key enforcement,
        which would look up each row's service, department and districts one by one (when
        imports still wrote timelines, mostly each entry's request: an eighth to a sixth of
        the CPU time of a first import of a million rows). The loader only writes references
        it looked up or made itself, in the import's transaction (on SQLite under the write
        lock, taken at its start), so these few lookups stand for all of them: a guard
        against a fault of the loader's own. On PostgreSQL, whose foreign keys are checked
        at the commit, a row deleted meanwhile is named here rather than by an integrity
        error."""
        refs = self.referenced
        services = dict(
            Service.objects.filter(pk__in=refs[Service]).values_list("pk", "department_id")
        )
        # A service's own department is a reference too (a service this import made names one).
        wanted: dict[type[Model], set[int]] = {
            **refs,
            Department: refs[Department] | set(services.values()),
        }
        for model, ids in wanted.items():
            found = (
                set(services)
                if model is Service
                else set(model._default_manager.filter(pk__in=ids).values_list("pk", flat=True))
            )
            missing = ids - found
            if missing:
                one = len(missing) == 1
                noun = model._meta.verbose_name if one else model._meta.verbose_name_plural
                ids_ = ", ".join(str(pk) for pk in sorted(missing)[:5])
                raise InvalidInput(
                    f"the rows refer to the {noun} with id{'' if one else 's'} {ids_}, "
                    f"which {'is' if one else 'are'} not (or no longer) in the database; "
                    "nothing was imported"
                )

    def _moment_note(self, epoch: float) -> None:
        # To the quarter hour: every time zone's midnight falls on one, so the day is kept.
        self.changed_moments.add(dt.datetime.fromtimestamp(epoch // 900 * 900, UTC))

    def _outside(self, records: list[Record]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per record: outside the city?, the council district and the ward by point (0: none)."""
        return self._places(
            np.fromiter((np.nan if r.lat is None else r.lat for r in records), dtype=float),
            np.fromiter((np.nan if r.long is None else r.long for r in records), dtype=float),
        )

    def _places(
        self, all_lats: np.ndarray, all_longs: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``_outside`` for arrays of latitudes and longitudes (NaN: no location)."""
        n = len(all_lats)
        outside = np.zeros(n, dtype=bool)
        districts = np.zeros(n, dtype=np.int64)
        wards = np.zeros(n, dtype=np.int64)
        where = np.flatnonzero(~np.isnan(all_lats))
        if not len(where):
            return outside, districts, wards
        lats, longs = all_lats[where], all_longs[where]
        if self.index.has_jurisdiction:
            outside[where] = ~self.index.inside_many(lats, longs)
        elif self.mapping.bounds:
            min_long, min_lat, max_long, max_lat = self.mapping.bounds
            outside[where] = ~(
                (lats >= min_lat) & (lats <= max_lat) & (longs >= min_long) & (longs <= max_long)
            )
        if self.has_district_shapes:
            districts[where] = self.index.place_many(lats, longs, LayerRole.COUNCIL_DISTRICT)
        if self.has_ward_shapes:
            wards[where] = self.index.place_many(lats, longs, LayerRole.WARD)
        return outside, districts, wards

    def load(self, records: list[Record]) -> None:
        self.settle()
        if not records:
            return
        counts = self.counts
        counts.read += len(records)
        errors = counts.errors
        before = self.seen.add([r.source_id for r in records], [r.line for r in records])
        outside, by_point_district, by_point_ward = self._outside(records)
        prefix = self.mapping.id_prefix
        catalogue = self.catalogue
        when = self.when

        candidates: list[tuple[Record, str, tuple[Any, ...]]] = []
        for i, r in enumerate(records):
            if before[i]:
                errors.append(
                    RowError(
                        r.line,
                        r.source_id,
                        f"source id {r.source_id} already appears on row {before[i]}",
                    )
                )
                continue
            if outside[i]:
                errors.append(
                    RowError(
                        r.line, r.source_id, f"location {r.lat}, {r.long} is outside {self.city}"
                    )
                )
                continue
            public_id = f"{prefix}-{r.source_id}"
            if len(r.source_id) > MAX_SOURCE_ID or not PUBLIC_ID_RE.match(public_id):
                errors.append(
                    RowError(
                        r.line,
                        r.source_id,
                        f"source id {r.source_id!r} cannot make a public id: {public_id!r} must be "
                        "at most 32 letters, digits and _ . : -",
                    )
                )
                continue
            department_id = (
                catalogue.department(r.department, r.department_name) if r.department else None
            )
            service = catalogue.service(r.service, r.service_group, department_id)
            district = int(by_point_district[i]) or (
                self.districts.zone_id(r.district[:64]) if r.district else None
            )
            # The source's due date; else civicdesk's own, for a service with a level target.
            due = r.due if r.due is not None else service.due(r.requested)
            updated = r.updated
            if updated is None:
                updated = max(r.requested, r.closed or 0.0)
            values = (
                service.id,
                department_id or service.department_id,
                r.status,
                r.status_notes,
                r.description,
                r.address[:255],
                r.zipcode[:16],
                r.lat,
                r.long,
                district,
                int(by_point_ward[i]) or None,
                r.channel,
                r.requested,  # the four times as epochs: written by engine below
                updated,
                due,
                r.closed,
            )
            candidates.append((r, public_id, values))

        self._references_note(
            [v[0] for _r, _p, v in candidates],
            [v[1] for _r, _p, v in candidates],
            [z for _r, _p, v in candidates for z in v[9:11]],
        )
        if self.check_public_ids and candidates:
            taken = set(
                ServiceRequest.objects.filter(public_id__in=[c[1] for c in candidates])
                .exclude(source=self.source)
                .values_list("public_id", flat=True)
            )
            if taken:
                kept = []
                for c in candidates:
                    if c[1] in taken:
                        errors.append(
                            RowError(
                                c[0].line,
                                c[0].source_id,
                                f"public id {c[1]} is already used by another request",
                            )
                        )
                    else:
                        kept.append(c)
                candidates = kept

        existing = _existing(self.source, [c[0].source_id for c in candidates])
        new = [c for c in candidates if c[0].source_id not in existing]
        changed: list[tuple[Any, ...]] = []
        events: list[tuple[Any, ...]] = []
        for r, _public_id, values in candidates:
            stored = existing.get(r.source_id)
            if stored is None:
                continue
            values = (*values[:12], *map(when, values[12:]))  # as stored, to compare
            if stored[1:] == values:
                counts.unchanged += 1
                continue
            counts.updated += 1
            changed.append((*values, stored[0]))
            self._moment_note(r.requested)
            if stored[13] != values[12]:
                self._moment_note(_epoch_of_stored(stored[13]))
            old_status = stored[3]
            if old_status != r.status:
                at = r.closed if r.status in CLOSED_STATUSES else (r.updated or self.now)
                events.append(_status_event(stored[0], old_status, r, when(at)))

        ids = _ids_reserve(len(new), self._first_free) if new else []
        if new and connection.vendor != "postgresql":
            self._next_free = ids[-1] + 1
        counts.created += len(new)
        if self.writing:
            self._requests_insert(ids, new)
            # Their first timeline entries are read from the rows about to change.
            imported_entries_store_by_id([c[-1] for c in changed])
            rows_update(ServiceRequest, MAPPED_COLUMNS, changed)
            rows_insert(RequestEvent, EVENT_COLUMNS, events)

    # ----------------------------------------------------------------------------------
    # A block at a time: a fresh source's rows, checked and written column by column

    def load_frame(self, frame: pl.DataFrame) -> None:
        """Load a record frame (``frames.RECORD_SCHEMA``): the same checks and results as
        ``load``, by columns. A source that already has requests, or whose public ids
        another source may hold, is matched row by row instead."""
        if not self.fresh or self.check_public_ids:
            self.load(frame_records(frame))
            return
        if not frame.height:
            return
        counts = self.counts
        counts.read += frame.height
        before = self.seen.add(frame["source_id"], frame["line"].to_numpy())
        outside, by_point_district, by_point_ward = self._places(
            frame["lat"].fill_null(np.nan).to_numpy(), frame["long"].fill_null(np.nan).to_numpy()
        )
        public_id = pl.lit(f"{self.mapping.id_prefix}-") + pl.col("source_id")
        frame = frame.with_columns(
            public_id.alias("public_id"),
            pl.Series("repeat_of", before),
            pl.Series("outside", outside),
            pl.Series("district_by_point", by_point_district),
            pl.Series("ward_by_point", by_point_ward),
            (
                (pl.col("source_id").str.len_chars() > MAX_SOURCE_ID)
                | ~public_id.str.contains(PUBLIC_ID_RE.pattern)
            ).alias("bad_public_id"),
        )
        refused = pl.col("repeat_of").gt(0) | pl.col("outside") | pl.col("bad_public_id")
        for row in frame.filter(refused).iter_rows(named=True):
            self.counts.errors.append(self._refusal(row))
        frame = frame.filter(~refused)
        if not frame.height:
            return
        # The last block may still be being written: what uses the database waits for it
        # (the catalogue and districts for a name not met before, the calendars below).
        catalogue = self.catalogue
        departments = {
            key: catalogue.department(key, name)
            for key, name in frame.filter(pl.col("department") != "")
            .select("department", "department_name")
            .unique(maintain_order=True)
            .iter_rows()
        }
        frame = frame.with_columns(
            pl.col("department")
            .replace_strict(departments, default=None, return_dtype=pl.Int64)
            .alias("department_id")
        )
        services = {
            (name, group, department): catalogue.service(name, group, department)
            for name, group, department in frame.select("service", "service_group", "department_id")
            .unique(maintain_order=True)
            .iter_rows()
        }
        keys = list(services)
        infos = list(services.values())
        frame = frame.join(
            pl.DataFrame(
                {
                    "service": [k[0] for k in keys],
                    "service_group": [k[1] for k in keys],
                    "department_id": [k[2] for k in keys],
                    "service_id": [i.id for i in infos],
                    "service_department_id": [i.department_id for i in infos],
                    "service_has_level": [i.has_level for i in infos],
                },
                schema_overrides={"department_id": pl.Int64, "service_id": pl.Int64},
            ),
            on=["service", "service_group", "department_id"],
            how="left",
            nulls_equal=True,
            maintain_order="left",
        )
        codes = frame.filter((pl.col("district_by_point") == 0) & (pl.col("district") != ""))[
            "district"
        ].unique()
        zones = {code: self.districts.zone_id(code[:64]) for code in codes.to_list()}
        frame = frame.with_columns(
            pl.when(pl.col("district_by_point") > 0)
            .then(pl.col("district_by_point"))
            .otherwise(
                pl.col("district").replace_strict(zones, default=None, return_dtype=pl.Int64)
            )
            .alias("district_id"),
            pl.when(pl.col("ward_by_point") > 0).then(pl.col("ward_by_point")).alias("ward_id"),
            pl.coalesce("department_id", "service_department_id").alias("department_id"),
            pl.coalesce(
                "updated", pl.max_horizontal("requested", pl.col("closed").fill_null(0))
            ).alias("updated"),
        )
        frame = self._levels_due(frame, dict(zip([i.id for i in infos], infos, strict=True)))
        self._references_note(
            frame["service_id"].unique().to_list(),
            frame["department_id"].unique().to_list(),
            pl.concat([frame["district_id"], frame["ward_id"]]).unique().to_list(),
        )
        counts.created += frame.height
        if not self.writing:
            return
        self._frame_insert(frame)

    def _refusal(self, row: dict[str, Any]) -> RowError:
        line, source_id = row["line"], row["source_id"]
        if row["repeat_of"]:
            return RowError(
                line, source_id, f"source id {source_id} already appears on row {row['repeat_of']}"
            )
        if row["outside"]:
            return RowError(
                line, source_id, f"location {row['lat']}, {row['long']} is outside {self.city}"
            )
        return RowError(
            line,
            source_id,
            f"source id {source_id!r} cannot make a public id: {row['public_id']!r} must be "
            "at most 32 letters, digits and _ . : -",
        )

    def _levels_due(self, frame: pl.DataFrame, services: dict[int, ServiceInfo]) -> pl.DataFrame:
        """The due time civicdesk gives a request the source gave none, for services with a
        level target (a business calendar: row by row, for those rows only)."""
        needed = (pl.col("due").is_null() & pl.col("service_has_level")).alias("needs_due")
        frame = frame.with_columns(needed)
        rows = frame.filter(pl.col("needs_due")).select("service_id", "requested")
        if not rows.height:
            return frame
        self.settle()  # a service's calendar is read from the database once
        dues = []
        for service_id, requested in rows.iter_rows():
            due = services[service_id].due(requested / MICRO)
            dues.append(None if due is None else round(due * MICRO))
        filled = frame.filter(pl.col("needs_due")).with_columns(
            pl.Series("due", dues, dtype=pl.Int64)
        )
        return pl.concat([frame.filter(~pl.col("needs_due")), filled]).sort("line")

    def _frame_insert(self, frame: pl.DataFrame) -> None:
        """Insert a frame of new requests (ids from the table's own sequence)."""
        postgres = connection.vendor == "postgresql"
        suffix = "+00" if postgres else ""

        def stamp(name: str) -> pl.Expr:
            # Django's text for a UTC datetime, microseconds only when there are some:
            # polars' own text for a datetime (always six digits after the seconds, and
            # faster than a strftime) without a zero fraction.
            text = pl.from_epoch(pl.col(name), time_unit="us").cast(pl.String)
            return (text.str.strip_suffix(".000000") + suffix).alias(name)

        columns = REQUEST_COLUMNS[1:]
        # The frame's columns under the table's names; the rest are the same for every row.
        special = {
            "address": pl.col("address").str.slice(0, 255),
            "zipcode": pl.col("zipcode").str.slice(0, 16),
            "requested_at": stamp("requested"),
            "updated_at": stamp("updated"),
            "due_at": stamp("due"),
            "closed_at": stamp("closed"),
        }
        bound = [*REQUEST_COLUMNS[1:18], "source_id"]
        constant = dict(zip(REQUEST_COLUMNS[18:-1], self._constant_values(), strict=True))
        rows = frame.select([special.get(c, pl.col(c)).alias(c) for c in bound])
        table = connection.ops.quote_name(ServiceRequest._meta.db_table)
        if postgres:
            rows = rows.with_columns([pl.lit(v).alias(c) for c, v in constant.items()]).select(
                columns
            )
            names = ", ".join(connection.ops.quote_name(c) for c in columns)
            self._run_beside(
                f"COPY {table} ({names}) FROM STDIN WITH (FORMAT csv)",
                rows.write_csv(include_header=False, quote_style="non_numeric"),
            )
            return
        with connection.cursor() as cursor:
            names = ", ".join(connection.ops.quote_name(c) for c in [*bound, *constant])
            # Many rows a statement (a third of the time of an ``executemany`` step a row),
            # their values numbered column by column: each statement's values are slices
            # of the block's columns, with no tuple made per row.
            constants = [_sql_literal(v) for v in constant.values()]
            columns_ = [rows[c].to_list() for c in bound]
            size = SQLITE_ROWS_A_STATEMENT
            statements: dict[int, str] = {}
            for start in range(0, rows.height, size):
                count = min(size, rows.height - start)
                statement = statements.get(count)
                if statement is None:
                    groups = (
                        "("
                        + ", ".join(
                            [*(f"?{c * count + r + 1}" for c in range(len(bound))), *constants]
                        )
                        + ")"
                        for r in range(count)
                    )
                    statement = statements[count] = (
                        f"INSERT INTO {table} ({names}) VALUES {', '.join(groups)}"  # noqa: S608
                    )
                # sqlite3's own execute: Django's would rewrite the placeholders of the
                # long statement every time and, with DEBUG on, quote each value into its
                # query log.
                sqlite3.Cursor.execute(
                    cursor.cursor,
                    statement,
                    list(chain.from_iterable(c[start : start + count] for c in columns_)),
                )
