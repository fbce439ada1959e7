"""System checks (run by `civicdesk check` and before every command): settings that are
written wrongly are named before the site serves a page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from civicdesk.ratelimit import Rate

RATE_SETTINGS = (
    "CIVICDESK_RATE_REPORT",
    "CIVICDESK_RATE_API",
    "CIVICDESK_RATE_OPEN_DATA",
    "CIVICDESK_RATE_SURVEY_CODE",
)


@register()
def rate_settings_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    for name in RATE_SETTINGS:
        try:
            Rate.parse(str(getattr(settings, name)))
        except ValueError as exc:
            errors.append(Error(f"{name}: {exc}", id="civicdesk.E001"))
    return errors


@register()
def backup_recipients_check(app_configs: Any = None, **kwargs: Any) -> list[Error]:
    errors = []
    for key in settings.CIVICDESK_BACKUP_RECIPIENTS:
        if not key.startswith("age1"):
            errors.append(
                Error(
                    f"CIVICDESK_BACKUP_RECIPIENTS: {key[:12]}... is not an age public key "
                    "(those start with age1; the secret key, AGE-SECRET-KEY-..., must never "
                    "be on this server)",
                    id="civicdesk.E002",
                )
            )
    return errors
