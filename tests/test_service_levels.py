"""Service levels: when a request is due under the city's business calendar, and where it stands
against that target. Expected due dates are written out by hand from the rules in the module
docstring of ``civicdesk.catalog.service_levels``."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from civicdesk.catalog.models import BusinessCalendar, Department, Holiday, Service, SlaUnit
from civicdesk.catalog.service_levels import (
    SlaState,
    WorkingCalendar,
    due_at_compute,
    service_due_at,
    sla_state,
    working_calendar_for,
)
from civicdesk.errors import InvalidInput
from tests.conftest import make_request

CHI = ZoneInfo("America/Chicago")
UTC = dt.UTC
WEEKDAYS_8_TO_5 = {str(day): [["08:00", "17:00"]] for day in range(5)}


def local(*args: int) -> dt.datetime:
    return dt.datetime(*args, tzinfo=CHI)


def elapsed(start: dt.datetime, end: dt.datetime) -> dt.timedelta:
    """Real time between two moments (subtracting two datetimes that share a ZoneInfo would
    give wall-clock time)."""
    return end.astimezone(UTC) - start.astimezone(UTC)


def plain_calendar(**overrides: object) -> WorkingCalendar:
    """Monday to Friday 08:00-17:00 in Chicago, no holidays (unless given)."""
    kwargs: dict[str, object] = {
        "timezone": "America/Chicago",
        "working_hours": WEEKDAYS_8_TO_5,
        "holidays": (),
    }
    kwargs.update(overrides)
    return WorkingCalendar.build(**kwargs)  # type: ignore[arg-type]


@pytest.fixture
def demo_calendar(city: None) -> WorkingCalendar:
    """The demo city's default calendar, read from the database with its holidays."""
    return WorkingCalendar.from_model(BusinessCalendar.objects.get(is_default=True))


def due(amount: int | None, unit: str, at: dt.datetime, calendar: WorkingCalendar) -> dt.datetime:
    result = due_at_compute(amount=amount, unit=unit, requested_at=at, calendar=calendar)
    assert result is not None
    return result


# --------------------------------------------------------------------------------------
# Business hours


@pytest.mark.parametrize(
    ("requested", "hours", "expected"),
    [
        # Within one working day.
        (local(2026, 3, 2, 10, 0), 4, local(2026, 3, 2, 14, 0)),
        # Ending exactly at close stays on that day (not next morning at 08:00).
        (local(2026, 3, 2, 16, 0), 1, local(2026, 3, 2, 17, 0)),
        # Spilling over into the next morning.
        (local(2026, 3, 2, 15, 30), 4, local(2026, 3, 3, 10, 30)),
        # Before opening: the clock starts at 08:00.
        (local(2026, 3, 2, 6, 15), 2, local(2026, 3, 2, 10, 0)),
        # Exactly at opening.
        (local(2026, 3, 2, 8, 0), 9, local(2026, 3, 2, 17, 0)),
        # After close: the clock starts next morning.
        (local(2026, 3, 2, 19, 45), 3, local(2026, 3, 3, 11, 0)),
        # Exactly at close counts as after hours.
        (local(2026, 3, 2, 17, 0), 1, local(2026, 3, 3, 9, 0)),
        # Friday afternoon over a weekend (no DST change: 2026-02-27 to 03-02).
        (local(2026, 2, 27, 15, 0), 4, local(2026, 3, 2, 10, 0)),
        # Saturday and Sunday intake start on Monday at 08:00.
        (local(2026, 2, 28, 11, 0), 1, local(2026, 3, 2, 9, 0)),
        (local(2026, 3, 1, 23, 59), 9, local(2026, 3, 2, 17, 0)),
        # Several full days: 45 hours = five working days exactly.
        (local(2026, 2, 23, 8, 0), 45, local(2026, 2, 27, 17, 0)),
    ],
)
def test_business_hours_count_only_working_time(
    requested: dt.datetime, hours: int, expected: dt.datetime
) -> None:
    assert due(hours, SlaUnit.BUSINESS_HOURS, requested, plain_calendar()) == expected


