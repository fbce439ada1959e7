"""Issuing, revoking and checking API keys, and the per-key limit on posts."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import string

from django.db import transaction
from django.utils import timezone

from civicdesk.errors import CivicdeskError, InvalidInput, NotFound, RateLimited

from .models import ApiKey, ApiSubmission

# 32 letters and digits: about 190 bits of randomness, so a plain SHA-256 of the key is
# safe to store; no "-" that a shell or argparse would take for an option.
KEY_ALPHABET = string.ascii_letters + string.digits
KEY_LENGTH = 32
PREFIX_LENGTH = 8


class BadApiKey(CivicdeskError):
    code = "bad_api_key"


def _hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def apikey_create(*, name: str, posts_per_minute: int = 60) -> tuple[ApiKey, str]:
    """Issue a key; returns the stored record and the key itself (shown once, never kept)."""
    name = name.strip()
    if not name:
        raise InvalidInput({"name": ["say who the key is for"]})
    if len(name) > 200:
        raise InvalidInput({"name": ["must be at most 200 characters"]})
    if not 1 <= posts_per_minute <= 100_000:
        raise InvalidInput({"posts_per_minute": ["must be between 1 and 100000"]})
    key = "".join(secrets.choice(KEY_ALPHABET) for _ in range(KEY_LENGTH))
    record = ApiKey.objects.create(
        name=name,
        prefix=key[:PREFIX_LENGTH],
        key_hash=_hash(key),
        posts_per_minute=posts_per_minute,
    )
    return record, key


def apikey_revoke(*, prefix: str) -> ApiKey:
    record = ApiKey.objects.filter(prefix=prefix.strip()).first()
    if record is None:
        raise NotFound(f"no API key starts with {prefix!r}")
    if record.revoked_at is None:
        record.revoked_at = timezone.now()
        record.save(update_fields=["revoked_at"])
    return record


def apikey_check(key: str | None) -> ApiKey:
    """The active key matching ``key``, or ``BadApiKey``."""
    if not key:
        raise BadApiKey("an api_key is required to post a request")
    record = ApiKey.objects.filter(prefix=key[:PREFIX_LENGTH]).first()
    if record is None or not hmac.compare_digest(record.key_hash, _hash(key)):
        raise BadApiKey("the api_key is not valid")
    if record.revoked_at is not None:
        raise BadApiKey("the api_key has been revoked")
    return record


def rate_limit_check(record: ApiKey, *, now: dt.datetime | None = None) -> None:
    """Refuse a post when the key has used up its posts for the last minute.

    Counted from the posts themselves, so it holds across any number of web processes.
    """
    now = now or timezone.now()
    window_start = now - dt.timedelta(seconds=60)
    with transaction.atomic():
        recent = ApiSubmission.objects.filter(api_key=record, created_at__gt=window_start)
        if recent.count() >= record.posts_per_minute:
            oldest = recent.order_by("created_at").values_list("created_at", flat=True).first()
            wait = 1 if oldest is None else max(1, int((oldest - window_start).total_seconds()) + 1)
            raise RateLimited(
                f"this api_key may post {record.posts_per_minute} requests a minute; "
                f"try again in {wait} s",
                retry_after=wait,
            )
