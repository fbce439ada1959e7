"""Reads for the Open311 API. Requests are fetched as plain rows (``values()``), never model
instances, and shaped into GeoReport v2 records by one function, ``request_records``.

Privacy: a record carries no reporter name, email, phone, device or account id, and no
internal note. Locations of services marked sensitive are coarsened (about 100 m, and the
address to its block).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import EmptyResultSet
from django.db.models import Max, Q, QuerySet

from civicdesk.catalog.models import Service
from civicdesk.geo.distance import bounding_box, distance_m
from civicdesk.servicerequests.models import EventKind, RequestEvent, RequestMedia, ServiceRequest
from civicdesk.servicerequests.selectors import (
    COARSE_DIGITS,
    data_version,
    media_public_url,
    public_address,
    public_point,
)
from civicdesk.servicerequests.statuses import CLOSED_STATUSES, Status
from civicdesk.servicerequests.timeline import timelines_complete

from .params import RequestQuery

Record = dict[str, Any]

_FIELDS = (
    "id",
    "public_id",
    "status",
    "status_notes",
    "description",
    "requested_at",
    "updated_at",
    "due_at",
    "address",
    "address_id",
    "zipcode",
    "lat",
    "long",
    "service__service_code",
    "service__name",
    "service__notice",
    "service__sensitive_location",
    "department__name",
)
_EXTENDED_FIELDS = (
    "channel",
    "priority",
    "attributes",
    "district__code",
    "district__name",
    "ward__code",
    "ward__name",
    "parent__public_id",
    "department__code",
    "closed_at",
    "source",
)
_STATUS_LABELS = {s.value: s.label for s in Status}


def iso(value: dt.datetime | None, tz: ZoneInfo) -> str | None:
    """ISO 8601 with the city's offset: GeoReport v2 datetimes always carry a time zone."""
    return value.astimezone(tz).isoformat(timespec="seconds") if value is not None else None


def _tz() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def _in_box(min_lat: float, min_long: float, max_lat: float, max_long: float) -> Q:
    """Requests shown inside the box. A sensitive request is matched where it is shown (its
    coarse point), else ever smaller boxes or circles would find its exact spot."""
    exact = Q(lat__range=(min_lat, max_lat), long__range=(min_long, max_long))
    # round(x, d) is in [lo, hi] when x is in [ceil_d(lo) - half, floor_d(hi) + half).
    scale, half = 10**COARSE_DIGITS, 0.5 / 10**COARSE_DIGITS

    def span(lo: float, hi: float) -> tuple[float, float]:
        first = math.ceil(lo * scale - 1e-6) / scale  # the first grid point at or above lo
        last = math.floor(hi * scale + 1e-6) / scale
        return first - half, last + half

    (lat_lo, lat_hi), (long_lo, long_hi) = span(min_lat, max_lat), span(min_long, max_long)
    coarse = Q(lat__gte=lat_lo, lat__lt=lat_hi, long__gte=long_lo, long__lt=long_hi)
    return Q(exact, service__sensitive_location=False) | Q(coarse, service__sensitive_location=True)


def requests_filter(query: RequestQuery) -> QuerySet[ServiceRequest]:
    qs = ServiceRequest.objects.all()
    if query.ids is not None:
        return qs.filter(public_id__in=query.ids)
    if query.service_codes:
        # Codes to ids first: the count then runs on the (service, requested_at) index
        # without a join.
        service_ids = Service.objects.filter(service_code__in=query.service_codes).values_list(
            "id", flat=True
        )
        qs = qs.filter(service_id__in=list(service_ids))
    if query.statuses:
        qs = qs.filter(status__in=sorted(query.statuses))
    if query.start:
        qs = qs.filter(requested_at__gte=query.start)
    if query.end:
        qs = qs.filter(requested_at__lte=query.end)
    if query.updated_after:
        qs = qs.filter(updated_at__gt=query.updated_after)
    if query.updated_before:
        qs = qs.filter(updated_at__lt=query.updated_before)
    if query.q:
        qs = qs.filter(
            Q(description__icontains=query.q)
            | Q(address__icontains=query.q, service__sensitive_location=False)
            | Q(public_id=query.q)
            | Q(service__name__icontains=query.q)
        )
    if query.bbox:
        min_long, min_lat, max_long, max_lat = query.bbox
        qs = qs.filter(_in_box(min_lat, min_long, max_lat, max_long))
    if query.near:
        lat, long, radius = query.near
        qs = qs.filter(_in_box(*bounding_box(lat, long, radius)))
    if query.agency:
        qs = qs.filter(
            Q(department__code__iexact=query.agency) | Q(department__name__iexact=query.agency)
        )
    return qs