def test_business_hours_skip_thanksgiving_and_the_day_after(demo_calendar: WorkingCalendar) -> None:
    # Wednesday 15:00 before Thanksgiving: 2 hours on Wednesday, Thursday and Friday are city
    # holidays, then the weekend; the remaining 2 hours run Monday 08:00-10:00.
    requested = local(2026, 11, 25, 15, 0)
    assert due(4, SlaUnit.BUSINESS_HOURS, requested, demo_calendar) == local(2026, 11, 30, 10, 0)
    # Without the holidays the same target would fall on Thanksgiving morning.
    assert due(4, SlaUnit.BUSINESS_HOURS, requested, plain_calendar()) == local(2026, 11, 26, 10, 0)


def test_business_hours_requested_on_a_holiday_start_next_working_day(
    demo_calendar: WorkingCalendar,
) -> None:
    # Christmas 2026 is a Friday: nothing counts until Monday the 28th.
    requested = local(2026, 12, 25, 10, 0)
    assert due(3, SlaUnit.BUSINESS_HOURS, requested, demo_calendar) == local(2026, 12, 28, 11, 0)
    # Christmas Eve 14:00: 3 hours that afternoon, the 4th on Monday morning.
    requested = local(2026, 12, 24, 14, 0)
    assert due(4, SlaUnit.BUSINESS_HOURS, requested, demo_calendar) == local(2026, 12, 28, 9, 0)


def test_business_hours_around_a_lunch_break() -> None:
    lunch = plain_calendar(working_hours={"0": [["08:00", "12:00"], ["13:00", "17:00"]]})
    # Monday 11:00 + 2 hours: 11-12, then 13-14.
    assert due(2, SlaUnit.BUSINESS_HOURS, local(2026, 3, 2, 11, 0), lunch) == local(
        2026, 3, 2, 14, 0
    )
    # Ending exactly at the start of lunch stays before lunch.
    assert due(1, SlaUnit.BUSINESS_HOURS, local(2026, 3, 2, 11, 0), lunch) == local(
        2026, 3, 2, 12, 0
    )
    # A request arriving during lunch starts counting at 13:00.
    assert due(1, SlaUnit.BUSINESS_HOURS, local(2026, 3, 2, 12, 30), lunch) == local(
        2026, 3, 2, 14, 0
    )
    # Only Mondays are working days here: 8 hours a day, so 10 hours from Monday 08:00
    # finishes on the next Monday at 10:00.
    assert due(10, SlaUnit.BUSINESS_HOURS, local(2026, 3, 2, 8, 0), lunch) == local(
        2026, 3, 9, 10, 0
    )


def test_business_hours_over_spring_forward_gain_or_lose_no_working_hour() -> None:
    # Clocks go forward on Sunday 2026-03-08. Friday 16:00 CST + 2 working hours is Monday
    # 09:00 CDT: one hour on Friday, one on Monday, although 64 (not 65) hours elapse.
    requested = local(2026, 3, 6, 16, 0)
    result = due(2, SlaUnit.BUSINESS_HOURS, requested, plain_calendar())
    assert result == local(2026, 3, 9, 9, 0)
    assert result.astimezone(UTC) == dt.datetime(2026, 3, 9, 14, 0, tzinfo=UTC)
    assert elapsed(requested, result) == dt.timedelta(hours=64)
    # Thursday 12:00 + 18 hours: 5 Thursday + 9 Friday + 4 Monday.
    assert due(18, SlaUnit.BUSINESS_HOURS, local(2026, 3, 5, 12, 0), plain_calendar()) == local(
        2026, 3, 9, 12, 0
    )


def test_business_hours_over_fall_back_gain_or_lose_no_working_hour() -> None:
    # Clocks go back on Sunday 2026-11-01. Friday 16:00 CDT + 2 working hours is Monday
    # 09:00 CST, 66 (not 65) hours later.
    requested = local(2026, 10, 30, 16, 0)
    result = due(2, SlaUnit.BUSINESS_HOURS, requested, plain_calendar())
    assert result == local(2026, 11, 2, 9, 0)
    assert result.astimezone(UTC) == dt.datetime(2026, 11, 2, 15, 0, tzinfo=UTC)
    assert elapsed(requested, result) == dt.timedelta(hours=66)


