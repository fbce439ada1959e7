"""The arguments of GET requests, checked: each bad one is named in a 400, never a 500.

Rules from GeoReport v2 (``service_request_id`` overrides every other argument; lists are
comma-separated; ``start_date``/``end_date`` span at most 90 days and default to the last 90
days; at most 1,000 records) and the extensions civicdesk serves (``page``/``page_size``,
``updated_after``/``updated_before``, ``q``, ``bbox``, ``lat``/``long``/``radius``,
``agency_responsible``, ``extensions``).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from django.utils import timezone
from django.utils.dateparse import parse_datetime

from civicdesk.errors import InvalidInput
from civicdesk.servicerequests.statuses import CLOSED_STATUSES, OPEN_STATUSES, Status

MAX_SPAN = dt.timedelta(days=90)
MAX_PAGE_SIZE = 1000
MAX_IDS = 1000
MAX_RADIUS_M = 50_000
_ID_RE = re.compile(r"^[A-Za-z0-9_.:-]{1,32}$")
REQUEST_ID_RE = _ID_RE
_CODE_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


@dataclass
class RequestQuery:
    ids: list[str] | None = None
    service_codes: list[str] = field(default_factory=list)
    statuses: set[str] = field(default_factory=set)
    start: dt.datetime | None = None
    end: dt.datetime | None = None
    updated_after: dt.datetime | None = None
    updated_before: dt.datetime | None = None
    q: str = ""
    bbox: tuple[float, float, float, float] | None = None  # min_long, min_lat, max_long, max_lat
    near: tuple[float, float, float] | None = None  # lat, long, radius in metres
    agency: str = ""
    page: int = 1
    page_size: int = MAX_PAGE_SIZE
    extensions: bool = False
    paged: bool = False  # page or page_size was given: answer with paging headers


def _get(args: Mapping[str, str], name: str) -> str:
    # An empty argument is the same as an absent one (GeoReport v2).
    value = (args.get(name) or "").strip()
    if "\x00" in value:  # PostgreSQL text cannot hold NUL: refuse it here, not with a 500
        raise InvalidInput({name: ["must not contain NUL characters"]})
    return value


def _list(raw: str) -> list[str]:
    return [item.strip() for item in raw.split(",") if item.strip()]


def datetime_arg(name: str, raw: str) -> dt.datetime:
    """ISO 8601 (W3C) date-time; without an offset it is the city's local time."""
    try:
        value = parse_datetime(raw)
    except ValueError:
        value = None
    if value is None:
        try:
            value = dt.datetime.combine(dt.date.fromisoformat(raw), dt.time())
        except ValueError:
            raise InvalidInput(
                {name: [f"{raw!r} is not an ISO 8601 date and time, e.g. 2026-11-01T00:00:00Z"]}
            ) from None
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    if (
        not dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
        <= value
        <= dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
    ):
        raise InvalidInput({name: [f"{raw!r} is out of range"]})
    return value


