"""A small fixed-window rate limiter on Django's cache, for the public doors: resident
submissions, the Open311 API and open-data downloads (sign-in has allauth's limits and the
axes lockout). With the default in-process cache each web process counts on its own; set
``CIVICDESK_CACHE_URL=redis://...`` so that every process shares the counts."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render

from civicdesk.audit.context import client_ip
from civicdesk.errors import RateLimited


@dataclass(frozen=True)
class Rate:
    count: int
    seconds: int

    @classmethod
    def parse(cls, text: str) -> Rate:
        """``"30/h"``, ``"300/m"``, ``"5/10m"``, ``"1000/d"``; ``"0"`` turns the limit off."""
        units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
        if text.strip() == "0":
            return cls(0, 1)
        try:
            count, period = text.strip().split("/")
            multiple = int(period[:-1]) if len(period) > 1 else 1
            return cls(int(count), multiple * units[period[-1]])
        except (ValueError, KeyError, IndexError):
            raise ValueError(f"a rate is written like 30/h or 300/m, not {text!r}") from None


def rate_setting(name: str) -> Rate:
    """The rate in setting ``name``; a badly written one stops the site with its name."""
    raw = str(getattr(settings, name))
    try:
        return Rate.parse(raw)
    except ValueError as exc:
        raise ImproperlyConfigured(f"{name}: {exc}") from None


def rate_limit_hit(scope: str, key: str, rate: Rate, *, now: float | None = None) -> None:
    """Count one use of ``scope`` by ``key``; raise ``RateLimited`` past ``rate``."""
    if rate.count <= 0:
        return
    now = time.time() if now is None else now
    window = int(now // rate.seconds)
    cache_key = f"ratelimit:{scope}:{key}:{window}"
    cache.add(cache_key, 0, timeout=rate.seconds + 5)
    try:
        used = cache.incr(cache_key)
    except ValueError:  # evicted between add and incr
        cache.set(cache_key, 1, timeout=rate.seconds + 5)
        used = 1
    if used > rate.count:
        retry_after = max(1, int((window + 1) * rate.seconds - now) + 1)
        raise RateLimited(
            f"too many requests from this address: at most {rate.count} every "
            f"{_period(rate.seconds)}; try again in {retry_after} s",
            retry_after=retry_after,
        )


def _period(seconds: int) -> str:
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            count = seconds // size
            return unit if count == 1 else f"{count} {unit}s"
    return f"{seconds} seconds"


def client_limited(scope: str, setting: str, methods: tuple[str, ...] = ("POST",)) -> Any:
    """Decorate a page: past the rate in ``setting`` for one client address, answer 429 with
    a page that says when to try again (for the listed methods only)."""

    def decorate(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
            if request.method in methods:
                try:
                    rate_limit_hit(scope, client_ip(request), rate_setting(setting))
                except RateLimited as exc:
                    return too_many(request, exc)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate


def too_many(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    minutes = max(1, -(-exc.retry_after // 60))
    response = render(request, "too_many.html", {"minutes": minutes}, status=429)
    response["Retry-After"] = str(exc.retry_after)
    return response
