"""Reading the dates of an export fast: epoch seconds (UTC) from text.

A million rows carry millions of dates; ``strptime`` and a time-zone conversion per value
would take longer than the whole load. A strftime-style format is compiled once into a
regular expression, and local times are turned into UTC with one offset per local hour,
cached. Naive times are in the mapping's time zone; an explicit offset wins.
"""

from __future__ import annotations

import datetime as dt
import operator
import re
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

EPOCH_ORDINAL = dt.date(1970, 1, 1).toordinal()

_DIRECTIVES = {
    "Y": r"(?P<Y>\d{4})",
    "y": r"(?P<y>\d{2})",
    "m": r"(?P<m>\d{1,2})",
    "d": r"(?P<d>\d{1,2})",
    "H": r"(?P<H>\d{1,2})",
    "I": r"(?P<I>\d{1,2})",
    "M": r"(?P<M>\d{1,2})",
    "S": r"(?P<S>\d{1,2})",
    "f": r"(?P<f>\d{1,6})",
    "p": r"(?P<p>[AaPp][Mm])",
    "z": r"(?P<z>Z|[+-]\d{2}:?\d{2})",
    "b": r"(?P<b>[A-Za-z]{3})",
    "T": r"(?P<H>\d{1,2}):(?P<M>\d{1,2}):(?P<S>\d{1,2})",
}
_MONTHS = {
    name: number
    for number, name in enumerate(
        ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"],
        start=1,
    )
}

DateParser = Callable[[str], float]


class LocalClock:
    """Local wall-clock time to UTC epoch seconds, with the offset cached per local hour."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._days: dict[tuple[int, int, int], int] = {}
        self._offsets: dict[tuple[int, int], int] = {}

    def wall(
        self, year: int, month: int, day: int, hour: int, minute: int, second: float
    ) -> tuple[int, float]:
        """The local date's ordinal and the wall-clock time as naive epoch seconds."""
        try:
            ordinal = self._days[(year, month, day)]
        except KeyError:
            ordinal = dt.date(year, month, day).toordinal()  # ValueError on 31 February
            self._days[(year, month, day)] = ordinal
        if not (0 <= hour <= 23 and 0 <= minute <= 59 and 0 <= second < 61):
            raise ValueError("time out of range")
        return ordinal, (ordinal - EPOCH_ORDINAL) * 86400 + hour * 3600 + minute * 60 + second

    def epoch(
        self, year: int, month: int, day: int, hour: int, minute: int, second: float
    ) -> float:
        ordinal, naive = self.wall(year, month, day, hour, minute, second)
        try:
            offset = self._offsets[(ordinal, hour)]
        except KeyError:
            local = dt.datetime.fromordinal(ordinal).replace(hour=hour, tzinfo=self.tz)
            delta = local.utcoffset()
            offset = int(delta.total_seconds()) if delta is not None else 0
            self._offsets[(ordinal, hour)] = offset
        return naive - offset

    def moment(self, value: dt.datetime) -> float:
        """A parsed datetime as epoch seconds: by its own offset if it has one, else local."""
        if value.tzinfo is not None:
            return value.timestamp()
        return self.epoch(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second + value.microsecond / 1e6,
        )


def _offset_seconds(text: str) -> int:
    if text == "Z":
        return 0
    sign = -1 if text[0] == "-" else 1
    digits = text[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)


def _iso_parser(clock: LocalClock) -> DateParser:
    def parse(text: str) -> float:
        return clock.moment(dt.datetime.fromisoformat(text))

    return parse


def _compile(fmt: str) -> re.Pattern[str] | None:
    """The format as a regular expression; None if it uses a directive we do not compile."""
    out = []
    i = 0
    while i < len(fmt):
        char = fmt[i]
        if char == "%" and i + 1 < len(fmt):
            directive = fmt[i + 1]
            if directive == "%":
                out.append("%")
            elif directive in _DIRECTIVES:
                out.append(_DIRECTIVES[directive])
            else:
                return None
            i += 2
            continue
        out.append(r"\s+" if char == " " else re.escape(char))
        i += 1
    try:
        return re.compile("".join(out) + r"\Z")
    except re.error:  # a directive used twice
        return None


_FIXED_WIDTH = {"Y": 4, "y": 2, "m": 2, "d": 2, "H": 2, "I": 2, "M": 2, "S": 2, "p": 2}


def _fixed_layout(fmt: str) -> tuple[int, int, int] | None:
    """For a format of zero-padded fields with ``%M:%S`` (or ``%M%S``) inside it, like
    ``%m/%d/%Y %I:%M:%S %p``: (width, where the minutes start, where the seconds end)."""
    width = 0
    minute_at = seconds_end = -1
    i = 0
    while i < len(fmt):
        if fmt[i] == "%":
            directive = fmt[i + 1 : i + 2]
            if directive not in _FIXED_WIDTH:
                return None
            if directive == "M":
                minute_at = width
            if directive == "S":
                seconds_end = width + 2
            width += _FIXED_WIDTH[directive]
            i += 2
        else:
            width += 1
            i += 1
    if minute_at < 0 or seconds_end < 0 or seconds_end - minute_at not in (4, 5):
        return None
    return width, minute_at, seconds_end


