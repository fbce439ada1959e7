"""Daily rollups of the measures, kept current incrementally.

A rollup row sums the requests *received* on one local day with one combination of service,
department, district and channel. Because a request's received day never changes, any change
to a request (acknowledged, closed, reopened, merged, imported again) only touches its own
day: the refresh job finds the days of the requests updated since its watermark and
recomputes exactly those days from the requests table. Recomputing a day is idempotent, so
overlapping windows (kept on purpose, for transactions that commit late) do no harm.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Iterator
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, Max, Min, OuterRef, Q
from django.utils import timezone

from civicdesk.ops.bulkload import rows_insert
from civicdesk.servicerequests.models import Channel, EventKind, RequestEvent, ServiceRequest
from civicdesk.servicerequests.statuses import CLOSED_STATUSES, Status

from .cube import DAILY_COLUMNS, DURATION_COLUMNS, cube_clear, cube_days_write, cube_periods_write
from .measures import Measures, bucket_of
from .models import DailyRollup, DurationMeasure, DurationRollup, RollupState

STATE = "daily"
# Requests updated this long before the last watermark are looked at again: a transaction
# that stamped updated_at before the last run but committed after it is still counted.
OVERLAP = dt.timedelta(minutes=10)
_FIRST_CONTACT_ENDINGS = frozenset({Status.RESOLVED, Status.CLOSED, Status.REFERRED})

Key = tuple[int, int, int | None, str]

(
    RECEIVED,
    CLOSED,
    CLOSED_WITH_TARGET,
    CLOSED_ON_TIME,
    FIRST_ACTION,
    EVER_CLOSED,
    REOPENED,
    DUPLICATES,
    FIRST_CONTACT,
) = range(len(Measures.COUNTS))
_FIELDS = (
    "id",
    "service_id",
    "department_id",
    "district_id",
    "channel",
    "status",
    "requested_at",
    "first_action_at",
    "closed_at",
    "due_at",
    "parent_id",
)


def _day_bounds(day: dt.date) -> tuple[dt.datetime, dt.datetime]:
    tz = timezone.get_default_timezone()
    start = dt.datetime.combine(day, dt.time.min, tzinfo=tz)
    end = dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    return start, end


def local_day(moment: dt.datetime) -> dt.date:
    return timezone.localtime(moment, timezone.get_default_timezone()).date()


def _day_rows(day: dt.date) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rollup rows (daily and duration) for the requests received on ``day``."""
    start, end = _day_bounds(day)
    received = ServiceRequest.objects.filter(requested_at__gte=start, requested_at__lt=end)
    reopened = RequestEvent.objects.filter(request=OuterRef("pk"), kind=EventKind.REOPEN)
    rows = received.annotate(was_reopened=Exists(reopened)).values_list(*_FIELDS, "was_reopened")
    first_contact_limit = settings.CIVICDESK_FIRST_CONTACT_MINUTES * 60
    # One slot per name in Measures.COUNTS, in its order (the order DAILY_COLUMNS writes),
    # addressed by the constants below: indexes, because this loop runs once per request.
    sums: dict[Key, list[int]] = defaultdict(lambda: [0] * len(Measures.COUNTS))
    histograms: dict[tuple[Key, str, int], int] = defaultdict(int)
    for (
        _id,
        service_id,
        department_id,
        district_id,
        channel,
        status,
        requested_at,
        first_action_at,
        closed_at,
        due_at,
        parent_id,
        was_reopened,
    ) in rows.iterator(chunk_size=5000):
        key = (service_id, department_id, district_id, channel)
        s = sums[key]
        s[RECEIVED] += 1
        if first_action_at is not None:
            seconds = max(0.0, (first_action_at - requested_at).total_seconds())
            s[FIRST_ACTION] += 1
            histograms[(key, DurationMeasure.FIRST_ACTION, bucket_of(seconds))] += 1
        if status == Status.DUPLICATE or parent_id is not None:
            s[DUPLICATES] += 1
            continue  # left out of every figure about closing
        if was_reopened:
            s[REOPENED] += 1
        if status not in CLOSED_STATUSES or closed_at is None:
            if was_reopened:
                s[EVER_CLOSED] += 1
            continue
        s[CLOSED] += 1
        s[EVER_CLOSED] += 1
        seconds = max(0.0, (closed_at - requested_at).total_seconds())
        histograms[(key, DurationMeasure.CLOSE, bucket_of(seconds))] += 1
        if due_at is not None:
            s[CLOSED_WITH_TARGET] += 1
            if closed_at <= due_at:
                s[CLOSED_ON_TIME] += 1
        if (
            channel == Channel.PHONE
            and status in _FIRST_CONTACT_ENDINGS
            and seconds <= first_contact_limit
            and not was_reopened
        ):
            s[FIRST_CONTACT] += 1
    daily = [(day, *key, *values) for key, values in sums.items()]
    durations = [
        (day, *key, measure, bucket, count) for (key, measure, bucket), count in histograms.items()
    ]
    return daily, durations


