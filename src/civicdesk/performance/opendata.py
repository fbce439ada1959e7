"""Open data: the public bulk export of service requests as CSV, JSON and GeoJSON.

Rows carry the GeoReport Bulk columns and nothing personal; sensitive services' locations are
coarsened as everywhere else the public sees a request. They are read in keyset-paged chunks
and written as they come, so millions of rows export in constant memory on both engines.
"""

from __future__ import annotations

import csv
import datetime as dt
import heapq
import io
import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connections
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from civicdesk.catalog.models import Department, Service
from civicdesk.errors import InvalidInput
from civicdesk.servicerequests.models import ServiceRequest
from civicdesk.servicerequests.selectors import public_address, public_point

# The fields of the GeoReport Bulk specification (open311.org/GeoReport/bulk), in its order.
# The specification's field table and CSV example say ``closed_date`` (its XML and JSON
# examples say ``closed_datetime``); one name serves all three formats.
COLUMNS = (
    "service_request_id",
    "requested_datetime",
    "updated_datetime",
    "closed_date",
    "status_description",
    "status_notes",
    "source",
    "service_name",
    "service_subtype",
    "description",
    "agency_responsible",
    "address",
    "lat",
    "long",
)
LAT, LONG = COLUMNS.index("lat"), COLUMNS.index("long")
PAGE_SIZE = 2000
MAX_SERVICES = 100
_FIRST_YEAR, _LAST_YEAR = 1900, 2199  # beyond these a day's bounds stop being datetimes
_SERVICE_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

Row = tuple[Any, ...]  # values in COLUMNS order: str, float or None


@dataclass(frozen=True)
class ExportFilter:
    """Requests received from ``date_from`` to ``date_to`` (local days, both included; None
    is open-ended), of the given services (empty: all)."""

    date_from: dt.date | None = None
    date_to: dt.date | None = None
    service_codes: tuple[str, ...] = ()
    service_ids: tuple[int, ...] = ()

    def requests(self) -> QuerySet[ServiceRequest]:
        qs = self.received()
        return qs.filter(service_id__in=self.service_ids) if self.service_ids else qs

    def received(self) -> QuerySet[ServiceRequest]:
        """The requests received on the chosen days, of any service."""
        qs = ServiceRequest.objects.all()
        tz = _city_tz()
        if self.date_from:
            qs = qs.filter(requested_at__gte=dt.datetime.combine(self.date_from, dt.time(), tz))
        if self.date_to:
            next_day = self.date_to + dt.timedelta(days=1)
            qs = qs.filter(requested_at__lt=dt.datetime.combine(next_day, dt.time(), tz))
        return qs


def export_filter_parse(
    *, date_from: str = "", date_to: str = "", services: Iterable[str] = ()
) -> ExportFilter:
    """Check the filters as a resident or a script gives them; each bad one is named in an
    ``InvalidInput`` under ``from``, ``to`` or ``service``, in the active language."""
    errors: dict[str, list[str]] = {}
    start = _date("from", date_from, errors)
    end = _date("to", date_to, errors)
    if start and end and end < start:
        errors.setdefault("to", []).append(_("The end date must not be before the start date."))

    codes = list(dict.fromkeys(c.strip() for raw in services for c in raw.split(",") if c.strip()))
    ids: list[int] = []
    if len(codes) > MAX_SERVICES:
        errors["service"] = [
            _("Choose at most %(count)d services at once.") % {"count": MAX_SERVICES}
        ]
    elif codes:
        # The pattern first: a NUL or an endless string never reaches the database.
        known = dict(
            Service.objects.filter(
                service_code__in=[c for c in codes if _SERVICE_CODE.match(c)]
            ).values_list("service_code", "id")
        )
        for code in codes:
            if code in known:
                ids.append(known[code])
            else:
                errors.setdefault("service", []).append(
                    _("There is no service with the code “%(code)s”.") % {"code": code[:64]}
                )
    if errors:
        raise InvalidInput(errors)
    return ExportFilter(start, end, tuple(codes), tuple(ids))


