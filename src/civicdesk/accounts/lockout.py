"""Back-off for locked-out sign-ins: the first lockout of an account lasts
``CIVICDESK_LOCKOUT_MINUTES``, and each further lockout of the same account within a day
doubles it (up to 64 times). django-axes asks this function for the cool-off."""

from __future__ import annotations

import datetime as dt
import math
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone

from civicdesk.audit.models import AuditEntry
from civicdesk.audit.services import login_fingerprint

MAX_DOUBLINGS = 6


def tried_username(request: HttpRequest | None) -> str:
    if request is None:
        return ""
    return str(request.POST.get("login") or request.POST.get("username") or "")[:150]


def axes_username(request: HttpRequest, credentials: dict[str, Any] | None) -> str:
    """The name being signed in with, as django-axes keys its counts: allauth's form calls
    the field ``login`` and passes it on as ``username``."""
    return str(
        (credentials or {}).get("username") or (credentials or {}).get("login") or ""
    ) or tried_username(request)


def cooloff_for(username: str) -> dt.timedelta:
    base = dt.timedelta(minutes=settings.CIVICDESK_LOCKOUT_MINUTES)
    if not username:
        return base
    lockouts = AuditEntry.objects.filter(
        action="auth.locked_out",
        details__login=login_fingerprint(username),
        at__gte=timezone.now() - dt.timedelta(days=1),
    ).count()
    return base * (2 ** min(max(lockouts - 1, 0), MAX_DOUBLINGS))


def cooloff(request: HttpRequest | None) -> dt.timedelta:
    return cooloff_for(tried_username(request))


def lockout_is_new(request: HttpRequest | None) -> bool:
    """Whether this failure is the one that locked the account out (django-axes also signals
    each refused attempt during a lockout): only new lockouts double the next wait."""
    failures = getattr(request, "axes_failures_since_start", None)
    return failures == settings.AXES_FAILURE_LIMIT


def lockout_response(
    request: HttpRequest, original_response: HttpResponse | None, credentials: dict[str, Any]
) -> HttpResponse:
    """The page a locked-out person sees: how long to wait, in their language (429)."""
    minutes = max(1, math.ceil(cooloff(request).total_seconds() / 60))
    response = render(request, "account/locked_out.html", {"cooloff_minutes": minutes}, status=429)
    response["Retry-After"] = str(minutes * 60)
    return response