def test_business_hours_accept_a_request_time_in_utc() -> None:
    # Monday 2026-03-02 15:00 UTC is 09:00 CST.
    requested = dt.datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
    assert due(3, SlaUnit.BUSINESS_HOURS, requested, plain_calendar()) == local(2026, 3, 2, 12, 0)


# --------------------------------------------------------------------------------------
# Business days


@pytest.mark.parametrize(
    ("requested", "days", "expected"),
    [
        # The module's own example: Monday 10:00 + 2 business days -> Wednesday at close.
        (local(2026, 3, 2, 10, 0), 2, local(2026, 3, 4, 17, 0)),
        # Saturday intake: the intake day is Monday, so also Wednesday at close.
        (local(2026, 2, 28, 10, 0), 2, local(2026, 3, 4, 17, 0)),
        # Sunday night too.
        (local(2026, 3, 1, 23, 0), 2, local(2026, 3, 4, 17, 0)),
        # Before opening on Monday: Monday is still the intake day.
        (local(2026, 3, 2, 6, 0), 2, local(2026, 3, 4, 17, 0)),
        # A minute before close: still Monday.
        (local(2026, 3, 2, 16, 59), 2, local(2026, 3, 4, 17, 0)),
        # At or after close: the intake day is Tuesday.
        (local(2026, 3, 2, 17, 0), 2, local(2026, 3, 5, 17, 0)),
        (local(2026, 3, 2, 21, 30), 2, local(2026, 3, 5, 17, 0)),
        # One business day from Friday is Monday's close.
        (local(2026, 2, 27, 9, 0), 1, local(2026, 3, 2, 17, 0)),
        # Five business days from Monday: the following Monday.
        (local(2026, 2, 23, 12, 0), 5, local(2026, 3, 2, 17, 0)),
    ],
)
def test_business_days_follow_the_intake_day_rule(
    requested: dt.datetime, days: int, expected: dt.datetime
) -> None:
    assert due(days, SlaUnit.BUSINESS_DAYS, requested, plain_calendar()) == expected


@pytest.mark.parametrize(
    ("requested", "days", "expected"),
    [
        # Wednesday before Thanksgiving: intake day Wednesday; Thursday and Friday are
        # holidays; day 1 is Monday 30 November.
        (local(2026, 11, 25, 10, 0), 1, local(2026, 11, 30, 17, 0)),
        # After close on Wednesday: the intake day becomes Monday, due Tuesday.
        (local(2026, 11, 25, 18, 0), 1, local(2026, 12, 1, 17, 0)),
        # On Thanksgiving itself: intake day Monday, 3 days -> Thursday 3 December.
        (local(2026, 11, 26, 9, 30), 3, local(2026, 12, 3, 17, 0)),
        # The day after Thanksgiving is a holiday too.
        (local(2026, 11, 27, 12, 0), 1, local(2026, 12, 1, 17, 0)),
        # Christmas Eve (Thursday) + 1: Friday is Christmas, so Monday the 28th.
        (local(2026, 12, 24, 11, 0), 1, local(2026, 12, 28, 17, 0)),
    ],
)
def test_business_days_skip_city_holidays(
    demo_calendar: WorkingCalendar, requested: dt.datetime, days: int, expected: dt.datetime
) -> None:
    assert due(days, SlaUnit.BUSINESS_DAYS, requested, demo_calendar) == expected


def test_business_days_close_at_the_end_of_the_last_interval() -> None:
    lunch = plain_calendar(
        working_hours={str(d): [["08:00", "12:00"], ["13:00", "16:30"]] for d in range(5)}
    )
    assert due(1, SlaUnit.BUSINESS_DAYS, local(2026, 3, 2, 12, 30), lunch) == local(
        2026, 3, 3, 16, 30
    )
    # During lunch the day has not closed yet: Monday is the intake day.
    assert due(2, SlaUnit.BUSINESS_DAYS, local(2026, 3, 2, 12, 30), lunch) == local(
        2026, 3, 4, 16, 30
    )
    # After the afternoon interval, the intake day is Tuesday.
    assert due(1, SlaUnit.BUSINESS_DAYS, local(2026, 3, 2, 16, 45), lunch) == local(
        2026, 3, 4, 16, 30
    )


