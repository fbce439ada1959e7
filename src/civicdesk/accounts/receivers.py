"""What happens around sign-in: the session's clock starts, second factors and lockouts are
written to the audit log, and a freshly added authenticator counts as the session's second
step (the person has just proved they hold it)."""

from __future__ import annotations

from typing import Any

from allauth.account.internal.flows.login import record_authentication
from allauth.mfa.signals import (
    authentication_failed,
    authenticator_added,
    authenticator_removed,
    authenticator_reset,
)
from axes.signals import user_locked_out
from django.contrib.auth.signals import user_logged_in
from django.dispatch import receiver

from civicdesk.audit.services import audit_record, login_fingerprint

from .lockout import lockout_is_new
from .middleware import session_mark_signed_in


@receiver(user_logged_in, dispatch_uid="accounts-session-clock")
def _session_clock(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if request is not None and hasattr(request, "session"):
        session_mark_signed_in(request)


@receiver(authenticator_added, dispatch_uid="accounts-mfa-added")
def _mfa_added(sender: Any, request: Any, user: Any, authenticator: Any, **kw: Any) -> None:
    audit_record("auth.mfa_added", actor=user, target=user, details={"type": authenticator.type})
    if request is not None and authenticator.type != "recovery_codes":
        record_authentication(request, user, "mfa", type=authenticator.type, enrolled=True)


@receiver(authenticator_removed, dispatch_uid="accounts-mfa-removed")
def _mfa_removed(sender: Any, request: Any, user: Any, authenticator: Any, **kw: Any) -> None:
    audit_record("auth.mfa_removed", actor=user, target=user, details={"type": authenticator.type})


@receiver(authenticator_reset, dispatch_uid="accounts-mfa-reset")
def _mfa_reset(sender: Any, request: Any, user: Any, authenticator: Any, **kw: Any) -> None:
    audit_record("auth.mfa_reset", actor=user, target=user, details={"type": authenticator.type})


@receiver(authentication_failed, dispatch_uid="accounts-mfa-failed")
def _mfa_failed(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    authenticator = kwargs.get("authenticator")
    audit_record(
        "auth.mfa_failed",
        target=user,
        details={"type": getattr(authenticator, "type", "")},
    )


@receiver(user_locked_out, dispatch_uid="accounts-locked-out")
def _locked_out(sender: Any, request: Any, username: str | None = None, **kw: Any) -> None:
    # axes signals every refused attempt during a lockout; the log keeps each lockout once.
    if lockout_is_new(request):
        audit_record("auth.locked_out", details={"login": login_fingerprint(username or "")})
