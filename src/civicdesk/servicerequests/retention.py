"""Retention: personal data removed once it is older than the city keeps it (the
``CIVICDESK_RETAIN_*_DAYS`` settings, 0 keeping it for ever). Run daily by the
"apply-retention" job and by ``civicdesk retention``.

Every rule works in batches of primary keys with queryset ``update()``/``delete()``, each
batch its own short transaction, so millions of rows never sit in memory or hold a long lock;
a rule selects only rows it has not yet handled, so running it again removes nothing more."""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.apps import apps
from django.conf import settings
from django.core.files.storage import default_storage
from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from civicdesk.audit.services import audit_record
from civicdesk.notifications.models import DeliveryStatus, Notification

from .models import Contact, Follower, RequestMedia, ServiceRequest
from .statuses import CLOSED_STATUSES, OPEN_STATUSES

logger = logging.getLogger("civicdesk.retention")

BATCH = 1000
# django-axes keeps three kinds of sign-in records, each stamped with ``attempt_time``.
SIGN_IN_MODELS = ("AccessAttempt", "AccessLog", "AccessFailureLog")


@dataclass(frozen=True)
class Rule:
    name: str
    setting: str


RULES = (
    Rule("contacts", "CIVICDESK_RETAIN_CONTACTS_DAYS"),
    Rule("notifications", "CIVICDESK_RETAIN_NOTIFICATIONS_DAYS"),
    Rule("media", "CIVICDESK_RETAIN_MEDIA_DAYS"),
    Rule("sign_in_attempts", "CIVICDESK_RETAIN_SIGN_IN_ATTEMPTS_DAYS"),
)


def retention_days() -> dict[str, int]:
    """Each rule's limit in days (0: kept for ever)."""
    return {rule.name: int(getattr(settings, rule.setting, 0) or 0) for rule in RULES}


def _batched(queryset: models.QuerySet, apply: Callable[[list[int]], int]) -> int:
    """Apply ``apply`` to the matching rows, a batch of primary keys at a time, until none
    match (``apply`` must make a row stop matching)."""
    done = 0
    while True:
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[:BATCH])
        if not ids:
            return done
        with transaction.atomic():
            done += apply(ids)


# --------------------------------------------------------------------------------------
# The rules: each returns the rows to handle, and handles a batch of them.


def _not_past(cutoff: dt.datetime) -> Q:
    """Requests still open (a reopened one included) or closed since ``cutoff``."""
    return (
        Q(status__in=sorted(OPEN_STATUSES)) | Q(closed_at__isnull=True) | Q(closed_at__gte=cutoff)
    )


def expired_contacts(cutoff: dt.datetime) -> models.QuerySet[Contact]:
    """Contacts still holding details whose every request (reported or followed) was closed
    before ``cutoff``; a contact linked to no request at all counts from its creation."""
    recent = _not_past(cutoff)
    return (
        Contact.objects.filter(~Q(name="") | ~Q(email="") | ~Q(phone="") | Q(user__isnull=False))
        .exclude(Exists(ServiceRequest.objects.filter(recent, reporter=OuterRef("pk"))))
        .exclude(Exists(ServiceRequest.objects.filter(recent, followers__contact=OuterRef("pk"))))
        .filter(
            Exists(ServiceRequest.objects.filter(reporter=OuterRef("pk")))
            | Exists(Follower.objects.filter(contact=OuterRef("pk")))
            | Q(created_at__lt=cutoff)
        )
    )


def _contacts_blank(ids: list[int]) -> int:
    # The row stays (the request keeps its reporter link); the person's details go, and with
    # them their follows and their address in the notification log.
    Follower.objects.filter(contact_id__in=ids).delete()
    Notification.objects.filter(contact_id__in=ids).exclude(recipient="").update(recipient="")
    return Contact.objects.filter(pk__in=ids).update(
        name="", email="", phone="", sms_opt_in=False, user=None
    )


def expired_notifications(cutoff: dt.datetime) -> models.QuerySet[Notification]:
    """Delivery records older than ``cutoff`` that are done with (sent or failed)."""
    return Notification.objects.filter(created_at__lt=cutoff).exclude(
        status__in=[DeliveryStatus.QUEUED, DeliveryStatus.SENDING]
    )


def _notifications_delete(ids: list[int]) -> int:
    return int(Notification.objects.filter(pk__in=ids).delete()[0])


def expired_media(cutoff: dt.datetime) -> models.QuerySet[RequestMedia]:
    """Photos on requests closed before ``cutoff``."""
    return RequestMedia.objects.filter(
        request__status__in=sorted(CLOSED_STATUSES), request__closed_at__lt=cutoff
    )


def _media_delete(ids: list[int]) -> int:
    names = [
        name
        for name in RequestMedia.objects.filter(pk__in=ids).values_list("file", flat=True)
        if name
    ]
    deleted = int(RequestMedia.objects.filter(pk__in=ids).delete()[0])
    # Files go once the rows are gone for good; a file left by a crash in between is an
    # orphan no page links to (``civicdesk retention`` does not look for those).
    transaction.on_commit(lambda: _files_delete(names))
    return deleted


def _files_delete(names: list[str]) -> None:
    for name in names:
        try:
            default_storage.delete(name)
        except OSError:
            logger.warning("retention: could not delete media file %s", name)


def _sign_in_models() -> list[type[models.Model]]:
    # django-axes may or may not be installed (and may be added later): look it up each run.
    if not apps.is_installed("axes"):
        return []
    found = []
    for name in SIGN_IN_MODELS:
        try:
            found.append(apps.get_model("axes", name))
        except LookupError:
            continue
    return found


def _expired_sign_ins(model: type[models.Model], cutoff: dt.datetime) -> models.QuerySet:
    return model._default_manager.filter(attempt_time__lt=cutoff)


def _rows_delete(model: type[models.Model], ids: list[int]) -> int:
    return int(model._default_manager.filter(pk__in=ids).delete()[0])


# --------------------------------------------------------------------------------------
# The service


def retention_apply(*, now: dt.datetime | None = None, dry_run: bool = False) -> dict[str, int]:
    """Apply every retention rule; returns how many rows each removed (or, with
    ``dry_run``, would remove). Idempotent. One audit entry "privacy.retention" with the
    counts when anything was removed."""
    now = now or timezone.now()
    days = retention_days()

    def cutoff(rule: str) -> dt.datetime | None:
        return now - dt.timedelta(days=days[rule]) if days[rule] > 0 else None

    def handle(rows: models.QuerySet, apply: Callable[[list[int]], int]) -> int:
        return rows.count() if dry_run else _batched(rows, apply)

    counts = {"contacts": 0, "notifications": 0, "media": 0, "sign_in_attempts": 0}
    if (limit := cutoff("contacts")) is not None:
        counts["contacts"] = handle(expired_contacts(limit), _contacts_blank)
    if (limit := cutoff("notifications")) is not None:
        counts["notifications"] = handle(expired_notifications(limit), _notifications_delete)
    if (limit := cutoff("media")) is not None:
        counts["media"] = handle(expired_media(limit), _media_delete)
    if (limit := cutoff("sign_in_attempts")) is not None:
        for model in _sign_in_models():
            counts["sign_in_attempts"] += handle(
                _expired_sign_ins(model, limit), functools.partial(_rows_delete, model)
            )
    if not dry_run and any(counts.values()):
        audit_record(
            "privacy.retention",
            target=("retention", now.date().isoformat()),
            details={**counts, "days": days},
        )
    return counts
