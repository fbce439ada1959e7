"""A resident's personal data on request: find it by email address or phone number, export it
as one JSON document, erase it. Erasure removes the person, never the service record: their
requests, timelines, statuses and every figure built on them stay as they were.

It lives in servicerequests (not accounts) because it reads requests, followers and the
notification log; accounts sits below them and must not import them."""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from civicdesk.accounts.models import STAFF_ROLES, User
from civicdesk.audit.services import audit_record
from civicdesk.errors import InvalidInput, NotFound, PermissionDenied
from civicdesk.notifications.models import Notification

from .models import Contact, Follower, ServiceRequest
from .services import ContactInput, _contact_clean
from .timeline import timeline_complete

# Shown in place of a description the reporter asked to have removed.
REDACTED_DESCRIPTION = "[removed at the reporter's request]"


@dataclass(frozen=True)
class Identifiers:
    """A person's email address and phone number, normalised as intake stores them."""

    email: str = ""
    phone: str = ""


@dataclass
class PersonalData:
    """Where one person's data is: ids only, read once and shared by export and erasure."""

    identifiers: Identifiers
    contact_ids: list[int] = field(default_factory=list)
    reported_ids: list[int] = field(default_factory=list)
    followed_ids: list[int] = field(default_factory=list)
    notification_ids: list[int] = field(default_factory=list)
    account_ids: list[int] = field(default_factory=list)

    @property
    def request_ids(self) -> list[int]:
        return sorted(set(self.reported_ids) | set(self.followed_ids))

    @property
    def is_empty(self) -> bool:
        return not (self.contact_ids or self.notification_ids or self.account_ids)

    def counts(self) -> dict[str, int]:
        return {
            "contacts": len(self.contact_ids),
            "requests": len(self.request_ids),
            "notifications": len(self.notification_ids),
            "accounts": len(self.account_ids),
        }


def identifiers_clean(*, email: str = "", phone: str = "") -> Identifiers:
    """Check and normalise the identifiers exactly as intake does (same function), so a
    search matches what intake stored. Raises ``InvalidInput`` naming the bad field."""
    if not (email or "").strip() and not (phone or "").strip():
        raise InvalidInput(
            {"__all__": ["give the person's email address or phone number (or both)"]}
        )
    errors: dict[str, list[str]] = {}
    clean = _contact_clean(ContactInput(email=email or "", phone=phone or ""), errors)
    if errors:
        raise InvalidInput(errors)
    return Identifiers(email=clean.email, phone=clean.phone)


def personal_data_find(*, email: str = "", phone: str = "") -> PersonalData:
    """Every row holding this person's data (exact match on the normalised identifiers)."""
    ids = identifiers_clean(email=email, phone=phone)
    found = PersonalData(identifiers=ids)

    contacts = Q()
    accounts = Q()
    notifications = Q()
    if ids.email:
        contacts |= Q(email=ids.email)
        accounts |= Q(email__iexact=ids.email)
        notifications |= Q(channel="email", recipient=ids.email)
    if ids.phone:
        contacts |= Q(phone=ids.phone)
        accounts |= Q(phone=ids.phone)
        notifications |= Q(channel="sms", recipient=ids.phone)

    contact_rows = list(Contact.objects.filter(contacts).values_list("id", "user_id"))
    found.contact_ids = sorted(pk for pk, _user in contact_rows)
    linked_users = {user for _pk, user in contact_rows if user is not None}
    found.account_ids = sorted(
        set(User.objects.filter(accounts).values_list("id", flat=True)) | linked_users
    )
    found.reported_ids = sorted(
        ServiceRequest.objects.filter(reporter_id__in=found.contact_ids).values_list(
            "id", flat=True
        )
    )
    found.followed_ids = sorted(
        set(
            Follower.objects.filter(contact_id__in=found.contact_ids).values_list(
                "request_id", flat=True
            )
        )
    )
    notifications |= Q(contact_id__in=found.contact_ids) | Q(user_id__in=found.account_ids)
    found.notification_ids = sorted(
        Notification.objects.filter(notifications).values_list("id", flat=True)
    )
    return found


