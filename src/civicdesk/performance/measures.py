"""The measures of performance: one definition each, used by the dashboards, the public page,
the council report and the CSV downloads alike. docs/performance.md states them in words.

Figures for a period describe the requests *received* in that period (a cohort), whatever
happened to them later; the backlog and open past-due counts describe requests open now.
Medians and 90th percentiles of durations are read from log-spaced histograms (buckets 15%
wide, interpolated within the bucket), so they are within a few percent of the exact value
while staying cheap to sum over millions of requests.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

# Durations under a minute fall in bucket 0; bucket k >= 1 holds [60 * R**(k-1), 60 * R**k).
BUCKET_RATIO = 1.15
BUCKET_FLOOR_SECONDS = 60.0
MAX_BUCKET = 180  # 60 s * 1.15**179 is thousands of years: nothing is cut off
_LOG_RATIO = math.log(BUCKET_RATIO)


def bucket_of(seconds: float) -> int:
    """The histogram bucket of a duration; negative durations (bad clocks) count as zero."""
    if seconds < BUCKET_FLOOR_SECONDS:
        return 0
    return min(MAX_BUCKET, int(math.log(seconds / BUCKET_FLOOR_SECONDS) / _LOG_RATIO) + 1)


def bucket_bounds(bucket: int) -> tuple[float, float]:
    if bucket <= 0:
        return 0.0, BUCKET_FLOOR_SECONDS
    low = BUCKET_FLOOR_SECONDS * BUCKET_RATIO ** (bucket - 1)
    return low, low * BUCKET_RATIO


def histogram_quantile(histogram: Mapping[int, int], q: float) -> float | None:
    """The q-quantile (0 < q < 1) of the durations counted in ``histogram``, in seconds.

    Within the bucket that holds the quantile, the value is interpolated on a log scale
    (linearly in the first bucket), which is where log-spaced buckets keep their precision.
    """
    total = sum(histogram.values())
    if total <= 0:
        return None
    target = q * total
    seen = 0
    for bucket in sorted(histogram):
        count = histogram[bucket]
        if count <= 0:
            continue
        if seen + count >= target:
            fraction = (target - seen) / count
            low, high = bucket_bounds(bucket)
            if bucket == 0:
                return low + (high - low) * fraction
            return low * (high / low) ** fraction
        seen += count
    return bucket_bounds(max(histogram))[1]


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None


@dataclass
class Measures:
    """The summed counts for one slice (a period, a service, a district...) and the rates
    derived from them. ``open_past_due`` and the histograms are filled in by the selectors."""

    received: int = 0
    closed: int = 0
    closed_with_target: int = 0
    closed_on_time: int = 0
    first_action: int = 0
    ever_closed: int = 0
    reopened: int = 0
    duplicates: int = 0
    first_contact: int = 0
    phone_received: int = 0
    open_past_due: int = 0
    close_histogram: dict[int, int] = field(default_factory=dict)
    first_action_histogram: dict[int, int] = field(default_factory=dict)

    COUNTS = (
        "received",
        "closed",
        "closed_with_target",
        "closed_on_time",
        "first_action",
        "ever_closed",
        "reopened",
        "duplicates",
        "first_contact",
    )

    @classmethod
    def from_sums(cls, sums: Mapping[str, float | int | None]) -> Measures:
        measures = cls()
        for name in cls.COUNTS:
            value = sums.get(name) or 0
            setattr(measures, name, type(getattr(measures, name))(value))
        return measures

    def add(self, other: Measures) -> None:
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            if isinstance(mine, dict):
                for bucket, count in theirs.items():
                    mine[bucket] = mine.get(bucket, 0) + count
            else:
                setattr(self, f.name, mine + theirs)

    # Derived figures. Rates are fractions (0..1) or None when there is nothing to rate.

    @property
    def open(self) -> int:
        return self.received - self.closed

    @property
    def on_time_rate(self) -> float | None:
        """Closed by the target, out of those closed with a target plus open past due."""
        return _ratio(self.closed_on_time, self.closed_with_target + self.open_past_due)

    @property
    def reopen_rate(self) -> float | None:
        return _ratio(self.reopened, self.ever_closed)

    @property
    def duplicate_rate(self) -> float | None:
        return _ratio(self.duplicates, self.received)

    @property
    def first_contact_rate(self) -> float | None:
        return _ratio(self.first_contact, self.phone_received)

    @property
    def median_close_hours(self) -> float | None:
        return _hours(histogram_quantile(self.close_histogram, 0.5))

    @property
    def p90_close_hours(self) -> float | None:
        return _hours(histogram_quantile(self.close_histogram, 0.9))

    @property
    def median_first_action_hours(self) -> float | None:
        return _hours(histogram_quantile(self.first_action_histogram, 0.5))

    @property
    def p90_first_action_hours(self) -> float | None:
        return _hours(histogram_quantile(self.first_action_histogram, 0.9))

    def figures(self) -> dict[str, float | int | None]:
        """Every published figure by its name in ``FIGURES`` (the CSV columns)."""
        return {name: getattr(self, name) for name in FIGURES}


def _hours(seconds: float | None) -> float | None:
    return None if seconds is None else seconds / 3600


# The published figures, in the order the CSV downloads and the report list them.
FIGURES: dict[str, Promise] = {
    "received": _("Requests received"),
    "closed": pgettext_lazy("figure: requests closed", "Closed"),
    "open": _("Still open"),
    "on_time_rate": _("On-time rate"),
    "open_past_due": _("Open past due"),
    "median_first_action_hours": _("Median time to first action (hours)"),
    "p90_first_action_hours": _("90th percentile time to first action (hours)"),
    "median_close_hours": _("Median time to close (hours)"),
    "p90_close_hours": _("90th percentile time to close (hours)"),
    "reopen_rate": _("Reopen rate"),
    "duplicate_rate": _("Duplicate rate"),
    "first_contact_rate": _("Phone first-contact resolution"),
}

RATE_FIGURES = frozenset({"on_time_rate", "reopen_rate", "duplicate_rate", "first_contact_rate"})


def figure_kind(name: str) -> str:
    """How a figure reads: "rate" (a fraction 0..1), "hours" or "count"."""
    if name in RATE_FIGURES:
        return "rate"
    if name.endswith("_hours"):
        return "hours"
    return "count"