def _date(field: str, raw: str, errors: dict[str, list[str]]) -> dt.date | None:
    raw = raw.strip()
    if not raw:
        return None
    try:
        value = dt.date.fromisoformat(raw)
    except ValueError:
        value = None
    if value is None or len(raw) != 10:  # fromisoformat also takes 20261101 and 2026-W44-1
        errors[field] = [
            _("“%(value)s” is not a date: write it as YYYY-MM-DD, for example 2026-11-01.")
            % {"value": raw[:40]}
        ]
        return None
    if not _FIRST_YEAR <= value.year <= _LAST_YEAR:
        errors[field] = [
            _("%(value)s is out of range: choose a date from %(first)d to %(last)d.")
            % {"value": raw, "first": _FIRST_YEAR, "last": _LAST_YEAR}
        ]
        return None
    return value


def _city_tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


# --- Rows ---------------------------------------------------------------------------------

_FIELDS = (
    "id",
    "requested_at",
    "public_id",
    "updated_at",
    "closed_at",
    "status",
    "status_notes",
    "channel",
    "service_id",
    "description",
    "department_id",
    "address",
    "lat",
    "long",
)


class _Names:
    """Service and department names by id, read once (a few hundred rows) instead of joined
    into every row; read again if a service or department appears during the export."""

    def __init__(self) -> None:
        self.services: dict[int, tuple[str, bool]] = {}
        self.departments: dict[int, str] = {}

    def service(self, pk: int) -> tuple[str, bool]:
        if pk not in self.services:
            self.services = {
                sid: (name, sensitive)
                for sid, name, sensitive in Service.objects.values_list(
                    "id", "name", "sensitive_location"
                )
            }
        return self.services[pk]

    def department(self, pk: int) -> str:
        if pk not in self.departments:
            self.departments = dict(Department.objects.values_list("id", "name"))
        return self.departments[pk]


