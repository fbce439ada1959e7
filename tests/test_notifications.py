"""What residents receive: the email or text when a request is received, changes status or
gets a public note, in their language; and the delivery log that makes sure each message
goes out exactly once, is retried when the provider fails, and is never sent for a change
that did not happen."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from civicdesk.notifications.models import DeliveryStatus, Notification, NotificationChannel
from civicdesk.notifications.services import (
    RETRY_DELAYS,
    notification_deliver,
    notifications_sweep,
)
from civicdesk.notifications.sms import MemorySmsAdapter
from civicdesk.notifications.tasks import deliver_notification
from civicdesk.servicerequests.models import ServiceRequest
from civicdesk.servicerequests.services import (
    ContactInput,
    request_follow,
    request_note_add,
    request_transition,
)
from civicdesk.servicerequests.statuses import Status
from tests.conftest import make_request, run_jobs


class ProviderDownSmsAdapter:
    """An SMS provider that is down (the external service, not our code)."""

    def send(self, *, to: str, body: str) -> None:
        raise ConnectionError("provider unreachable")


PROVIDER_DOWN = "tests.test_notifications.ProviderDownSmsAdapter"
PHONE = "+1 217 555 0123"


def texter() -> ContactInput:
    return ContactInput(name="Texting Resident", phone=PHONE, sms_opt_in=True)


def track_url(request: ServiceRequest) -> str:
    return f"{django_settings.CIVICDESK_PUBLIC_URL.rstrip('/')}/requests/{request.public_id}/"


def by_recipient(outbox: list[Any]) -> dict[str, Any]:
    messages: dict[str, Any] = {}
    for message in outbox:
        [to] = message.to
        assert to not in messages, f"{to} received two emails"
        messages[to] = message
    return messages


# --------------------------------------------------------------------------------------
# What is sent, to whom, in which language


def test_a_reporter_is_told_their_request_was_received(
    city: None, deliver: Any, outbox: list[Any]
) -> None:
    with deliver():
        request = make_request(email="Resident@Example.org")

    [message] = outbox
    assert message.to == ["resident@example.org"]
    assert message.from_email == django_settings.DEFAULT_FROM_EMAIL
    assert message.subject == f"We received your request {request.public_id}"
    assert f"We received your request {request.public_id} (Pothole)." in message.body
    assert "Thank you for contacting Prairie Falls 311." in message.body
    assert track_url(request) in message.body

    note = Notification.objects.get(request=request)
    assert (note.kind, note.channel, note.recipient, note.status, note.attempts) == (
        "received",
        NotificationChannel.EMAIL,
        "resident@example.org",
        DeliveryStatus.SENT,
        1,
    )
    assert note.contact_id == request.reporter_id
    assert note.sent_at is not None


def test_no_contact_no_message(city: None, deliver: Any, outbox: list[Any]) -> None:
    with deliver():
        request = make_request()
        request_transition(request=request, to_status=Status.IN_PROGRESS, note="On it")
    assert outbox == []
    assert MemorySmsAdapter.outbox == []
    assert not Notification.objects.filter(request=request).exists()


def test_followers_hear_of_a_status_change_with_the_public_note(
    city: None, deliver: Any, outbox: list[Any]
) -> None:
    request = make_request(email="reporter@example.org")
    request_follow(request=request, contact=ContactInput(email="neighbour@example.org"))

    with deliver():
        request_transition(
            request=request, to_status=Status.IN_PROGRESS, note="Crew booked for Tuesday"
        )

    messages = by_recipient(outbox)
    assert sorted(messages) == ["neighbour@example.org", "reporter@example.org"]
    for message in messages.values():
        assert message.subject == f"Request {request.public_id} is now: In progress"
        assert f"Your request {request.public_id} (Pothole) is now: In progress." in message.body
        assert "Note from the city:\nCrew booked for Tuesday" in message.body
        assert track_url(request) in message.body


def test_followers_hear_of_a_public_note(city: None, deliver: Any, outbox: list[Any]) -> None:
    request = make_request(email="reporter@example.org")
    with deliver():
        request_note_add(request=request, note="We patched it temporarily", public=True)

    [message] = outbox
    assert message.subject == f"Update on your request {request.public_id}"
    assert "We patched it temporarily" in message.body
    assert Notification.objects.get(kind="public_note").status == DeliveryStatus.SENT


def test_internal_notes_notify_nobody(city: None, deliver: Any, outbox: list[Any]) -> None:
    request = make_request(email="reporter@example.org")
    request_follow(request=request, contact=texter())
    before = Notification.objects.count()

    with deliver():
        request_note_add(request=request, note="Resident is difficult", public=False)
    assert outbox == []
    assert MemorySmsAdapter.outbox == []
    assert Notification.objects.count() == before

    # A status change with an internal note is announced, without the note.
    with deliver():
        request_transition(
            request=request,
            to_status=Status.ON_HOLD,
            note="Waiting on the utility locate",
            note_public=False,
        )
    [message] = outbox
    assert message.subject == f"Request {request.public_id} is now: On hold, waiting on resident"
    assert "Waiting on the utility locate" not in message.body
    assert "Note from the city" not in message.body
    [sms] = MemorySmsAdapter.outbox
    assert "Waiting on the utility locate" not in sms["body"]


def _spanish_reporter_and_english_follower(
    deliver: Any, outbox: list[Any]
) -> tuple[ServiceRequest, dict[str, Any]]:
    """A request reported in Spanish and followed in English; returns the emails of its
    creation, a public note and a status change, by kind and recipient."""
    emails: dict[str, Any] = {}
    with deliver():
        request = make_request(email="maria@example.org", language="es")
    emails["received"] = by_recipient(outbox)
    request_follow(request=request, contact=ContactInput(email="john@example.org"))
    for kind, change in (
        (
            "public_note",
            lambda: request_note_add(request=request, note="Cuadrilla programada", public=True),
        ),
        (
            "status_change",
            lambda: request_transition(request=request, to_status=Status.IN_PROGRESS),
        ),
    ):
        outbox.clear()
        with deliver():
            change()
        emails[kind] = by_recipient(outbox)
    return request, emails


def test_each_follower_is_written_to_in_their_own_language(
    city: None, deliver: Any, outbox: list[Any]
) -> None:
    request, emails = _spanish_reporter_and_english_follower(deliver, outbox)

    assert sorted(
        Notification.objects.filter(request=request).values_list("kind", "recipient", "language")
    ) == [
        ("public_note", "john@example.org", "en"),
        ("public_note", "maria@example.org", "es"),
        ("received", "maria@example.org", "es"),
        ("status_change", "john@example.org", "en"),
        ("status_change", "maria@example.org", "es"),
    ]
    john = emails["status_change"]["john@example.org"]
    assert john.subject == f"Request {request.public_id} is now: In progress"
    assert emails["public_note"]["john@example.org"].subject == (
        f"Update on your request {request.public_id}"
    )


def test_spanish_speakers_read_spanish(city: None, deliver: Any, outbox: list[Any]) -> None:
    request, emails = _spanish_reporter_and_english_follower(deliver, outbox)
    public_id = request.public_id

    received = emails["received"]["maria@example.org"]
    assert received.subject == f"Recibimos su solicitud {public_id}"
    assert "Gracias por comunicarse con el 311 de Prairie Falls." in received.body
    assert "Siga su estado aquí:" in received.body
    assert "Thank you" not in received.body

    note = emails["public_note"]["maria@example.org"]
    assert note.subject == f"Novedad sobre su solicitud {public_id}"
    assert f"Hay una novedad sobre su solicitud {public_id}" in note.body
    assert "Cuadrilla programada" in note.body

    status = emails["status_change"]["maria@example.org"]
    assert status.subject.startswith(f"La solicitud {public_id} ahora está: ")


def test_spanish_speakers_read_the_new_status_in_spanish(
    city: None, deliver: Any, outbox: list[Any]
) -> None:
    request, emails = _spanish_reporter_and_english_follower(deliver, outbox)
    status = emails["status_change"]["maria@example.org"]
    assert status.subject == f"La solicitud {request.public_id} ahora está: En curso"
    assert "ahora está: En curso." in status.body


def test_text_messages_go_to_contacts_who_opted_in(
    city: None, deliver: Any, outbox: list[Any]
) -> None:
    with deliver():
        texting = make_request(contact=texter())
        calls_only = make_request(contact=ContactInput(name="Calls only", phone="+1 217 555 0177"))
        both = make_request(
            contact=ContactInput(email="both@example.org", phone="+1 217 555 0188", sms_opt_in=True)
        )

    assert MemorySmsAdapter.outbox == [
        {
            "to": PHONE,
            "body": f"Pothole: we received your request {texting.public_id}. {track_url(texting)}",
        },
        {
            "to": "+1 217 555 0188",
            "body": f"Pothole: we received your request {both.public_id}. {track_url(both)}",
        },
    ]
    assert [m.to for m in outbox] == [["both@example.org"]]
    assert not Notification.objects.filter(request=calls_only).exists()
    sms = Notification.objects.get(request=texting)
    assert (sms.channel, sms.recipient, sms.subject, sms.status) == (
        NotificationChannel.SMS,
        PHONE,
        "",
        DeliveryStatus.SENT,
    )

    MemorySmsAdapter.outbox.clear()
    with deliver():
        request_transition(request=texting, to_status=Status.RESOLVED, note="Filled today")
    [sms_message] = MemorySmsAdapter.outbox
    assert sms_message["to"] == PHONE
    assert sms_message["body"].startswith(
        f"Request {texting.public_id} is now: Resolved. Filled today "
    )


def test_nothing_is_sent_for_a_change_that_rolled_back(
    city: None, deliver: Any, outbox: list[Any]
) -> None:
    request = make_request(email="reporter@example.org")
    before = Notification.objects.count()

    with deliver(), pytest.raises(RuntimeError), transaction.atomic():
        make_request(email="ghost@example.org")
        request_note_add(request=request, note="This never happened", public=True)
        raise RuntimeError("the web request failed after the writes")

    assert outbox == []
    assert Notification.objects.count() == before
    assert not DBTaskResult.objects.exists()


def test_delivering_the_same_notification_twice_sends_it_once(
    city: None, deliver: Any, outbox: list[Any]
) -> None:
    with deliver():
        make_request(email="reporter@example.org")
    note = Notification.objects.get()
    assert len(outbox) == 1

    # The job queue may run a delivery twice (a retry, a sweep racing the first job).
    assert notification_deliver(note.pk) == "skipped"
    deliver_notification.enqueue(note.pk)
    deliver_notification.enqueue(note.pk)
    run_jobs()

    assert len(outbox) == 1
    note.refresh_from_db()
    assert (note.status, note.attempts) == (DeliveryStatus.SENT, 1)
    assert sorted(DBTaskResult.objects.values_list("status", "return_value")) == [
        ("SUCCESSFUL", "sent"),
        ("SUCCESSFUL", "skipped"),
        ("SUCCESSFUL", "skipped"),
    ]


def _due_now(note: Notification) -> None:
    """Let the retry delay pass."""
    Notification.objects.filter(pk=note.pk).update(
        next_attempt_at=timezone.now() - dt.timedelta(seconds=1)
    )


def test_a_failing_provider_is_retried_later_then_given_up(
    city: None, deliver: Any, settings: Any
) -> None:
    settings.CIVICDESK_SMS_ADAPTER = PROVIDER_DOWN
    started = timezone.now()
    with deliver():
        make_request(contact=texter())

    note = Notification.objects.get()
    assert (note.status, note.attempts) == (DeliveryStatus.QUEUED, 1)
    assert note.last_error == "ConnectionError: provider unreachable"
    assert note.next_attempt_at is not None
    assert started + RETRY_DELAYS[0] <= note.next_attempt_at
    assert note.next_attempt_at <= timezone.now() + RETRY_DELAYS[0]
    assert note.sent_at is None

    # Not before the retry is due.
    assert notification_deliver(note.pk) == "skipped"
    note.refresh_from_db()
    assert note.attempts == 1

    for attempt in range(2, len(RETRY_DELAYS) + 1):
        _due_now(note)
        assert notification_deliver(note.pk) == DeliveryStatus.QUEUED
        note.refresh_from_db()
        assert (note.status, note.attempts) == (DeliveryStatus.QUEUED, attempt)
        assert note.next_attempt_at is not None
        delay = note.next_attempt_at - timezone.now()
        expected = RETRY_DELAYS[attempt - 1]
        assert expected - dt.timedelta(seconds=5) < delay <= expected

    _due_now(note)
    assert notification_deliver(note.pk) == DeliveryStatus.FAILED
    note.refresh_from_db()
    assert (note.status, note.attempts) == (DeliveryStatus.FAILED, len(RETRY_DELAYS) + 1)
    assert note.last_error == "ConnectionError: provider unreachable"
    assert note.next_attempt_at is None

    # Given up: neither a later delivery nor the sweep sends it, even once the provider is back.
    settings.CIVICDESK_SMS_ADAPTER = "civicdesk.notifications.sms.MemorySmsAdapter"
    assert notification_deliver(note.pk) == "skipped"
    Notification.objects.filter(pk=note.pk).update(
        created_at=timezone.now() - dt.timedelta(hours=1)
    )
    assert notifications_sweep() == 0
    assert MemorySmsAdapter.outbox == []


def test_a_retry_goes_out_once_the_provider_is_back(
    city: None, deliver: Any, settings: Any
) -> None:
    settings.CIVICDESK_SMS_ADAPTER = PROVIDER_DOWN
    with deliver():
        request = make_request(contact=texter())
    note = Notification.objects.get()
    assert note.status == DeliveryStatus.QUEUED
    assert MemorySmsAdapter.outbox == []

    settings.CIVICDESK_SMS_ADAPTER = "civicdesk.notifications.sms.MemorySmsAdapter"
    assert notifications_sweep() == 0  # the retry is not due yet
    _due_now(note)
    assert notifications_sweep() == 1
    run_jobs()

    note.refresh_from_db()
    assert (note.status, note.attempts) == (DeliveryStatus.SENT, 2)
    assert [m["to"] for m in MemorySmsAdapter.outbox] == [PHONE]
    assert request.public_id in MemorySmsAdapter.outbox[0]["body"]


def test_the_sweep_resends_stranded_notifications(
    city: None, outbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    # Rows written, but their jobs lost (the process died between commit and enqueue).
    with django_capture_on_commit_callbacks(execute=False):
        old_queued = make_request(email="queued@example.org")
        stranded = make_request(email="stranded@example.org")
        make_request(email="fresh@example.org")
        being_sent = make_request(email="sending@example.org")
    assert not DBTaskResult.objects.exists()
    long_ago = timezone.now() - dt.timedelta(minutes=10)
    Notification.objects.filter(request=old_queued).update(created_at=long_ago)
    # A worker claimed this one ten minutes ago and died mid-send.
    Notification.objects.filter(request=stranded).update(
        created_at=long_ago, status=DeliveryStatus.SENDING, claimed_at=long_ago
    )
    # A worker is sending this one right now.
    Notification.objects.filter(request=being_sent).update(
        created_at=long_ago, status=DeliveryStatus.SENDING, claimed_at=timezone.now()
    )

    assert notifications_sweep() == 2
    run_jobs()

    assert sorted(m.to[0] for m in outbox) == ["queued@example.org", "stranded@example.org"]
    statuses = dict(Notification.objects.values_list("recipient", "status"))
    assert statuses == {
        "queued@example.org": DeliveryStatus.SENT,
        "stranded@example.org": DeliveryStatus.SENT,
        "fresh@example.org": DeliveryStatus.QUEUED,  # its own job is still on the way
        "sending@example.org": DeliveryStatus.SENDING,
    }
    assert notifications_sweep() == 0


def test_email_text_is_sent_as_written_not_html_escaped(
    city: None, deliver: Any, outbox: list[Any]
) -> None:
    note = "Smith & Sons' crew will fix the \"big\" hole <today> at O'Neil St"
    request = make_request(email="reporter@example.org")
    request_follow(request=request, contact=texter())
    with deliver():
        request_note_add(request=request, note=note, public=True)

    [message] = outbox
    assert f"\n{note}\n" in message.body
    assert "&amp;" not in message.body and "&#x27;" not in message.body
    assert "&lt;" not in message.body and "&quot;" not in message.body
    [sms] = MemorySmsAdapter.outbox
    assert "Smith & Sons' crew" in sms["body"]
