"""Reads for the dashboards, the public performance page and the council report.

Every figure comes from the daily rollups (sums over at most a few hundred thousand rows at
ten million requests) plus one live query over the requests open now (the backlog and the
open past-due counts, which change with the clock rather than with the requests).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from django.core.cache import cache
from django.db.models import Avg, Count, Max, Min, Q, QuerySet, Sum
from django.db.models.functions import TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicdesk.catalog.models import Department, Service
from civicdesk.errors import InvalidInput
from civicdesk.geo.models import LayerRole, Zone
from civicdesk.servicerequests.models import Channel, ServiceRequest
from civicdesk.servicerequests.statuses import OPEN_STATUSES

from .measures import Measures, merge_histograms
from .models import DailyRollup, DurationMeasure, DurationRollup
from .rollups import local_day

Dimension = Literal["service", "department", "district", "channel"]
DIMENSIONS: dict[str, Any] = {
    "service": _("Service"),
    "department": _("Department"),
    "district": _("District"),
    "channel": _("Channel"),
}
Grain = Literal["week", "month", "quarter", "year"]
GRAINS: dict[str, Any] = {
    "week": _("Week"),
    "month": _("Month"),
    "quarter": _("Quarter"),
    "year": _("Year"),
}
_FIELD = {
    "service": "service_id",
    "department": "department_id",
    "district": "district_id",
    "channel": "channel",
}
_SUMS = {name: Sum(name) for name in Measures.COUNTS}


@dataclass(frozen=True)
class Filters:
    """Requests received from ``start`` to ``end`` (local days, both included), narrowed to
    the given services, departments, districts and channels (empty: all)."""

    start: dt.date
    end: dt.date
    service_ids: tuple[int, ...] = ()
    department_ids: tuple[int, ...] = ()
    district_ids: tuple[int, ...] = ()
    channels: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise InvalidInput({"end": [str(_("The end date is before the start date."))]})

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def previous(self) -> Filters:
        """The period just before this one: the previous calendar month, quarter or year
        when this is a whole one, else the same number of days just before."""
        before = self.start - dt.timedelta(days=1)
        for grain in ("year", "quarter", "month"):
            if period_start(self.start, grain) == self.start and (
                period_end(self.start, grain) == self.end
            ):
                return replace(self, start=period_start(before, grain), end=before)
        return replace(self, start=self.start - dt.timedelta(days=self.days), end=before)

    def last_year(self) -> Filters:
        """The same dates a year earlier (29 February becomes the 28th)."""
        return replace(self, start=_year_back(self.start), end=_year_back(self.end))

    def rollup_q(self) -> Q:
        q = Q(day__gte=self.start, day__lte=self.end)
        return q & self._dimension_q()

    def request_q(self) -> Q:
        tz = timezone.get_default_timezone()
        start = dt.datetime.combine(self.start, dt.time.min, tzinfo=tz)
        end = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        return Q(requested_at__gte=start, requested_at__lt=end) & self._dimension_q()

    def _dimension_q(self) -> Q:
        q = Q()
        if self.service_ids:
            q &= Q(service_id__in=self.service_ids)
        if self.department_ids:
            q &= Q(department_id__in=self.department_ids)
        if self.district_ids:
            q &= Q(district_id__in=self.district_ids)
        if self.channels:
            q &= Q(channel__in=self.channels)
        return q


def _year_back(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year - 1)
    except ValueError:
        return day.replace(year=day.year - 1, day=28)


# --- periods ------------------------------------------------------------------------------


def period_start(day: dt.date, grain: str) -> dt.date:
    if grain == "week":
        return day - dt.timedelta(days=day.weekday())
    if grain == "month":
        return day.replace(day=1)
    if grain == "quarter":
        return day.replace(month=(day.month - 1) // 3 * 3 + 1, day=1)
    if grain == "year":
        return day.replace(month=1, day=1)
    raise InvalidInput({"grain": [f"unknown period {grain!r}"]})


def period_end(start: dt.date, grain: str) -> dt.date:
    """The last day of the period that begins on ``start``."""
    if grain == "week":
        return start + dt.timedelta(days=6)
    months = {"month": 1, "quarter": 3, "year": 12}[grain]
    month = start.month - 1 + months
    following = dt.date(start.year + month // 12, month % 12 + 1, 1)
    return following - dt.timedelta(days=1)


def month_parse(text: str) -> tuple[dt.date, dt.date]:
    """``2026-10`` -> (1 October 2026, 31 October 2026), or InvalidInput naming the value."""
    try:
        first = dt.datetime.strptime(text.strip(), "%Y-%m").date()
    except ValueError:
        raise InvalidInput(
            {"month": [f"{text!r} is not a month; write it as YYYY-MM, e.g. 2026-10"]}
        ) from None
    return first, period_end(first, "month")


# --- measures -----------------------------------------------------------------------------


def _rollups(filters: Filters) -> QuerySet[DailyRollup]:
    return DailyRollup.objects.filter(filters.rollup_q()).order_by()


def _durations(filters: Filters) -> QuerySet[DurationRollup]:
    return DurationRollup.objects.filter(filters.rollup_q()).order_by()


def _open_past_due(filters: Filters, now: dt.datetime) -> QuerySet[ServiceRequest]:
    return ServiceRequest.objects.filter(
        filters.request_q(),
        status__in=sorted(OPEN_STATUSES),
        due_at__lt=now,
        parent__isnull=True,
    ).order_by()


def measures(filters: Filters, *, now: dt.datetime | None = None) -> Measures:
    """All figures for the requests the filters select."""
    now = now or timezone.now()
    result = Measures.from_sums(_rollups(filters).aggregate(**_SUMS))
    result.phone_received = int(
        _rollups(filters).filter(channel=Channel.PHONE).aggregate(n=Sum("received"))["n"] or 0
    )
    for measure, target in (
        (DurationMeasure.CLOSE, result.close_histogram),
        (DurationMeasure.FIRST_ACTION, result.first_action_histogram),
    ):
        rows = (
            _durations(filters)
            .filter(measure=measure)
            .values_list("bucket")
            .annotate(n=Sum("count"))
        )
        target.update(merge_histograms(rows))
    result.open_past_due = _open_past_due(filters, now).count()
    return result


def measures_by(
    filters: Filters, dimension: str, *, now: dt.datetime | None = None
) -> list[tuple[Any, Measures]]:
    """Figures per service, department, district or channel, largest volume first."""
    if dimension not in _FIELD:
        raise InvalidInput({"by": [f"unknown breakdown {dimension!r}"]})
    column = _FIELD[dimension]
    return _grouped(filters, column, lambda value: value, now=now)


def measures_trend(
    filters: Filters, grain: str, *, now: dt.datetime | None = None
) -> list[tuple[dt.date, Measures]]:
    """Figures per week, month, quarter or year (by the start of each), oldest first; every
    period in the range appears, with zeros where nothing was received."""
    period_start(filters.start, grain)  # validates the grain
    rows = _grouped(filters, "day", lambda day: period_start(day, grain), now=now)
    by_period = dict(rows)
    out = []
    start = period_start(filters.start, grain)
    while start <= filters.end:
        out.append((start, by_period.get(start, Measures())))
        start = period_end(start, grain) + dt.timedelta(days=1)
    return out


def _grouped(
    filters: Filters,
    column: str,
    key_of: Callable[[Any], Any],
    *,
    now: dt.datetime | None,
) -> list[tuple[Any, Measures]]:
    now = now or timezone.now()
    groups: dict[Any, Measures] = defaultdict(Measures)
    for row in _rollups(filters).values(column).annotate(**_SUMS):
        groups[key_of(row[column])].add(Measures.from_sums(row))
    phone = (
        _rollups(filters).filter(channel=Channel.PHONE).values(column).annotate(n=Sum("received"))
    )
    for row in phone:
        groups[key_of(row[column])].phone_received += int(row["n"] or 0)
    durations = (
        _durations(filters).values_list(column, "measure", "bucket").annotate(n=Sum("count"))
    )
    for value, measure, bucket, count in durations:
        slot = groups[key_of(value)]
        histogram = (
            slot.close_histogram
            if measure == DurationMeasure.CLOSE
            else slot.first_action_histogram
        )
        histogram[bucket] = histogram.get(bucket, 0) + int(count)
    past_due = _open_past_due(filters, now)
    if column == "day":
        for requested_at in past_due.values_list("requested_at", flat=True).iterator():
            groups[key_of(local_day(requested_at))].open_past_due += 1
    else:
        for value, count in past_due.values_list(column).annotate(n=Count("id")):
            groups[key_of(value)].open_past_due += count
    return sorted(groups.items(), key=lambda item: -item[1].received)


@dataclass(frozen=True)
class Comparison:
    current: Measures
    previous: Measures
    last_year: Measures


def comparison(filters: Filters, *, now: dt.datetime | None = None) -> Comparison:
    """This period beside the one just before it and the same period a year earlier."""
    now = now or timezone.now()
    return Comparison(
        current=measures(filters, now=now),
        previous=measures(filters.previous(), now=now),
        last_year=measures(filters.last_year(), now=now),
    )


# --- volumes for budgets and forecasts ----------------------------------------------------


def received_counts(
    filters: Filters, by: Sequence[str], *, grain: str | None = None
) -> dict[tuple[Any, ...], int]:
    """Requests received per combination of the ``by`` dimensions (and per month first, with
    ``grain="month"``): the volumes that unit costs and forecasts multiply. One grouped sum
    over the rollups; combinations with nothing received are absent."""
    unknown = [d for d in by if d not in _FIELD]
    if unknown:
        raise InvalidInput({"by": [f"unknown breakdown {unknown[0]!r}"]})
    columns = [_FIELD[d] for d in by]
    rows = _rollups(filters)
    if grain == "month":
        rows = rows.annotate(period=TruncMonth("day"))
        columns.insert(0, "period")
    elif grain is not None:
        raise InvalidInput({"grain": [f"unknown period {grain!r}"]})
    counts: dict[tuple[Any, ...], int] = {}
    for *key, n in rows.values_list(*columns).annotate(n=Sum("received")):
        if n:
            if grain == "month" and isinstance(key[0], dt.datetime):
                key[0] = key[0].date()
            counts[tuple(key)] = int(n)
    return counts


def received_span() -> tuple[dt.date, dt.date] | None:
    """The first and last day any request was received on, by the rollups (None: none)."""
    span = DailyRollup.objects.filter(received__gt=0).aggregate(first=Min("day"), last=Max("day"))
    if span["first"] is None:
        return None
    return span["first"], span["last"]


# --- the backlog (live) --------------------------------------------------------------------

AGE_BANDS: tuple[tuple[int, int | None, Any], ...] = (
    (0, 2, _("Up to 2 days")),
    (3, 7, _("3 to 7 days")),
    (8, 30, _("8 to 30 days")),
    (31, 90, _("31 to 90 days")),
    (91, 365, _("91 days to a year")),
    (366, None, _("Over a year")),
)


@dataclass(frozen=True)
class Backlog:
    open: int
    past_due: int
    ages: list[tuple[Any, int]]


def backlog(filters: Filters, *, now: dt.datetime | None = None) -> Backlog:
    """Requests open now (of the filters' services, departments, districts and channels,
    whenever received), by age since they were received."""
    now = now or timezone.now()
    dimensions = replace(filters, start=dt.date.min, end=dt.date.max)
    open_now = ServiceRequest.objects.filter(
        dimensions._dimension_q(), status__in=sorted(OPEN_STATUSES)
    ).order_by()
    counts: dict[str, Any] = {
        "open": Count("id"),
        "past_due": Count("id", filter=Q(due_at__lt=now)),
    }
    for index, (low, high, _label) in enumerate(AGE_BANDS):
        band = Q(requested_at__lte=now - dt.timedelta(days=low))
        if high is not None:
            band &= Q(requested_at__gt=now - dt.timedelta(days=high + 1))
        counts[f"age{index}"] = Count("id", filter=band)
    row = open_now.aggregate(**counts)
    return Backlog(
        open=row["open"] or 0,
        past_due=row["past_due"] or 0,
        ages=[(label, row[f"age{i}"] or 0) for i, (_l, _h, label) in enumerate(AGE_BANDS)],
    )


# --- labels and the district map --------------------------------------------------------------


def dimension_labels(dimension: str, keys: Iterable[Any], language: str | None) -> dict[Any, str]:
    """Readable names for breakdown keys, in the reader's language where the catalogue has it."""
    return {key: entry.name for key, entry in dimension_entries(dimension, keys, language).items()}