def _pattern_parser(pattern: re.Pattern[str], clock: LocalClock, fmt: str = "") -> DateParser:
    names = [""] * pattern.groups
    for name, number in pattern.groupindex.items():
        names[number - 1] = name
    at = {name: i for i, name in enumerate(names)}
    # Everything but the minutes and seconds names a local hour: its UTC start is cached,
    # so most values cost one regular-expression match, one lookup and two int() calls.
    hour_parts = [i for i, name in enumerate(names) if name not in ("M", "S", "f")]
    hour_key = operator.itemgetter(*hour_parts) if hour_parts else (lambda g: ())
    i_minute, i_second, i_fraction = at.get("M"), at.get("S"), at.get("f")
    hours: dict[Any, float] = {}
    match = pattern.match

    def hour_start(g: dict[str, str]) -> float:
        year = int(g["Y"]) if "Y" in g else 2000 + int(g["y"]) if "y" in g else 1900
        month = _MONTHS.get(g["b"].lower(), 0) if "b" in g else int(g.get("m") or 1)
        day = int(g.get("d") or 1)
        if "I" in g:
            hour = int(g["I"])
            if not 1 <= hour <= 12:
                raise ValueError("hour out of range")
            hour = hour % 12 + (12 if g.get("p", "AM").upper() == "PM" else 0)
        else:
            hour = int(g.get("H") or 0)
        if g.get("z"):
            return clock.wall(year, month, day, hour, 0, 0)[1] - _offset_seconds(g["z"])
        return clock.epoch(year, month, day, hour, 0, 0)

    def parse(text: str) -> float:
        found = match(text)
        if found is None:
            raise ValueError("no match")
        g = found.groups()
        key = hour_key(g)
        start = hours.get(key)
        if start is None:
            start = hour_start({name: g[i] for i, name in enumerate(names)})
            if len(hours) < 1_000_000:
                hours[key] = start
        minute = int(g[i_minute]) if i_minute is not None else 0
        second: float = int(g[i_second]) if i_second is not None else 0
        if minute > 59 or second > 60:
            raise ValueError("time out of range")
        if i_fraction is not None:
            second += int(g[i_fraction].ljust(6, "0")) / 1e6
        return start + minute * 60 + second

    layout = _fixed_layout(fmt)
    if layout is None:
        return parse
    # Fixed-width values (most exports pad with zeros): the hour is the text around the
    # minutes and seconds, looked up as a string slice, no regular expression.
    width, minute_at, seconds_end = layout
    fixed_hours: dict[str, float] = {}
    regular = parse

    def parse_fixed(text: str) -> float:
        if len(text) == width:
            key = text[:minute_at] + text[seconds_end:]
            start = fixed_hours.get(key)
            if start is not None:
                minute = int(text[minute_at : minute_at + 2])
                second = int(text[seconds_end - 2 : seconds_end])
                if 0 <= minute <= 59 and 0 <= second <= 60:
                    return start + minute * 60 + second
            value = regular(text)  # checks the whole value
            if len(fixed_hours) < 1_000_000:
                minute = int(text[minute_at : minute_at + 2])
                second = int(text[seconds_end - 2 : seconds_end])
                fixed_hours[key] = value - minute * 60 - second
            return value
        return regular(text)

    return parse_fixed


def _strptime_parser(fmt: str, clock: LocalClock) -> DateParser:
    cache: dict[str, float] = {}

    def parse(text: str) -> float:
        try:
            return cache[text]
        except KeyError:
            pass
        result = clock.moment(dt.datetime.strptime(text, fmt))  # naive: local time
        if len(cache) < 100_000:
            cache[text] = result
        return result

    return parse


def date_parser(fmt: str, tz: ZoneInfo) -> DateParser:
    """A function from text to UTC epoch seconds; ``ValueError`` when the text does not fit.

    ``fmt`` is ``"iso"`` (ISO 8601, with or without an offset) or a strftime format.
    """
    clock = LocalClock(tz)
    if fmt == "iso":
        return _iso_parser(clock)
    pattern = _compile(fmt)
    if pattern is None:
        return _strptime_parser(fmt, clock)
    return _pattern_parser(pattern, clock, fmt)


def describe_format(fmt: str) -> str:
    """How a person would recognise the format: an example date written in it."""
    example = dt.datetime(2024, 7, 31, 16, 5, 9)
    if fmt == "iso":
        return "ISO 8601, e.g. 2024-07-31 16:05:09 or 2024-07-31T16:05:09-05:00"
    try:
        return f"{fmt} (e.g. {example.strftime(fmt)})"
    except ValueError:
        return fmt


_MINUTES_SECONDS = [f"{m:02d}:{s:02d}" for m in range(60) for s in range(60)]


class EpochText:
    """Epoch seconds (UTC) as the text ``str(datetime)`` gives, ``2024-07-31 16:05:09``:
    what SQLite stores for a datetime, and (with ``+00`` after it) what PostgreSQL's COPY
    reads. Whole seconds take the fast way, the text of the hour cached and the minutes and
    seconds from a table; anything else goes through ``datetime`` so the text is exactly
    what Django writes."""

    def __init__(self) -> None:
        self._hours: dict[int, str] = {}
        self._epoch = dt.datetime(1970, 1, 1)

    def __call__(self, value: float | None) -> str | None:
        if value is None:
            return None
        whole = int(value)
        if whole != value:
            return str(self._epoch + dt.timedelta(seconds=value))
        hour = whole // 3600
        head = self._hours.get(hour)
        if head is None:
            day, hour_of_day = divmod(hour, 24)
            date = dt.date.fromordinal(EPOCH_ORDINAL + day).isoformat()
            head = self._hours[hour] = f"{date} {hour_of_day:02d}:"
        return head + _MINUTES_SECONDS[whole - hour * 3600]