def _int(args: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    raw = _get(args, name)
    if not raw:
        return default
    # ASCII digits only ("²".isdigit() is true but int() refuses it); a short string also
    # keeps int() clear of its 4,300-digit limit.
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 12 or not low <= int(raw) <= high:
        raise InvalidInput({name: [f"must be a whole number from {low} to {high}, not {raw!r}"]})
    return int(raw)


def _float(name: str, raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise InvalidInput({name: [f"{raw!r} is not a number"]}) from None
    if not math.isfinite(value):
        raise InvalidInput({name: [f"{raw!r} is not a number"]})
    return value


def _bool(args: Mapping[str, str], name: str) -> bool:
    raw = _get(args, name).lower()
    if raw in ("", "false", "0", "no"):
        return False
    if raw in ("true", "1", "yes"):
        return True
    raise InvalidInput({name: [f"must be true or false, not {raw!r}"]})


def request_query_parse(args: Mapping[str, str], *, now: dt.datetime | None = None) -> RequestQuery:
    now = now or timezone.now()
    query = RequestQuery(extensions=_bool(args, "extensions"))
    query.page = _int(args, "page", 1, 1, 1_000_000)
    query.page_size = _int(args, "page_size", MAX_PAGE_SIZE, 1, MAX_PAGE_SIZE)
    query.paged = bool(_get(args, "page") or _get(args, "page_size"))

    ids = _list(_get(args, "service_request_id"))
    if ids:
        if len(ids) > MAX_IDS:
            raise InvalidInput({"service_request_id": [f"at most {MAX_IDS} ids at once"]})
        bad = [i for i in ids if not _ID_RE.match(i)]
        if bad:
            raise InvalidInput({"service_request_id": [f"{bad[0]!r} is not a request id"]})
        query.ids = ids
        return query  # overrides every other argument

    codes = _list(_get(args, "service_code"))
    bad = [c for c in codes if not _CODE_RE.match(c)]
    if bad:
        raise InvalidInput({"service_code": [f"{bad[0]!r} is not a service code"]})
    query.service_codes = codes

    for status in _list(_get(args, "status").lower()):
        if status == "open":
            query.statuses |= OPEN_STATUSES
        elif status == "closed":
            query.statuses |= CLOSED_STATUSES
        elif status in Status.values:  # extension: the detailed statuses
            query.statuses.add(status)
        else:
            raise InvalidInput(
                {"status": [f"{status!r} is not a status (open, closed or a detailed status)"]}
            )

    for name in ("start_date", "end_date", "updated_after", "updated_before"):
        raw = _get(args, name)
        if raw:
            setattr(
                query,
                {"start_date": "start", "end_date": "end"}.get(name, name),
                datetime_arg(name, raw),
            )
    if query.start and query.end:
        if query.end < query.start:
            raise InvalidInput({"end_date": ["must not be before start_date"]})
        if query.end - query.start > MAX_SPAN:
            raise InvalidInput(
                {"end_date": ["start_date and end_date may be at most 90 days apart"]}
            )
    elif query.start:
        query.end = query.start + MAX_SPAN
    elif query.end:
        query.start = query.end - MAX_SPAN
    elif query.updated_after is None and query.updated_before is None:
        # The spec's default window: the last 90 days. Its end is rounded up to the next
        # minute (nothing can be requested later than now), so that repeated queries within
        # a minute are the same query and share one remembered count.
        end = now.replace(second=0, microsecond=0) + dt.timedelta(minutes=1)
        query.start, query.end = end - MAX_SPAN, end
    if query.updated_after and query.updated_before and query.updated_before < query.updated_after:
        raise InvalidInput({"updated_before": ["must not be before updated_after"]})

    q = _get(args, "q") or _get(args, "search")
    if len(q) > 200:
        raise InvalidInput({"q": ["must be at most 200 characters"]})
    query.q = q

    bbox = _get(args, "bbox")
    if bbox:
        parts = bbox.split(",")
        if len(parts) != 4:
            raise InvalidInput({"bbox": ["must be min_long,min_lat,max_long,max_lat"]})
        min_long, min_lat, max_long, max_lat = (_float("bbox", p.strip()) for p in parts)
        if not (-180 <= min_long < max_long <= 180 and -90 <= min_lat < max_lat <= 90):
            raise InvalidInput({"bbox": ["must be min_long,min_lat,max_long,max_lat in degrees"]})
        query.bbox = (min_long, min_lat, max_long, max_lat)

    lat, long, radius = _get(args, "lat"), _get(args, "long"), _get(args, "radius")
    if lat or long or radius:
        if not (lat and long):
            raise InvalidInput({"lat": ["lat and long go together (with an optional radius)"]})
        la, lo = _float("lat", lat), _float("long", long)
        if not (-90 <= la <= 90 and -180 <= lo <= 180):
            raise InvalidInput({"lat": ["lat and long must be WGS84 degrees"]})
        r = _float("radius", radius) if radius else 500.0
        if not 0 < r <= MAX_RADIUS_M:
            raise InvalidInput(
                {"radius": [f"must be more than 0 and at most {MAX_RADIUS_M} metres"]}
            )
        query.near = (la, lo, r)

    agency = _get(args, "agency_responsible")
    if len(agency) > 200:
        raise InvalidInput({"agency_responsible": ["must be at most 200 characters"]})
    query.agency = agency
    return query
