"""Queueing, rendering and delivering notifications."""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone, translation

from .models import DeliveryStatus, Notification, NotificationChannel
from .sms import sms_adapter

logger = logging.getLogger("civicdesk.notifications")

SMS_MAX_CHARS = 320
RETRY_DELAYS = [
    dt.timedelta(minutes=1),
    dt.timedelta(minutes=5),
    dt.timedelta(minutes=30),
    dt.timedelta(hours=2),
]


class PerLanguage(dict[str, str]):
    """A context value with a text per language (e.g. a service's name); the message in
    each language gets its own, or the default language's."""

    def pick(self, language: str) -> str:
        return (
            self.get(language) or self.get(settings.LANGUAGE_CODE) or next(iter(self.values()), "")
        )


@dataclass(frozen=True)
class Recipient:
    email: str = ""
    phone: str = ""
    sms: bool = False
    language: str = "en"
    contact_id: int | None = None
    user_id: int | None = None


def _supported_language(language: str) -> str:
    code = (language or "").split("-")[0].lower()
    return code if code in dict(settings.LANGUAGES) else settings.LANGUAGE_CODE


def message_render(template: str, context: dict[str, Any], language: str) -> dict[str, str]:
    """The subject, email body and SMS text of ``template`` in ``language``."""
    language = _supported_language(language)
    context = {k: v.pick(language) if isinstance(v, PerLanguage) else v for k, v in context.items()}
    with translation.override(language):
        subject = render_to_string(f"notifications/{template}_subject.txt", context, using="text")
        body = render_to_string(f"notifications/{template}_body.txt", context, using="text")
        sms = render_to_string(f"notifications/{template}_sms.txt", context, using="text")
    return {
        "subject": " ".join(subject.split())[:255],
        "body": body.strip() + "\n",
        "sms": " ".join(sms.split())[:SMS_MAX_CHARS],
    }


def notifications_queue(
    *,
    kind: str,
    template: str,
    context: dict[str, Any],
    recipients: list[Recipient],
    request_id: int | None = None,
) -> list[Notification]:
    """Write one notification per recipient and channel, and send them after commit.

    Call inside the transaction of the change being reported: if it rolls back, nothing is sent.
    """
    rows: list[Notification] = []
    rendered: dict[str, dict[str, str]] = {}
    seen: set[tuple[str, str]] = set()
    for person in recipients:
        language = _supported_language(person.language)
        if language not in rendered:
            rendered[language] = message_render(template, context, language)
        text = rendered[language]
        targets = []
        if person.email:
            targets.append((NotificationChannel.EMAIL, person.email.strip().lower()))
        if person.phone and person.sms:
            targets.append((NotificationChannel.SMS, person.phone.strip()))
        for channel, address in targets:
            if (channel, address) in seen:
                continue  # one person following twice (reporter and follower) hears once
            seen.add((channel, address))
            rows.append(
                Notification(
                    kind=kind,
                    channel=channel,
                    recipient=address,
                    language=language,
                    subject=text["subject"] if channel == NotificationChannel.EMAIL else "",
                    body=text["body"] if channel == NotificationChannel.EMAIL else text["sms"],
                    request_id=request_id,
                    contact_id=person.contact_id,
                    user_id=person.user_id,
                )
            )
    if not rows:
        return []
    created = Notification.objects.bulk_create(rows)  # both engines return the new ids
    ids = [n.pk for n in created]
    transaction.on_commit(lambda: _enqueue(ids))
    return created


def _enqueue(ids: list[int]) -> None:
    from .tasks import deliver_notification

    for notification_id in ids:
        try:
            deliver_notification.enqueue(notification_id)
        except Exception:
            # The row stays queued; the periodic sweep enqueues it again.
            logger.exception("could not enqueue notification %s", notification_id)


def notification_deliver(notification_id: int) -> str:
    """Send one notification. Safe to call twice: only a queued row is claimed and sent."""
    now = timezone.now()
    claimed = Notification.objects.filter(
        Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now),
        pk=notification_id,
        status=DeliveryStatus.QUEUED,
    ).update(status=DeliveryStatus.SENDING, claimed_at=now)
    if not claimed:
        return "skipped"
    note = Notification.objects.get(pk=notification_id)
    try:
        if note.channel == NotificationChannel.EMAIL:
            EmailMessage(
                subject=note.subject,
                body=note.body,
                from_email=settings.DEFAULT_FROM_EMAIL,
                to=[note.recipient],
            ).send()
        else:
            sms_adapter().send(to=note.recipient, body=note.body)
    except Exception as exc:
        note.attempts += 1
        note.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        if note.attempts > len(RETRY_DELAYS):
            note.status = DeliveryStatus.FAILED
            note.next_attempt_at = None
        else:
            note.status = DeliveryStatus.QUEUED
            note.next_attempt_at = timezone.now() + RETRY_DELAYS[note.attempts - 1]
        note.save(update_fields=["attempts", "last_error", "status", "next_attempt_at"])
        # The error itself (kept on the record for staff) may quote the recipient's address;
        # the log gets only its kind.
        logger.warning(
            "notification %s not sent (%s), attempt %s",
            notification_id,
            type(exc).__name__,
            note.attempts,
        )
        return note.status
    note.attempts += 1
    note.status = DeliveryStatus.SENT
    note.sent_at = timezone.now()
    note.save(update_fields=["attempts", "status", "sent_at"])
    return "sent"


def notifications_sweep(*, stale_after: dt.timedelta = dt.timedelta(minutes=5)) -> int:
    """Re-enqueue notifications stranded by a lost job or a worker that died mid-send."""
    now = timezone.now()
    Notification.objects.filter(
        status=DeliveryStatus.SENDING, claimed_at__lt=now - stale_after
    ).update(status=DeliveryStatus.QUEUED)
    due = list(
        Notification.objects.filter(status=DeliveryStatus.QUEUED, created_at__lt=now - stale_after)
        .filter(Q(next_attempt_at__isnull=True) | Q(next_attempt_at__lte=now))
        .values_list("id", flat=True)[:5000]
    )
    # Retries whose delay has passed are due too, however recent the row.
    due += list(
        Notification.objects.filter(
            status=DeliveryStatus.QUEUED,
            next_attempt_at__lte=now,
            created_at__gte=now - stale_after,
        ).values_list("id", flat=True)[:5000]
    )
    _enqueue(due)
    return len(due)
