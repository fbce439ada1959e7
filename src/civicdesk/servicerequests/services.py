"""Writes on service requests. Every door (portal, console, Open311, command line, imports)
calls these functions; each runs in one transaction, checks its input, writes, appends the
timeline event and queues the notifications that go out once it commits.

Two staff changing one request at once: each function locks the row before reading it, so
the second change is applied on top of the first and neither is lost. A caller that showed a
person version N of the request passes ``expected_version=N``; if the row has moved on, the
change is refused with ``StaleVersion`` ("reload and try again").
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.validators import URLValidator, validate_email
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from civicdesk.accounts.models import STAFF_ROLES, Role, User
from civicdesk.audit.services import audit_record
from civicdesk.catalog.attributes import answers_clean
from civicdesk.catalog.models import Department, Service, Team
from civicdesk.catalog.service_levels import service_due_at
from civicdesk.errors import (
    InvalidInput,
    NotFound,
    OutsideJurisdiction,
    StaleVersion,
    TransitionNotAllowed,
)
from civicdesk.geo.distance import coordinates_check
from civicdesk.geo.services import route_resolve
from civicdesk.geo.zones import Placement, place
from civicdesk.notifications.services import PerLanguage, Recipient, notifications_queue

from .media import image_clean
from .models import (
    Channel,
    Contact,
    EventKind,
    Follower,
    Priority,
    PublicIdSequence,
    RequestEvent,
    RequestMedia,
    ServiceRequest,
)
from .statuses import CLOSED_STATUSES, Status, transition_check
from .timeline import imported_entries_store

MAX_DESCRIPTION = 4000
MAX_NOTE = 4000
# Requests may be back-dated (phone intake typed in later, imports) but not future-dated
# beyond clock skew.
FUTURE_TOLERANCE = dt.timedelta(minutes=5)
_PHONE_RE = re.compile(r"^\+?[0-9 ().\-]{7,25}$")
# Statuses that count as the city's first action on a request (beyond acknowledging it).
_ACTION_STATUSES = frozenset(set(Status) - {Status.NEW, Status.ACKNOWLEDGED, Status.REOPENED})

# --------------------------------------------------------------------------------------
# Inputs


@dataclass(frozen=True)
class ContactInput:
    """A resident's contact details as given at intake or when following a request."""

    name: str = ""
    email: str = ""
    phone: str = ""
    preferred_language: str = "en"
    sms_opt_in: bool = False

    @property
    def is_empty(self) -> bool:
        return not (self.name.strip() or self.email.strip() or self.phone.strip())


def _contact_clean(contact: ContactInput, errors: dict[str, list[str]]) -> ContactInput:
    name = contact.name.strip()
    email = contact.email.strip().lower()
    phone = contact.phone.strip()
    language = (contact.preferred_language or settings.LANGUAGE_CODE).split("-")[0].lower()
    if len(name) > 200:
        errors.setdefault("name", []).append(_("must be at most 200 characters"))
    if email:
        try:
            validate_email(email)
        except ValidationError:
            errors.setdefault("email", []).append(
                _("%(value)r is not an email address") % {"value": contact.email}
            )
    if phone and (not _PHONE_RE.match(phone) or sum(c.isdigit() for c in phone) < 7):
        errors.setdefault("phone", []).append(
            _("%(value)r is not a phone number") % {"value": contact.phone}
        )
    if language not in dict(settings.LANGUAGES):
        supported = ", ".join(code for code, _name in settings.LANGUAGES)
        errors.setdefault("preferred_language", []).append(
            f"{contact.preferred_language!r} is not offered (choose {supported})"
        )
    if contact.sms_opt_in and not phone:
        errors.setdefault("phone", []).append(_("a phone number is needed for text messages"))
    return ContactInput(name, email, phone, language, contact.sms_opt_in)


def _actor_label(actor: User | None, actor_label: str) -> str:
    if actor_label:
        return actor_label
    if actor is None:
        return "system"
    return "staff" if actor.role in STAFF_ROLES else "resident"


# --------------------------------------------------------------------------------------
# Public ids