def test_business_days_over_daylight_saving_end_at_local_close() -> None:
    # Friday + 1 business day over each change: Monday 17:00 local time, whatever the offset.
    spring = due(1, SlaUnit.BUSINESS_DAYS, local(2026, 3, 6, 10, 0), plain_calendar())
    assert spring.astimezone(UTC) == dt.datetime(2026, 3, 9, 22, 0, tzinfo=UTC)  # 17:00 CDT
    fall = due(1, SlaUnit.BUSINESS_DAYS, local(2026, 10, 30, 10, 0), plain_calendar())
    assert fall.astimezone(UTC) == dt.datetime(2026, 11, 2, 23, 0, tzinfo=UTC)  # 17:00 CST


def test_a_calendar_in_another_time_zone_counts_its_own_hours() -> None:
    new_york = plain_calendar(timezone="America/New_York")
    # Monday 07:30 Chicago is 08:30 New York: 1 hour -> 09:30 New York = 08:30 Chicago.
    assert due(1, SlaUnit.BUSINESS_HOURS, local(2026, 3, 2, 7, 30), new_york) == local(
        2026, 3, 2, 8, 30
    )
    # Monday 16:30 Chicago is 17:30 New York, after that city's close: intake day Tuesday.
    assert due(1, SlaUnit.BUSINESS_DAYS, local(2026, 3, 2, 16, 30), new_york) == dt.datetime(
        2026, 3, 4, 17, 0, tzinfo=ZoneInfo("America/New_York")
    )


# --------------------------------------------------------------------------------------
# Calendar hours and days


def test_calendar_hours_and_days_ignore_weekends_and_holidays(
    demo_calendar: WorkingCalendar,
) -> None:
    requested = local(2026, 11, 25, 22, 0)  # Wednesday night before Thanksgiving
    assert due(4, SlaUnit.CALENDAR_HOURS, requested, demo_calendar) == local(2026, 11, 26, 2, 0)
    assert due(3, SlaUnit.CALENDAR_DAYS, requested, demo_calendar) == local(2026, 11, 28, 22, 0)


@pytest.mark.parametrize("tz", [CHI, UTC], ids=["local-time", "utc"])
def test_calendar_hours_are_elapsed_time_over_daylight_saving(tz: dt.tzinfo) -> None:
    # 24 hours from Saturday noon CST before clocks go forward is Sunday 13:00 CDT: exactly
    # 24 hours later, whichever time zone the request time was given in.
    requested = local(2026, 3, 7, 12, 0).astimezone(tz)
    result = due(24, SlaUnit.CALENDAR_HOURS, requested, plain_calendar())
    assert result == local(2026, 3, 8, 13, 0)
    assert elapsed(requested, result) == dt.timedelta(hours=24)
    # And in the fall: 24 hours from Saturday noon CDT is Sunday 11:00 CST.
    requested = local(2026, 10, 31, 12, 0).astimezone(tz)
    result = due(24, SlaUnit.CALENDAR_HOURS, requested, plain_calendar())
    assert result == local(2026, 11, 1, 11, 0)


@pytest.mark.parametrize("tz", [CHI, UTC], ids=["local-time", "utc"])
def test_calendar_days_are_elapsed_time_over_daylight_saving(tz: dt.tzinfo) -> None:
    # "Plain elapsed time": 2 calendar days are 48 hours, even across the spring change.
    requested = local(2026, 3, 7, 12, 0).astimezone(tz)
    result = due(2, SlaUnit.CALENDAR_DAYS, requested, plain_calendar())
    assert elapsed(requested, result) == dt.timedelta(hours=48)
    assert result == local(2026, 3, 9, 13, 0)


def test_no_target_gives_no_due_date() -> None:
    at = local(2026, 3, 2, 10, 0)
    assert due_at_compute(amount=None, unit="", requested_at=at, calendar=plain_calendar()) is None
    assert (
        due_at_compute(
            amount=0, unit=SlaUnit.BUSINESS_DAYS, requested_at=at, calendar=plain_calendar()
        )
        is None
    )
    assert due_at_compute(amount=3, unit="", requested_at=at, calendar=plain_calendar()) is None


