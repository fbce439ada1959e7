"""Reads on service requests for particular uses."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.conf import settings
from django.db.models import (
    Count,
    DateTimeField,
    DurationField,
    ExpressionWrapper,
    F,
    Q,
    QuerySet,
    Value,
)
from django.db.models.lookups import GreaterThan, LessThanOrEqual
from django.utils import timezone

from civicdesk.catalog.models import Service
from civicdesk.catalog.service_levels import SlaState
from civicdesk.errors import NotFound
from civicdesk.geo.distance import bounding_box, distance_m

from .models import RequestEvent, ServiceRequest
from .statuses import OPEN_STATUSES
from .timeline import timeline_complete


def request_get(public_id: str) -> ServiceRequest:
    request = (
        ServiceRequest.objects.select_related("service", "department", "team", "district", "ward")
        .filter(public_id=str(public_id).strip())
        .first()
    )
    if request is None:
        raise NotFound(f"no service request {public_id!r}")
    return request


def request_timeline(request: ServiceRequest, *, public_only: bool) -> list[RequestEvent]:
    """The request's timeline in order, with the entries an import stands for (see
    ``timeline``); only the public entries with ``public_only``."""
    events = RequestEvent.objects.filter(request=request).select_related("actor")
    if public_only:
        events = events.filter(public=True)
    return timeline_complete(request, list(events.order_by("created_at", "id")))


_HOUSE_NUMBER = re.compile(r"^\s*(\d+)(\s+)")
COARSE_DIGITS = 3  # about 100 m


def public_address(address: str, *, sensitive: bool) -> str:
    """The address as the public may see it: for sensitive services, only its block."""
    if not sensitive:
        return address
    match = _HOUSE_NUMBER.match(address)
    if not match:
        return address
    block = int(match.group(1)) // 100 * 100
    return f"{block} block of {address[match.end() :]}"


def public_point(
    lat: float | None, long: float | None, *, sensitive: bool
) -> tuple[float, float] | None:
    """The location as the public may see it: for sensitive services, rounded to ~100 m."""
    if lat is None or long is None:
        return None
    if sensitive:
        return round(lat, COARSE_DIGITS), round(long, COARSE_DIGITS)
    return lat, long


def data_version() -> str:
    """Changes whenever a request is added or changed: a key for caching figures.

    Two separate queries, because SQLite answers MAX() from an index only when it is alone.
    """
    newest = ServiceRequest.objects.order_by("-id").values_list("id", flat=True).first()
    touched = (
        ServiceRequest.objects.order_by("-updated_at").values_list("updated_at", flat=True).first()
    )
    return f"{newest}:{touched.isoformat() if touched else ''}"


def media_public_url(file_name: str) -> str:
    """The absolute URL under which a stored request photo is served."""
    base = settings.CIVICDESK_PUBLIC_URL.rstrip("/")
    return f"{base}/{settings.MEDIA_URL.strip('/')}/{file_name}"


@dataclass(frozen=True)
class DuplicateCandidate:
    id: int
    public_id: str
    status: str
    requested_at: dt.datetime
    distance_m: float
    description: str


def duplicates_find(
    *,
    service: Service,
    lat: float,
    long: float,
    at: dt.datetime | None = None,
    exclude_id: int = 0,
    limit: int = 10,
) -> list[DuplicateCandidate]:
    """Open requests of the same service near this place, reported recently: nearest first.

    Radius and window come from the service, or the site-wide defaults.
    """
    at = at or timezone.now()
    radius = service.duplicate_radius_m or settings.CIVICDESK_DUPLICATE_RADIUS_M
    hours = service.duplicate_window_hours or settings.CIVICDESK_DUPLICATE_WINDOW_HOURS
    min_lat, min_long, max_lat, max_long = bounding_box(lat, long, radius)
    rows = (
        ServiceRequest.objects.filter(
            service=service,
            status__in=sorted(OPEN_STATUSES),
            requested_at__gte=at - dt.timedelta(hours=hours),
            requested_at__lte=at,
            lat__isnull=False,
            long__isnull=False,
            lat__range=(min_lat, max_lat),
            long__range=(min_long, max_long),
        )
        .exclude(pk=exclude_id)
        .values_list("id", "public_id", "status", "requested_at", "lat", "long", "description")
    )
    found = []
    for pk, public_id, status, requested_at, r_lat, r_long, description in rows:
        d = distance_m(lat, long, float(r_lat), float(r_long))  # type: ignore[arg-type]
        if d <= radius:
            found.append(
                DuplicateCandidate(pk, public_id, status, requested_at, round(d, 1), description)
            )
    found.sort(key=lambda c: (c.distance_m, c.requested_at))
    return found[:limit]


def sla_conditions(now: dt.datetime) -> dict[SlaState, Q]:
    """``sla_state`` of open requests as database conditions (tests keep the two equal).

    Due soon is ``due_at - now <= (due_at - requested_at) * percent / 100``; both sides are
    multiplied out so that only durations times whole numbers are compared, which SQLite
    and PostgreSQL both do exactly.
    """
    at = Value(now, output_field=DateTimeField())
    left = ExpressionWrapper((F("due_at") - at) * 100, output_field=DurationField())
    right = ExpressionWrapper(
        (F("due_at") - F("requested_at")) * settings.CIVICDESK_DUE_SOON_PERCENT,
        output_field=DurationField(),
    )
    is_open = Q(status__in=sorted(OPEN_STATUSES), due_at__isnull=False)
    return {
        SlaState.OVERDUE: is_open & Q(due_at__lt=now),
        SlaState.DUE_SOON: is_open & Q(due_at__gte=now) & Q(LessThanOrEqual(left, right)),
        SlaState.ON_TIME: is_open & Q(due_at__gte=now) & Q(GreaterThan(left, right)),
    }


def sla_counts(qs: QuerySet[ServiceRequest], now: dt.datetime) -> dict[str, int]:
    counted = qs.order_by().aggregate(
        **{str(state): Count("id", filter=q) for state, q in sla_conditions(now).items()}
    )
    return {key: int(value or 0) for key, value in counted.items()}