def public_ids_allocate(*, prefix: str, count: int = 1) -> int:
    """Reserve ``count`` consecutive numbers under ``prefix``; returns the first one.

    The counter row stays locked until the caller's transaction ends, so two intakes never
    receive the same number (on SQLite the write lock serialises them anyway).
    """
    with transaction.atomic():
        if not PublicIdSequence.objects.filter(prefix=prefix).update(value=F("value") + count):
            try:
                with transaction.atomic():
                    PublicIdSequence.objects.create(prefix=prefix, value=count)
                return 1
            except IntegrityError:  # another intake created it first
                PublicIdSequence.objects.filter(prefix=prefix).update(value=F("value") + count)
        value = PublicIdSequence.objects.values_list("value", flat=True).get(prefix=prefix)
    return int(value) - count + 1


def public_id_prefix(moment: dt.datetime) -> str:
    return timezone.localtime(moment).strftime("%y")


def public_id_format(prefix: str, number: int) -> str:
    """``26-004817``: the two-digit year of intake and a running number, easy to read aloud."""
    return f"{prefix}-{number:06d}"


# --------------------------------------------------------------------------------------
# Notifications


def _recipients(contacts: Iterable[Contact]) -> list[Recipient]:
    return [
        Recipient(
            email=c.email,
            phone=c.phone,
            sms=c.sms_opt_in,
            language=c.preferred_language,
            contact_id=c.pk,
        )
        for c in contacts
    ]


def _follower_contacts(request: ServiceRequest) -> list[Contact]:
    return list(Contact.objects.filter(following__request=request).order_by("id"))


def _track_url(request: ServiceRequest) -> str:
    return f"{settings.CIVICDESK_PUBLIC_URL.rstrip('/')}/requests/{request.public_id}/"


def _notify(
    request: ServiceRequest,
    *,
    kind: str,
    template: str,
    contacts: Sequence[Contact] | None = None,
    **context: Any,
) -> None:
    contacts = _follower_contacts(request) if contacts is None else contacts
    if not contacts:
        return
    notifications_queue(
        kind=kind,
        template=template,
        context={
            "public_id": request.public_id,
            "service_name": PerLanguage(
                {
                    code: request.service.localized("name", code)
                    for code, _name in settings.LANGUAGES
                }
            ),
            "city_name": settings.CIVICDESK_CITY_NAME,
            "track_url": _track_url(request),
            **context,
        },
        recipients=_recipients(contacts),
        request_id=request.pk,
    )


# --------------------------------------------------------------------------------------
# Timeline


def _event(
    request: ServiceRequest,
    *,
    kind: str,
    at: dt.datetime,
    actor: User | None,
    actor_label: str,
    public: bool,
    note: str = "",
    from_status: str = "",
    to_status: str = "",
    data: Mapping[str, Any] | None = None,
) -> RequestEvent:
    event = RequestEvent.objects.create(
        request=request,
        kind=kind,
        public=public,
        note=note,
        from_status=from_status,
        to_status=to_status,
        data=dict(data or {}),
        actor=actor,
        actor_label=_actor_label(actor, actor_label),
        created_at=at,
    )
    if kind in AUDITED_EVENTS:
        details: dict[str, Any] = {"by": event.actor_label}
        if from_status or to_status:
            details.update({"from": from_status, "to": to_status})
        audit_record(f"request.{kind}", actor=actor, target=request, details=details)
    return event


# Changes to a request that the audit log keeps (the timeline keeps them all).
AUDITED_EVENTS = frozenset(
    {
        EventKind.STATUS_CHANGE,
        EventKind.ASSIGNMENT,
        EventKind.PRIORITY,
        EventKind.MERGE,
        EventKind.REOPEN,
    }
)


def _locked(request: ServiceRequest | int, expected_version: int | None) -> ServiceRequest:
    pk = request.pk if isinstance(request, ServiceRequest) else request
    try:
        current = (
            ServiceRequest.objects.select_for_update(of=("self",))
            .select_related("service")
            .get(pk=pk)
        )
    except ServiceRequest.DoesNotExist:
        raise NotFound(f"no service request with id {pk}") from None
    if expected_version is not None and current.version != expected_version:
        raise StaleVersion(
            f"request {current.public_id} was changed by someone else since you opened it; "
            "reload it and try again"
        )
    # An imported request's first entries are read from the row until it changes: the
    # change is about to move the columns they come from, so they are stored as they are.
    imported_entries_store([current])
    return current


