"""The public performance page and its CSV downloads: open to everyone, no personal data."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.http import require_http_methods

from civicdesk.dashboards.views import dashboard_csv, dashboard_page


@require_http_methods(["GET", "HEAD"])
def performance(request: HttpRequest) -> HttpResponse:
    return dashboard_page(
        request,
        template="portal/performance.html",
        csv_url_name="portal:performance_csv",
        staff=False,
    )


@require_http_methods(["GET", "HEAD"])
def performance_csv(request: HttpRequest, section: str) -> HttpResponse:
    return dashboard_csv(request, section)
