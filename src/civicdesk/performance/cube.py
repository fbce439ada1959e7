"""The rollup cube: the daily rollups summed over each day and each calendar month, by each
single dimension and pair of dimensions (and by none), so that a dashboard reads small
pre-summed rows instead of every combination of service, department, district and channel.

Why: a daily rollup row is one day x service x department x district x channel, and its
histograms add a row per duration bucket. At a million requests that is 300,000 daily rows
and 1.7 million histogram rows, of which a year's worth takes seconds to sum. The cube
holds the same figures already summed: a year by service is 12 x 33 rows, and the 90-odd
buckets of their histograms.

Which cells exist (``grouping`` is a bitmask of the dimensions kept):
- month grain: no dimension, each one, each pair, and all four (12 groupings); a read
  naming three dimensions (two filters and a breakdown) takes the all-four cells of its
  filters' slice;
- week grain (Monday to Sunday): no dimension, for weekly trends of the whole city;
- day grain: no dimension and each one (5 groupings), for the days at the edges of a range
  and for other weekly trends. A day read naming two or more dimensions goes to the daily
  rollups, one row per combination, which its range keeps to a few days.

The cube is derived data, rewritten whenever the daily rollups of its days are: the days
written by ``rollups._days_write`` and, after it, the months that hold them.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import combinations
from typing import Any

from django.db.models import Q, Sum

from civicdesk.ops.bulkload import rows_insert
from civicdesk.servicerequests.models import Channel

from .measures import Measures
from .models import CubeGrain, DailyRollup, DurationCube, DurationRollup, RollupCube

BITS: dict[str, int] = {"service": 1, "department": 2, "district": 4, "channel": 8}
DAY_GROUPINGS = (0, *BITS.values())
ALL = 15  # every dimension kept: the daily rollups summed by month
WEEK_GROUPINGS = (0,)
MONTH_GROUPINGS = (0, *BITS.values(), *(a | b for a, b in combinations(BITS.values(), 2)), ALL)

KEY_COLUMNS = ("service_id", "department_id", "district_id", "channel")
# The daily rollup rows this module reads, in this column order (rollups writes the same).
DAILY_COLUMNS = ("day", *KEY_COLUMNS, *Measures.COUNTS)
DURATION_COLUMNS = ("day", *KEY_COLUMNS, "measure", "bucket", "count")
_CUBE_COLUMNS = ("grain", "start", "grouping", *KEY_COLUMNS, *Measures.COUNTS, "phone_received")
_DURATION_CUBE_COLUMNS = ("grain", "start", "grouping", *KEY_COLUMNS, "measure", "bucket", "count")

Key = tuple[Any, Any, Any, str]


def grouping_of(dimensions: Iterable[str]) -> int:
    bits = 0
    for dimension in dimensions:
        bits |= BITS[dimension]
    return bits


def _project(key: Key, grouping: int) -> Key:
    """The key with the dimensions outside ``grouping`` emptied."""
    return (
        key[0] if grouping & 1 else None,
        key[1] if grouping & 2 else None,
        key[2] if grouping & 4 else None,
        key[3] if grouping & 8 else "",
    )


def _cells(
    daily: Iterable[Sequence[Any]],
    durations: Iterable[Sequence[Any]],
    grain: str,
    groupings: Sequence[int],
) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """Cube rows from daily rollup rows; a row's start is its day, or its month's first day."""

    def start_of(day: dt.date) -> dt.date:
        if grain == CubeGrain.MONTH:
            return day.replace(day=1)
        if grain == CubeGrain.WEEK:
            return day - dt.timedelta(days=day.weekday())
        return day

    width = len(Measures.COUNTS)
    sums: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0] * (width + 1))
    for row in daily:
        start, values = start_of(row[0]), row[5:]
        key: Key = (row[1], row[2], row[3], row[4])
        phone = values[0] if key[3] == Channel.PHONE else 0
        for grouping in groupings:
            cell = sums[(start, grouping, *_project(key, grouping))]
            for i in range(width):
                cell[i] += values[i]
            cell[width] += phone
    counts: dict[tuple[Any, ...], int] = defaultdict(int)
    for day, service, department, district, channel, measure, bucket, count in durations:
        start = start_of(day)
        key = (service, department, district, channel)
        for grouping in groupings:
            counts[(start, grouping, *_project(key, grouping), measure, bucket)] += count
    return (
        [(grain, *cell, *values) for cell, values in sums.items()],
        [(grain, *cell, count) for cell, count in counts.items()],
    )


def _write(
    grain: str, starts: Sequence[dt.date], rows: list[Any], duration_rows: list[Any]
) -> None:
    RollupCube.objects.filter(grain=grain, start__in=starts).delete()
    DurationCube.objects.filter(grain=grain, start__in=starts).delete()
    rows_insert(RollupCube, _CUBE_COLUMNS, rows)
    rows_insert(DurationCube, _DURATION_CUBE_COLUMNS, duration_rows)


def cube_days_write(
    days: Sequence[dt.date],
    daily: Sequence[Sequence[Any]],
    durations: Sequence[Sequence[Any]],
) -> None:
    """Replace the day cells of ``days`` from their daily rollup rows (``DAILY_COLUMNS`` and
    ``DURATION_COLUMNS`` order), just computed by the caller, who holds the transaction."""
    rows, duration_rows = _cells(daily, durations, CubeGrain.DAY, DAY_GROUPINGS)
    _write(CubeGrain.DAY, list(days), rows, duration_rows)


def cube_periods_write(days: Iterable[dt.date]) -> None:
    """Recompute the week and month cells of the weeks and months holding these days: the
    database sums a period's daily rollups by their full key (a few rows per combination,
    however many requests), and the groupings are summed from those."""
    days = set(days)
    weeks = {day - dt.timedelta(days=day.weekday()) for day in days}
    months = {day.replace(day=1) for day in days}
    for grain, starts, groupings in (
        (CubeGrain.WEEK, weeks, WEEK_GROUPINGS),
        (CubeGrain.MONTH, months, MONTH_GROUPINGS),
    ):
        for start in sorted(starts):
            _period_write(grain, start, groupings)


def _period_write(grain: str, start: dt.date, groupings: Sequence[int]) -> None:
    if grain == CubeGrain.WEEK:
        last = start + dt.timedelta(days=6)
    else:
        last = (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)
    span = Q(day__gte=start, day__lte=last)
    sums = {name: Sum(name) for name in Measures.COUNTS}
    daily = DailyRollup.objects.filter(span).order_by().values_list(*KEY_COLUMNS).annotate(**sums)
    durations = (
        DurationRollup.objects.filter(span)
        .order_by()
        .values_list(*KEY_COLUMNS, "measure", "bucket")
        .annotate(n=Sum("count"))
    )
    rows, duration_rows = _cells(
        ((start, *row) for row in daily),
        ((start, *row) for row in durations),
        grain,
        groupings,
    )
    _write(grain, [start], rows, duration_rows)


def cube_clear() -> None:
    RollupCube.objects.all().delete()
    DurationCube.objects.all().delete()
