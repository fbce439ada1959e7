"""Catalogue models. Texts shown to residents are kept in the city's default language in
their own columns, with other languages in ``translations`` ({"es": {"name": ...}})."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _


class Translatable(models.Model):
    translations = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True

    def localized(self, field: str, language: str | None) -> str:
        """The field's text in ``language``, falling back to the default language."""
        if language:
            text = self.translations.get(language.split("-")[0], {}).get(field)
            if text:
                return str(text)
        return str(getattr(self, field))


class Department(Translatable):
    code = models.SlugField(max_length=32, unique=True)
    name = models.CharField(max_length=200)
    email = models.EmailField(blank=True)
    phone = models.CharField(max_length=32, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Team(models.Model):
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="teams")
    code = models.SlugField(max_length=32)
    name = models.CharField(max_length=200)

    class Meta:
        ordering = ["department__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["department", "code"], name="team_code_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.department.code} / {self.name}"


class Weekday(models.IntegerChoices):
    MONDAY = 0, _("Monday")
    TUESDAY = 1, _("Tuesday")
    WEDNESDAY = 2, _("Wednesday")
    THURSDAY = 3, _("Thursday")
    FRIDAY = 4, _("Friday")
    SATURDAY = 5, _("Saturday")
    SUNDAY = 6, _("Sunday")


def default_working_hours() -> dict[str, list[list[str]]]:
    return {str(day): [["08:00", "17:00"]] for day in range(5)}


class BusinessCalendar(models.Model):
    """Working hours per weekday (local time, in ``timezone``) and holidays.

    ``working_hours`` maps a weekday number (0 = Monday) to a list of ``["HH:MM", "HH:MM"]``
    intervals; a day that is absent is not a working day.
    """

    name = models.CharField(max_length=100, unique=True)
    timezone = models.CharField(max_length=64, default="America/Chicago")
    working_hours = models.JSONField(default=default_working_hours)
    is_default = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"],
                condition=models.Q(is_default=True),
                name="one_default_calendar",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from civicdesk.errors import InvalidInput

        from .service_levels import WorkingCalendar

        try:
            WorkingCalendar.build(
                timezone=self.timezone, working_hours=self.working_hours, holidays=()
            )
        except InvalidInput as exc:
            raise ValidationError(exc.field_errors) from None


class Holiday(models.Model):
    calendar = models.ForeignKey(
        BusinessCalendar, on_delete=models.CASCADE, related_name="holidays"
    )
    date = models.DateField()
    name = models.CharField(max_length=100)

    class Meta:
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(fields=["calendar", "date"], name="holiday_unique_per_day"),
        ]

    def __str__(self) -> str:
        return f"{self.date}: {self.name}"


class SlaUnit(models.TextChoices):
    BUSINESS_HOURS = "business_hours", _("business hours")
    BUSINESS_DAYS = "business_days", _("business days")
    CALENDAR_HOURS = "calendar_hours", _("calendar hours")
    CALENDAR_DAYS = "calendar_days", _("calendar days")


class Service(Translatable):
    """A service a resident can request (Open311: a service with a ``service_code``)."""

    service_code = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    group = models.CharField(max_length=100, blank=True)
    keywords = models.JSONField(default=list, blank=True)
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="services")
    default_team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    active = models.BooleanField(default=True)
    notice = models.TextField(blank=True, help_text="Shown to residents before they report.")
    emergency = models.BooleanField(
        default=False, help_text="Residents are told to call instead of reporting online."
    )
    contact_required = models.BooleanField(default=False)
    sensitive_location = models.BooleanField(
        default=False, help_text="Coarsen the location in public views and open data."
    )
    sla_amount = models.PositiveIntegerField(null=True, blank=True)
    sla_unit = models.CharField(max_length=20, choices=SlaUnit.choices, blank=True)
    calendar = models.ForeignKey(
        BusinessCalendar,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        help_text="Business calendar for the service level; the default calendar if empty.",
    )
    duplicate_radius_m = models.PositiveIntegerField(null=True, blank=True)
    duplicate_window_hours = models.PositiveIntegerField(null=True, blank=True)
    reopen_window_days = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["group", "name"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(sla_amount__isnull=True, sla_unit="")
                    | models.Q(sla_amount__gt=0, sla_unit__in=SlaUnit.values)
                ),
                name="service_sla_complete",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.service_code})"


class Datatype(models.TextChoices):
    """The Open311 GeoReport v2 attribute datatypes."""

    STRING = "string", _("short text")
    NUMBER = "number", _("number")
    DATETIME = "datetime", _("date and time")
    TEXT = "text", _("long text")
    SINGLEVALUELIST = "singlevaluelist", _("one choice")
    MULTIVALUELIST = "multivaluelist", _("several choices")


LIST_DATATYPES = frozenset({Datatype.SINGLEVALUELIST, Datatype.MULTIVALUELIST})


class ServiceAttribute(Translatable):
    """A question asked when a service is requested (Open311: an attribute).

    ``values`` holds the allowed answers of list types: ``[{"key", "name", "translations"}]``.
    ``variable=False`` is an informational text, not a question.
    """

    service = models.ForeignKey(Service, on_delete=models.CASCADE, related_name="attributes")
    code = models.SlugField(max_length=64)
    datatype = models.CharField(max_length=20, choices=Datatype.choices)
    label = models.CharField(max_length=500)
    help_text = models.TextField(blank=True)
    required = models.BooleanField(default=False)
    variable = models.BooleanField(default=True)
    order = models.PositiveIntegerField(default=1)
    values = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["service", "order", "code"]
        constraints = [
            models.UniqueConstraint(fields=["service", "code"], name="attribute_code_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.service.service_code}.{self.code}"

    def clean(self) -> None:
        from civicdesk.errors import InvalidInput

        from .attributes import attribute_definition_check

        try:
            attribute_definition_check(
                datatype=self.datatype, values=self.values, variable=self.variable
            )
        except InvalidInput as exc:
            raise ValidationError(exc.field_errors) from None

    def value_name(self, key: str, language: str | None) -> str:
        for value in self.values:
            if value["key"] == key:
                names: dict[str, Any] = value.get("translations") or {}
                return str((language and names.get(language.split("-")[0])) or value["name"])
        return key