def test_an_unknown_unit_is_refused() -> None:
    with pytest.raises(InvalidInput) as exc:
        due_at_compute(
            amount=3,
            unit="fortnights",
            requested_at=local(2026, 3, 2, 10, 0),
            calendar=plain_calendar(),
        )
    assert exc.value.field_errors == {"sla_unit": ["'fortnights' is not a service level unit"]}


def test_a_calendar_whose_every_working_day_is_a_holiday_is_refused() -> None:
    mondays = [dt.date(2026, 3, 2) + dt.timedelta(weeks=w) for w in range(52 * 4)]
    calendar = plain_calendar(working_hours={"0": [["08:00", "17:00"]]}, holidays=mondays)
    with pytest.raises(InvalidInput, match="no working time within three years"):
        due_at_compute(
            amount=1,
            unit=SlaUnit.BUSINESS_DAYS,
            requested_at=local(2026, 3, 1, 10, 0),
            calendar=calendar,
        )


# --------------------------------------------------------------------------------------
# Where a request stands


REQUESTED = local(2026, 3, 2, 8, 0)
DUE = REQUESTED + dt.timedelta(hours=100)


@pytest.mark.parametrize(
    ("now", "closed_at", "expected"),
    [
        (REQUESTED + dt.timedelta(hours=1), None, SlaState.ON_TIME),
        # 25% of 100 hours left is the edge of "due soon" (the default percent).
        (REQUESTED + dt.timedelta(hours=74, minutes=59), None, SlaState.ON_TIME),
        (REQUESTED + dt.timedelta(hours=75), None, SlaState.DUE_SOON),
        (REQUESTED + dt.timedelta(hours=99), None, SlaState.DUE_SOON),
        # At the due moment it is not yet overdue; a second later it is.
        (DUE, None, SlaState.DUE_SOON),
        (DUE + dt.timedelta(seconds=1), None, SlaState.OVERDUE),
        (DUE + dt.timedelta(days=30), None, SlaState.OVERDUE),
        # Closed requests are judged by when they closed, not by now.
        (DUE + dt.timedelta(days=30), DUE - dt.timedelta(hours=1), SlaState.CLOSED_ON_TIME),
        (DUE + dt.timedelta(days=30), DUE, SlaState.CLOSED_ON_TIME),
        (DUE + dt.timedelta(days=30), DUE + dt.timedelta(minutes=1), SlaState.CLOSED_LATE),
        (REQUESTED + dt.timedelta(hours=1), DUE + dt.timedelta(minutes=1), SlaState.CLOSED_LATE),
    ],
)
def test_sla_state(now: dt.datetime, closed_at: dt.datetime | None, expected: SlaState) -> None:
    assert sla_state(requested_at=REQUESTED, due_at=DUE, closed_at=closed_at, now=now) == expected


def test_due_soon_follows_the_configured_percent(settings: Any) -> None:
    now = REQUESTED + dt.timedelta(hours=55)  # 45 of 100 hours left
    assert (
        sla_state(requested_at=REQUESTED, due_at=DUE, closed_at=None, now=now, due_soon_percent=50)
        == SlaState.DUE_SOON
    )
    assert (
        sla_state(requested_at=REQUESTED, due_at=DUE, closed_at=None, now=now, due_soon_percent=40)
        == SlaState.ON_TIME
    )
    settings.CIVICDESK_DUE_SOON_PERCENT = 50
    assert sla_state(requested_at=REQUESTED, due_at=DUE, closed_at=None, now=now) == (
        SlaState.DUE_SOON
    )
    settings.CIVICDESK_DUE_SOON_PERCENT = 10
    assert sla_state(requested_at=REQUESTED, due_at=DUE, closed_at=None, now=now) == (
        SlaState.ON_TIME
    )


def test_no_target_is_never_late() -> None:
    far = REQUESTED + dt.timedelta(days=365)
    assert sla_state(requested_at=REQUESTED, due_at=None, closed_at=None, now=far) == (
        SlaState.NO_TARGET
    )
    assert sla_state(requested_at=REQUESTED, due_at=None, closed_at=far, now=far) == (
        SlaState.NO_TARGET
    )


# --------------------------------------------------------------------------------------
# Bad calendars


