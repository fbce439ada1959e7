"""Sign-ins, sign-outs, failed sign-ins, permission changes and configuration changes made
in the admin are recorded from Django's signals, so no door can forget them."""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.db.models import Q
from django.db.models.signals import m2m_changed, post_save, pre_save
from django.dispatch import receiver

from .services import audit_record, login_fingerprint

# The account fields that grant or take away access.
PERMISSION_FIELDS = ("role", "department_id", "team_id", "is_active", "is_staff", "is_superuser")


@receiver(user_logged_in, dispatch_uid="audit-sign-in")
def _signed_in(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record("auth.sign_in", actor=user, target=user)


@receiver(user_logged_out, dispatch_uid="audit-sign-out")
def _signed_out(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record("auth.sign_out", actor=user, target=user)


@receiver(user_login_failed, dispatch_uid="audit-sign-in-failed")
def _sign_in_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    # Django has already masked the password. The name tried is kept only as a fingerprint;
    # the account it names, if any, is the entry's target.
    tried = str(credentials.get("username") or credentials.get("login") or "")
    account = (
        get_user_model()
        .objects.filter(Q(username__iexact=tried) | Q(email__iexact=tried))
        .only("pk")
        .first()
        if tried
        else None
    )
    audit_record(
        "auth.sign_in_failed",
        target=account,
        details={"login": login_fingerprint(tried)},
    )


@receiver(pre_save, sender=get_user_model(), dispatch_uid="audit-permissions-before")
def _permissions_before(sender: Any, instance: Any, **kwargs: Any) -> None:
    if instance.pk is None or kwargs.get("raw"):
        instance._audit_before = None
        return
    instance._audit_before = (
        sender.objects.filter(pk=instance.pk).values(*PERMISSION_FIELDS).first()
    )


@receiver(post_save, sender=get_user_model(), dispatch_uid="audit-permissions-after")
def _permissions_after(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    if kwargs.get("raw"):
        return
    now = {field: getattr(instance, field) for field in PERMISSION_FIELDS}
    if created:
        audit_record("account.create", target=instance, details=now)
        return
    before = getattr(instance, "_audit_before", None)
    if before is None:
        return
    changed = {
        field: {"from": before[field], "to": now[field]}
        for field in PERMISSION_FIELDS
        if before[field] != now[field]
    }
    if changed:
        audit_record("account.permissions", target=instance, details=changed)


@receiver(m2m_changed, sender=get_user_model().groups.through, dispatch_uid="audit-groups")
@receiver(m2m_changed, sender=get_user_model().user_permissions.through, dispatch_uid="audit-perms")
def _groups_changed(sender: Any, instance: Any, action: str, pk_set: Any, **kwargs: Any) -> None:
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    field = "groups" if sender is get_user_model().groups.through else "user_permissions"
    audit_record(
        "account.permissions",
        target=instance if isinstance(instance, get_user_model()) else None,
        details={field: {"change": action.removeprefix("post_"), "ids": sorted(pk_set or [])}},
    )


ADMIN_ACTIONS = {ADDITION: "add", CHANGE: "change", DELETION: "delete"}


@receiver(post_save, sender=LogEntry, dispatch_uid="audit-admin-changes")
def _admin_change(sender: Any, instance: LogEntry, created: bool, **kwargs: Any) -> None:
    """Every change made through the admin (services, departments, zones, service levels,
    users, API keys...) is a configuration change."""
    if not created:
        return
    model = instance.content_type.model_class() if instance.content_type else None
    audit_record(
        "config." + ADMIN_ACTIONS.get(instance.action_flag, "change"),
        actor=instance.user,
        target=(model._meta.label_lower if model else "unknown", instance.object_id or ""),
        details={"object": instance.object_repr[:200], "message": instance.get_change_message()},
    )