def _save(request: ServiceRequest, now: dt.datetime, *fields: str) -> None:
    request.version += 1
    request.updated_at = now
    request.save(update_fields=[*fields, "version", "updated_at"])


def _note_clean(note: str, *, required: bool = False) -> str:
    note = (note or "").strip()
    if required and not note:
        raise InvalidInput({"note": [_("a note is required")]})
    if len(note) > MAX_NOTE:
        raise InvalidInput(
            {
                "note": [
                    _("must be at most %(limit)s characters (got %(n)s)")
                    % {"limit": MAX_NOTE, "n": len(note)}
                ]
            }
        )
    return note


# --------------------------------------------------------------------------------------
# Intake


def request_create(
    *,
    service_code: str,
    description: str = "",
    attributes: Mapping[str, Any] | None = None,
    lat: float | str | None = None,
    long: float | str | None = None,
    address: str = "",
    address_id: str = "",
    zipcode: str = "",
    channel: str = Channel.WEB,
    priority: int = Priority.NORMAL,
    contact: ContactInput | None = None,
    media_urls: Sequence[str] = (),
    requested_at: dt.datetime | None = None,
    actor: User | None = None,
    actor_label: str = "",
) -> ServiceRequest:
    """Take in a new service request from any channel.

    Every problem with the input is reported at once, keyed by field, and nothing is written.
    """
    errors: dict[str, list[str]] = {}
    now = timezone.now()

    service = Service.objects.filter(service_code=str(service_code or "").strip()).first()
    if service is None:
        raise InvalidInput(
            {
                "service_code": [
                    _("%(value)r is not a service of this city") % {"value": service_code}
                ]
            },
            code="unknown_service",
        )
    if not service.active:
        raise InvalidInput(
            {
                "service_code": [
                    _("%(service)s requests are no longer taken") % {"service": service.name}
                ]
            },
            code="unknown_service",
        )
    if channel not in Channel.values:
        errors["channel"] = [f"{channel!r} is not a channel ({', '.join(Channel.values)})"]
    if service.emergency and channel not in (Channel.PHONE, Channel.STAFF, Channel.WALK_IN):
        raise InvalidInput(
            {
                "service_code": [
                    service.notice
                    or _("%(service)s is an emergency: call 911.") % {"service": service.name}
                ]
            },
            code="emergency_service",
        )
    if priority not in Priority.values:
        errors["priority"] = [f"{priority!r} is not a priority (1-4)"]

    description = (description or "").strip()
    if len(description) > MAX_DESCRIPTION:
        errors["description"] = [
            f"must be at most {MAX_DESCRIPTION} characters (got {len(description)})"
        ]

    address, address_id, zipcode = (
        (address or "").strip(),
        (address_id or "").strip(),
        (zipcode or "").strip(),
    )
    if len(address) > 255:
        errors["address_string"] = [_("must be at most 255 characters")]
    if len(address_id) > 64:
        errors["address_id"] = ["must be at most 64 characters"]
    if len(zipcode) > 16:
        errors["zipcode"] = ["must be at most 16 characters"]
    has_lat = lat is not None and str(lat).strip() != ""
    has_long = long is not None and str(long).strip() != ""
    point: tuple[float, float] | None = None
    if has_lat != has_long:
        errors["lat" if not has_lat else "long"] = [_("latitude and longitude go together")]
    elif has_lat:
        try:
            point = coordinates_check(lat, long)
        except ValueError as exc:
            field, _sep, message = str(exc).partition(": ")
            errors[field] = [message]
    if point is None and not address and not address_id and not (set(errors) & {"lat", "long"}):
        errors["location"] = [_("give a location: lat and long, an address, or an address id")]

    contact = _contact_clean(contact or ContactInput(), errors)
    if service.contact_required and not (contact.email or contact.phone):
        errors.setdefault("email", []).append(
            f"{service.name} requests need an email address or a phone number to call back"
        )

    for url in media_urls:
        try:
            URLValidator(schemes=["http", "https"])(url)
        except ValidationError:
            errors.setdefault("media_url", []).append(f"{url!r} is not an http(s) URL")

    if requested_at is not None:
        if timezone.is_naive(requested_at):
            errors["requested_datetime"] = ["must carry a time zone"]
        elif requested_at > now + FUTURE_TOLERANCE:
            errors["requested_datetime"] = ["must not be in the future"]

    try:
        answers = answers_clean(service.attributes.all(), attributes)
    except InvalidInput as exc:
        errors.update(exc.field_errors)

    placement = Placement(inside_jurisdiction=True)
    if point is not None and not errors:
        placement = place(*point)
        if not placement.inside_jurisdiction:
            raise OutsideJurisdiction(
                {
                    "location": [
                        f"({point[0]:.6f}, {point[1]:.6f}) is outside "
                        f"{settings.CIVICDESK_CITY_NAME}; this city can only take requests "
                        "within its limits"
                    ]
                }
            )
    if errors:
        raise InvalidInput(errors)

    at = requested_at or now
    route = route_resolve(service=service, zone_ids=placement.zone_ids)
    with transaction.atomic():
        prefix = public_id_prefix(at)
        number = public_ids_allocate(prefix=prefix)
        reporter = None
        if not contact.is_empty:
            reporter = Contact.objects.create(
                name=contact.name,
                email=contact.email,
                phone=contact.phone,
                preferred_language=contact.preferred_language,
                sms_opt_in=contact.sms_opt_in,
                user=actor if actor is not None and actor.role == Role.RESIDENT else None,
            )
        request = ServiceRequest.objects.create(
            public_id=public_id_format(prefix, number),
            service=service,
            description=description,
            attributes=answers,
            lat=point[0] if point else None,
            long=point[1] if point else None,
            address=address,
            address_id=address_id,
            zipcode=zipcode,
            district_id=placement.district_id,
            ward_id=placement.ward_id,
            channel=channel,
            priority=priority,
            status=Status.NEW,
            department_id=route.department_id,
            team_id=route.team_id,
            reporter=reporter,
            requested_at=at,
            updated_at=at,
            due_at=service_due_at(service, at),
        )
        for url in media_urls:
            RequestMedia.objects.create(request=request, url=url)
        _event(
            request,
            kind=EventKind.CREATED,
            at=at,
            actor=actor,
            actor_label=actor_label,
            public=True,
            to_status=Status.NEW,
            data={"channel": channel},
        )
        if reporter is not None:
            Follower.objects.create(request=request, contact=reporter)
            _notify(
                request,
                kind="received",
                template="received",
                contacts=[reporter],
                due_at=request.due_at,
            )
    return request


