"""Operational pages: the landing page of an installation and the health check."""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from civicdesk.catalog.models import Service
from civicdesk.servicerequests.models import ServiceRequest
from civicdesk.servicerequests.statuses import OPEN_STATUSES


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    return render(
        request,
        "ops/home.html",
        {
            "city": settings.CIVICDESK_CITY_NAME,
            "services": Service.objects.filter(active=True).count(),
            "open_requests": ServiceRequest.objects.filter(
                status__in=sorted(OPEN_STATUSES)
            ).count(),
        },
    )


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    """For load balancers and monitors: 200 when the database answers, 503 when not."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:
        return JsonResponse({"status": "error", "database": type(exc).__name__}, status=503)
    return JsonResponse({"status": "ok", "database": connection.vendor})
