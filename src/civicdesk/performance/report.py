"""The monthly performance report for council: one month's figures beside the month before
and the same month a year earlier, the trend, the breakdowns, the backlog, what the month's
requests cost, and next year's forecast and budget estimate; as a PDF to read and a CSV of
every figure. docs/budget-and-reports.md describes both.

Every figure comes from the selectors, budget and forecast modules: the report only arranges
them. ``report_write`` writes each file under a temporary name and renames it into place, so
a failure never leaves a half-written report behind.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicdesk.errors import InvalidInput

from .budget import CostLine, CostSummary, UnitCostTable, cost_summary, unit_costs
from .forecast import Interval, Outlook, outlook
from .measures import FIGURES, Measures, figure_kind
from .selectors import (
    AGE_BANDS,
    Backlog,
    Comparison,
    Filters,
    OpenPastDue,
    backlog,
    comparison,
    dimension_labels,
    measures_by,
    measures_trend,
    month_parse,
    open_past_due,
    received_span,
)

TOP_SERVICES = 10
EARLIEST_YEAR = 1900  # years before this are typing mistakes (and break date arithmetic)
CSV_COLUMNS = ("section", "dimension", "key", "label", "figure", "value", "previous", "last_year")

# Short definitions for the appendix: the same words as the dashboards' (docs/performance.md
# has the full text).
DEFINITIONS: tuple[tuple[Any, Any], ...] = (
    (
        gettext_lazy("Requests received"),
        gettext_lazy("Requests received in the period, duplicates included."),
    ),
    (
        gettext_lazy("Closed, still open"),
        gettext_lazy(
            "Of the requests received in the period, those closed now (duplicates left out) "
            "and the rest."
        ),
    ),
    (
        gettext_lazy("On-time rate"),
        gettext_lazy(
            "Of the requests with a service-level target: those closed by their due date, out "
            "of those closed plus those still open and already past due."
        ),
    ),
    (
        gettext_lazy("Open past due"),
        gettext_lazy("Requests received in the period, still open now, whose due date has passed."),
    ),
    (
        gettext_lazy("Time to close"),
        gettext_lazy(
            "From received to closed, for the requests closed now; the median (half were "
            "closed sooner) and the 90th percentile (nine in ten were closed sooner), in hours."
        ),
    ),
    (
        gettext_lazy("Reopen rate"),
        gettext_lazy("Requests reopened at least once, out of those ever closed."),
    ),
    (
        gettext_lazy("Duplicate rate"),
        gettext_lazy(
            "Requests merged into another report of the same problem, out of all received."
        ),
    ),
    (
        gettext_lazy("Cost per request"),
        gettext_lazy(
            "Labour hours times the hourly rate, plus materials, plus the department's annual "
            "fixed costs spread over the requests it handled in the twelve months."
        ),
    ),
    (
        gettext_lazy("Forecast"),
        gettext_lazy(
            "Expected requests per month from each service's history: a seasonal pattern "
            "and, with two years or more, a damped trend. The range given should hold the "
            "actual figure in about four months out of five."
        ),
    ),
)


@dataclass(frozen=True)
class Breakdown:
    """One row of a breakdown: this month, the month before and the same month last year."""

    key: Any
    code: str
    label: str
    current: Measures
    previous: Measures
    last_year: Measures


@dataclass(frozen=True)
class MonthlyReport:
    city: str
    language: str
    month: dt.date  # the first day
    month_end: dt.date
    generated_at: dt.datetime
    in_progress: bool
    filters: Filters
    figures: Comparison
    trend: list[tuple[dt.date, Measures]]
    by_department: list[Breakdown]
    by_service: list[Breakdown]
    by_district: list[Breakdown]
    by_channel: list[Breakdown]
    backlog: Backlog
    costs: CostSummary
    unit_costs: UnitCostTable
    outlook: Outlook

    @property
    def month_key(self) -> str:
        return f"{self.month:%Y-%m}"

    @property
    def title(self) -> str:
        return _("%(city)s 311 performance report, %(month)s") % {
            "city": self.city,
            "month": month_name(self.month),
        }


def month_name(day: dt.date) -> str:
    return str(formats.date_format(day, "YEAR_MONTH_FORMAT"))


def _breakdowns(
    filters: Filters, dimension: str, language: str, late: OpenPastDue
) -> list[Breakdown]:
    current = dict(measures_by(filters, dimension, past_due=late))
    previous = dict(measures_by(filters.previous(), dimension, past_due=late))
    last_year = dict(measures_by(filters.last_year(), dimension, past_due=late))
    keys = [k for k in current if current[k].received] or list(current)
    labels = dimension_labels(dimension, keys, language)
    codes = _codes(dimension, keys)
    rows = [
        Breakdown(
            key=key,
            code=codes.get(key, "" if key is None else str(key)),
            label=str(labels.get(key) or _("No district")),
            current=current[key],
            previous=previous.get(key, Measures()),
            last_year=last_year.get(key, Measures()),
        )
        for key in keys
    ]
    return sorted(rows, key=lambda row: (-row.current.received, row.label))


def _codes(dimension: str, keys: Iterable[Any]) -> dict[Any, str]:
    """The stable code of each breakdown key, for the CSV (ids differ between databases)."""
    from civicdesk.catalog.models import Department, Service
    from civicdesk.geo.models import Zone

    ids = [k for k in keys if k is not None]
    if dimension == "service":
        return dict(Service.objects.filter(pk__in=ids).values_list("pk", "service_code"))
    if dimension == "department":
        return dict(Department.objects.filter(pk__in=ids).values_list("pk", "code"))
    if dimension == "district":
        return dict(Zone.objects.filter(pk__in=ids).values_list("pk", "code"))
    return {k: str(k) for k in ids}


def monthly_report(
    *, month: str, language: str = "en", now: dt.datetime | None = None
) -> MonthlyReport:
    """Gather the figures for ``month`` (YYYY-MM). InvalidInput for a month that is not one
    or has not begun."""
    now = now or timezone.now()
    first, last = month_parse(month)
    today = timezone.localdate(now)
    if first.year < EARLIEST_YEAR:
        raise InvalidInput(
            {
                "month": [
                    _("%(month)s is before %(year)d; check the year.")
                    % {"month": month, "year": EARLIEST_YEAR}
                ]
            }
        )
    if first > today:
        raise InvalidInput(
            {"month": [_("%(month)s has not begun yet; nothing to report.") % {"month": month}]}
        )
    filters = Filters(start=first, end=last)
    # The requests open past due now, read once and counted for every figure of the report.
    late = open_past_due(now=now)
    with translation.override(language):
        trend_start = (first - dt.timedelta(days=365)).replace(day=1)
        as_of = min(last, today)
        return MonthlyReport(
            city=settings.CIVICDESK_CITY_NAME,
            language=language,
            month=first,
            month_end=last,
            generated_at=now,
            in_progress=last >= today,
            filters=filters,
            figures=comparison(filters, past_due=late),
            trend=measures_trend(Filters(start=trend_start, end=last), "month", past_due=late),
            by_department=_breakdowns(filters, "department", language, late),
            by_service=_breakdowns(filters, "service", language, late),
            by_district=_breakdowns(filters, "district", language, late),
            by_channel=_breakdowns(filters, "channel", language, late),
            backlog=backlog(filters, now=now),
            costs=cost_summary(filters, language=language),
            unit_costs=unit_costs(as_of=as_of, language=language),
            outlook=outlook(as_of=as_of, language=language),
        )


# --- numbers as people read them ------------------------------------------------------------

DASH = "\u2013"


def number(value: float | Decimal | int | None, decimals: int = 0) -> str:
    if value is None:
        return DASH
    return str(formats.number_format(value, decimals, use_l10n=True, force_grouping=True))


def percent(rate: float | None) -> str:
    if rate is None:
        return DASH
    return _("%(value)s%%") % {"value": number(rate * 100, 1)}


def money_text(value: Decimal | float | None, decimals: int = 0) -> str:
    if value is None:
        return DASH
    return f"{settings.CIVICDESK_CURRENCY_SYMBOL}{number(value, decimals)}"


def figure_text(name: str, value: float | int | None) -> str:
    kind = figure_kind(name)
    if kind == "rate":
        return percent(value)
    if kind == "hours":
        return number(value, 1)
    return number(value)


def change_text(name: str, value: float | int | None, before: float | int | None) -> str:
    """How much a figure moved: points for rates, percent for the rest."""
    if value is None or before is None:
        return DASH
    if figure_kind(name) == "rate":
        return _("%(sign)s%(value)s pts") % {
            "sign": "+" if value >= before else "\u2212",
            "value": number(abs(value - before) * 100, 1),
        }
    if not before:
        return DASH
    change = (value - before) / before
    return ("+" if change >= 0 else "\u2212") + percent(abs(change))


# --- CSV ---------------------------------------------------------------------------------------


def _csv_value(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Decimal):
        return str(value.quantize(Decimal("0.01")))
    if isinstance(value, float):
        return f"{round(value, 6):.6f}".rstrip("0").rstrip(".")
    return str(value)


def csv_rows(report: MonthlyReport) -> Iterator[tuple[Any, ...]]:
    """Every figure of the report, one per row (see CSV_COLUMNS and the docs)."""
    yield ("report", "city", "", report.city, "month", report.month_key, "", "")
    yield ("report", "city", "", report.city, "language", report.language, "", "")
    yield ("report", "city", "", report.city, "in_progress", int(report.in_progress), "", "")
    yield (
        "report",
        "city",
        "",
        report.city,
        "generated_at",
        report.generated_at.isoformat(timespec="seconds"),
        "",
        "",
    )
    figures = report.figures
    now, before, year = (
        figures.current.figures(),
        figures.previous.figures(),
        figures.last_year.figures(),
    )
    for name in FIGURES:
        yield ("summary", "city", "", report.city, name, now[name], before[name], year[name])
    for month, measures in report.trend:
        for name in ("received", "closed", "on_time_rate", "median_close_hours"):
            yield (
                "trend",
                "month",
                f"{month:%Y-%m}",
                month_name(month),
                name,
                getattr(measures, name),
                "",
                "",
            )
    for section, rows in (
        ("by_department", report.by_department),
        ("by_service", report.by_service),
        ("by_district", report.by_district),
        ("by_channel", report.by_channel),
    ):
        dimension = section.removeprefix("by_")
        for row in rows:
            now, before, year = (
                row.current.figures(),
                row.previous.figures(),
                row.last_year.figures(),
            )
            for name in FIGURES:
                yield (
                    section,
                    dimension,
                    row.code,
                    row.label,
                    name,
                    now[name],
                    before[name],
                    year[name],
                )
    yield ("backlog", "city", "", report.city, "open", report.backlog.open, "", "")
    yield ("backlog", "city", "", report.city, "past_due", report.backlog.past_due, "", "")
    for (low, high, _label), (label, count) in zip(AGE_BANDS, report.backlog.ages, strict=True):
        key = f"{low}-{high}" if high is not None else f"{low}+"
        yield ("backlog", "age_days", key, str(label), "open", count, "", "")
    yield from _cost_rows(report.costs, report.unit_costs)
    yield from _forecast_rows(report.outlook)


def _cost_line_rows(dimension: str, line: CostLine, key: str) -> Iterator[tuple[Any, ...]]:
    label = f"{line.parent}: {line.label}" if line.parent else line.label
    yield ("costs", dimension, key, label, "requests", line.requests, "", "")
    yield ("costs", dimension, key, label, "labour_hours", line.labour_hours, "", "")
    yield ("costs", dimension, key, label, "cost", line.cost, "", "")
    yield ("costs", dimension, key, label, "cost_per_request", line.per_request, "", "")
    if line.not_costed_requests:
        yield (
            "costs",
            dimension,
            key,
            label,
            "not_costed_requests",
            line.not_costed_requests,
            "",
            "",
        )


def _cost_rows(costs: CostSummary, table: UnitCostTable) -> Iterator[tuple[Any, ...]]:
    yield from _cost_line_rows("city", costs.total, "")
    for line in costs.by_department:
        yield from _cost_line_rows("department", line, line.code)
    for line in costs.by_service:
        yield from _cost_line_rows("service", line, line.code)
    for line in costs.by_district:
        yield from _cost_line_rows("district", line, line.code)
    district_codes = {line.key: line.code for line in costs.by_district}
    for line in costs.by_district_service:
        yield from _cost_line_rows(
            "district_service", line, f"{district_codes.get(line.key[0], '')}/{line.code}"
        )
    for unit in table.rows:
        key = f"{unit.service_code}/{unit.department_code}"
        label = f"{unit.service_name} ({unit.department_name})"
        for name, value in (
            ("labour_hours", unit.labour_hours),
            ("hourly_rate", unit.hourly_rate),
            ("labour", unit.labour),
            ("materials", unit.materials),
            ("fixed_share", unit.fixed_share),
            ("unit_cost", unit.total),
        ):
            yield ("unit_costs", "service_department", key, label, name, value, "", "")
    for item in table.not_costed:
        key = f"{item.service_code}/{item.department_code}"
        yield (
            "unit_costs",
            "service_department",
            key,
            item.service_name,
            "not_costed",
            str(item.reason),
            "",
            "",
        )


def _interval_rows(
    dimension: str, key: str, label: str, name: str, interval: Interval | None, money: bool = False
) -> Iterator[tuple[Any, ...]]:
    if interval is None:
        return
    for suffix, value in (
        ("", interval.mean),
        ("_low80", interval.low80),
        ("_high80", interval.high80),
        ("_low95", interval.low95),
        ("_high95", interval.high95),
    ):
        shown: Any = Decimal(value).quantize(Decimal("0.01")) if money else round(value, 1)
        yield ("forecast", dimension, key, label, name + suffix, shown, "", "")


def _forecast_rows(view: Outlook) -> Iterator[tuple[Any, ...]]:
    for month, interval in zip(view.months, view.monthly_total, strict=True):
        yield from _interval_rows(
            "month", f"{month:%Y-%m}", month_name(month), "requests", interval
        )
    total = view.total
    yield from _interval_rows("city", "", str(total.department_name), "requests", total.volume)
    yield from _interval_rows("city", "", str(total.department_name), "labour_hours", total.hours)
    yield from _interval_rows("city", "", str(total.department_name), "budget", total.budget, True)
    for dep in view.departments:
        yield from _interval_rows(
            "department", dep.department_code, dep.department_name, "requests", dep.volume
        )
        yield from _interval_rows(
            "department", dep.department_code, dep.department_name, "labour_hours", dep.hours
        )
        yield from _interval_rows(
            "department", dep.department_code, dep.department_name, "budget", dep.budget, True
        )
    for srv in view.services:
        yield (
            "forecast",
            "service",
            srv.service_code,
            srv.service_name,
            "method",
            srv.forecast.method,
            "",
            "",
        )
        yield from _interval_rows(
            "service", srv.service_code, srv.service_name, "requests", srv.forecast.total
        )
        yield from _interval_rows(
            "service", srv.service_code, srv.service_name, "labour_hours", srv.hours
        )
        yield from _interval_rows(
            "service", srv.service_code, srv.service_name, "budget", srv.budget, True
        )


def report_csv(report: MonthlyReport) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in csv_rows(report):
        writer.writerow([_csv_value(value) for value in row])
    return out.getvalue()


# --- writing the files ---------------------------------------------------------------------------


def _directory_check(out: Path) -> None:
    if not out.exists():
        raise InvalidInput({"out": [_("%(path)s does not exist.") % {"path": out}]})
    if not out.is_dir():
        raise InvalidInput({"out": [_("%(path)s is not a directory.") % {"path": out}]})
    if not os.access(out, os.W_OK | os.X_OK):
        raise InvalidInput({"out": [_("%(path)s is not writable.") % {"path": out}]})


def _files_replace(contents: dict[Path, bytes]) -> None:
    """Write each file under a temporary name in its directory, then rename them all into
    place: a reader never sees half a file, and a failure leaves no new file behind (a
    report written before stays as it was, unless the failure came between two renames)."""
    blocked = [path for path in contents if path.exists() and not path.is_file()]
    if blocked:
        raise InvalidInput(
            {
                "out": [
                    _("Could not write the report: %(path)s is in the way.") % {"path": blocked[0]}
                ]
            }
        )
    temporary: dict[Path, str] = {}
    placed: list[Path] = []
    existed = {path for path in contents if path.exists()}
    try:
        for path, data in contents.items():
            handle, name = tempfile.mkstemp(
                dir=path.parent, prefix=f".{path.name}.", suffix=".part"
            )
            temporary[path] = name
            os.fchmod(handle, 0o644)  # mkstemp makes it private; a report is for reading
            with os.fdopen(handle, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
        for path, name in temporary.items():
            Path(name).replace(path)
            placed.append(path)
    except OSError as exc:
        for name in temporary.values():
            Path(name).unlink(missing_ok=True)
        for path in placed:
            if path not in existed:
                path.unlink(missing_ok=True)
        raise InvalidInput(
            {"out": [_("Could not write the report: %(error)s") % {"error": exc.strerror or exc}]}
        ) from None


def report_write(
    *,
    month: str,
    out: Path,
    language: str = "en",
    allow_empty: bool = False,
    now: dt.datetime | None = None,
) -> tuple[Path, Path]:
    """Write ``performance-YYYY-MM.pdf`` and ``.csv`` into ``out``; returns their paths.
    InvalidInput (nothing written) for a bad month, language or directory, or a month with no
    requests unless ``allow_empty``."""
    from .report_pdf import report_pdf

    languages = [code for code, _name in settings.LANGUAGES]
    if language not in languages:
        raise InvalidInput(
            {
                "language": [
                    _("%(language)r is not one of %(languages)s")
                    % {"language": language, "languages": ", ".join(languages)}
                ]
            }
        )
    _directory_check(out)
    report = monthly_report(month=month, language=language, now=now)
    if not report.figures.current.received and not allow_empty:
        span = received_span()
        held = (
            _("the data run from %(first)s to %(last)s")
            % {"first": f"{span[0]:%Y-%m}", "last": f"{span[1]:%Y-%m}"}
            if span
            else _("there are no requests at all")
        )
        raise InvalidInput(
            {
                "month": [
                    _(
                        "No requests were received in %(month)s (%(held)s); nothing was "
                        "written. Use --allow-empty to write a report that says so."
                    )
                    % {"month": report.month_key, "held": held}
                ]
            }
        )
    with translation.override(language):
        pdf = report_pdf(report)
        text = report_csv(report)
    base = out / f"performance-{report.month_key}"
    pdf_path, csv_path = base.with_suffix(".pdf"), base.with_suffix(".csv")
    _files_replace({pdf_path: pdf, csv_path: text.encode("utf-8")})
    return pdf_path, csv_path
