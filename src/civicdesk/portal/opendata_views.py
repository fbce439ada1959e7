"""The open data page and its downloads: thin adapters over ``civicdesk.performance.opendata``.

Downloads stream as they are read. A bad filter answers 400 with the page and the message in
the resident's language, never a 500.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_http_methods

from civicdesk.catalog.models import Service
from civicdesk.errors import InvalidInput
from civicdesk.i18n import current_language
from civicdesk.performance.opendata import (
    COLUMNS,
    FORMATS,
    ExportFilter,
    export_filter_parse,
    requests_export,
)
from civicdesk.ratelimit import client_limited

# What each column holds, for the page (docs/open-data.md says the same at more length).
COLUMN_MEANINGS = {
    "service_request_id": _("The request's number, as on its tracking page."),
    "requested_datetime": _("When the request was received."),
    "updated_datetime": _("When the request last changed."),
    "closed_date": _("When the request was closed; empty while it is open."),
    "status_description": _(
        "Where the request stands: new, acknowledged, assigned, in_progress, on_hold, "
        "reopened (open) or resolved, closed, duplicate, referred, cannot_locate (closed)."
    ),
    "status_notes": _("The latest public note from the city."),
    "source": _("How the request came in: web, phone, mobile_app, api, email, walk_in or staff."),
    "service_name": _("The kind of problem (the service), in the city's main language."),
    "service_subtype": _("Always empty: the city's services have no subtypes."),
    "description": _("The description given with the request."),
    "agency_responsible": _("The department handling the request."),
    "address": _("The address given, or only its block for sensitive services."),
    "lat": _("Latitude (WGS 84), rounded to about 100 m for sensitive services."),
    "long": _("Longitude (WGS 84), rounded to about 100 m for sensitive services."),
}


def _filter_args(request: HttpRequest) -> dict[str, Any]:
    return {
        "date_from": request.GET.get("from", ""),
        "date_to": request.GET.get("to", ""),
        "services": request.GET.getlist("service"),
    }


def _page(
    request: HttpRequest, *, errors: dict[str, list[str]] | None = None, status: int = 200
) -> HttpResponse:
    return render(
        request,
        "portal/open_data.html",
        {
            "errors": errors or {},
            "values": {
                "from": request.GET.get("from", "")[:40],
                "to": request.GET.get("to", "")[:40],
                "services": request.GET.getlist("service"),
            },
            "services": Service.objects.order_by("name"),
            "columns": [(name, COLUMN_MEANINGS[name]) for name in COLUMNS],
            "formats": FORMATS,
            "language": current_language(),
        },
        status=status,
    )


@require_http_methods(["GET", "HEAD"])
def open_data(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_http_methods(["GET", "HEAD"])
@client_limited("open-data", "CIVICDESK_RATE_OPEN_DATA", methods=("GET", "HEAD"))
def requests_download(request: HttpRequest, fmt: str) -> HttpResponseBase:
    try:
        export_filter = export_filter_parse(**_filter_args(request))
    except InvalidInput as exc:
        return _page(request, errors=exc.field_errors, status=400)
    spec = FORMATS[fmt]
    # A HEAD answers the headers alone; reading the whole export to discard it would cost
    # as much as the download.
    chunks = (
        iter(())
        if request.method == "HEAD"
        else (chunk.encode() for chunk in requests_export(export_filter, fmt))
    )
    response = StreamingHttpResponse(chunks, content_type=spec.media_type)
    name = _file_name(export_filter, spec.extension)
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    response["Access-Control-Allow-Origin"] = "*"  # open data: any web app may fetch it
    return response


def _file_name(export_filter: ExportFilter, extension: str) -> str:
    parts = ["service-requests"]
    if export_filter.date_from:
        parts.append(f"from-{export_filter.date_from.isoformat()}")
    if export_filter.date_to:
        parts.append(f"to-{export_filter.date_to.isoformat()}")
    return f"{'_'.join(parts)}.{extension}"
