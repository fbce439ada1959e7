"""Resident portal pages: thin adapters over the core's services and the portal selectors."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from civicdesk.catalog.models import Service
from civicdesk.catalog.selectors import services_search
from civicdesk.errors import CivicdeskError, InvalidInput
from civicdesk.geo.models import LayerRole, Zone
from civicdesk.i18n import current_language
from civicdesk.ratelimit import client_limited
from civicdesk.servicerequests.models import Channel, ServiceRequest
from civicdesk.servicerequests.selectors import duplicates_find, public_address, public_point
from civicdesk.servicerequests.services import (
    ContactInput,
    request_create,
    request_follow,
    request_media_attach,
    request_reopen,
    request_unfollow,
)
from civicdesk.servicerequests.statuses import Status

from .forms import FollowForm, ReopenForm, ReportForm, TrackForm
from .selectors import (
    can_reopen,
    public_request,
    public_request_view,
    recent_requests,
    services_by_group,
)


@require_http_methods(["GET", "HEAD"])
def home(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    return render(
        request,
        "portal/home.html",
        {
            "query": query,
            "results": services_search(query) if query else None,
            "groups": services_by_group(current_language()),
            "language": current_language(),
        },
    )


@require_http_methods(["GET", "HEAD", "POST"])
@client_limited("report", "CIVICDESK_RATE_REPORT")
def report(request: HttpRequest, service_code: str) -> HttpResponse:
    service = get_object_or_404(Service, service_code=service_code, active=True)
    language = current_language()
    if service.emergency:
        return render(request, "portal/emergency.html", {"service": service, "language": language})
    if request.method == "POST":
        form = ReportForm(request.POST, request.FILES, service=service)
        if form.is_valid():
            data = form.cleaned_data
            photos = [upload.read() for upload in data["photos"]]
            try:
                # One transaction: a photo that is refused leaves no request behind.
                with transaction.atomic():
                    created = request_create(
                        service_code=service.service_code,
                        description=data["description"],
                        attributes=form.answers(),
                        lat=data["lat"] or None,
                        long=data["long"] or None,
                        address=data["address"],
                        channel=Channel.WEB,
                        contact=ContactInput(
                            name=data["name"],
                            email=data["email"],
                            phone=data["phone"],
                            preferred_language=language,
                            sms_opt_in=data["sms_opt_in"],
                        ),
                        actor_label="resident",
                    )
                    for photo in photos:
                        request_media_attach(request=created, data=photo, actor_label="resident")
            except InvalidInput as exc:
                form.add_core_errors(exc)
            else:
                request.session["reported"] = created.public_id
                return redirect("portal:confirmation", public_id=created.public_id)
    else:
        form = ReportForm(service=service)
    return render(
        request,
        "portal/report.html",
        {
            "service": service,
            "form": form,
            "language": language,
            "map_center": settings.CIVICDESK_MAP_CENTER,
        },
        status=400 if request.method == "POST" else 200,
    )


@require_http_methods(["GET"])
def nearby(request: HttpRequest, service_code: str) -> HttpResponse:
    """Open requests of this service near a chosen point (an htmx fragment)."""
    service = get_object_or_404(Service, service_code=service_code, active=True)
    candidates = []
    try:
        lat = float(request.GET.get("lat", ""))
        long = float(request.GET.get("long", ""))
    except ValueError:
        pass
    else:
        if -90 <= lat <= 90 and -180 <= long <= 180:
            candidates = duplicates_find(service=service, lat=lat, long=long, limit=5)
    return render(request, "portal/_nearby.html", {"candidates": candidates, "service": service})


def confirmation(request: HttpRequest, public_id: str) -> HttpResponse:
    sr = public_request(public_id)
    if sr is None or request.session.get("reported") != public_id:
        raise Http404
    return render(request, "portal/confirmation.html", {"sr": sr, "language": current_language()})


@require_http_methods(["GET", "HEAD"])
def track(request: HttpRequest) -> HttpResponse:
    form = TrackForm(request.GET or None)
    if form.is_valid():
        public_id = form.cleaned_data["public_id"].strip()
        if public_request(public_id) is not None:
            return redirect("portal:request", public_id=public_id)
        form.add_error("public_id", _("There is no request with that number."))
    return render(request, "portal/track.html", {"form": form})


@require_http_methods(["GET", "HEAD", "POST"])
@client_limited("follow", "CIVICDESK_RATE_REPORT")
def request_page(request: HttpRequest, public_id: str) -> HttpResponse:
    sr = public_request(public_id)
    if sr is None:
        raise Http404
    follow_form, reopen_form = FollowForm(), ReopenForm()
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "follow":
                follow_form = FollowForm(request.POST)
                if follow_form.is_valid():
                    request_follow(
                        request=sr,
                        contact=ContactInput(
                            email=follow_form.cleaned_data["email"],
                            phone=follow_form.cleaned_data["phone"],
                            sms_opt_in=bool(follow_form.cleaned_data["phone"]),
                            preferred_language=current_language(),
                        ),
                    )
                    messages.success(request, _("You will receive updates on this request."))
                    return HttpResponseRedirect(request.path)
            elif action == "unfollow":
                follow_form = FollowForm(request.POST)
                if follow_form.is_valid():
                    removed = request_unfollow(
                        request=sr,
                        email=follow_form.cleaned_data["email"],
                        phone=follow_form.cleaned_data["phone"],
                    )
                    messages.success(
                        request,
                        _("You will no longer receive updates.")
                        if removed
                        else _("That address was not following this request."),
                    )
                    return HttpResponseRedirect(request.path)
            elif action == "reopen":
                reopen_form = ReopenForm(request.POST)
                if reopen_form.is_valid():
                    request_reopen(
                        request=sr, reason=reopen_form.cleaned_data["reason"], by_resident=True
                    )
                    messages.success(request, _("The request is open again."))
                    return HttpResponseRedirect(request.path)
            else:
                messages.error(request, _("Unknown action."))
        except InvalidInput as exc:
            target = follow_form if action in ("follow", "unfollow") else reopen_form
            for field, errors in exc.field_errors.items():
                for message in errors:
                    target.add_error(field if field in target.fields else None, message)
        except CivicdeskError as exc:
            messages.error(request, exc.message)
        status = 400
    view = public_request_view(sr)
    return render(
        request,
        "portal/request.html",
        {
            "sr": sr,
            "view": view,
            "follow_form": follow_form,
            "reopen_form": reopen_form,
            "can_reopen": can_reopen(sr),
            "language": current_language(),
            "public_address": public_address(sr.address, sensitive=sr.service.sensitive_location),
            "public_point": _point(sr),
            "status_label": Status(sr.status).label,
        },
        status=status,
    )


@require_http_methods(["GET", "HEAD"])
def requests_list(request: HttpRequest) -> HttpResponse:
    filters = {
        # PostgreSQL text cannot hold NUL: such a filter matches nothing rather than failing.
        "service": request.GET.get("service", "").replace("\x00", "").strip()[:64],
        "status": request.GET.get("status", "")
        if request.GET.get("status") in ("open", "closed")
        else "",
        "district": request.GET.get("district", "").replace("\x00", "").strip()[:64],
        "since": _date(request.GET.get("since")),
        "until": _date(request.GET.get("until")),
    }
    page_obj, points = recent_requests(filters, _page(request.GET.get("page")))
    language = current_language()
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "portal/requests.html",
        {
            "page": page_obj,
            "points": points,
            "filters": filters,
            "language": language,
            "services": Service.objects.filter(active=True).order_by("name"),
            "districts": Zone.objects.filter(layer__role=LayerRole.COUNCIL_DISTRICT).order_by(
                "code"
            ),
            "querystring": query.urlencode(),
            "map_center": settings.CIVICDESK_MAP_CENTER,
        },
    )


def _point(sr: ServiceRequest) -> list[dict[str, Any]] | None:
    point = public_point(sr.lat, sr.long, sensitive=sr.service.sensitive_location)
    return [{"id": sr.public_id, "lat": point[0], "long": point[1]}] if point else None


def _date(raw: str | None) -> dt.date | None:
    try:
        return dt.date.fromisoformat((raw or "").strip())
    except ValueError:
        return None


def _page(raw: str | None) -> int:
    return int(raw) if raw and raw.isdigit() and 0 < int(raw) < 100_000 else 1


def service_redirect(request: HttpRequest, service_code: str) -> HttpResponse:
    return redirect(reverse("portal:report", args=[service_code]))