@dataclass(frozen=True)
class DimensionEntry:
    """One service, department, district or channel as the pages and downloads name it:
    its code (the value of a filter, a CSV's key column) and its readable name."""

    code: str
    name: str


def dimension_entries(
    dimension: str, keys: Iterable[Any], language: str | None
) -> dict[Any, DimensionEntry]:
    """Code and name of each breakdown key, in one query per dimension."""
    keys = [k for k in keys if k is not None]
    if dimension == "service":
        return {
            s.pk: DimensionEntry(s.service_code, s.localized("name", language))
            for s in Service.objects.filter(pk__in=keys).only("service_code", "name", "translations")
        }
    if dimension == "department":
        return {
            d.pk: DimensionEntry(d.code, d.localized("name", language))
            for d in Department.objects.filter(pk__in=keys).only("code", "name", "translations")
        }
    if dimension == "district":
        return {
            pk: DimensionEntry(code, name)
            for pk, code, name in Zone.objects.filter(pk__in=keys).values_list("pk", "code", "name")
        }
    if dimension == "channel":
        return {value: DimensionEntry(value, str(label)) for value, label in Channel.choices}
    raise InvalidInput({"by": [f"unknown breakdown {dimension!r}"]})


@dataclass(frozen=True)
class FilterOption:
    ids: tuple[int, ...]
    code: str
    name: str
    group: str = ""


