"""The staff performance dashboard: the public page's figures with every column and row,
sortable tables and links into the queue. Every staff role may read it (it holds no
personal data)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.views.decorators.http import require_http_methods

from civicdesk.audit.services import audit_record
from civicdesk.dashboards.views import dashboard_csv, dashboard_page

from .access import staff_required


@staff_required
@require_http_methods(["GET", "HEAD"])
def performance(request: HttpRequest) -> HttpResponse:
    extra = {
        "section": "performance",
        "queue_url": reverse("console:queue"),
    }
    return dashboard_page(
        request,
        template="console/performance.html",
        csv_url_name="console:performance_csv",
        staff=True,
        extra=extra,
    )


@staff_required
@require_http_methods(["GET", "HEAD"])
def performance_csv(request: HttpRequest, section: str) -> HttpResponse:
    response = dashboard_csv(request, section)
    if response.status_code == 200:
        audit_record(
            "export.dashboard_csv", details={"section": section, "query": request.GET.urlencode()}
        )
    return response
