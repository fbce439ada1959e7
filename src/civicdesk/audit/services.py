"""Appending to the audit log. ``audit_record`` is the only code that writes ``AuditEntry``
rows, and it only inserts."""

from __future__ import annotations

import hashlib
import hmac
import logging
from typing import Any

from django.conf import settings
from django.db import connections, models, transaction
from django.utils import timezone

from .chain import entry_hash
from .context import current_origin
from .models import GENESIS_HASH, AuditEntry

logger = logging.getLogger("civicdesk.audit")

# Any constant: every writer of the chain takes this PostgreSQL advisory lock, so two
# transactions never both read the same head and append after it.
CHAIN_LOCK_KEY = 3110_0006


def login_fingerprint(login: str) -> str:
    """A keyed fingerprint of a sign-in name as typed: the audit log can tell that the same
    name was tried again (and the lockout can count it) without keeping what people typed,
    which may be an email address, in a log that is never edited."""
    key = settings.SECRET_KEY.encode()
    return hmac.new(key, login.strip().lower().encode(), hashlib.sha256).hexdigest()[:20]


def _actor_values(actor: Any) -> dict[str, Any]:
    if actor is None or not getattr(actor, "is_authenticated", False):
        return {"actor_id": None, "actor": "", "actor_role": ""}
    return {
        "actor_id": actor.pk,
        "actor": actor.get_username()[:150],
        "actor_role": str(getattr(actor, "role", ""))[:32],
    }


def _target_values(target: Any) -> dict[str, str]:
    if target is None:
        return {"target_type": "", "target_id": ""}
    if isinstance(target, tuple):
        kind, ident = target
        return {"target_type": str(kind)[:64], "target_id": str(ident)[:64]}
    if isinstance(target, models.Model):
        ident = getattr(target, "public_id", None) or target.pk
        return {"target_type": target._meta.label_lower[:64], "target_id": str(ident)[:64]}
    raise TypeError(f"audit target must be a model instance or (type, id), not {target!r}")


def audit_record(
    action: str,
    *,
    actor: Any = None,
    target: Any = None,
    details: dict[str, Any] | None = None,
    using: str = "default",
) -> AuditEntry:
    """Append one entry: ``action`` is a dotted name (``auth.sign_in``, ``request.status``);
    ``target`` a model instance or a ``(type, id)`` pair; ``details`` plain JSON values (never
    a reporter's contact details). Without ``actor``, the person signed in to the current web
    request (if any) is taken. Runs in the caller's transaction, so an action that rolls
    back leaves no entry behind."""
    origin = current_origin()
    if actor is None:
        actor = origin.user
    with transaction.atomic(using=using):
        connection = connections[using]
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", [CHAIN_LOCK_KEY])
        head = (
            AuditEntry.objects.using(using).order_by("-sequence").values("sequence", "hash").first()
        )
        values: dict[str, Any] = {
            "sequence": (head["sequence"] + 1) if head else 1,
            "at": timezone.now(),
            **_actor_values(actor),
            "action": action[:64],
            **_target_values(target),
            "details": details or {},
            "ip": origin.ip,
            "user_agent": origin.user_agent,
            "prev_hash": head["hash"] if head else GENESIS_HASH,
        }
        values["hash"] = entry_hash(values)
        entry = AuditEntry.objects.using(using).create(**values)
    logger.info("audit #%s %s by %s", entry.sequence, entry.action, entry.actor or "system")
    return entry
