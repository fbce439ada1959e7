"""The measures of performance, their rollups and how they are kept current.

Figures read from the rollups are checked against the same figures worked out by hand from
requests whose history the test sets down exactly.
"""

from __future__ import annotations

import datetime as dt
import random
import statistics
from typing import Any

import pytest
from django.utils import timezone

from civicdesk.errors import InvalidInput
from civicdesk.performance.measures import bucket_of, histogram_quantile
from civicdesk.performance.models import DailyRollup
from civicdesk.performance.rollups import rollups_as_of, rollups_rebuild, rollups_refresh
from civicdesk.performance.selectors import (
    Filters,
    backlog,
    comparison,
    measures,
    measures_by,
    measures_trend,
    month_parse,
)
from civicdesk.servicerequests.models import Channel, ServiceRequest
from civicdesk.servicerequests.services import (
    request_merge,
    request_reopen,
    request_transition,
)
from tests.conftest import make_request, run_jobs

pytestmark = pytest.mark.django_db

TZ = timezone.get_default_timezone()
DAY = dt.date(2026, 10, 14)  # a Wednesday


def at(day: dt.date, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=TZ)


def history(
    service: str = "pothole",
    *,
    received: dt.datetime,
    closed: dt.datetime | None = None,
    due: dt.datetime | None = None,
    first_action: dt.datetime | None = None,
    channel: str = Channel.WEB,
    **kwargs: Any,
) -> ServiceRequest:
    """A request whose timestamps are exactly these (the services stamp the real clock)."""
    request = make_request(service, requested_at=received, channel=channel, **kwargs)
    if closed is not None:
        request_transition(request=request, to_status="closed", note="Done.")
    ServiceRequest.objects.filter(pk=request.pk).update(
        requested_at=received, closed_at=closed, due_at=due, first_action_at=first_action
    )
    request.refresh_from_db()
    return request


# --------------------------------------------------------------------------------------
# Durations from histograms


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_medians_and_90th_percentiles_from_histograms_are_within_a_few_percent(seed: int) -> None:
    rng = random.Random(seed)
    durations = [rng.lognormvariate(11, 1.4) for _ in range(5000)]  # minutes to months
    histogram: dict[int, int] = {}
    for seconds in durations:
        histogram[bucket_of(seconds)] = histogram.get(bucket_of(seconds), 0) + 1
    exact = statistics.quantiles(durations, n=10)
    assert histogram_quantile(histogram, 0.5) == pytest.approx(
        statistics.median(durations), rel=0.05
    )
    assert histogram_quantile(histogram, 0.9) == pytest.approx(exact[8], rel=0.05)


def test_a_quantile_of_nothing_is_none_and_short_durations_stay_under_a_minute() -> None:
    assert histogram_quantile({}, 0.5) is None
    assert histogram_quantile({0: 4}, 0.5) == pytest.approx(30.0)
    assert bucket_of(-5) == 0
    assert bucket_of(59) == 0
    assert bucket_of(61) == 1


# --------------------------------------------------------------------------------------
# Figures for a period


def test_figures_for_a_period_match_the_requests_received_in_it(city: None) -> None:
    # Four pothole reports with targets: two closed on time, one closed late, one open and
    # already past due; one still open and not yet due (not counted either way).
    on_time = [
        history(received=at(DAY, 9), closed=at(DAY, 15), due=at(DAY + dt.timedelta(2), 17)),
        history(
            received=at(DAY, 10),
            closed=at(DAY + dt.timedelta(1), 10),
            due=at(DAY + dt.timedelta(2), 17),
            first_action=at(DAY, 12),
        ),
    ]
    history(
        received=at(DAY, 11),
        closed=at(DAY + dt.timedelta(5), 11),
        due=at(DAY + dt.timedelta(2), 17),
        first_action=at(DAY, 15),
    )
    history(received=at(DAY, 12), due=at(DAY + dt.timedelta(2), 17), first_action=at(DAY, 15))
    history(received=at(DAY, 13), due=timezone.now() + dt.timedelta(days=3))
    # A phone call resolved in ten minutes (first contact), one that took two days.
    history("graffiti", received=at(DAY, 14), closed=at(DAY, 14, 10), channel=Channel.PHONE)
    history(
        "graffiti",
        received=at(DAY, 14, 30),
        closed=at(DAY + dt.timedelta(2), 14, 30),
        channel=Channel.PHONE,
    )
    # Outside the period: the day before.
    history(received=at(DAY - dt.timedelta(1), 23, 59), closed=at(DAY, 9))
    rollups_rebuild()

    figures = measures(Filters(start=DAY, end=DAY))

    assert figures.received == 7
    assert figures.closed == 5
    assert figures.open_past_due == 1
    assert figures.on_time_rate == pytest.approx(2 / 4)
    assert figures.first_contact_rate == pytest.approx(1 / 2)
    assert figures.duplicate_rate == 0
    assert figures.reopen_rate == 0
    close_hours = sorted([6, 24, 120, 10 / 60, 48])
    # Within one histogram bucket (15%) of the exact medians.
    assert figures.median_close_hours == pytest.approx(statistics.median(close_hours), rel=0.15)
    assert figures.median_first_action_hours == pytest.approx(3.0, rel=0.15)
    assert on_time[0].department_id is not None

    by_channel = dict(measures_by(Filters(start=DAY, end=DAY), "channel"))
    assert by_channel[Channel.PHONE].received == 2
    assert by_channel[Channel.WEB].received == 5
    by_service = {key: m.received for key, m in measures_by(Filters(start=DAY, end=DAY), "service")}
    assert sorted(by_service.values()) == [2, 5]


