"""From the performance selectors' results to what the dashboards show: formatted figures
with their changes, chart data with the table that carries the same numbers, breakdown
tables, the district map's features, and the rows of every CSV download.

The public page and the staff dashboard are both built here, so a figure reads the same on
each; the CSV columns are the names in ``performance.measures.FIGURES``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.formats import date_format, number_format
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicdesk.performance.measures import FIGURES, Measures, figure_kind
from civicdesk.performance.selectors import (
    AGE_BANDS,
    Backlog,
    Comparison,
    DimensionEntry,
    DistrictFigure,
    Filters,
    backlog,
    comparison,
    dimension_entries,
    district_map,
    measures_by,
    measures_trend,
    open_past_due,
    period_end,
    period_start,
    year_back,
)

SECTIONS: dict[str, Promise] = {
    "summary": gettext_lazy("Summary with comparisons"),
    "trend": gettext_lazy("Trend"),
    "service": gettext_lazy("By service"),
    "department": gettext_lazy("By department"),
    "district": gettext_lazy("By council district"),
    "channel": gettext_lazy("By channel"),
    "backlog": gettext_lazy("Open requests by age"),
}
BREAKDOWNS = ("service", "department", "district", "channel")
BREAKDOWN_CAPTIONS: dict[str, Promise] = {
    "service": gettext_lazy("Figures by service"),
    "department": gettext_lazy("Figures by department"),
    "district": gettext_lazy("Figures by council district"),
    "channel": gettext_lazy("Figures by channel"),
}
BREAKDOWN_TITLES: dict[str, Promise] = {
    "service": gettext_lazy("Service"),
    "department": gettext_lazy("Department"),
    "district": gettext_lazy("Council district"),
    "channel": gettext_lazy("Channel"),
}
# Which way a figure should move: +1 up is better, -1 down is better, 0 neither (volume is
# demand, not performance; duplicates say how many residents saw the same problem). Open
# past due is counted now for every period's requests, so an earlier period, whose requests
# have had longer to close, always has fewer: its change is shown but not judged.
BETTER: dict[str, int] = {
    "received": 0,
    "closed": 0,
    "open": 0,
    "on_time_rate": 1,
    "open_past_due": 0,
    "median_first_action_hours": -1,
    "p90_first_action_hours": -1,
    "median_close_hours": -1,
    "p90_close_hours": -1,
    "reopen_rate": -1,
    "duplicate_rate": 0,
    "first_contact_rate": 1,
}
HEADLINE = ("received", "on_time_rate", "median_close_hours", "open_past_due")
# The columns of the breakdown tables on the public page (the staff page and the CSV files
# have every figure).
PUBLIC_COLUMNS = (
    "received",
    "on_time_rate",
    "open_past_due",
    "median_first_action_hours",
    "median_close_hours",
    "p90_close_hours",
    "reopen_rate",
    "duplicate_rate",
)
PUBLIC_ROWS = 15
MAP_CLASSES = 5


# --- loading ----------------------------------------------------------------------------------


@dataclass
class Dashboard:
    """Everything one page (or one CSV section) reads, read once with one clock."""

    filters: Filters
    grain: str
    language: str
    now: dt.datetime
    comparison: Comparison | None = None
    trend: list[tuple[dt.date, Measures]] = field(default_factory=list)
    trend_last_year: dict[dt.date, Measures] = field(default_factory=dict)
    breakdowns: dict[str, list[tuple[Any, Measures]]] = field(default_factory=dict)
    entries: dict[str, dict[Any, DimensionEntry]] = field(default_factory=dict)
    backlog: Backlog | None = None
    districts: list[DistrictFigure] = field(default_factory=list)


def dashboard_load(
    filters: Filters,
    grain: str,
    *,
    language: str,
    sections: Iterable[str] = tuple(SECTIONS),
    with_map: bool = False,
    now: dt.datetime | None = None,
) -> Dashboard:
    sections = set(sections)
    board = Dashboard(filters, grain, language, now or timezone.now())
    # One read of the open past-due requests for every figure on the page (none for the
    # backlog alone, which counts its own).
    late = open_past_due(now=board.now) if sections - {"backlog"} or with_map else None
    if "summary" in sections:
        board.comparison = comparison(filters, past_due=late)
    if "trend" in sections:
        board.trend = measures_trend(filters, grain, past_due=late)
        last_year = measures_trend(filters.last_year(), grain, past_due=late, histograms=False)
        board.trend_last_year = dict(last_year)
    for dimension in BREAKDOWNS:
        if dimension in sections or (dimension == "district" and with_map):
            rows = measures_by(filters, dimension, past_due=late)
            board.breakdowns[dimension] = rows
            board.entries[dimension] = dimension_entries(
                dimension, [key for key, _m in rows], language
            )
    if "backlog" in sections:
        board.backlog = backlog(filters, now=board.now)
    if with_map:
        board.districts = district_map(
            filters, now=board.now, by_district=board.breakdowns["district"]
        )
    return board


# --- formatting -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Shown:
    """A figure as text (None: nothing to measure), with the plain number a table sorts by
    (not localised: a decimal point in every language)."""

    text: str | None
    value: float | int | None = None
    hint: str = ""

    @property
    def sort(self) -> str:
        return "" if self.value is None else repr(self.value)


def _signed(value: float, digits: int) -> str:
    text = number_format(abs(value), digits, force_grouping=True)
    return ("+" if value > 0 else "\u2212" if value < 0 else "") + text


def show(name: str, value: float | int | None) -> Shown:
    if value is None:
        return Shown(None)
    kind = figure_kind(name)
    if kind == "rate":
        return Shown(_("%(value)s%%") % {"value": number_format(value * 100, 1)}, round(value, 6))
    if kind == "hours":
        hint = ""
        if value >= 48:
            hint = _("%(days)s days") % {"days": number_format(value / 24, 1)}
        return Shown(number_format(value, 1, force_grouping=True), round(value, 4), hint)
    return Shown(number_format(value, 0, force_grouping=True), value)


@dataclass(frozen=True)
class Change:
    text: str
    direction: str  # up, down, same
    verdict: str  # better, worse, or "" (neither, or no change)

    @property
    def arrow(self) -> str:
        return {"up": "\u25b2", "down": "\u25bc"}.get(self.direction, "\u25ac")

    @property
    def verdict_text(self) -> str:
        return {"better": _("better"), "worse": _("worse")}.get(self.verdict, "")


def change(name: str, current: float | int | None, other: float | int | None) -> Change | None:
    """How ``current`` differs from ``other``: rates in percentage points, counts and
    durations in their unit and as a percentage of ``other``."""
    if current is None or other is None:
        return None
    diff = current - other
    kind = figure_kind(name)
    # "No change" when the change rounds to zero as shown, so a page never reads "-0.0".
    if kind == "rate":
        points = round(diff * 100, 1)
        same = points == 0
        text = _("%(value)s pts") % {"value": _signed(points, 1)}
    else:
        digits = 1 if kind == "hours" else 0
        diff = round(diff, digits)
        same = diff == 0
        text = _signed(diff, digits)
        if kind == "hours":
            text = _("%(value)s h") % {"value": text}
        if other and not same:
            text += f" ({_signed(diff / other * 100, 1)}%)"
    if same:
        return Change(_("no change"), "same", "")
    direction = "up" if diff > 0 else "down"
    sign = BETTER.get(name, 0) * (1 if diff > 0 else -1)
    return Change(text, direction, {1: "better", -1: "worse"}.get(sign, ""))


def day_text(day: dt.date) -> str:
    return date_format(day, "DATE_FORMAT")


def span_text(start: dt.date, end: dt.date) -> str:
    return _("%(start)s to %(end)s") % {"start": day_text(start), "end": day_text(end)}


def period_label(start: dt.date, grain: str, filters: Filters, *, short: bool = False) -> str:
    """A period's name; one only partly inside the filters' dates says which part (or, for
    a chart's axis, ends with an asterisk that the page explains)."""
    if grain == "week":
        label = date_format(start, "j M Y")
    elif grain == "month":
        label = date_format(start, "M Y")
    elif grain == "quarter":
        label = _("Q%(quarter)s %(year)s") % {
            "quarter": (start.month - 1) // 3 + 1,
            "year": start.year,
        }
    else:
        label = str(start.year)
    partial_start, partial_end = start < filters.start, period_end(start, grain) > filters.end
    if short:
        return label + ("*" if partial_start or partial_end else "")
    if partial_start:
        label = _("%(period)s (from %(day)s)") % {
            "period": label,
            "day": date_format(filters.start, "j M"),
        }
    elif partial_end:
        label = _("%(period)s (to %(day)s)") % {
            "period": label,
            "day": date_format(filters.end, "j M"),
        }
    return label


# --- the summary ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SummaryRow:
    name: str
    label: str
    current: Shown
    previous: Shown
    change_previous: Change | None
    last_year: Shown
    change_last_year: Change | None


def summary_rows(result: Comparison) -> list[SummaryRow]:
    now, before, year = (
        result.current.figures(),
        result.previous.figures(),
        result.last_year.figures(),
    )
    return [
        SummaryRow(
            name=name,
            label=str(label),
            current=show(name, now[name]),
            previous=show(name, before[name]),
            change_previous=change(name, now[name], before[name]),
            last_year=show(name, year[name]),
            change_last_year=change(name, now[name], year[name]),
        )
        for name, label in FIGURES.items()
    ]


# --- charts -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Series:
    label: str
    values: list[float | int | None]
    texts: list[str | None]
    type: str = ""  # "line" on a bar chart: drawn as a line over the bars


@dataclass(frozen=True)
class Chart:
    """A chart and the table of its numbers (the same rows), drawn by static/civicdesk/charts.js."""

    id: str
    title: str
    kind: str  # bar or line
    unit: str  # count, percent or hours
    row_header: str
    labels: list[str]
    series: list[Series]
    horizontal: bool = False
    axis_labels: list[str] | None = None  # shorter labels for the chart; the table has labels

    @property
    def json_id(self) -> str:
        return f"{self.id}-data"

    def data(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "unit": self.unit,
            "horizontal": self.horizontal,
            "labels": self.axis_labels or self.labels,
            "series": [{"label": s.label, "data": s.values, "type": s.type} for s in self.series],
        }

    @property
    def rows(self) -> list[tuple[str, list[str | None]]]:
        return [(label, [s.texts[i] for s in self.series]) for i, label in enumerate(self.labels)]


def _plot(name: str, value: float | int | None) -> float | int | None:
    """A figure as a chart plots it: rates in percent, durations in hours, 1 decimal."""
    if value is None:
        return None
    kind = figure_kind(name)
    if kind == "rate":
        return round(value * 100, 1)
    if kind == "hours":
        return round(value, 1)
    return value


def _series(name: str, label: str, measures: Sequence[Measures | None], type: str = "") -> Series:
    values = [None if m is None else getattr(m, name) for m in measures]
    return Series(
        label=label,
        values=[_plot(name, v) for v in values],
        texts=[show(name, v).text for v in values],
        type=type,
    )


def _last_year_key(start: dt.date, grain: str) -> dt.date:
    return period_start(year_back(start), grain)


ROW_HEADERS: dict[str, Promise] = {
    "week": gettext_lazy("Week starting"),
    "month": gettext_lazy("Month"),
    "quarter": gettext_lazy("Quarter"),
    "year": gettext_lazy("Year"),
}


def trend_charts(board: Dashboard) -> list[Chart]:
    grain, filters = board.grain, board.filters
    labels = [period_label(start, grain, filters) for start, _m in board.trend]
    axis = [period_label(start, grain, filters, short=True) for start, _m in board.trend]
    current = [m for _s, m in board.trend]
    last_year = [board.trend_last_year.get(_last_year_key(s, grain)) for s, _m in board.trend]
    header = str(ROW_HEADERS[grain])

    def chart(id: str, title: str, kind: str, unit: str, series: list[Series]) -> Chart:
        return Chart(id, title, kind, unit, header, labels, series, axis_labels=axis)

    def durations(id: str, title: str, stem: str) -> Chart:
        """The median and 90th percentile of ``median_<stem>_hours`` / ``p90_<stem>_hours``."""
        return chart(
            id,
            title,
            "line",
            "hours",
            [
                _series(f"median_{stem}_hours", _("Median"), current),
                _series(f"p90_{stem}_hours", _("90th percentile"), current),
            ],
        )

    return [
        chart(
            "trend-volume",
            _("Requests received and closed"),
            "bar",
            "count",
            [
                _series("received", _("Received"), current),
                _series("closed", _("Closed (of those received)"), current),
                _series("received", _("Received, same period last year"), last_year, "line"),
            ],
        ),
        chart(
            "trend-on-time",
            _("On-time rate"),
            "line",
            "percent",
            [
                _series("on_time_rate", _("On-time rate"), current),
                _series("on_time_rate", _("Same period last year"), last_year),
            ],
        ),
        durations("trend-close", _("Time to close (hours)"), "close"),
        durations("trend-first-action", _("Time to first action (hours)"), "first_action"),
        chart(
            "trend-rates",
            _("Reopen, duplicate and phone first-contact rates"),
            "line",
            "percent",
            [
                _series("reopen_rate", str(FIGURES["reopen_rate"]), current),
                _series("duplicate_rate", str(FIGURES["duplicate_rate"]), current),
                _series("first_contact_rate", str(FIGURES["first_contact_rate"]), current),
            ],
        ),
    ]


def channel_chart(board: Dashboard) -> Chart:
    rows = board.breakdowns["channel"]
    entries = board.entries["channel"]
    total = sum(m.received for _k, m in rows)
    shares = [m.received / total if total else None for _k, m in rows]
    return Chart(
        "channel-shares",
        _("Share of requests by channel"),
        "bar",
        "percent",
        str(BREAKDOWN_TITLES["channel"]),
        [_entry(entries, key).name for key, _m in rows],
        [
            Series(
                _("Share of requests received"),
                [None if s is None else round(s * 100, 1) for s in shares],
                [show("duplicate_rate", s).text for s in shares],  # any rate formats a share
            ),
            Series(
                _("Requests received"),
                [m.received for _k, m in rows],
                [show("received", m.received).text for _k, m in rows],
                "hidden",
            ),
        ],
        horizontal=True,
    )


def backlog_chart(result: Backlog) -> Chart:
    return Chart(
        "backlog-ages",
        _("Open requests by time since they were received"),
        "bar",
        "count",
        _("Age"),
        [str(label) for label, _n in result.ages],
        [
            Series(
                _("Open requests"),
                [n for _l, n in result.ages],
                [show("open", n).text for _l, n in result.ages],
            )
        ],
    )


# --- breakdown tables ---------------------------------------------------------------------


@dataclass(frozen=True)
class BreakdownRow:
    key: Any
    code: str
    name: str
    share: Shown
    cells: list[Shown]


@dataclass(frozen=True)
class Breakdown:
    dimension: str
    title: str
    header: str
    columns: list[tuple[str, str]]
    rows: list[BreakdownRow]
    total: int  # rows before any limit


def _entry(entries: dict[Any, DimensionEntry], key: Any) -> DimensionEntry:
    if key is None:
        return DimensionEntry("", _("Outside the council districts"))
    return entries.get(key) or DimensionEntry(str(key), str(key))


def breakdown(
    board: Dashboard, dimension: str, *, columns: Sequence[str], limit: int | None
) -> Breakdown:
    rows = board.breakdowns[dimension]
    entries = board.entries[dimension]
    total = sum(m.received for _k, m in rows)
    out = []
    for key, measures in rows[:limit] if limit else rows:
        figures = measures.figures()
        entry = _entry(entries, key)
        out.append(
            BreakdownRow(
                key=key,
                code=entry.code,
                name=entry.name,
                share=show("duplicate_rate", measures.received / total if total else None),
                cells=[show(name, figures[name]) for name in columns],
            )
        )
    return Breakdown(
        dimension=dimension,
        title=str(BREAKDOWN_CAPTIONS[dimension]),
        header=str(BREAKDOWN_TITLES[dimension]),
        columns=[(name, str(FIGURES[name])) for name in columns],
        rows=out,
        total=len(rows),
    )


# --- the district map -----------------------------------------------------------------------


def map_features(figures: list[DistrictFigure]) -> tuple[list[dict[str, Any]], list[str]]:
    """The districts as the map draws them (shaded in MAP_CLASSES steps of requests
    received) and the legend's labels, one per step."""
    drawn = [f for f in figures if f.geometry is not None or f.center is not None]
    low = min((f.measures.received for f in drawn), default=0)
    top = max((f.measures.received for f in drawn), default=0)
    step = max(1, -(-(top - low + 1) // MAP_CLASSES))  # ceiling division
    features = []
    for f in drawn:
        received = f.measures.received
        features.append(
            {
                "code": f.code,
                "name": f.name,
                "class": min(MAP_CLASSES - 1, (received - low) // step),
                "received": show("received", received).text,
                "on_time": show("on_time_rate", f.measures.on_time_rate).text or "\u2014",
                "geometry": f.geometry,
                "center": list(f.center) if f.geometry is None and f.center else None,
            }
        )
    legend = [
        _("%(low)s to %(high)s requests")
        % {
            "low": number_format(low + i * step, 0, force_grouping=True),
            "high": number_format(low + (i + 1) * step - 1, 0, force_grouping=True),
        }
        for i in range(MAP_CLASSES)
    ]
    return features, legend


# --- CSV ------------------------------------------------------------------------------------


def _raw(name: str, value: float | int | None) -> float | int | str:
    if value is None:
        return ""
    kind = figure_kind(name)
    if kind == "rate":
        return round(value, 4)
    if kind == "hours":
        return round(value, 2)
    return value


def _figure_cells(measures: Measures) -> list[float | int | str]:
    figures = measures.figures()
    return [_raw(name, figures[name]) for name in FIGURES]


def csv_table(section: str, board: Dashboard) -> tuple[list[str], list[list[Any]]]:
    """The header and rows of one CSV download (UTF-8; rates as fractions 0..1, durations
    in hours, empty where there is nothing to measure)."""
    figures = list(FIGURES)
    if section == "summary":
        assert board.comparison is not None
        filters = board.filters
        periods = (
            ("current", filters, board.comparison.current),
            ("previous", filters.previous(), board.comparison.previous),
            ("last_year", filters.last_year(), board.comparison.last_year),
        )
        return ["period", "start", "end", *figures], [
            [name, f.start.isoformat(), f.end.isoformat(), *_figure_cells(m)]
            for name, f, m in periods
        ]
    if section == "trend":
        rows = []
        for start, measures in board.trend:
            before = board.trend_last_year.get(_last_year_key(start, board.grain))
            rows.append(
                [
                    start.isoformat(),
                    min(period_end(start, board.grain), board.filters.end).isoformat(),
                    *_figure_cells(measures),
                    before.received if before is not None else "",
                    _raw("on_time_rate", before.on_time_rate) if before is not None else "",
                ]
            )
        header = [
            "period_start",
            "period_end",
            *figures,
            "received_same_period_last_year",
            "on_time_rate_same_period_last_year",
        ]
        if rows:
            rows[0][0] = max(board.trend[0][0], board.filters.start).isoformat()
        return header, rows
    if section in BREAKDOWNS:
        entries = board.entries[section]
        total = sum(m.received for _k, m in board.breakdowns[section])
        out = []
        for key, measures in board.breakdowns[section]:
            entry = _entry(entries, key)
            share = round(measures.received / total, 4) if total else ""
            out.append([entry.code, entry.name, share, *_figure_cells(measures)])
        return [section, "name", "share_of_received", *figures], out
    if section == "backlog":
        assert board.backlog is not None
        result = board.backlog
        out = [
            [
                f"{low}-{high}" if high is not None else f"{low}-",
                low,
                high if high is not None else "",
                n,
                "",
            ]
            for (low, high, _label), (_l, n) in zip(AGE_BANDS, result.ages, strict=True)
        ]
        out.append(["all", 0, "", result.open, result.past_due])
        return ["age_days", "from_days", "to_days", "open", "open_past_due"], out
    raise KeyError(section)