def _count(qs: QuerySet[ServiceRequest]) -> int:
    """``qs.count()``, remembered until any request is added or changed.

    Clients page through the same filter again and again; on a million requests the count
    costs more than the page. The key carries a data version (the newest id and the latest
    update, each one index lookup), so a remembered count is never stale.
    """
    try:
        sql, params = qs.query.sql_with_params()
    except EmptyResultSet:  # a filter that can match nothing, e.g. unknown service codes
        return 0
    version = data_version()
    key = "open311-count:" + hashlib.sha256(f"{version}|{sql}|{params}".encode()).hexdigest()
    total = cache.get(key)
    if total is None:
        total = qs.count()
        cache.set(key, total, timeout=600)
    return int(total)


def requests_page(query: RequestQuery) -> tuple[list[Record], int]:
    """One page of matching requests as GeoReport v2 records, newest first, and the total."""
    qs = requests_filter(query)
    fields = _FIELDS + (_EXTENDED_FIELDS if query.extensions else ())
    if query.near:
        ordered = qs.order_by("-requested_at", "-id").values(*fields)
        # The bounding box was the index-friendly prefilter; now the true circle.
        lat, long, radius = query.near
        rows = []
        for r in ordered.iterator(chunk_size=2000):
            point = public_point(r["lat"], r["long"], sensitive=r["service__sensitive_location"])
            if point is not None and distance_m(lat, long, *point) <= radius:
                rows.append(r)
        total = len(rows)
        start = (query.page - 1) * query.page_size
        rows = rows[start : start + query.page_size]
    else:
        total = _count(qs)
        start = (query.page - 1) * query.page_size
        # A deferred join: page through the index for ids alone, then fetch whole rows for
        # just those. With OFFSET, a database builds (and joins) every row it skips, so a
        # deep page would cost as much as all the pages before it.
        ids = list(
            qs.order_by("-requested_at", "-id").values_list("id", flat=True)[
                start : start + query.page_size
            ]
        )
        position = {pk: i for i, pk in enumerate(ids)}
        rows = sorted(
            ServiceRequest.objects.filter(id__in=ids).values(*fields),
            key=lambda r: position[r["id"]],
        )
    return request_records(rows, extensions=query.extensions), total


def request_records(rows: list[dict[str, Any]], *, extensions: bool) -> list[Record]:
    tz = _tz()
    ids = [r["id"] for r in rows]
    media = _media_urls(ids)
    notes = _public_notes(rows, tz) if extensions else {}
    records = []
    for r in rows:
        sensitive = r["service__sensitive_location"]
        lat, long = public_point(r["lat"], r["long"], sensitive=sensitive) or (None, None)
        address = public_address(r["address"], sensitive=sensitive)
        record: Record = {
            "service_request_id": r["public_id"],
            "status": "closed" if r["status"] in CLOSED_STATUSES else "open",
            "status_notes": r["status_notes"] or None,
            "service_name": r["service__name"],
            "service_code": r["service__service_code"],
            "description": r["description"] or None,
            "agency_responsible": r["department__name"],
            "service_notice": r["service__notice"] or None,
            "requested_datetime": iso(r["requested_at"], tz),
            "updated_datetime": iso(r["updated_at"], tz),
            "expected_datetime": iso(r["due_at"], tz),
            "address": address or None,
            "address_id": (r["address_id"] or None) if not sensitive else None,
            "zipcode": r["zipcode"] or None,
            "lat": lat,
            "long": long,
            "media_url": media.get(r["id"]),
        }
        if extensions:
            record["extended_attributes"] = {
                "channel": r["channel"],
                "detailed_status": r["status"],
                "detailed_status_label": str(_STATUS_LABELS[r["status"]]),
                "priority": r["priority"],
                "agency_code": r["department__code"],
                "council_district": r["district__code"],
                "council_district_name": r["district__name"],
                "ward": r["ward__code"],
                "ward_name": r["ward__name"],
                "duplicate": r["status"] == Status.DUPLICATE,
                "parent_service_request_id": r["parent__public_id"],
                "closed_datetime": iso(r["closed_at"], tz),
                "attributes": [{"code": k, "value": v} for k, v in (r["attributes"] or {}).items()],
            }
            record["notes"] = notes.get(r["id"], [])
        records.append(record)
    return records


