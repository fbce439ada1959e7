"""Second factors: helpers around allauth's TOTP for the demo city and the tests."""

from __future__ import annotations

import time

from allauth.mfa import app_settings
from allauth.mfa.models import Authenticator
from allauth.mfa.totp.internal.auth import TOTP, format_hotp_value, hotp_value

from .models import User

# The demo city's staff share this authenticator key (printed by `make run`). A real
# installation has no such key: each person sets up their own at first sign-in.
DEMO_TOTP_SECRET = "JBSWY3DPEHPK3PXPPRAIRIEFALLS2222"  # noqa: S105 - demo only, printed on purpose


def totp_code(secret: str, at: float | None = None) -> str:
    """The six-digit code an authenticator app shows for ``secret`` at time ``at``."""
    counter = int(time.time() if at is None else at) // app_settings.TOTP_PERIOD
    return format_hotp_value(hotp_value(secret, counter))


def totp_enroll(user: User, secret: str) -> None:
    """Give ``user`` a TOTP authenticator with ``secret`` (replacing any they had)."""
    Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).delete()
    TOTP.activate(user, secret)