def test_duplicates_and_reopened_requests_are_counted_and_kept_out_of_time_to_close(
    city: None,
) -> None:
    parent = history(received=at(DAY, 9))
    duplicate = history(received=at(DAY, 10))
    request_merge(duplicate=duplicate, parent=parent)
    reopened = history(received=at(DAY, 11), closed=at(DAY, 12))
    request_reopen(request=reopened, reason="Still broken.")
    ServiceRequest.objects.filter(pk=duplicate.pk).update(requested_at=at(DAY, 10))
    rollups_rebuild()

    figures = measures(Filters(start=DAY, end=DAY))

    assert figures.received == 3
    assert figures.duplicate_rate == pytest.approx(1 / 3)
    # The reopened request was closed once: it is the one request ever closed, and reopened.
    assert figures.reopen_rate == 1.0
    assert figures.closed == 0
    assert figures.median_close_hours is None


def test_a_late_evening_request_counts_on_its_local_day(city: None) -> None:
    history(received=at(DAY, 23, 30))  # 04:30 UTC the next day
    rollups_rebuild()
    assert measures(Filters(start=DAY, end=DAY)).received == 1
    assert measures(Filters(start=DAY + dt.timedelta(1), end=DAY + dt.timedelta(1))).received == 0


# --------------------------------------------------------------------------------------
# Keeping the rollups current


def test_the_periodic_job_picks_up_changes_since_its_last_run(city: None) -> None:
    request = history(received=at(DAY, 9), due=at(DAY + dt.timedelta(2), 17))
    rollups_rebuild()
    assert measures(Filters(start=DAY, end=DAY)).closed == 0

    request_transition(request=request, to_status="closed", note="Filled.")
    make_request(requested_at=at(DAY + dt.timedelta(1), 9))
    assert rollups_refresh() == 2  # the two days touched, nothing else

    assert measures(Filters(start=DAY, end=DAY)).closed == 1
    assert measures(Filters(start=DAY, end=DAY + dt.timedelta(1))).received == 2
    assert rollups_as_of() is not None


def test_the_first_refresh_builds_everything_and_the_worker_runs_it(city: None) -> None:
    from civicdesk.performance.tasks import refresh_rollups

    history(received=at(DAY, 9))
    assert not DailyRollup.objects.exists()
    refresh_rollups.enqueue()
    run_jobs()
    assert measures(Filters(start=DAY, end=DAY)).received == 1


# --------------------------------------------------------------------------------------
# Periods and comparisons


def test_a_trend_lists_every_period_in_the_range_with_zeros_where_nothing_came_in(
    city: None,
) -> None:
    history(received=at(dt.date(2026, 8, 3), 9))
    history(received=at(dt.date(2026, 10, 5), 9))
    history(received=at(dt.date(2026, 10, 6), 9))
    rollups_rebuild()

    months = measures_trend(Filters(start=dt.date(2026, 8, 1), end=dt.date(2026, 10, 31)), "month")
    assert [(start, m.received) for start, m in months] == [
        (dt.date(2026, 8, 1), 1),
        (dt.date(2026, 9, 1), 0),
        (dt.date(2026, 10, 1), 2),
    ]
    weeks = measures_trend(Filters(start=dt.date(2026, 10, 5), end=dt.date(2026, 10, 18)), "week")
    assert [(start.weekday(), m.received) for start, m in weeks] == [(0, 2), (0, 0)]
    with pytest.raises(InvalidInput):
        measures_trend(Filters(start=DAY, end=DAY), "fortnight")


def test_comparison_with_the_previous_period_and_the_same_period_last_year(city: None) -> None:
    history(received=at(dt.date(2026, 10, 10), 9))
    history(received=at(dt.date(2026, 9, 10), 9))
    history(received=at(dt.date(2026, 9, 11), 9))
    history(received=at(dt.date(2025, 10, 10), 9))
    rollups_rebuild()
    october = Filters(*month_parse("2026-10"))

    result = comparison(october)

    assert (result.current.received, result.previous.received, result.last_year.received) == (
        1,
        2,
        1,
    )
    assert october.previous() == Filters(start=dt.date(2026, 9, 1), end=dt.date(2026, 9, 30))
    days = Filters(start=dt.date(2026, 10, 10), end=dt.date(2026, 10, 16)).previous()
    assert (days.start, days.end) == (dt.date(2026, 10, 3), dt.date(2026, 10, 9))
    leap = Filters(start=dt.date(2028, 2, 29), end=dt.date(2028, 2, 29)).last_year()
    assert leap.start == dt.date(2027, 2, 28)


def test_bad_periods_are_refused_with_a_specific_message() -> None:
    with pytest.raises(InvalidInput, match="before the start"):
        Filters(start=DAY, end=DAY - dt.timedelta(1))
    with pytest.raises(InvalidInput, match="YYYY-MM"):
        month_parse("2026-13")


def test_the_backlog_counts_open_requests_by_age(city: None) -> None:
    now = timezone.now()
    history(received=now - dt.timedelta(hours=3))
    history(received=now - dt.timedelta(days=5), due=now - dt.timedelta(days=1))
    history(received=now - dt.timedelta(days=400))
    history(received=now - dt.timedelta(days=5), closed=now - dt.timedelta(days=1))

    result = backlog(Filters(start=DAY, end=DAY))

    assert result.open == 3
    assert result.past_due == 1
    assert [count for _label, count in result.ages] == [1, 1, 0, 0, 0, 1]
