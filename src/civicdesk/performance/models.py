"""Precomputed daily rollups of the measures, unit costs for budgeting, and import runs.

Rollups are keyed by the day a request was *received* (a cohort): every later change to a
request (acknowledged, closed, reopened) lands in its own day's row, so keeping them current
means recomputing only the days of the requests that changed. See ``rollups.py`` and
docs/performance.md for the definitions.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _


class RollupKey(models.Model):
    """The received day and the dimensions a rollup row is kept for."""

    day = models.DateField()
    service = models.ForeignKey("catalog.Service", on_delete=models.CASCADE, related_name="+")
    department = models.ForeignKey("catalog.Department", on_delete=models.CASCADE, related_name="+")
    district = models.ForeignKey(
        "geo.Zone", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=16)

    class Meta:
        abstract = True


class DailyRollup(RollupKey):
    """Counts for the requests received on ``day`` with one combination of dimensions."""

    received = models.PositiveIntegerField(default=0)
    closed = models.PositiveIntegerField(default=0)
    # Closed requests that had a service-level target, and those closed by it.
    closed_with_target = models.PositiveIntegerField(default=0)
    closed_on_time = models.PositiveIntegerField(default=0)
    first_action = models.PositiveIntegerField(default=0)
    ever_closed = models.PositiveIntegerField(
        default=0, help_text="Closed now, or closed once and since reopened."
    )
    reopened = models.PositiveIntegerField(default=0, help_text="Reopened at least once.")
    duplicates = models.PositiveIntegerField(default=0)
    first_contact = models.PositiveIntegerField(
        default=0, help_text="Phone requests resolved during the call (see docs)."
    )

    class Meta:
        indexes = [
            models.Index(fields=["day"]),
            models.Index(fields=["service", "day"]),
            models.Index(fields=["department", "day"]),
        ]

    def __str__(self) -> str:
        return f"{self.day} service {self.service_id}: {self.received}"


class DurationMeasure(models.TextChoices):
    CLOSE = "close", _("Time to close")
    FIRST_ACTION = "first_action", _("Time to first action")


class DurationRollup(RollupKey):
    """A histogram of durations (log-spaced buckets) for one cohort day and dimensions.

    Medians and 90th percentiles are read off the summed histogram: see ``measures.py``.
    """

    measure = models.CharField(max_length=16, choices=DurationMeasure.choices)
    bucket = models.PositiveSmallIntegerField()
    count = models.PositiveIntegerField()

    class Meta:
        indexes = [
            models.Index(fields=["measure", "day"]),
            models.Index(fields=["service", "measure", "day"]),
            # Reads of a few days' histograms narrowed by more dimensions than the cube
            # keeps (cube.py); without it SQLite scans the table in GROUP BY order.
            models.Index(fields=["day"], name="durationrollup_day"),
        ]

    def __str__(self) -> str:
        return f"{self.day} {self.measure} bucket {self.bucket}: {self.count}"


class CubeGrain(models.TextChoices):
    DAY = "day", _("Day")
    WEEK = "week", _("Week")
    MONTH = "month", _("Month")


def _cube_indexes(prefix: str) -> list[models.Index]:
    # One index per dimension a filter may name, each behind (grain, grouping): a read takes
    # one grouping's rows of one service (say) over a range of days or months.
    return [
        models.Index(fields=["grain", "grouping", "start"], name=f"{prefix}_time"),
        *(
            models.Index(fields=["grain", "grouping", dim, "start"], name=f"{prefix}_{dim}")
            for dim in ("service", "department", "district", "channel")
        ),
    ]


class CubeCell(models.Model):
    """Where a cube row sits: a day or a calendar month, and the dimensions it keeps
    (``grouping``, a bitmask: 1 service, 2 department, 4 district, 8 channel). The columns
    of the dimensions it sums over stay empty. See ``cube.py``."""

    grain = models.CharField(max_length=5, choices=CubeGrain.choices)
    start = models.DateField(help_text="The day, or the first day of the week or month.")
    grouping = models.PositiveSmallIntegerField()
    service = models.ForeignKey(
        "catalog.Service", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    department = models.ForeignKey(
        "catalog.Department", null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    district = models.ForeignKey(
        "geo.Zone", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    channel = models.CharField(max_length=16, blank=True)

    class Meta:
        abstract = True


class RollupCube(CubeCell):
    """The daily rollups summed over a cell: a dashboard reads a few hundred of these rows
    instead of hundreds of thousands of daily rows. Derived from ``DailyRollup`` and
    rewritten with it."""

    received = models.PositiveIntegerField(default=0)
    closed = models.PositiveIntegerField(default=0)
    closed_with_target = models.PositiveIntegerField(default=0)
    closed_on_time = models.PositiveIntegerField(default=0)
    first_action = models.PositiveIntegerField(default=0)
    ever_closed = models.PositiveIntegerField(default=0)
    reopened = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    first_contact = models.PositiveIntegerField(default=0)
    phone_received = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = _cube_indexes("cube")

    def __str__(self) -> str:
        return f"{self.grain} {self.start} grouping {self.grouping}: {self.received}"


class DurationCube(CubeCell):
    """``DurationRollup`` histograms summed over a cell."""

    measure = models.CharField(max_length=16, choices=DurationMeasure.choices)
    bucket = models.PositiveSmallIntegerField()
    count = models.PositiveIntegerField()

    class Meta:
        indexes = _cube_indexes("dcube")

    def __str__(self) -> str:
        return f"{self.grain} {self.start} {self.measure} bucket {self.bucket}: {self.count}"


class RollupState(models.Model):
    """Where the incremental refresh got to: requests updated after ``watermark`` are new."""

    name = models.CharField(max_length=32, unique=True)
    watermark = models.DateTimeField(null=True, blank=True)
    # Requests created with a past ``updated_at`` (back-dated intake) are found by id.
    last_request_id = models.BigIntegerField(default=0)
    rebuilt_at = models.DateTimeField(null=True, blank=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.name} at {self.watermark}"


# Typed loosely so the field keyword arguments can be spread into each DecimalField.
money: dict[str, Any] = {
    "max_digits": 12,
    "decimal_places": 2,
    "validators": [MinValueValidator(Decimal(0))],
}


class DepartmentCost(models.Model):
    """What a department's work costs: the loaded hourly rate of its staff and fixed costs."""

    department = models.OneToOneField(
        "catalog.Department", on_delete=models.CASCADE, related_name="cost"
    )
    hourly_rate = models.DecimalField(help_text="Loaded labour cost per hour.", **money)
    annual_fixed_cost = models.DecimalField(
        default=Decimal(0), help_text="Vehicles, equipment, overhead per year.", **money
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.department}: {self.hourly_rate}/h"


class ServiceCost(models.Model):
    """Labour hours and materials one request of a service takes, on average."""

    service = models.OneToOneField("catalog.Service", on_delete=models.CASCADE, related_name="cost")
    labour_hours = models.DecimalField(
        max_digits=8, decimal_places=2, validators=[MinValueValidator(Decimal(0))]
    )
    materials_cost = models.DecimalField(default=Decimal(0), **money)
    hourly_rate = models.DecimalField(
        null=True, blank=True, help_text="Overrides the department's rate.", **money
    )
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"{self.service}: {self.labour_hours} h"


class ImportRun(models.Model):
    """One run of ``civicdesk import`` or ``import-open311``: what it read and what it did."""

    source = models.CharField(max_length=64)
    location = models.CharField(max_length=1000, help_text="File path or server URL.")
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_read = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="The first rejected rows.")
    succeeded = models.BooleanField(default=False)
    started_by = models.CharField(max_length=150, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.source} {self.started_at:%Y-%m-%d %H:%M}"