# --------------------------------------------------------------------------------------
# Lifecycle


def request_transition(
    *,
    request: ServiceRequest | int,
    to_status: str,
    note: str = "",
    note_public: bool = True,
    referred_to: str = "",
    actor: User | None = None,
    actor_label: str = "",
    expected_version: int | None = None,
) -> ServiceRequest:
    """Move a request to another status, with an optional note (public or internal).

    Duplicates are made with ``request_merge`` and reopening with ``request_reopen``, which
    carry their own rules.
    """
    if to_status == Status.DUPLICATE:
        raise TransitionNotAllowed("mark a duplicate by merging it into its parent request")
    if to_status == Status.REOPENED:
        raise TransitionNotAllowed("reopen a request with the reopen action")
    note = _note_clean(note)
    referred_to = (referred_to or "").strip()
    if to_status == Status.REFERRED and not referred_to:
        raise InvalidInput({"referred_to": ["name the agency the request is referred to"]})
    if len(referred_to) > 200:
        raise InvalidInput({"referred_to": ["must be at most 200 characters"]})
    with transaction.atomic():
        current = _locked(request, expected_version)
        transition_check(current.status, to_status)
        now = timezone.now()
        return _apply_status(
            current,
            to_status,
            now=now,
            note=note,
            note_public=note_public,
            referred_to=referred_to,
            actor=actor,
            actor_label=actor_label,
        )


