"""Reads for the dashboards, the public performance page and the council report.

Every figure comes from the daily rollups (sums over at most a few hundred thousand rows at
ten million requests) plus one live query over the requests open now (the backlog and the
open past-due counts, which change with the clock rather than with the requests).
"""

from __future__ import annotations

import datetime as dt
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from django.core.cache import cache
from django.db.models import (
    Avg,
    Case,
    Count,
    DateField,
    F,
    Max,
    Min,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Concat, TruncMonth
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from civicdesk.catalog.models import Department, Service
from civicdesk.errors import InvalidInput
from civicdesk.geo.models import LayerRole, Zone
from civicdesk.servicerequests.models import Channel, ServiceRequest
from civicdesk.servicerequests.statuses import OPEN_STATUSES

from .cube import ALL, BITS, grouping_of
from .measures import Measures
from .models import (
    CubeGrain,
    DailyRollup,
    DurationCube,
    DurationMeasure,
    DurationRollup,
    RollupCube,
)

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
        return replace(self, start=year_back(self.start), end=year_back(self.end))

    def dimensions(self) -> frozenset[str]:
        """The dimensions these filters narrow."""
        chosen = {
            "service": self.service_ids,
            "department": self.department_ids,
            "district": self.district_ids,
            "channel": self.channels,
        }
        return frozenset(name for name, values in chosen.items() if values)

    def rollup_q(self) -> Q:
        q = Q(day__gte=self.start, day__lte=self.end)
        return q & self._dimension_q()

    def moments(self) -> tuple[dt.datetime, dt.datetime]:
        """The first moment of the range and the first moment after it, local time."""
        tz = timezone.get_default_timezone()
        start = dt.datetime.combine(self.start, dt.time.min, tzinfo=tz)
        end = dt.datetime.combine(self.end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
        return start, end

    def request_q(self) -> Q:
        start, end = self.moments()
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


def year_back(day: dt.date) -> dt.date:
    """The same date a year earlier (29 February becomes the 28th)."""
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
#
# Sums and histograms come from the rollup cube (see cube.py) wherever a cell holds the
# dimensions a read needs: whole calendar months from the month cells, the days at either
# end of the range from the day cells. A read naming more dimensions than the cells keep
# goes to the daily rollups, which its filters narrow to a few rows.


def _rollups(filters: Filters) -> QuerySet[DailyRollup]:
    return DailyRollup.objects.filter(filters.rollup_q()).order_by()


@dataclass(frozen=True)
class _Source:
    """One part of a read's range, in one table: the rows to sum and their histograms."""

    sums: QuerySet[Any]
    durations: QuerySet[Any]
    time: str  # the column holding the day (or month) of a row
    phone: Any  # the aggregate giving phone_received


def _whole_periods(start: dt.date, end: dt.date, grain: str) -> tuple[dt.date, dt.date] | None:
    """The first days of the first and last whole weeks or months within start..end."""
    first = start
    if period_start(start, grain) != start:
        first = period_end(period_start(start, grain), grain) + dt.timedelta(days=1)
    last = period_start(end, grain)
    if period_end(last, grain) != end:
        last = period_start(last - dt.timedelta(days=1), grain)
    return (first, last) if first <= last else None


def _sources(filters: Filters, dimension: str | None, *, weeks: bool = False) -> list[_Source]:
    """Where a read finds its rows: the cube's week or month cells for whole periods, its
    day cells (or the daily rollups) for the days around them."""
    needed = filters.dimensions() | ({dimension} if dimension in BITS else set())
    grouping = grouping_of(needed)
    dimension_q = filters._dimension_q()
    spans: list[tuple[dt.date, dt.date]] = []
    out: list[_Source] = []
    # Weeks cross month boundaries: a weekly trend reads week cells (kept for the whole
    # city only) or day cells.
    grain = "week" if weeks else "month"
    whole = None
    if not weeks or not needed:
        whole = _whole_periods(filters.start, filters.end, grain)
    if whole is None:
        spans.append((filters.start, filters.end))
    else:
        first, last = whole
        if filters.start < first:
            spans.append((filters.start, first - dt.timedelta(days=1)))
        if period_end(last, grain) < filters.end:
            spans.append((period_end(last, grain) + dt.timedelta(days=1), filters.end))
        if weeks:
            out.append(_cube(CubeGrain.WEEK, 0, first, last, dimension_q))
        else:
            month_grouping = grouping if len(needed) <= 2 else ALL
            out.append(_cube(CubeGrain.MONTH, month_grouping, first, last, dimension_q))
    for start, end in spans:
        if len(needed) <= 1:
            out.append(_cube(CubeGrain.DAY, grouping, start, end, dimension_q))
        else:
            span = Q(day__gte=start, day__lte=end)
            out.append(
                _Source(
                    # By the day index: a district's or service's index would walk that
                    # dimension's whole history for a few days' rows.
                    sums=_unindexed(DailyRollup.objects.filter(span), filters),
                    durations=_unindexed(DurationRollup.objects.filter(span), filters),
                    time="day",
                    phone=Sum("received", filter=Q(channel=Channel.PHONE)),
                )
            )
    return out


def _cube(grain: str, grouping: int, start: dt.date, end: dt.date, dimension_q: Q) -> _Source:
    cell = Q(grain=grain, grouping=grouping, start__gte=start, start__lte=end) & dimension_q
    return _Source(
        sums=RollupCube.objects.filter(cell).order_by(),
        durations=DurationCube.objects.filter(cell).order_by(),
        time="start",
        phone=Sum("phone_received"),
    )


def _unindexed(rows: QuerySet[Any], filters: Filters) -> QuerySet[Any]:
    """``rows`` narrowed to the filters' services, departments, districts and channels by
    tests no index serves (``service_id + 0``), so that a planner takes the index of the
    query's other, more selective test. SQLite keeps no statistics and otherwise prefers
    any index on an equality test, however many rows it holds."""
    tests = Q()
    for column, values in (
        ("service_id", filters.service_ids),
        ("department_id", filters.department_ids),
        ("district_id", filters.district_ids),
    ):
        if values:
            rows = rows.alias(**{f"{column}_any": F(column) + 0})
            tests &= Q(**{f"{column}_any__in": values})
    if filters.channels:
        rows = rows.alias(channel_any=Concat(F("channel"), Value("")))
        tests &= Q(channel_any__in=filters.channels)
    return rows.filter(tests).order_by()


Late = tuple[
    dt.datetime, int, int, int | None, str
]  # received, service, department, district, channel


@dataclass(frozen=True)
class OpenPastDue:
    """The requests open and past due at ``now`` (merged ones left out), oldest received
    first: read once, then counted in Python for each figure of a page.

    Open past-due requests are few (the late part of the backlog), and the (status, due_at)
    index finds exactly them. A count per figure instead, narrowed by date and service,
    lets SQLite's planner (which keeps no statistics to tell it open requests are rare) walk
    a service-and-date index over every request of the year: a third of a second a figure
    at a million requests.
    """

    now: dt.datetime
    rows: tuple[Late, ...]
    received: tuple[dt.datetime, ...]  # rows' first column, for bisecting

    def matching(self, filters: Filters) -> list[Late]:
        start, end = filters.moments()
        rows = self.rows[bisect_left(self.received, start) : bisect_left(self.received, end)]
        if not filters.dimensions():
            return list(rows)
        wanted: tuple[set[Any], ...] = (
            set(filters.service_ids),
            set(filters.department_ids),
            set(filters.district_ids),
            set(filters.channels),
        )
        return [
            row
            for row in rows
            if all(not values or row[i + 1] in values for i, values in enumerate(wanted))
        ]


def open_past_due(*, now: dt.datetime | None = None) -> OpenPastDue:
    now = now or timezone.now()
    found = (
        ServiceRequest.objects.filter(status__in=sorted(OPEN_STATUSES), due_at__lt=now)
        .order_by()
        .values_list(
            "requested_at", "service_id", "department_id", "district_id", "channel", "parent_id"
        )
    )
    rows = sorted((row[:5] for row in found if row[5] is None), key=lambda row: row[0])
    return OpenPastDue(now, tuple(rows), tuple(row[0] for row in rows))


def measures(
    filters: Filters, *, now: dt.datetime | None = None, past_due: OpenPastDue | None = None
) -> Measures:
    """All figures for the requests the filters select. Pages that read several figures at
    one moment pass the same ``past_due`` (``open_past_due(now=...)``) to each."""
    past_due = past_due or open_past_due(now=now)
    groups = dict(_grouped(filters, None))
    result = groups.get(None, Measures())
    result.open_past_due = len(past_due.matching(filters))
    return result


def measures_by(
    filters: Filters,
    dimension: str,
    *,
    now: dt.datetime | None = None,
    past_due: OpenPastDue | None = None,
) -> list[tuple[Any, Measures]]:
    """Figures per service, department, district or channel, largest volume first."""
    if dimension not in _FIELD:
        raise InvalidInput({"by": [f"unknown breakdown {dimension!r}"]})
    past_due = past_due or open_past_due(now=now)
    groups = dict(_grouped(filters, dimension))
    index = list(_FIELD).index(dimension) + 1  # the row's column: see OpenPastDue
    for row in past_due.matching(filters):
        groups.setdefault(row[index], Measures()).open_past_due += 1
    return sorted(groups.items(), key=lambda item: -item[1].received)


def measures_trend(
    filters: Filters,
    grain: str,
    *,
    now: dt.datetime | None = None,
    past_due: OpenPastDue | None = None,
    histograms: bool = True,
) -> list[tuple[dt.date, Measures]]:
    """Figures per week, month, quarter or year (by the start of each), oldest first; every
    period in the range appears, with zeros where nothing was received. Without
    ``histograms`` the medians and percentiles are left out (and the read is half as long):
    for a comparison line of volumes and rates."""
    period_start(filters.start, grain)  # validates the grain
    past_due = past_due or open_past_due(now=now)
    starts = []
    start = period_start(filters.start, grain)
    while start <= filters.end:
        starts.append(start)
        start = period_end(start, grain) + dt.timedelta(days=1)
    periods = [(start, period_end(start, grain)) for start in starts]
    by_period = dict(
        _grouped(filters, "day", periods=periods, weeks=grain == "week", histograms=histograms)
    )
    tz = timezone.get_default_timezone()
    bounds = [dt.datetime.combine(start, dt.time.min, tzinfo=tz) for start in starts]
    late = [0] * len(starts)
    for row in past_due.matching(filters):
        late[bisect_right(bounds, row[0]) - 1] += 1
    out = []
    for start, count in zip(starts, late, strict=True):
        measures = by_period.get(start, Measures())
        measures.open_past_due = count
        out.append((start, measures))
    return out


def _grouped(
    filters: Filters,
    dimension: str | None,
    *,
    periods: Sequence[tuple[dt.date, dt.date]] = (),
    weeks: bool = False,
    histograms: bool = True,
) -> list[tuple[Any, Measures]]:
    """Summed counts and histograms by ``dimension`` (a breakdown), by ``"day"`` (summed
    into ``periods`` by the database), or in total (None). Open past-due counts are the
    caller's."""
    groups: dict[Any, Measures] = defaultdict(Measures)
    for source in _sources(filters, dimension, weeks=weeks):
        sums_rows, duration_rows = source.sums, source.durations
        if dimension == "day":
            period = Case(
                *(
                    When(
                        **{f"{source.time}__gte": first, f"{source.time}__lte": last},
                        then=Value(first),
                    )
                    for first, last in periods
                ),
                output_field=DateField(),
            )
            sums_rows = sums_rows.annotate(period=period)
            duration_rows = duration_rows.annotate(period=period)
            column: str | None = "period"
        else:
            column = _FIELD.get(dimension or "")
        # phone_received first: after it, "received" names the annotation, not the column.
        aggregates = {"phone_received": source.phone, **_SUMS}
        if not histograms:
            duration_rows = duration_rows.none()
        if column is None:
            sums = [(None, sums_rows.aggregate(**aggregates))]
            durations: Iterable[Sequence[Any]] = (
                (None, *row)
                for row in duration_rows.values_list("measure", "bucket").annotate(n=Sum("count"))
            )
        else:
            sums = [(row[column], row) for row in sums_rows.values(column).annotate(**aggregates)]
            durations = duration_rows.values_list(column, "measure", "bucket").annotate(
                n=Sum("count")
            )
        for value, row in sums:
            if row.get("received") is None:
                continue  # an aggregate over no rows
            slot = groups[value]
            slot.add(Measures.from_sums(row))
            slot.phone_received += int(row["phone_received"] or 0)
        for value, measure, bucket, count in durations:
            slot = groups[value]
            histogram = (
                slot.close_histogram
                if measure == DurationMeasure.CLOSE
                else slot.first_action_histogram
            )
            histogram[bucket] = histogram.get(bucket, 0) + int(count)
    return sorted(groups.items(), key=lambda item: -item[1].received)


@dataclass(frozen=True)
class Comparison:
    current: Measures
    previous: Measures
    last_year: Measures


def comparison(
    filters: Filters, *, now: dt.datetime | None = None, past_due: OpenPastDue | None = None
) -> Comparison:
    """This period beside the one just before it and the same period a year earlier."""
    past_due = past_due or open_past_due(now=now)
    return Comparison(
        current=measures(filters, past_due=past_due),
        previous=measures(filters.previous(), past_due=past_due),
        last_year=measures(filters.last_year(), past_due=past_due),
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


def _open_now(filters: Filters) -> QuerySet[ServiceRequest]:
    """Requests open now, of the filters' services, departments, districts and channels,
    found through the (status, ...) index, which holds just the few open requests. With a
    plain ``service_id IN (...)`` SQLite walks the service index over every request of
    that service (a few milliseconds become a few hundred at a million requests), and a
    channel test makes it scan the whole table."""
    return _unindexed(ServiceRequest.objects.filter(status__in=sorted(OPEN_STATUSES)), filters)


@dataclass(frozen=True)
class Backlog:
    open: int
    past_due: int
    ages: list[tuple[Any, int]]


def backlog(filters: Filters, *, now: dt.datetime | None = None) -> Backlog:
    """Requests open now (of the filters' services, departments, districts and channels,
    whenever received), by age since they were received."""
    now = now or timezone.now()
    open_now = _open_now(filters)
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
            for s in Service.objects.filter(pk__in=keys).only(
                "service_code", "name", "translations"
            )
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
        by_code[code] = (
            FilterOption((*seen.ids, pk), code, seen.name)
            if seen
            else FilterOption((pk,), code, name)
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
        min_lat, max_lat = zone["min_lat"], zone["max_lat"]
        min_long, max_long = zone["min_long"], zone["max_long"]
        if min_lat is None or max_lat is None or min_long is None or max_long is None:
            missing.append(zone["pk"])
        else:
            centers[zone["pk"]] = ((min_lat + max_lat) / 2, (min_long + max_long) / 2)
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