@dataclass(frozen=True)
class FilterOptions:
    """What the dashboards' filters offer: every service (with its department, for grouping),
    department and council district, retired ones included since their history still counts."""

    services: list[FilterOption]
    departments: list[FilterOption]
    districts: list[FilterOption]


def filter_options(language: str | None) -> FilterOptions:
    departments = {
        d.pk: FilterOption((d.pk,), d.code, d.localized("name", language))
        for d in Department.objects.only("code", "name", "translations")
    }
    services = [
        FilterOption(
            (s.pk,),
            s.service_code,
            s.localized("name", language),
            departments[s.department_id].name if s.department_id in departments else "",
        )
        for s in Service.objects.only("service_code", "name", "translations", "department_id")
    ]
    # Two boundary layers may both hold a district of the same code: one choice covers both.
    by_code: dict[str, FilterOption] = {}
    for pk, code, name in districts().values_list("pk", "code", "name"):
        seen = by_code.get(code)
        by_code[code] = FilterOption((*seen.ids, pk), code, seen.name) if seen else FilterOption(
            (pk,), code, name
        )
    return FilterOptions(
        services=sorted(services, key=lambda o: (o.group.casefold(), o.name.casefold())),
        departments=sorted(departments.values(), key=lambda o: o.name.casefold()),
        districts=list(by_code.values()),
    )