def _apply_status(
    request: ServiceRequest,
    to_status: str,
    *,
    now: dt.datetime,
    note: str,
    note_public: bool,
    actor: User | None,
    actor_label: str,
    referred_to: str = "",
    extra_fields: Sequence[str] = (),
    notify: bool = True,
) -> ServiceRequest:
    from_status = request.status
    fields = ["status", *extra_fields]
    request.status = to_status
    if request.acknowledged_at is None and to_status != Status.REOPENED:
        request.acknowledged_at = now
        fields.append("acknowledged_at")
    if request.first_action_at is None and to_status in _ACTION_STATUSES:
        request.first_action_at = now
        fields.append("first_action_at")
    if to_status in CLOSED_STATUSES:
        request.closed_at = now
        fields.append("closed_at")
    if to_status == Status.REFERRED:
        request.referred_to = referred_to
        fields.append("referred_to")
    if note and note_public:
        request.status_notes = note
        fields.append("status_notes")
    _save(request, now, *fields)
    _event(
        request,
        kind=EventKind.STATUS_CHANGE,
        at=now,
        actor=actor,
        actor_label=actor_label,
        public=True,
        from_status=from_status,
        to_status=to_status,
        note=note if note_public else "",
        data={"referred_to": referred_to} if referred_to else None,
    )
    if note and not note_public:
        _event(
            request,
            kind=EventKind.INTERNAL_NOTE,
            at=now,
            actor=actor,
            actor_label=actor_label,
            public=False,
            note=note,
        )
    if notify:
        _notify(
            request,
            kind="status_change",
            template="status_change",
            status_label=Status(to_status).label,  # lazy: each message in its language
            note=note if note_public else "",
        )
    return request


def request_acknowledge(
    *,
    request: ServiceRequest | int,
    actor: User | None = None,
    note: str = "",
    expected_version: int | None = None,
) -> ServiceRequest:
    return request_transition(
        request=request,
        to_status=Status.ACKNOWLEDGED,
        note=note,
        actor=actor,
        expected_version=expected_version,
    )


def request_assign(
    *,
    request: ServiceRequest | int,
    department: Department | None = None,
    team: Team | None = None,
    assignee: User | None = None,
    note: str = "",
    actor: User | None = None,
    expected_version: int | None = None,
) -> ServiceRequest:
    """Give a request to a department, team and/or person; a new request becomes Assigned."""
    note = _note_clean(note)
    if department is None and team is None and assignee is None:
        raise InvalidInput({"assignee": ["name a department, a team or a person"]})
    with transaction.atomic():
        current = _locked(request, expected_version)
        if current.status in CLOSED_STATUSES:
            raise TransitionNotAllowed(
                f"request {current.public_id} is {Status(current.status).label}; reopen it first"
            )
        target_department = department or (team.department if team else None)
        if target_department is None:
            target_department = assignee.department if assignee and assignee.department else None
        target_department = target_department or current.department
        if team is not None and team.department_id != target_department.pk:
            raise InvalidInput({"team": [f"{team.name} is not a team of {target_department.name}"]})
        if assignee is not None:
            if not assignee.is_active or assignee.role not in (
                Role.DEPARTMENT_STAFF,
                Role.SUPERVISOR,
                Role.ADMINISTRATOR,
            ):
                raise InvalidInput({"assignee": [f"{assignee} does not work requests"]})
            if assignee.department_id not in (None, target_department.pk):
                raise InvalidInput({"assignee": [f"{assignee} is not in {target_department.name}"]})
        now = timezone.now()
        before = {
            "department": current.department_id,
            "team": current.team_id,
            "assignee": current.assignee_id,
        }
        moved_department = target_department.pk != current.department_id
        current.department = target_department
        current.team = team if team is not None else (None if moved_department else current.team)
        current.assignee = (
            assignee if assignee is not None else (None if moved_department else current.assignee)
        )
        after = {
            "department": current.department_id,
            "team": current.team_id,
            "assignee": current.assignee_id,
        }
        if before == after:
            raise InvalidInput({"assignee": ["the request is already assigned that way"]})
        fields = ["department", "team", "assignee"]
        if current.first_action_at is None:
            current.first_action_at = now
            fields.append("first_action_at")
        _event(
            current,
            kind=EventKind.ASSIGNMENT,
            at=now,
            actor=actor,
            actor_label="",
            public=False,
            note=note,
            data={"from": before, "to": after},
        )
        if current.status in (Status.NEW, Status.ACKNOWLEDGED, Status.REOPENED):
            return _apply_status(
                current,
                Status.ASSIGNED,
                now=now,
                note="",
                note_public=True,
                actor=actor,
                actor_label="",
                extra_fields=fields,
            )
        _save(current, now, *fields)
        return current