def _days_write(days: Iterable[dt.date]) -> int:
    """Replace the rollup rows of ``days``; the caller holds the transaction."""
    written = 0
    batch_days: list[dt.date] = []
    daily: list[tuple[Any, ...]] = []
    durations: list[tuple[Any, ...]] = []
    days_written: set[dt.date] = set()

    def flush() -> None:
        DailyRollup.objects.filter(day__in=batch_days).delete()
        DurationRollup.objects.filter(day__in=batch_days).delete()
        rows_insert(DailyRollup, DAILY_COLUMNS, daily)
        rows_insert(DurationRollup, DURATION_COLUMNS, durations)
        cube_days_write(batch_days, daily, durations)
        days_written.update(batch_days)
        batch_days.clear()
        daily.clear()
        durations.clear()

    for day in days:
        day_daily, day_durations = _day_rows(day)
        batch_days.append(day)
        daily.extend(day_daily)
        durations.extend(day_durations)
        written += len(day_daily)
        if len(batch_days) >= 200 or len(durations) > 50_000:
            flush()
    if batch_days:
        flush()
    cube_periods_write(days_written)
    return written


def _all_days() -> Iterator[dt.date]:
    span = ServiceRequest.objects.aggregate(first=Min("requested_at"), last=Max("requested_at"))
    if span["first"] is None:
        return
    day, last = local_day(span["first"]), local_day(span["last"])
    while day <= last:
        yield day
        day += dt.timedelta(days=1)


def rollups_rebuild(*, now: dt.datetime | None = None) -> int:
    """Recompute every day from scratch (after a bulk load or a change of definitions).

    Returns the number of daily rollup rows written.
    """
    now = now or timezone.now()
    with transaction.atomic():
        DailyRollup.objects.all().delete()
        DurationRollup.objects.all().delete()
        cube_clear()
        written = _days_write(_all_days())
        RollupState.objects.update_or_create(
            name=STATE,
            defaults={
                "watermark": now,
                "rebuilt_at": now,
                "refreshed_at": now,
                "last_request_id": _last_request_id(),
            },
        )
    return written


def rollups_refresh(*, now: dt.datetime | None = None) -> int:
    """Recompute the days of the requests changed since the last run; returns the number of
    days recomputed. The first run (no watermark yet) rebuilds everything."""
    now = now or timezone.now()
    state = RollupState.objects.filter(name=STATE).first()
    if state is None or state.watermark is None:
        rollups_rebuild(now=now)
        return -1
    since = state.watermark - OVERLAP
    last_id = _last_request_id()
    changed = (
        ServiceRequest.objects.filter(Q(updated_at__gte=since) | Q(id__gt=state.last_request_id))
        .order_by()
        .values_list("requested_at", flat=True)
    )
    days = sorted({local_day(moment) for moment in changed.iterator(chunk_size=5000)})
    with transaction.atomic():
        _days_write(days)
        RollupState.objects.filter(name=STATE).update(
            watermark=now, refreshed_at=now, last_request_id=last_id
        )
    return len(days)


def _last_request_id() -> int:
    return ServiceRequest.objects.aggregate(last=Max("id"))["last"] or 0


def rollups_recompute(moments: Iterable[dt.datetime]) -> int:
    """Recompute the days holding these received times now (for loaders, such as imports,
    that write past ``updated_at`` values the refresh would not notice)."""
    days = sorted({local_day(moment) for moment in moments})
    with transaction.atomic():
        _days_write(days)
    return len(days)


def rollups_as_of() -> dt.datetime | None:
    """When the rollups were last brought up to date (shown beside every figure)."""
    return RollupState.objects.filter(name=STATE).values_list("refreshed_at", flat=True).first()