def districts() -> QuerySet[Zone]:
    return Zone.objects.filter(layer__role=LayerRole.COUNCIL_DISTRICT).order_by("code")


def district_centers(zone_ids: Sequence[int]) -> dict[int, tuple[float, float]]:
    """Where to put a district on a map: the middle of its boundary, or for a district known
    only by its code (an imported city's), the mean position of its requests. Cached for an
    hour: the mean of thousands of points hardly moves."""
    key = "performance:district-centers:" + ",".join(map(str, sorted(zone_ids)))
    cached = cache.get(key)
    if cached is not None:
        return dict(cached)
    centers: dict[int, tuple[float, float]] = {}
    missing = []
    for zone in Zone.objects.filter(pk__in=zone_ids).values(
        "pk", "min_lat", "max_lat", "min_long", "max_long"
    ):
        if zone["min_lat"] is None:
            missing.append(zone["pk"])
        else:
            centers[zone["pk"]] = (
                (zone["min_lat"] + zone["max_lat"]) / 2,
                (zone["min_long"] + zone["max_long"]) / 2,
            )
    if missing:
        rows = (
            ServiceRequest.objects.filter(district_id__in=missing, lat__isnull=False)
            .order_by()
            .values("district_id")
            .annotate(lat=Avg("lat"), long=Avg("long"))
        )
        for row in rows:
            centers[row["district_id"]] = (row["lat"], row["long"])
    cache.set(key, list(centers.items()), 3600)
    return centers


@dataclass(frozen=True)
class DistrictFigure:
    zone_id: int
    code: str
    name: str
    measures: Measures
    geometry: dict[str, Any] | None
    center: tuple[float, float] | None


def district_map(
    filters: Filters,
    *,
    now: dt.datetime | None = None,
    by_district: Sequence[tuple[Any, Measures]] | None = None,
) -> list[DistrictFigure]:
    """Figures per council district, with what a map needs to draw each one. A caller that
    already holds ``measures_by(filters, "district")`` passes it as ``by_district``."""
    if by_district is None:
        by_district = measures_by(filters, "district", now=now)
    by_zone = dict(by_district)
    zones = list(districts().values("pk", "code", "name", "geometry"))
    centers = district_centers([z["pk"] for z in zones])
    return [
        DistrictFigure(
            zone_id=z["pk"],
            code=z["code"],
            name=z["name"],
            measures=by_zone.get(z["pk"], Measures()),
            geometry=z["geometry"],
            center=centers.get(z["pk"]),
        )
        for z in zones
    ]


def open_requests_total() -> int:
    return ServiceRequest.objects.filter(status__in=sorted(OPEN_STATUSES)).count()
