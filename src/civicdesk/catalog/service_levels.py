"""Service levels: when a request is due, and whether it is on time, due soon or overdue.

One function computes a due date (``due_at_compute``); every door and the seed use it.

Business time is counted on a ``WorkingCalendar`` (working hours per weekday in the city's
time zone, minus holidays). All arithmetic is done in UTC so that a daylight-saving change
never adds or loses an hour of work.

- *N business hours*: the Nth working hour after intake, counting only working time.
- *N business days*: the close of business on the Nth working day after the *intake day*.
  The intake day is the working day on which the request arrived if it arrived before that
  day's close, otherwise the next working day. So a request on Monday at 10:00 with a target
  of 2 business days is due Wednesday at close; one on Saturday is due Wednesday at close too.
- *Calendar hours or days*: plain elapsed time.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

from civicdesk.errors import InvalidInput

from .models import BusinessCalendar, Service, SlaUnit

UTC = dt.UTC
# A calendar with working time must show it within this many days, or it is unusable.
_SEARCH_LIMIT_DAYS = 3 * 366


def parse_working_hours(raw: Mapping[str, object]) -> dict[int, list[tuple[dt.time, dt.time]]]:
    """Check and parse ``BusinessCalendar.working_hours``; a clear error names the bad entry."""
    if not isinstance(raw, Mapping):
        raise InvalidInput({"working_hours": ["must map weekday numbers (0-6) to intervals"]})
    parsed: dict[int, list[tuple[dt.time, dt.time]]] = {}
    for key, intervals in raw.items():
        try:
            day = int(key)
        except (TypeError, ValueError):
            day = -1
        if not 0 <= day <= 6:
            raise InvalidInput({"working_hours": [f"{key!r} is not a weekday number 0-6"]})
        if not isinstance(intervals, list):
            raise InvalidInput({"working_hours": [f"day {day}: expected a list of intervals"]})
        spans: list[tuple[dt.time, dt.time]] = []
        for interval in intervals:
            try:
                start_raw, end_raw = interval
                start = dt.time.fromisoformat(str(start_raw))
                end = dt.time.fromisoformat(str(end_raw))
            except (TypeError, ValueError):
                raise InvalidInput(
                    {"working_hours": [f'day {day}: {interval!r} is not ["HH:MM", "HH:MM"]']}
                ) from None
            if end <= start:
                raise InvalidInput({"working_hours": [f"day {day}: {start} is not before {end}"]})
            if spans and start < spans[-1][1]:
                raise InvalidInput(
                    {"working_hours": [f"day {day}: intervals overlap or are out of order"]}
                )
            spans.append((start, end))
        if spans:
            parsed[day] = spans
    if not parsed:
        raise InvalidInput({"working_hours": ["a calendar needs at least one working day"]})
    return parsed


@dataclass(frozen=True)
class WorkingCalendar:
    tz: ZoneInfo
    hours: Mapping[int, list[tuple[dt.time, dt.time]]]
    holidays: frozenset[dt.date]
    # Working intervals per local date, memoised: seeding a million requests asks for the
    # same few hundred days over and over.
    _days: dict[dt.date, list[tuple[dt.datetime, dt.datetime]]] = field(
        default_factory=dict, compare=False, repr=False
    )

    @classmethod
    def build(
        cls, *, timezone: str, working_hours: Mapping[str, object], holidays: Iterable[dt.date]
    ) -> WorkingCalendar:
        try:
            tz = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError, TypeError):  # TypeError: not a string
            raise InvalidInput({"timezone": [f"{timezone!r} is not a known time zone"]}) from None
        return cls(tz=tz, hours=parse_working_hours(working_hours), holidays=frozenset(holidays))

    @classmethod
    def from_model(cls, calendar: BusinessCalendar) -> WorkingCalendar:
        return cls.build(
            timezone=calendar.timezone,
            working_hours=calendar.working_hours,
            holidays=calendar.holidays.values_list("date", flat=True),
        )

    def intervals_on(self, day: dt.date) -> list[tuple[dt.datetime, dt.datetime]]:
        """The working intervals of a local date, as UTC datetimes."""
        cached = self._days.get(day)
        if cached is None:
            cached = (
                []
                if day in self.holidays
                else [
                    (
                        dt.datetime.combine(day, start, tzinfo=self.tz).astimezone(UTC),
                        dt.datetime.combine(day, end, tzinfo=self.tz).astimezone(UTC),
                    )
                    for start, end in self.hours.get(day.weekday(), [])
                ]
            )
            self._days[day] = cached
        return cached

    def _days_from(self, start: dt.datetime) -> Iterable[dt.date]:
        first = start.astimezone(self.tz).date()
        for offset in range(_SEARCH_LIMIT_DAYS):
            yield first + dt.timedelta(days=offset)
        raise InvalidInput({"calendar": ["no working time within three years"]})

    def add_business_hours(self, start: dt.datetime, hours: float) -> dt.datetime:
        remaining = dt.timedelta(hours=hours)
        start = start.astimezone(UTC)
        for day in self._days_from(start):
            for opens, closes in self.intervals_on(day):
                begin = max(opens, start)
                if begin >= closes:
                    continue
                available = closes - begin
                if available >= remaining:
                    return begin + remaining
                remaining -= available
        raise AssertionError("unreachable")  # pragma: no cover

    def add_business_days(self, start: dt.datetime, days: int) -> dt.datetime:
        start = start.astimezone(UTC)
        counted = -1  # the intake day itself is day 0
        for day in self._days_from(start):
            intervals = self.intervals_on(day)
            if not intervals:
                continue
            close = intervals[-1][1]
            if counted == -1 and start >= close:
                continue  # arrived after this day's close: intake day is the next working day
            counted += 1
            if counted == days:
                return close
        raise AssertionError("unreachable")  # pragma: no cover


def working_calendar_for(service: Service) -> WorkingCalendar:
    calendar = service.calendar or BusinessCalendar.objects.filter(is_default=True).first()
    if calendar is None:
        # No calendar configured: Monday to Friday, 08:00-17:00, in the site's time zone.
        return WorkingCalendar.build(
            timezone=settings.TIME_ZONE,
            working_hours={str(d): [["08:00", "17:00"]] for d in range(5)},
            holidays=(),
        )
    return WorkingCalendar.from_model(calendar)


def due_at_compute(
    *, amount: int | None, unit: str, requested_at: dt.datetime, calendar: WorkingCalendar
) -> dt.datetime | None:
    """When a request received at ``requested_at`` is due under a service level target."""
    if not amount or not unit:
        return None
    if unit == SlaUnit.BUSINESS_HOURS:
        return calendar.add_business_hours(requested_at, amount)
    if unit == SlaUnit.BUSINESS_DAYS:
        return calendar.add_business_days(requested_at, amount)
    # In UTC: adding to a local datetime would add wall-clock time, an hour off over DST.
    if unit == SlaUnit.CALENDAR_HOURS:
        return requested_at.astimezone(UTC) + dt.timedelta(hours=amount)
    if unit == SlaUnit.CALENDAR_DAYS:
        return requested_at.astimezone(UTC) + dt.timedelta(days=amount)
    raise InvalidInput({"sla_unit": [f"{unit!r} is not a service level unit"]})


def service_due_at(service: Service, requested_at: dt.datetime) -> dt.datetime | None:
    return due_at_compute(
        amount=service.sla_amount,
        unit=service.sla_unit,
        requested_at=requested_at,
        calendar=working_calendar_for(service),
    )


class SlaState(enum.StrEnum):
    NO_TARGET = "no_target"
    ON_TIME = "on_time"
    DUE_SOON = "due_soon"
    OVERDUE = "overdue"
    CLOSED_ON_TIME = "closed_on_time"
    CLOSED_LATE = "closed_late"


def sla_state(
    *,
    requested_at: dt.datetime,
    due_at: dt.datetime | None,
    closed_at: dt.datetime | None,
    now: dt.datetime,
    due_soon_percent: int | None = None,
) -> SlaState:
    """Where a request stands against its target at ``now``."""
    if due_at is None:
        return SlaState.NO_TARGET
    if closed_at is not None:
        return SlaState.CLOSED_ON_TIME if closed_at <= due_at else SlaState.CLOSED_LATE
    if now > due_at:
        return SlaState.OVERDUE
    percent = settings.CIVICDESK_DUE_SOON_PERCENT if due_soon_percent is None else due_soon_percent
    window = due_at - requested_at
    if due_at - now <= window * percent / 100:
        return SlaState.DUE_SOON
    return SlaState.ON_TIME
