"""SMS through a small adapter interface. A city plugs in its provider by naming a class in
``CIVICDESK_SMS_ADAPTER``; the console adapter (the default) writes messages to the log."""

from __future__ import annotations

import logging
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

logger = logging.getLogger("civicdesk.sms")


class SmsAdapter(Protocol):
    def send(self, *, to: str, body: str) -> None:
        """Send one message or raise an exception saying why it could not be sent."""


class ConsoleSmsAdapter:
    def send(self, *, to: str, body: str) -> None:
        logger.info("SMS to %s: %s", to, body)


class DisabledSmsAdapter:
    """For a city without a text-message service: every SMS fails (and is recorded as
    failed), so nobody's number is sent anywhere."""

    def send(self, *, to: str, body: str) -> None:
        raise RuntimeError("no SMS service is set up (CIVICDESK_SMS_ADAPTER)")


class MemorySmsAdapter:
    """Keeps sent messages in ``outbox`` (for tests and demos), like Django's locmem email."""

    outbox: list[dict[str, str]] = []

    def send(self, *, to: str, body: str) -> None:
        MemorySmsAdapter.outbox.append({"to": to, "body": body})


def sms_adapter() -> SmsAdapter:
    adapter: SmsAdapter = import_string(settings.CIVICDESK_SMS_ADAPTER)()
    return adapter
