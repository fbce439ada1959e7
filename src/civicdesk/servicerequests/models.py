"""Service requests, their timeline, followers, contacts (personal data, kept apart) and media."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from .channels import Channel
from .statuses import CLOSED_STATUSES, OPEN_STATUSES, Status, open311_status


class Priority(models.IntegerChoices):
    LOW = 1, _("Low")
    NORMAL = 2, _("Normal")
    HIGH = 3, _("High")
    URGENT = 4, _("Urgent")


class Contact(models.Model):
    """A person who reported or follows a request. Personal data: never in a public view."""

    name = models.CharField(max_length=200, blank=True)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    preferred_language = models.CharField(max_length=8, default="en")
    sms_opt_in = models.BooleanField(default=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="contacts",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["email"]), models.Index(fields=["phone"])]

    def __str__(self) -> str:
        return self.name or self.email or self.phone or f"contact {self.pk}"


class PublicIdSequence(models.Model):
    """Counters for human-friendly request ids, one row per prefix (the year)."""

    prefix = models.CharField(max_length=16, unique=True)
    value = models.BigIntegerField(default=0)

    def __str__(self) -> str:
        return f"{self.prefix}: {self.value}"


class CodeField(models.CharField):
    """An identifier or code that is matched, never read as words (public ids, the id a
    request had in the system it came from): its text is compared byte by byte.

    On PostgreSQL the column has the "C" collation: sorting and uniqueness are plain byte
    comparisons instead of the language's rules (a tenth to a quarter less time to build
    the index of a million public ids), and a prefix search (``startswith``) can use the
    column's own index. Django adds a second, ``varchar_pattern_ops`` index to every unique text
    column for prefix searches; with this collation it is not needed, and migration 0007
    drops it (a model that starts out with a ``CodeField`` needs the same). SQLite compares
    text byte by byte already (its BINARY collation), so nothing changes there.
    """

    def db_parameters(self, connection: Any) -> dict[str, Any]:
        parameters = super().db_parameters(connection)
        if connection.vendor == "postgresql":
            parameters["collation"] = "C"
        return parameters


def references_set(*fields: str) -> list[models.Index]:
    """Indexes of nullable foreign keys over the rows where they are set: ``x = value``
    (and Django's ``x IN (...)`` when a referenced row is deleted) implies ``x IS NOT
    NULL``, so both engines use them."""
    return [
        models.Index(
            fields=[field],
            condition=models.Q(**{f"{field}__isnull": False}),
            name=f"request_{field}_set",
        )
        for field in fields
    ]


class ServiceRequest(models.Model):
    public_id = CodeField(max_length=32, unique=True)
    # Indexed by (service, requested_at, status) below.
    service = models.ForeignKey(
        "catalog.Service", on_delete=models.PROTECT, related_name="requests", db_index=False
    )
    description = models.TextField(blank=True)
    attributes = models.JSONField(default=dict, blank=True)

    lat = models.FloatField(null=True, blank=True)
    long = models.FloatField(null=True, blank=True)
    address = models.CharField(max_length=255, blank=True)
    address_id = models.CharField(max_length=64, blank=True)
    zipcode = models.CharField(max_length=16, blank=True)
    # The nullable references are indexed only where set (see Meta: ``references_set``).
    district = models.ForeignKey(
        "geo.Zone",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    ward = models.ForeignKey(
        "geo.Zone",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )

    channel = models.CharField(max_length=16, choices=Channel.choices, default=Channel.WEB)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.NEW)
    status_notes = models.TextField(blank=True, help_text="The latest public note.")

    # Indexed by (department, status) below.
    department = models.ForeignKey(
        "catalog.Department", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    team = models.ForeignKey(
        "catalog.Team",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assigned_requests",
        db_index=False,
    )
    referred_to = models.CharField(max_length=200, blank=True)
    reporter = models.ForeignKey(
        Contact,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="reported",
        db_index=False,
    )
    parent = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="duplicates",
        db_index=False,
    )

    requested_at = models.DateTimeField()
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    first_action_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()
    due_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(
        null=True, blank=True, help_text="When the overdue job escalated it (once per opening)."
    )
    # Bumped by every change; a form that read version N is refused if the row is past N.
    version = models.PositiveIntegerField(default=1)
    # Where an imported request came from (a preset or mapping name, or an Open311 server) and
    # its id there; empty for requests taken in by civicdesk. Re-importing matches on the pair.
    source = CodeField(max_length=64, blank=True, default="")
    source_id = CodeField(max_length=128, blank=True, default="")

    class Meta:
        indexes = [
            # Newest first with a stable tie-break: lists and pages read it in order.
            models.Index(fields=["requested_at", "id"]),
            models.Index(fields=["updated_at"]),
            # Covers the common "this service, these statuses, this period" filter.
            models.Index(fields=["service", "requested_at", "status"]),
            models.Index(fields=["status", "requested_at"]),
            models.Index(fields=["department", "status"]),
            models.Index(fields=["status", "due_at"]),
            models.Index(fields=["lat", "long"]),
            # The open requests alone (a few percent of all), with every column the backlog
            # and open-past-due figures read: those reads never touch the closed millions.
            models.Index(
                fields=[
                    "due_at",
                    "requested_at",
                    "service",
                    "department",
                    "district",
                    "channel",
                    "parent",
                ],
                condition=models.Q(status__in=sorted(OPEN_STATUSES)),
                name="request_open_figures",
            ),
            # Most requests have no team, assignee, reporter or parent (all imported history,
            # every phone call without contact details): an index of the rows that have one
            # serves every lookup by it at a fraction of the size and of the cost to build.
            *references_set("district", "ward", "team", "assignee", "reporter", "parent"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["source", "source_id"],
                condition=~models.Q(source_id=""),
                name="request_source_id_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(lat__isnull=True, long__isnull=True)
                | models.Q(lat__gte=-90, lat__lte=90, long__gte=-180, long__lte=180),
                name="request_location_valid",
            ),
            models.CheckConstraint(
                condition=~models.Q(status__in=sorted(CLOSED_STATUSES))
                | models.Q(closed_at__isnull=False),
                name="closed_request_has_closed_at",
            ),
        ]

    def __str__(self) -> str:
        return self.public_id

    @property
    def is_open(self) -> bool:
        return self.status not in CLOSED_STATUSES

    @property
    def open311_status(self) -> str:
        return open311_status(self.status)


class EventKind(models.TextChoices):
    CREATED = "created", _("Request received")
    STATUS_CHANGE = "status_change", _("Status changed")
    PUBLIC_NOTE = "public_note", _("Public note")
    INTERNAL_NOTE = "internal_note", _("Internal note")
    ASSIGNMENT = "assignment", _("Assigned")
    PRIORITY = "priority", _("Priority changed")
    MERGE = "merge", _("Merged as duplicate")
    REOPEN = "reopen", _("Reopened")
    ESCALATION = "escalation", _("Escalated as overdue")
    FOLLOW = "follow", _("Follower added")
    MEDIA = "media", _("Photo added")


class RequestEvent(models.Model):
    """One entry on a request's timeline: what happened, who did it, when."""

    # Indexed by (request, created_at) below.
    request = models.ForeignKey(
        ServiceRequest, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    kind = models.CharField(max_length=20, choices=EventKind.choices)
    public = models.BooleanField(default=False, help_text="Shown on the public timeline.")
    from_status = models.CharField(max_length=16, blank=True)
    to_status = models.CharField(max_length=16, blank=True)
    note = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    actor_label = models.CharField(
        max_length=64, blank=True, help_text="Who acted when not a staff user: resident, system."
    )
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["request", "created_at"]),
            models.Index(
                fields=["actor"], condition=models.Q(actor__isnull=False), name="event_actor_set"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.request_id} {self.kind} {self.created_at:%Y-%m-%d %H:%M}"

    @property
    def to_status_label(self) -> str:
        return str(Status(self.to_status).label) if self.to_status else ""


class Follower(models.Model):
    request = models.ForeignKey(ServiceRequest, on_delete=models.CASCADE, related_name="followers")
    contact = models.ForeignKey(Contact, on_delete=models.CASCADE, related_name="following")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["request", "contact"], name="follower_unique"),
        ]

    def __str__(self) -> str:
        return f"contact {self.contact_id} follows request {self.request_id}"


def media_path(instance: RequestMedia, filename: str) -> str:
    return f"requests/{instance.request.public_id}/{filename}"


class RequestMedia(models.Model):
    request = models.ForeignKey(ServiceRequest, on_delete=models.CASCADE, related_name="media")
    file = models.FileField(upload_to=media_path, blank=True)
    url = models.URLField(blank=True, max_length=1000, help_text="A photo hosted elsewhere.")
    content_type = models.CharField(max_length=64, blank=True)
    size = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return self.file.name or self.url