def request_export_pages(
    export_filter: ExportFilter, *, page_size: int = PAGE_SIZE
) -> Iterator[list[Row]]:
    """The matching requests, oldest first, as pages of public rows in ``COLUMNS`` order."""
    ids = export_filter.service_ids
    if len(ids) > 1:
        # One ordered index range per service, merged here: the database would otherwise
        # either sort every remaining row of those services for each page, or scan all
        # requests for theirs.
        share = max(min(100, page_size), page_size // len(ids))
        received = export_filter.received()
        streams = [_raw_rows(received.filter(service_id=pk), share) for pk in ids]
        raw: Iterator[tuple[Any, ...]] = heapq.merge(*streams, key=lambda r: (r[1], r[0]))
    else:
        raw = _raw_rows(export_filter.requests(), page_size)
    names = _Names()
    tz = _city_tz()
    while page := list(itertools.islice(raw, page_size)):
        yield [_row(values, names, tz) for values in page]


def _raw_rows(qs: QuerySet[ServiceRequest], page_size: int) -> Iterator[tuple[Any, ...]]:
    """Rows of ``_FIELDS`` as the database driver gives them, ordered by (requested_at, id).

    Each page is one short query that seeks past the last (requested_at, id) on an index:
    no OFFSET (which reads every row it skips) and no transaction or cursor held open for
    the whole export (which on SQLite would keep the write-ahead log from being
    checkpointed). The rows skip the ORM's per-value converters, which on a million rows
    cost more than the query; ``_aware`` settles the datetimes instead.
    """
    ordered = qs.order_by("requested_at", "id").values_list(*_FIELDS)
    page = _fetch(ordered[:page_size])
    while page:
        yield from page
        if len(page) < page_size:
            return
        pk, at = page[-1][0], _aware(page[-1][1])
        # requested_at >= at bounds the index scan; the OR only filters within it.
        after = ordered.filter(Q(requested_at__gt=at) | Q(id__gt=pk), requested_at__gte=at)
        page = _fetch(after[:page_size])


def _fetch(qs: QuerySet[Any]) -> list[tuple[Any, ...]]:
    sql, params = qs.query.sql_with_params()
    with connections[qs.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _aware(value: dt.datetime | str) -> dt.datetime:
    # SQLite keeps naive UTC (read as datetimes through the converter Django registers
    # with the sqlite3 module, or as text without it); psycopg gives aware datetimes.
    moment = dt.datetime.fromisoformat(value) if isinstance(value, str) else value
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _row(values: Sequence[Any], names: _Names, tz: ZoneInfo) -> Row:
    (
        _pk,
        requested_at,
        public_id,
        updated_at,
        closed_at,
        status,
        status_notes,
        channel,
        service_id,
        description,
        department_id,
        address,
        lat,
        long,
    ) = values
    service_name, sensitive = names.service(service_id)
    point = public_point(lat, long, sensitive=sensitive)
    return (
        public_id,
        _iso(requested_at, tz),
        _iso(updated_at, tz),
        _iso(closed_at, tz),
        status,
        status_notes or None,
        channel,
        service_name,
        None,  # civicdesk services have no subtypes
        description or None,
        names.department(department_id),
        public_address(address, sensitive=sensitive) or None,
        point[0] if point else None,
        point[1] if point else None,
    )


def _iso(value: dt.datetime | str | None, tz: ZoneInfo) -> str | None:
    # The bulk specification, like GeoReport v2, wants the offset in every datetime.
    if value is None:
        return None
    return _aware(value).astimezone(tz).isoformat(timespec="seconds")


# --- Formats ------------------------------------------------------------------------------

_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode


def csv_chunks(pages: Iterable[list[Row]]) -> Iterator[str]:
    """RFC 4180 CSV with a header row; an empty value is an empty field."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    yield _drain(buffer)
    for page in pages:
        writer.writerows(page)
        yield _drain(buffer)


def _drain(buffer: io.StringIO) -> str:
    text = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return text


def json_chunks(pages: Iterable[list[Row]]) -> Iterator[str]:
    """A JSON array of objects, one per request, as in the bulk specification's example."""
    yield "["
    separator = "\n"
    for page in pages:
        yield separator + ",\n".join(_encode(dict(zip(COLUMNS, row, strict=True))) for row in page)
        separator = ",\n"
    yield "\n]\n"


def geojson_chunks(pages: Iterable[list[Row]]) -> Iterator[str]:
    """An RFC 7946 FeatureCollection: a Point feature per request (its public location), with
    the request's columns as properties. A request without a location is a feature with
    null geometry, so that all three formats hold the same requests."""
    yield '{"type":"FeatureCollection","features":['
    separator = "\n"
    for page in pages:
        yield separator + ",\n".join(_encode(_feature(row)) for row in page)
        separator = ",\n"
    yield "\n]}\n"


def _feature(row: Row) -> dict[str, Any]:
    lat, long = row[LAT], row[LONG]
    return {
        "type": "Feature",
        "id": row[0],
        "geometry": None if lat is None else {"type": "Point", "coordinates": [long, lat]},
        "properties": dict(zip(COLUMNS, row, strict=True)),
    }


@dataclass(frozen=True)
class ExportFormat:
    name: str
    extension: str
    media_type: str
    chunks: Callable[[Iterable[list[Row]]], Iterator[str]]


FORMATS = {
    "csv": ExportFormat("CSV", "csv", "text/csv; charset=utf-8", csv_chunks),
    "json": ExportFormat("JSON", "json", "application/json; charset=utf-8", json_chunks),
    "geojson": ExportFormat(
        "GeoJSON", "geojson", "application/geo+json; charset=utf-8", geojson_chunks
    ),
}


def requests_export(
    export_filter: ExportFilter, fmt: str, *, page_size: int = PAGE_SIZE
) -> Iterator[str]:
    """The whole export in format ``fmt`` (a key of ``FORMATS``), as text chunks of about a
    page of rows each."""
    return FORMATS[fmt].chunks(request_export_pages(export_filter, page_size=page_size))