def _media_urls(ids: list[int]) -> dict[int, str]:
    urls: dict[int, str] = {}
    if not ids:
        return urls
    for request_id, file_name, url in (
        RequestMedia.objects.filter(request_id__in=ids)
        .order_by("id")
        .values_list("request_id", "file", "url")
    ):
        if request_id not in urls:
            urls[request_id] = media_public_url(file_name) if file_name else url
    return urls


_NOTE_SUMMARY: dict[str, str] = {
    EventKind.CREATED: "Request received",
    EventKind.STATUS_CHANGE: "Status changed",
    EventKind.PUBLIC_NOTE: "Note",
    EventKind.MERGE: "Merged as a duplicate",
    EventKind.REOPEN: "Reopened",
    EventKind.MEDIA: "Photo added",
}


def _public_notes(rows: list[dict[str, Any]], tz: ZoneInfo) -> dict[int, list[Record]]:
    """Each request's public timeline as GeoReport notes (with the entries an imported
    request's row stands for: see ``servicerequests.timeline``)."""
    if not rows:
        return {}
    events = (
        RequestEvent.objects.filter(request_id__in=[r["id"] for r in rows], public=True)
        .order_by("created_at", "id")
        .values_list("pk", "request_id", "kind", "created_at", "to_status", "note", named=True)
    )
    notes: dict[int, list[Record]] = {}
    for request_id, timeline in timelines_complete(rows, events).items():
        for e in timeline:
            summary = _NOTE_SUMMARY.get(e.kind, str(e.kind))
            if e.kind == EventKind.STATUS_CHANGE and e.to_status:
                summary = f"Status changed to {_STATUS_LABELS.get(e.to_status, e.to_status)}"
            notes.setdefault(request_id, []).append(
                {
                    "datetime": iso(e.created_at, tz),
                    "summary": summary,
                    "type": e.kind,
                    "description": e.note or None,
                }
            )
    return notes


def services_list() -> list[Record]:
    services = Service.objects.filter(active=True).order_by("group", "name")
    with_questions = set(
        Service.objects.filter(active=True, attributes__variable=True).values_list("id", flat=True)
    )
    return [
        {
            "service_code": s.service_code,
            "service_name": s.name,
            "description": s.description or None,
            "metadata": s.id in with_questions,
            "type": "realtime",
            "keywords": ", ".join(str(k) for k in s.keywords) or None,
            "group": s.group or None,
        }
        for s in services
    ]


def service_definition(service: Service) -> Record:
    attributes = []
    for a in service.attributes.all().order_by("order", "code"):
        attributes.append(
            {
                "variable": a.variable,
                "code": a.code,
                "datatype": a.datatype,
                "required": a.required,
                "datatype_description": a.help_text or None,
                "order": a.order,
                "description": a.label,
                "values": [{"key": str(v["key"]), "name": v["name"]} for v in a.values],
            }
        )
    return {"service_code": service.service_code, "attributes": attributes}


def catalogue_changed_at() -> dt.datetime | None:
    return Service.objects.aggregate(m=Max("updated_at"))["m"]