BAD_CALENDARS = [
    pytest.param(
        {"timezone": "Mars/Olympus_Mons"},
        "timezone",
        "'Mars/Olympus_Mons' is not a known time zone",
        id="bad-time-zone",
    ),
    pytest.param(
        {"timezone": ""},
        "timezone",
        "'' is not a known time zone",
        id="empty-time-zone",
    ),
    pytest.param(
        {"working_hours": {"0": [["17:00", "08:00"]]}},
        "working_hours",
        "day 0: 17:00:00 is not before 08:00:00",
        id="end-before-start",
    ),
    pytest.param(
        {"working_hours": {"2": [["09:00", "09:00"]]}},
        "working_hours",
        "day 2: 09:00:00 is not before 09:00:00",
        id="empty-interval",
    ),
    pytest.param(
        {"working_hours": {"0": [["08:00", "12:00"], ["11:00", "17:00"]]}},
        "working_hours",
        "day 0: intervals overlap or are out of order",
        id="overlap",
    ),
    pytest.param(
        {"working_hours": {"0": [["13:00", "17:00"], ["08:00", "12:00"]]}},
        "working_hours",
        "day 0: intervals overlap or are out of order",
        id="out-of-order",
    ),
    pytest.param(
        {"working_hours": {}},
        "working_hours",
        "a calendar needs at least one working day",
        id="no-day",
    ),
    pytest.param(
        {"working_hours": {"0": [], "1": []}},
        "working_hours",
        "a calendar needs at least one working day",
        id="only-empty-days",
    ),
    pytest.param(
        {"working_hours": {"9": [["08:00", "17:00"]]}},
        "working_hours",
        "'9' is not a weekday number 0-6",
        id="weekday-9",
    ),
    pytest.param(
        {"working_hours": {"monday": [["08:00", "17:00"]]}},
        "working_hours",
        "'monday' is not a weekday number 0-6",
        id="weekday-name",
    ),
    pytest.param(
        {"working_hours": {"0": [["25:00", "26:00"]]}},
        "working_hours",
        "day 0: ['25:00', '26:00'] is not [\"HH:MM\", \"HH:MM\"]",
        id="not-a-time",
    ),
    pytest.param(
        {"working_hours": {"0": "08:00-17:00"}},
        "working_hours",
        "day 0: expected a list of intervals",
        id="not-a-list",
    ),
    pytest.param(
        {"working_hours": [["08:00", "17:00"]]},
        "working_hours",
        "must map weekday numbers (0-6) to intervals",
        id="not-a-mapping",
    ),
]


@pytest.mark.parametrize(("calendar", "field", "message"), BAD_CALENDARS)
def test_a_bad_calendar_is_refused_with_a_clear_message(
    calendar: dict[str, object], field: str, message: str
) -> None:
    with pytest.raises(InvalidInput) as exc:
        plain_calendar(**calendar)
    assert exc.value.field_errors == {field: [message]}
    assert str(exc.value) == f"{field}: {message}"


@pytest.mark.parametrize(("calendar", "field", "message"), BAD_CALENDARS)
def test_business_calendar_clean_reports_the_same_problem(
    calendar: dict[str, object], field: str, message: str
) -> None:
    model = BusinessCalendar(
        name="Night shift",
        timezone=str(calendar.get("timezone", "America/Chicago")),
        working_hours=calendar.get("working_hours", WEEKDAYS_8_TO_5),
    )
    with pytest.raises(ValidationError) as exc:
        model.clean()
    assert exc.value.message_dict == {field: [message]}


def test_a_missing_time_zone_is_refused_not_a_crash() -> None:
    with pytest.raises(InvalidInput) as exc:
        plain_calendar(timezone=None)
    assert exc.value.field_errors == {"timezone": ["None is not a known time zone"]}


def test_business_calendar_clean_accepts_a_good_calendar() -> None:
    BusinessCalendar(
        name="Split shift",
        timezone="America/Denver",
        working_hours={"0": [["07:00", "11:30"], ["12:15", "16:00"]], "5": [["09:00", "13:00"]]},
    ).clean()


# --------------------------------------------------------------------------------------
# Services and requests


