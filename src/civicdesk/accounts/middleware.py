"""Session rules for signed-in people, and the Content-Security-Policy header.

``StaffSessionMiddleware``:
- ends any session idle for ``CIVICDESK_SESSION_IDLE_MINUTES`` or older than
  ``CIVICDESK_SESSION_MAX_HOURS`` since sign-in;
- makes every staff role use a second factor before the console or the admin: a staff member
  without one is sent to set one up; a session that was not signed in with one (or through
  the city's single sign-on) is ended.

``ContentSecurityPolicyMiddleware`` sends a strict policy (no inline scripts or styles, no
framing) on every response that has none of its own.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlsplit

from allauth.account.authentication import get_authentication_records
from allauth.mfa.utils import is_mfa_enabled
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.utils.translation import gettext as _

STARTED_KEY = "civicdesk_signed_in_at"
SEEN_KEY = "civicdesk_seen_at"
SEEN_GRANULARITY = 60  # seconds: the session is written at most once a minute for this
# Areas that need a second factor; the sign-in pages (/accounts/) never do.
PROTECTED_PREFIXES = ("/staff/", "/admin/")
OPEN_PATHS = ("/staff/login/", "/staff/logout/")
# Methods of signing in that count as multi-factor: allauth's MFA step (TOTP, passkey,
# recovery code) and the city's identity provider, which enforces its own.
STRONG_METHODS = frozenset({"mfa", "socialaccount"})

Handler = Callable[[HttpRequest], HttpResponse]


def signed_in_strongly(request: HttpRequest) -> bool:
    records = get_authentication_records(request, request.user)
    return any(record.get("method") in STRONG_METHODS for record in records)


def session_mark_signed_in(request: HttpRequest) -> None:
    now = time.time()
    request.session[STARTED_KEY] = now
    request.session[SEEN_KEY] = now


class StaffSessionMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = request.user
        if user.is_authenticated:
            expired = self._expired(request)
            if expired:
                logout(request)
                messages.info(request, expired)
                return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
            if (
                settings.CIVICDESK_STAFF_MFA_REQUIRED
                and getattr(user, "is_city_staff", False)
                and request.path.startswith(PROTECTED_PREFIXES)
                and not request.path.startswith(OPEN_PATHS)
            ):
                # The session says whether this sign-in had a second step (no query);
                # only a session without one needs to know whether the person has one.
                if signed_in_strongly(request):
                    return self.get_response(request)
                if not is_mfa_enabled(user):
                    messages.info(
                        request,
                        _(
                            "Staff accounts sign in with a second step. Set up an "
                            "authenticator app or a security key to continue."
                        ),
                    )
                    return redirect("mfa_index")
                logout(request)
                messages.info(request, _("Sign in again with your second step."))
                return redirect_to_login(request.get_full_path(), settings.LOGIN_URL)
        return self.get_response(request)

    def _expired(self, request: HttpRequest) -> str:
        """Why the session has expired ("" if it has not); otherwise note this visit."""
        session = request.session
        now = time.time()
        started = session.get(STARTED_KEY)
        seen = session.get(SEEN_KEY)
        if started is None:
            session_mark_signed_in(request)
            return ""
        if now - float(started) > settings.CIVICDESK_SESSION_MAX_HOURS * 3600:
            return _("Your session has ended; please sign in again.")
        if seen is not None and now - float(seen) > settings.CIVICDESK_SESSION_IDLE_MINUTES * 60:
            return _("You were signed out after a period of inactivity.")
        if seen is None or now - float(seen) > SEEN_GRANULARITY:
            session[SEEN_KEY] = now
        return ""


def content_security_policy() -> str:
    tiles = urlsplit(settings.CIVICDESK_MAP_TILE_URL)
    tile_origin = f"{tiles.scheme}://{tiles.netloc}" if tiles.scheme and tiles.netloc else ""
    form_action = ["'self'"]
    if settings.CIVICDESK_OIDC_SERVER_URL:
        provider = urlsplit(settings.CIVICDESK_OIDC_SERVER_URL)
        form_action.append(f"{provider.scheme}://{provider.netloc}")
    directives = [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        " ".join(["img-src 'self' data: blob:", tile_origin]).strip(),
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action " + " ".join(form_action),
        "frame-ancestors 'none'",
    ]
    if settings.SECURE_SSL_REDIRECT:
        directives.append("upgrade-insecure-requests")
    return "; ".join(directives)


class ContentSecurityPolicyMiddleware:
    def __init__(self, get_response: Handler) -> None:
        self.get_response = get_response
        self.policy = content_security_policy()

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", self.policy)
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), payment=(), usb=()"
        )
        return response