def request_note_add(
    *,
    request: ServiceRequest | int,
    note: str,
    public: bool,
    actor: User | None = None,
    actor_label: str = "",
    expected_version: int | None = None,
) -> RequestEvent:
    """Add a note to the timeline; a public note is shown to residents and sent to followers."""
    note = _note_clean(note, required=True)
    with transaction.atomic():
        current = _locked(request, expected_version)
        now = timezone.now()
        fields: list[str] = []
        if public:
            current.status_notes = note
            fields.append("status_notes")
            if current.first_action_at is None and actor is not None:
                current.first_action_at = now
                fields.append("first_action_at")
        _save(current, now, *fields)
        event = _event(
            current,
            kind=EventKind.PUBLIC_NOTE if public else EventKind.INTERNAL_NOTE,
            at=now,
            actor=actor,
            actor_label=actor_label,
            public=public,
            note=note,
        )
        if public:
            _notify(current, kind="public_note", template="public_note", note=note)
        return event


def request_priority_set(
    *,
    request: ServiceRequest | int,
    priority: int,
    actor: User | None = None,
    expected_version: int | None = None,
) -> ServiceRequest:
    if priority not in Priority.values:
        raise InvalidInput({"priority": [f"{priority!r} is not a priority (1-4)"]})
    with transaction.atomic():
        current = _locked(request, expected_version)
        if current.priority == priority:
            return current
        now = timezone.now()
        _event(
            current,
            kind=EventKind.PRIORITY,
            at=now,
            actor=actor,
            actor_label="",
            public=False,
            data={"from": current.priority, "to": priority},
        )
        current.priority = priority
        _save(current, now, "priority")
        return current


def request_merge(
    *,
    duplicate: ServiceRequest | int,
    parent: ServiceRequest | int,
    note: str = "",
    actor: User | None = None,
    expected_version: int | None = None,
) -> ServiceRequest:
    """Close ``duplicate`` as a duplicate of ``parent``; its followers then follow the parent.

    Merging into a request that is itself a duplicate merges into that one's parent. Returns
    the parent.
    """
    note = _note_clean(note)
    with transaction.atomic():
        dup = _locked(duplicate, expected_version)
        root = _locked(parent, None)
        while root.status == Status.DUPLICATE and root.parent_id is not None:
            root = _locked(root.parent_id, None)
        if root.pk == dup.pk:
            raise InvalidInput({"parent": ["a request cannot be merged into itself"]})
        if dup.status in CLOSED_STATUSES:
            raise TransitionNotAllowed(
                f"request {dup.public_id} is {Status(dup.status).label}; only an open request "
                "can be merged"
            )
        now = timezone.now()
        dup.parent = root
        _apply_status(
            dup,
            Status.DUPLICATE,
            now=now,
            note=note,
            note_public=True,
            actor=actor,
            actor_label="",
            extra_fields=["parent"],
            notify=False,
        )
        _event(
            dup,
            kind=EventKind.MERGE,
            at=now,
            actor=actor,
            actor_label="",
            public=True,
            data={"parent": root.public_id},
        )
        # The same person may follow both (a different contact row with the same email or
        # phone): they follow the parent once.
        on_root = Contact.objects.filter(following__request=root)
        known_emails = {e for e in on_root.values_list("email", flat=True) if e}
        known_phones = {p for p in on_root.values_list("phone", flat=True) if p}
        moved = [
            c
            for c in Contact.objects.filter(following__request=dup).exclude(following__request=root)
            if not (c.email and c.email in known_emails)
            and not (c.phone and c.phone in known_phones)
        ]
        Follower.objects.bulk_create(
            [Follower(request=root, contact=c) for c in moved], ignore_conflicts=True
        )
        # Requests merged into the duplicate earlier now point at the surviving parent.
        ServiceRequest.objects.filter(parent=dup).update(parent=root)
        _event(
            root,
            kind=EventKind.MERGE,
            at=now,
            actor=actor,
            actor_label="",
            public=False,
            data={"duplicate": dup.public_id, "followers_added": len(moved)},
        )
        _save(root, now)
        _notify(
            dup,
            kind="merged",
            template="merged",
            contacts=_follower_contacts(dup),
            parent_id=root.public_id,
        )
        return root