@pytest.mark.django_db
def test_calendar_holidays_come_from_the_database() -> None:
    calendar = BusinessCalendar.objects.create(
        name="Library hours", timezone="America/Chicago", working_hours=WEEKDAYS_8_TO_5
    )
    Holiday.objects.create(calendar=calendar, date=dt.date(2026, 3, 3), name="Founders' Day")
    working = WorkingCalendar.from_model(calendar)
    # Monday 10:00 + 2 business days skips Tuesday's holiday: Thursday at close.
    assert due(2, SlaUnit.BUSINESS_DAYS, local(2026, 3, 2, 10, 0), working) == local(
        2026, 3, 5, 17, 0
    )


def test_a_service_without_its_own_calendar_uses_the_default_one(city: None) -> None:
    service = Service.objects.create(
        service_code="test-no-calendar",
        name="Test",
        department=Department.objects.get(code="PW"),
        sla_amount=1,
        sla_unit=SlaUnit.BUSINESS_DAYS,
        calendar=None,
    )
    working = working_calendar_for(service)
    assert working.tz == CHI
    assert dt.date(2026, 11, 26) in working.holidays
    assert service_due_at(service, local(2026, 11, 25, 10, 0)) == local(2026, 11, 30, 17, 0)


def test_a_service_with_its_own_calendar_uses_it(city: None) -> None:
    weekend = BusinessCalendar.objects.create(
        name="Weekend crew",
        timezone="America/Chicago",
        working_hours={"5": [["10:00", "14:00"]], "6": [["10:00", "14:00"]]},
    )
    service = Service.objects.create(
        service_code="test-weekend",
        name="Test",
        department=Department.objects.get(code="PRK"),
        sla_amount=6,
        sla_unit=SlaUnit.BUSINESS_HOURS,
        calendar=weekend,
    )
    # Wednesday: nothing until Saturday 10:00; 4 hours Saturday, 2 on Sunday.
    assert service_due_at(service, local(2026, 3, 4, 9, 0)) == local(2026, 3, 8, 12, 0)


@pytest.mark.django_db
def test_without_any_calendar_the_city_works_weekdays_eight_to_five() -> None:
    BusinessCalendar.objects.all().delete()
    department = Department.objects.create(code="test", name="Test")
    service = Service.objects.create(
        service_code="test-default",
        name="Test",
        department=department,
        sla_amount=2,
        sla_unit=SlaUnit.BUSINESS_DAYS,
    )
    # Thanksgiving is an ordinary working day for this fallback calendar.
    assert service_due_at(service, local(2026, 11, 25, 10, 0)) == local(2026, 11, 27, 17, 0)


def test_a_new_request_is_due_when_due_at_compute_says(city: None) -> None:
    request = make_request("pothole")
    service = request.service
    assert request.due_at is not None
    assert request.due_at == due_at_compute(
        amount=service.sla_amount,
        unit=service.sla_unit,
        requested_at=request.requested_at,
        calendar=working_calendar_for(service),
    )


@pytest.mark.parametrize(
    ("service_code", "requested", "expected"),
    [
        # pothole: 3 business days. Monday before Thanksgiving: Mon (0), Tue, Wed, then the
        # holidays and the weekend, so the 3rd business day is Monday 30 November.
        ("pothole", local(2026, 11, 23, 10, 0), local(2026, 11, 30, 17, 0)),
        # abandoned-vehicle: 10 business days from Saturday 14 November: intake day Monday 16
        # (day 0), day 7 is Wednesday 25, Thanksgiving and the day after do not count, so
        # days 8-10 are 30 November, 1 and 2 December.
        ("abandoned-vehicle", local(2026, 11, 14, 9, 0), local(2026, 12, 2, 17, 0)),
        # graffiti: 5 business days from Friday 19 December 2025 after close: intake day
        # Monday 22, Christmas on Thursday 25: Tuesday 30 December.
        ("graffiti", local(2025, 12, 19, 18, 0), local(2025, 12, 30, 17, 0)),
    ],
)
def test_request_create_sets_the_exact_due_date_for_a_back_dated_request(
    city: None, service_code: str, requested: dt.datetime, expected: dt.datetime
) -> None:
    request = make_request(service_code, requested_at=requested)
    request.refresh_from_db()
    assert request.requested_at == requested
    assert request.due_at == expected