def _iso(moment: dt.datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _request_document(request: ServiceRequest, *, found: PersonalData) -> dict[str, Any]:
    relationship = []
    if request.pk in found.reported_ids:
        relationship.append("reporter")
    if request.pk in found.followed_ids:
        relationship.append("follower")
    return {
        "public_id": request.public_id,
        "relationship": relationship,
        "service": request.service.service_code,
        "service_name": request.service.name,
        "status": request.status,
        "requested_at": _iso(request.requested_at),
        "updated_at": _iso(request.updated_at),
        "closed_at": _iso(request.closed_at),
        "description": request.description,
        "address": request.address,
        "zipcode": request.zipcode,
        "lat": request.lat,
        "long": request.long,
        "attributes": request.attributes,
        "photos": [m.file.name or m.url for m in request.media.all()],
        "public_timeline": [
            {
                "at": _iso(e.created_at),
                "kind": e.kind,
                "status": e.to_status,
                "note": e.note,
            }
            for e in timeline_complete(request, [e for e in request.events.all() if e.public])
        ],
    }


def _account_document(user: User) -> dict[str, Any]:
    return {
        "username": user.username,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "email": user.email,
        "phone": user.phone,
        "preferred_language": user.preferred_language,
        "role": user.role,
        "is_active": user.is_active,
        "date_joined": _iso(user.date_joined),
        "last_login": _iso(user.last_login),
    }


def personal_data_export(
    *, email: str = "", phone: str = "", actor: User | None = None
) -> dict[str, Any]:
    """Everything civicdesk holds on the person with this email and/or phone, as plain JSON
    values. Raises ``InvalidInput`` for a malformed identifier, ``NotFound`` if nothing
    matches. Recorded in the audit log (counts only, never the identifiers)."""
    with transaction.atomic():
        found = personal_data_find(email=email, phone=phone)
        if found.is_empty:
            raise NotFound(_nothing_found(found.identifiers))
        requests = (
            ServiceRequest.objects.filter(pk__in=found.request_ids)
            .select_related("service")
            .prefetch_related("media", "events")
            .order_by("requested_at", "id")
        )
        document = {
            "generated_at": timezone.now().isoformat(),
            "searched_for": {"email": found.identifiers.email, "phone": found.identifiers.phone},
            "contacts": [
                {
                    "name": c.name,
                    "email": c.email,
                    "phone": c.phone,
                    "preferred_language": c.preferred_language,
                    "sms_opt_in": c.sms_opt_in,
                    "created_at": _iso(c.created_at),
                }
                for c in Contact.objects.filter(pk__in=found.contact_ids).order_by("id")
            ],
            "requests": [_request_document(r, found=found) for r in requests],
            "notifications": [
                {
                    "created_at": _iso(n.created_at),
                    "channel": n.channel,
                    "recipient": n.recipient,
                    "kind": n.kind,
                    "request": n.request.public_id if n.request else None,
                    "subject": n.subject,
                    "body": n.body,
                    "status": n.status,
                    "sent_at": _iso(n.sent_at),
                }
                for n in Notification.objects.filter(pk__in=found.notification_ids)
                .select_related("request")
                .order_by("created_at", "id")
            ],
            "accounts": [
                _account_document(u)
                for u in User.objects.filter(pk__in=found.account_ids).order_by("id")
            ],
        }
        counts = found.counts()
        audit_record(
            "privacy.export",
            actor=actor,
            target=("contact", f"{counts['contacts']} contacts"),
            details=counts,
        )
    return document


def _nothing_found(ids: Identifiers) -> str:
    what = " or ".join(
        part
        for part in (
            f"the email address {ids.email}" if ids.email else "",
            f"the phone number {ids.phone}" if ids.phone else "",
        )
        if part
    )
    return (
        f"no personal data found for {what}: civicdesk matches the address or number exactly "
        "as it was given (emails in lower case); try the other forms the person may have used"
    )


def _staff_refuse(found: PersonalData) -> None:
    staff = list(
        User.objects.filter(pk__in=found.account_ids)
        .filter(Q(role__in=sorted(STAFF_ROLES)) | Q(is_staff=True) | Q(is_superuser=True))
        .values_list("username", flat=True)
    )
    if staff:
        raise PermissionDenied(
            f"these details belong to the staff account {', '.join(staff)}: staff accounts are "
            "not erased here. An administrator deactivates a staff account (after reassigning "
            "its work); nothing was changed."
        )


@dataclass(frozen=True)
class ErasurePlan:
    """What ``personal_data_erase`` would change: counts and the requests concerned."""

    counts: dict[str, int]
    public_ids: list[str]


def personal_data_erase_plan(*, email: str = "", phone: str = "") -> ErasurePlan:
    """What an erasure would change, changing nothing (the command's preview). Raises the
    same errors as the erasure itself."""
    found = personal_data_find(email=email, phone=phone)
    if found.is_empty:
        raise NotFound(_nothing_found(found.identifiers))
    _staff_refuse(found)
    return ErasurePlan(
        counts={
            **found.counts(),
            "followers": Follower.objects.filter(contact_id__in=found.contact_ids).count(),
            "reported": len(found.reported_ids),
        },
        public_ids=_public_ids(found.request_ids),
    )


def _public_ids(request_ids: list[int]) -> list[str]:
    return list(
        ServiceRequest.objects.filter(pk__in=request_ids)
        .order_by("requested_at", "id")
        .values_list("public_id", flat=True)
    )


def personal_data_erase(
    *,
    email: str = "",
    phone: str = "",
    redact_text: bool = False,
    actor: User | None = None,
) -> dict[str, int]:
    """Erase the person with this email and/or phone: blank their contact details (the
    contact row stays, so each request keeps its reporter link and its history), stop them
    following requests, blank their address in the notification log, deactivate and
    anonymise their resident account. ``redact_text`` also replaces the description of the
    requests they reported. Requests, timelines, statuses and figures are left intact.

    Refuses (changing nothing) when the details belong to a staff account. Returns counts."""
    with transaction.atomic():
        found = personal_data_find(email=email, phone=phone)
        if found.is_empty:
            raise NotFound(_nothing_found(found.identifiers))
        _staff_refuse(found)
        counts = {
            "contacts": Contact.objects.filter(pk__in=found.contact_ids).update(
                name="", email="", phone="", sms_opt_in=False, user=None
            ),
            "followers": Follower.objects.filter(contact_id__in=found.contact_ids).delete()[0],
            "notifications": Notification.objects.filter(pk__in=found.notification_ids).update(
                recipient=""
            ),
            "accounts": 0,
            "descriptions": 0,
        }
        for user in User.objects.select_for_update().filter(pk__in=found.account_ids):
            _account_anonymise(user)
            counts["accounts"] += 1
        if redact_text:
            counts["descriptions"] = (
                ServiceRequest.objects.filter(pk__in=found.reported_ids)
                .exclude(description=REDACTED_DESCRIPTION)
                .update(description=REDACTED_DESCRIPTION)
            )
        audit_record(
            "privacy.erase",
            actor=actor,
            target=("contact", f"{counts['contacts']} contacts"),
            details={
                **counts,
                "requests": len(found.request_ids),
                "public_ids": _public_ids(found.request_ids),
            },
        )
    return counts


def _account_anonymise(user: User) -> None:
    # A unique, meaningless name: the account row stays (requests and audit entries point at
    # it by id) but nothing on it identifies the person, and it can never sign in again.
    signed_in_as = {name for name in (user.username, user.email.lower()) if name}
    user.username = f"erased-{user.pk}-{secrets.token_hex(4)}"
    user.first_name = user.last_name = user.email = user.phone = ""
    user.is_active = False
    user.set_unusable_password()
    user.save()
    # What django-allauth keeps (sign-in addresses, linked social accounts, second factors)
    # and django-axes' records of sign-ins under the old name, when they are installed.
    for app, model in (
        ("account", "EmailAddress"),
        ("socialaccount", "SocialAccount"),
        ("mfa", "Authenticator"),
    ):
        if apps.is_installed(f"allauth.{app}"):
            apps.get_model(app, model).objects.filter(user=user).delete()
    if apps.is_installed("axes"):
        for model in ("AccessAttempt", "AccessLog", "AccessFailureLog"):
            try:
                records = apps.get_model("axes", model)
            except LookupError:
                continue
            records.objects.filter(username__in=sorted(signed_in_as)).delete()
