"""Where an action comes from, for the audit log: set once per web request by
``AuditContextMiddleware`` (or once per command), read by ``audit_record``, so the core's
services can record "from where" without being handed the HTTP request."""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse


@dataclass(frozen=True)
class Origin:
    ip: str = ""
    user_agent: str = ""
    # The signed-in person making the web request (read lazily), when a service records an
    # entry without naming who acted.
    user: Any = None


NO_ORIGIN = Origin()
_origin: contextvars.ContextVar[Origin | None] = contextvars.ContextVar(
    "civicdesk_audit_origin", default=None
)


def current_origin() -> Origin:
    return _origin.get() or NO_ORIGIN


def client_ip(request: HttpRequest) -> str:
    """The client's address. Behind the city's proxy (``SECURE_PROXY_SSL``), the address the
    proxy appended last to X-Forwarded-For; otherwise the socket's peer."""
    if settings.SECURE_PROXY_SSL_HEADER:
        forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
        if forwarded:
            return forwarded.split(",")[-1].strip()[:45]
    return str(request.META.get("REMOTE_ADDR", ""))[:45]


def request_origin(request: HttpRequest) -> Origin:
    return Origin(
        client_ip(request),
        str(request.META.get("HTTP_USER_AGENT", ""))[:200],
        getattr(request, "user", None),
    )


@contextmanager
def origin(value: Origin | None) -> Iterator[None]:
    token = _origin.set(value)
    try:
        yield
    finally:
        _origin.reset(token)


def command_origin(command: str, *, os_user: str = "") -> Origin:
    """A command-line run: "from where" is the command (and the system account running it)."""
    who = f" (as {os_user})" if os_user else ""
    return Origin(ip="", user_agent=f"cli: civicdesk {command}{who}"[:200])


class AuditContextMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with origin(request_origin(request)):
            return self.get_response(request)
