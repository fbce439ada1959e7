"""Reads for the resident portal: finding services, the public view of a request, and the
list of recent requests. Nothing here returns a reporter's contact details or an internal
note."""

from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.urls import reverse
from django.utils import timezone

from civicdesk.catalog.models import Service
from civicdesk.catalog.service_levels import SlaState, sla_state
from civicdesk.servicerequests.models import RequestEvent, ServiceRequest
from civicdesk.servicerequests.selectors import public_point, request_timeline
from civicdesk.servicerequests.statuses import CLOSED_STATUSES, OPEN_STATUSES

PAGE_SIZE = 25


def services_by_group(language: str) -> OrderedDict[str, list[Service]]:
    groups: OrderedDict[str, list[Service]] = OrderedDict()
    for service in Service.objects.filter(active=True).order_by("group", "name"):
        groups.setdefault(service.localized("group", language) or "", []).append(service)
    return groups


@dataclass(frozen=True)
class PublicRequest:
    request: ServiceRequest
    sla: SlaState
    events: list[RequestEvent]
    media_urls: list[str]


def public_request(public_id: str) -> ServiceRequest | None:
    return (
        ServiceRequest.objects.select_related("service", "department", "district", "ward", "parent")
        .filter(public_id=public_id.strip())
        .first()
    )


def public_request_view(request: ServiceRequest) -> PublicRequest:
    events = request_timeline(request, public_only=True)
    # A path on this site, as on the staff pages: CIVICDESK_PUBLIC_URL is the base of links in
    # messages, and the page may be reached under another host (photos showed broken).
    media = [reverse("media", args=[m.file.name]) if m.file else m.url for m in request.media.all()]
    state = sla_state(
        requested_at=request.requested_at,
        due_at=request.due_at,
        closed_at=request.closed_at,
        now=timezone.now(),
    )
    return PublicRequest(request, state, events, media)


def can_reopen(request: ServiceRequest) -> bool:
    if request.status not in CLOSED_STATUSES or request.closed_at is None:
        return False
    days = request.service.reopen_window_days or settings.CIVICDESK_REOPEN_WINDOW_DAYS
    return timezone.now() <= request.closed_at + dt.timedelta(days=days)


def recent_requests(filters: dict[str, Any], page: int) -> tuple[Page[Any], list[dict[str, Any]]]:
    """A page of recent requests for the public list and map, newest first."""
    qs: QuerySet[ServiceRequest] = ServiceRequest.objects.all()
    if filters.get("service"):
        qs = qs.filter(service__service_code=filters["service"])
    if filters.get("status") == "open":
        qs = qs.filter(status__in=sorted(OPEN_STATUSES))
    elif filters.get("status") == "closed":
        qs = qs.filter(status__in=sorted(CLOSED_STATUSES))
    if filters.get("district"):
        qs = qs.filter(district__code=filters["district"])
    if filters.get("since"):
        qs = qs.filter(requested_at__date__gte=filters["since"])
    if filters.get("until"):
        qs = qs.filter(requested_at__date__lte=filters["until"])
    rows = qs.order_by("-requested_at", "-id").values(
        "public_id",
        "status",
        "requested_at",
        "address",
        "lat",
        "long",
        "service__name",
        "service__translations",
        "service__sensitive_location",
        "district__name",
    )
    paginator = Paginator(rows, PAGE_SIZE)
    page_obj = paginator.get_page(page)
    points = []
    for row in page_obj.object_list:
        point = public_point(row["lat"], row["long"], sensitive=row["service__sensitive_location"])
        if point is not None:
            points.append({"id": row["public_id"], "lat": point[0], "long": point[1]})
    return page_obj, points