def request_reopen(
    *,
    request: ServiceRequest | int,
    reason: str,
    actor: User | None = None,
    by_resident: bool = False,
    expected_version: int | None = None,
) -> ServiceRequest:
    """Reopen a closed request. Staff may do so at any time; a resident only within the
    reopen window after closure, and always with a reason."""
    reason = _note_clean(reason, required=by_resident)
    with transaction.atomic():
        current = _locked(request, expected_version)
        transition_check(current.status, Status.REOPENED)
        now = timezone.now()
        if by_resident:
            days = current.service.reopen_window_days or settings.CIVICDESK_REOPEN_WINDOW_DAYS
            assert current.closed_at is not None  # every closed status has a closed_at
            if now > current.closed_at + dt.timedelta(days=days):
                raise TransitionNotAllowed(
                    f"request {current.public_id} closed on "
                    f"{timezone.localtime(current.closed_at):%Y-%m-%d}; it can be reopened "
                    f"within {days} days of closing. Please report the problem again."
                )
        fields = ["closed_at", "escalated_at", "due_at", "parent"]
        current.closed_at = None
        current.escalated_at = None
        current.parent = None
        # A reopened request gets a fresh service-level target from the moment it reopens.
        current.due_at = service_due_at(current.service, now)
        _event(
            current,
            kind=EventKind.REOPEN,
            at=now,
            actor=actor,
            actor_label="resident" if by_resident and actor is None else "",
            public=True,
            note=reason,
        )
        return _apply_status(
            current,
            Status.REOPENED,
            now=now,
            note=reason,
            note_public=True,
            actor=actor,
            actor_label="resident" if by_resident and actor is None else "",
            extra_fields=fields,
        )


# --------------------------------------------------------------------------------------
# Media


def request_media_attach(
    *,
    request: ServiceRequest | int,
    data: bytes,
    actor: User | None = None,
    actor_label: str = "",
) -> RequestMedia:
    """Store a photo for a request, re-encoded without its metadata (see ``media.py``)."""
    clean = image_clean(data)
    with transaction.atomic():
        current = _locked(request, None)
        media = RequestMedia(
            request=current, content_type=clean.content_type, size=len(clean.content)
        )
        # A random name: the uploader's file name is not kept (it can carry personal data).
        media.file.save(
            f"{secrets.token_hex(12)}.{clean.extension}", ContentFile(clean.content), save=False
        )
        media.save()
        now = timezone.now()
        _save(current, now)
        _event(
            current,
            kind=EventKind.MEDIA,
            at=now,
            actor=actor,
            actor_label=actor_label,
            public=True,
            data={"media_id": media.pk},
        )
        return media


# --------------------------------------------------------------------------------------
# Followers


def request_follow(*, request: ServiceRequest | int, contact: ContactInput) -> Follower:
    """Follow a request to be told of its updates (the "follow this one instead" path)."""
    errors: dict[str, list[str]] = {}
    contact = _contact_clean(contact, errors)
    if not (contact.email or (contact.phone and contact.sms_opt_in)):
        errors.setdefault("email", []).append(
            "give an email address, or a phone number for text messages, to receive updates"
        )
    if errors:
        raise InvalidInput(errors)
    with transaction.atomic():
        current = _locked(request, None)
        existing = Follower.objects.filter(request=current).select_related("contact")
        for follower in existing:
            same_email = contact.email and follower.contact.email == contact.email
            same_phone = contact.phone and follower.contact.phone == contact.phone
            if same_email or same_phone:
                return follower
        person = Contact.objects.create(
            name=contact.name,
            email=contact.email,
            phone=contact.phone,
            preferred_language=contact.preferred_language,
            sms_opt_in=contact.sms_opt_in,
        )
        follower = Follower.objects.create(request=current, contact=person)
        _event(
            current,
            kind=EventKind.FOLLOW,
            at=timezone.now(),
            actor=None,
            actor_label="resident",
            public=False,
        )
        return follower


def request_unfollow(*, request: ServiceRequest | int, email: str = "", phone: str = "") -> int:
    """Stop updates to this email address or phone number; returns how many were removed."""
    email, phone = email.strip().lower(), phone.strip()
    if not email and not phone:
        raise InvalidInput({"email": [_("give the email address or phone number that follows")]})
    pk = request.pk if isinstance(request, ServiceRequest) else request
    followers = Follower.objects.filter(request_id=pk)
    matched = followers.filter(contact__email=email) if email else followers.none()
    if phone:
        matched = matched | followers.filter(contact__phone=phone)
    removed, _by_model = matched.delete()
    return removed
