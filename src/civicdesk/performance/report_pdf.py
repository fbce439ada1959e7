"""The council report as a PDF (reportlab): headings in reading order with a bookmark each,
the document's title, author, subject and language set, every chart followed by a table of
the same numbers. reportlab cannot write a tagged PDF (PDF/UA); docs/budget-and-reports.md
says what that means for screen-reader users and offers the CSV beside it.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from django.utils.translation import gettext as _
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.linecharts import HorizontalLineChart
from reportlab.graphics.shapes import Drawing
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import letter
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.lib.units import inch
from reportlab.pdfgen.canvas import Canvas
from reportlab.platypus import (
    Flowable,
    KeepTogether,
    Paragraph,
    SimpleDocTemplate,
    Spacer,
    Table,
    TableStyle,
)

from .budget import CostLine
from .forecast import METHODS, Interval
from .measures import FIGURES, Measures
from .report import (
    DASH,
    DEFINITIONS,
    TOP_SERVICES,
    Breakdown,
    MonthlyReport,
    change_text,
    figure_text,
    money_text,
    month_name,
    number,
    percent,
)

INK = colors.HexColor("#1b1b1b")
BLUE = colors.HexColor("#0b4f9c")
RED = colors.HexColor("#b3261e")
RULE = colors.HexColor("#8a8a8a")
HEADER_FILL = colors.HexColor("#e6edf6")
WIDTH = letter[0] - 1.5 * inch

_styles = getSampleStyleSheet()
TITLE = ParagraphStyle("Title", parent=_styles["Title"], fontSize=18, leading=22, textColor=INK)
H2 = ParagraphStyle(
    "Heading2", parent=_styles["Heading2"], textColor=INK, spaceBefore=12, keepWithNext=1
)
H3 = ParagraphStyle(
    "Heading3", parent=_styles["Heading3"], textColor=INK, spaceBefore=8, keepWithNext=1
)
BODY = ParagraphStyle("Body", parent=_styles["BodyText"], fontSize=9.5, leading=12.5, textColor=INK)
NOTE = ParagraphStyle("Note", parent=BODY, fontSize=8.5, leading=11, keepWithNext=1)
CELL = ParagraphStyle("Cell", parent=BODY, fontSize=8, leading=10)
CELL_RIGHT = ParagraphStyle("CellRight", parent=CELL, alignment=TA_RIGHT)
HEAD = ParagraphStyle("Head", parent=CELL, fontName="Helvetica-Bold")
HEAD_RIGHT = ParagraphStyle("HeadRight", parent=HEAD, alignment=TA_RIGHT)
OUTLINE_LEVELS = {"Title": 0, "Heading2": 1, "Heading3": 2}


class OutlinedDocument(SimpleDocTemplate):
    """Adds a bookmark (the PDF outline) for every heading, in reading order."""

    def afterFlowable(self, flowable: Flowable) -> None:
        if isinstance(flowable, Paragraph) and flowable.style.name in OUTLINE_LEVELS:
            key = f"h{id(flowable)}"
            self.canv.bookmarkPage(key)
            self.canv.addOutlineEntry(
                flowable.getPlainText(), key, level=OUTLINE_LEVELS[flowable.style.name]
            )


def paragraph(text: Any, style: ParagraphStyle = BODY) -> Paragraph:
    return Paragraph(escape(str(text)), style)


def _table(
    head: Sequence[Any], rows: Sequence[Sequence[Any]], widths: Sequence[float], total: bool = False
) -> Table:
    """A table with a header row repeated on every page; the first column is text, the
    others numbers (right-aligned)."""
    cells = [[paragraph(h, HEAD if i == 0 else HEAD_RIGHT) for i, h in enumerate(head)]]
    for row in rows:
        cells.append([paragraph(v, CELL if i == 0 else CELL_RIGHT) for i, v in enumerate(row)])
    table = Table(cells, colWidths=[w * WIDTH for w in widths], repeatRows=1, hAlign="LEFT")
    style = [
        ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
        ("LINEBELOW", (0, 0), (-1, 0), 0.8, INK),
        ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if total and rows:
        style.append(("LINEABOVE", (0, -1), (-1, -1), 0.8, INK))
    table.setStyle(TableStyle(style))
    return table


def _footer(report: MonthlyReport) -> Any:
    def draw(canvas: Canvas, doc: SimpleDocTemplate) -> None:
        canvas.saveState()
        canvas.setViewerPreference("DisplayDocTitle", "true")
        canvas.setFont("Helvetica", 8)
        canvas.setFillColor(INK)
        canvas.drawString(doc.leftMargin, 0.45 * inch, report.title)
        canvas.drawRightString(
            letter[0] - doc.rightMargin,
            0.45 * inch,
            _("Page %(page)d") % {"page": canvas.getPageNumber()},
        )
        canvas.restoreState()

    return draw


def report_pdf(report: MonthlyReport) -> bytes:
    """Lay the report out as a PDF; call inside ``translation.override(report.language)``."""
    out = io.BytesIO()
    document = OutlinedDocument(
        out,
        pagesize=letter,
        leftMargin=0.75 * inch,
        rightMargin=0.75 * inch,
        topMargin=0.7 * inch,
        bottomMargin=0.8 * inch,
        title=report.title,
        author=_("%(city)s 311") % {"city": report.city},
        subject=_("Service request performance, costs and forecast for %(month)s")
        % {"month": month_name(report.month)},
        keywords=["311", "performance", "council", report.month_key],
        creator="civicdesk",
        lang=report.language,
    )
    story: list[Flowable] = []
    story += _opening(report)
    story += _key_figures(report)
    story += _trend(report)
    story += _breakdowns(report)
    story += _backlog(report)
    story += _costs(report)
    story += _forecast(report)
    story += _definitions()
    footer = _footer(report)
    document.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


# --- sections ----------------------------------------------------------------------------------


def _opening(report: MonthlyReport) -> list[Flowable]:
    from django.utils import formats

    received = report.figures.current.received
    lines = [
        paragraph(report.title, TITLE),
        paragraph(
            _(
                "Service requests received from %(start)s to %(end)s, beside the month before "
                "and the same month a year earlier. Prepared on %(generated)s."
            )
            % {
                "start": formats.date_format(report.month, "DATE_FORMAT"),
                "end": formats.date_format(report.month_end, "DATE_FORMAT"),
                "generated": formats.date_format(report.generated_at.date(), "DATE_FORMAT"),
            }
        ),
    ]
    if report.in_progress:
        lines.append(
            paragraph(
                _(
                    "The month is not over: the figures cover the requests received so far "
                    "and will change."
                )
            )
        )
    if not received:
        lines.append(paragraph(_("No requests were received in this month.")))
    return lines


def _key_figures(report: MonthlyReport) -> list[Flowable]:
    current, previous, last_year = (
        report.figures.current.figures(),
        report.figures.previous.figures(),
        report.figures.last_year.figures(),
    )
    head = [
        _("Figure"),
        month_name(report.month),
        month_name(report.filters.previous().start),
        _("Difference"),
        month_name(report.filters.last_year().start),
        _("Difference"),
    ]
    rows = [
        [
            label,
            figure_text(name, current[name]),
            figure_text(name, previous[name]),
            change_text(name, current[name], previous[name]),
            figure_text(name, last_year[name]),
            change_text(name, current[name], last_year[name]),
        ]
        for name, label in FIGURES.items()
    ]
    return [
        paragraph(_("Key figures"), H2),
        _table(head, rows, [0.36, 0.13, 0.13, 0.12, 0.14, 0.12]),
    ]


def _trend(report: MonthlyReport) -> list[Flowable]:
    months = [month_name(m) for m, _measures in report.trend]
    short = [f"{m:%m/%y}" for m, _measures in report.trend]
    received = [m.received for _month, m in report.trend]
    on_time = [
        (m.on_time_rate * 100) if m.on_time_rate is not None else None for _month, m in report.trend
    ]

    bars = Drawing(WIDTH, 2.1 * inch)
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 40, 25, WIDTH - 60, 1.6 * inch
    chart.data = [received]
    chart.bars[0].fillColor = BLUE
    chart.bars[0].strokeColor = None
    chart.categoryAxis.categoryNames = short
    chart.categoryAxis.labels.fontSize = 7
    chart.valueAxis.valueMin = 0
    chart.valueAxis.labels.fontSize = 7
    bars.add(chart)

    line = Drawing(WIDTH, 1.9 * inch)
    rate_chart = HorizontalLineChart()
    rate_chart.x, rate_chart.y, rate_chart.width, rate_chart.height = 40, 25, WIDTH - 60, 1.4 * inch
    rate_chart.data = [[v if v is not None else 0 for v in on_time]]
    rate_chart.lines[0].strokeColor = RED
    rate_chart.lines[0].strokeWidth = 2
    rate_chart.categoryAxis.categoryNames = short
    rate_chart.categoryAxis.labels.fontSize = 7
    rate_chart.valueAxis.valueMin = 0
    rate_chart.valueAxis.valueMax = 100
    rate_chart.valueAxis.valueStep = 25
    rate_chart.valueAxis.labels.fontSize = 7
    line.add(rate_chart)

    rows = [
        [
            months[i],
            number(m.received),
            number(m.closed),
            percent(m.on_time_rate),
            number(m.median_close_hours, 1),
        ]
        for i, (_month, m) in enumerate(report.trend)
    ]
    return [
        paragraph(_("The last 13 months"), H2),
        paragraph(_("Requests received per month (chart; the table below has the figures)."), NOTE),
        bars,
        paragraph(
            _("On-time rate per month, in percent (chart; the table below has the figures)."), NOTE
        ),
        line,
        _table(
            [
                _("Month"),
                _("Received"),
                _("Closed"),
                _("On-time rate"),
                _("Median time to close (hours)"),
            ],
            rows,
            [0.3, 0.15, 0.15, 0.18, 0.22],
        ),
    ]


def _breakdown_rows(rows: Sequence[Breakdown]) -> list[list[Any]]:
    return [
        [
            row.label,
            number(row.current.received),
            change_text("received", row.current.received, row.previous.received),
            number(row.current.closed),
            percent(row.current.on_time_rate),
            number(row.current.median_close_hours, 1),
            number(row.current.open_past_due),
        ]
        for row in rows
    ]


def _breakdowns(report: MonthlyReport) -> list[Flowable]:
    head = [
        "",
        _("Received"),
        _("Change from the month before"),
        _("Closed"),
        _("On-time rate"),
        _("Median time to close (hours)"),
        _("Open past due"),
    ]
    widths = [0.3, 0.1, 0.13, 0.1, 0.11, 0.14, 0.12]
    out: list[Flowable] = []
    for title, first, breakdown in (
        (_("By department"), _("Department"), report.by_department),
        (_("By council district"), _("District"), report.by_district),
        (_("By channel"), _("Channel"), report.by_channel),
    ):
        out += [
            paragraph(title, H2),
            _table([first, *head[1:]], _breakdown_rows(breakdown), widths),
        ]
    top = report.by_service[:TOP_SERVICES]
    rest = report.by_service[TOP_SERVICES:]
    rows = _breakdown_rows(top)
    if rest:
        current, previous = Measures(), Measures()
        for row in rest:
            current.add(row.current)
            previous.add(row.previous)
        other = Breakdown(
            None,
            "",
            _("All other services (%(count)d)") % {"count": len(rest)},
            current,
            previous,
            Measures(),
        )
        rows += _breakdown_rows([other])
    out += [
        paragraph(_("By service: the %(count)d busiest") % {"count": TOP_SERVICES}, H2),
        _table([_("Service"), *head[1:]], rows, widths, total=bool(rest)),
    ]
    return out


def _backlog(report: MonthlyReport) -> list[Flowable]:
    backlog = report.backlog
    return [
        paragraph(_("Backlog"), H2),
        paragraph(
            _(
                "%(open)s requests are open now, whatever month they came in; %(past_due)s of "
                "them are past their due date. By how long ago they were received:"
            )
            % {"open": number(backlog.open), "past_due": number(backlog.past_due)}
        ),
        _table(
            [_("Age"), _("Open requests")],
            [[str(label), number(count)] for label, count in backlog.ages],
            [0.4, 0.2],
        ),
    ]


def _cost_rows(lines: Sequence[CostLine], hours: bool = True) -> list[list[Any]]:
    rows = []
    for line in lines:
        row = [line.label, number(line.requests)]
        if hours:
            row.append(number(line.labour_hours, 1))
        row += [money_text(line.cost), money_text(line.per_request, 2)]
        rows.append(row)
    return rows


def _costs(report: MonthlyReport) -> list[Flowable]:
    costs = report.costs
    total = costs.total
    out: list[Flowable] = [paragraph(_("What the month's requests cost"), H2)]
    if total.requests:
        out.append(
            paragraph(
                _(
                    "The %(requests)s requests received in the month cost an estimated "
                    "%(cost)s: %(per)s a request, counting labour, materials and a share of "
                    "each department's fixed costs."
                )
                % {
                    "requests": number(total.requests),
                    "cost": money_text(total.cost),
                    "per": money_text(total.per_request, 2),
                }
            )
        )
    if costs.not_costed:
        names = ", ".join(
            f"{item.service_name} ({number(item.requests)})" for item in costs.not_costed
        )
        out.append(
            paragraph(
                _(
                    "Not costed, because their unit costs are not entered (requests in "
                    "brackets; left out of the totals): %(services)s."
                )
                % {"services": names}
            )
        )
    head = [_("Requests"), _("Labour hours"), _("Cost"), _("Per request")]
    out += [
        paragraph(_("Cost by department"), H3),
        _table(
            [_("Department"), *head],
            _cost_rows([*costs.by_department, total]),
            [0.4, 0.12, 0.14, 0.17, 0.17],
            total=True,
        ),
        paragraph(_("Cost by council district"), H3),
        _table(
            [_("District"), *head],
            _cost_rows([*costs.by_district, total]),
            [0.4, 0.12, 0.14, 0.17, 0.17],
            total=True,
        ),
    ]
    rows: list[list[Any]] = []
    parents: list[str] = []
    for line in costs.by_district_service:
        if line.parent not in parents:
            parents.append(line.parent)
            kept = [x for x in costs.by_district_service if x.parent == line.parent]
            for item in kept[:3]:
                rows.append(
                    [f"{item.parent}: {item.label}", number(item.requests), money_text(item.cost)]
                )
            rest = kept[3:]
            if rest:
                rows.append(
                    [
                        f"{line.parent}: " + _("%(count)d other services") % {"count": len(rest)},
                        number(sum(x.requests for x in rest)),
                        money_text(sum((x.cost for x in rest), start=total.cost * 0)),
                    ]
                )
    out += [
        paragraph(
            _("Cost by district and service: the three costliest services in each district"), H3
        ),
        _table([_("District and service"), _("Requests"), _("Cost")], rows, [0.6, 0.15, 0.2]),
        paragraph(_("Cost per request by service"), H3),
        paragraph(
            _(
                "Labour hours times the hourly rate, plus materials, plus the department's "
                "annual fixed costs spread over the requests it handled in the twelve months "
                "to %(date)s."
            )
            % {"date": month_name(report.unit_costs.basis.as_of)},
            NOTE,
        ),
        _table(
            [
                _("Service (department)"),
                _("Labour hours"),
                _("Hourly rate"),
                _("Materials"),
                _("Fixed share"),
                _("Per request"),
            ],
            [
                [
                    f"{unit.service_name} ({unit.department_name})",
                    number(unit.labour_hours, 2),
                    money_text(unit.hourly_rate, 2),
                    money_text(unit.materials, 2),
                    money_text(unit.fixed_share, 2),
                    money_text(unit.total, 2),
                ]
                for unit in report.unit_costs.rows
            ],
            [0.42, 0.1, 0.12, 0.12, 0.12, 0.12],
        ),
    ]
    return out


def _interval_label() -> str:
    # The same msgid as the console's templates, where Django doubles the percent sign.
    return _("80%% interval") % {}


def _interval(interval: Interval | None, money: bool = False) -> tuple[str, str]:
    if interval is None:
        return DASH, DASH
    show = (lambda v: money_text(v)) if money else (lambda v: number(v))
    return show(interval.mean), _("%(low)s to %(high)s") % {
        "low": show(interval.low80),
        "high": show(interval.high80),
    }


def _forecast(report: MonthlyReport) -> list[Flowable]:
    view = report.outlook
    out: list[Flowable] = [paragraph(_("Next year's requests, workload and budget"), H2)]
    if not view.months or view.history_start is None or view.history_end is None:
        out.append(paragraph(_("There is not yet a whole month of history to forecast from.")))
        return out
    methods = "; ".join(
        f"{METHODS[name]!s}: {count}" for name, count in sorted(view.methods.items())
    )
    out.append(
        paragraph(
            _(
                "Forecast for %(start)s to %(end)s from the requests received from %(first)s to "
                "%(last)s. Method (number of services): %(methods)s. Ranges are 80%% prediction "
                "intervals: the actual figure should fall inside about four times in five."
            )
            % {
                "start": month_name(view.months[0]),
                "end": month_name(view.months[-1]),
                "first": month_name(view.history_start),
                "last": month_name(view.history_end),
                "methods": methods,
            }
        )
    )
    rows = []
    for month, interval in zip(view.months, view.monthly_total, strict=True):
        rows.append([month_name(month), *_interval(interval)])
    out += [
        paragraph(_("Expected requests per month"), H3),
        _table([_("Month"), _("Expected requests"), _interval_label()], rows, [0.35, 0.2, 0.25]),
    ]
    head = [
        _("Expected requests"),
        _interval_label(),
        _("Labour hours"),
        _("Budget"),
        _interval_label(),
    ]
    dep_rows = [
        [
            dep.department_name,
            *_interval(dep.volume),
            number(dep.hours.mean),
            *_interval(dep.budget, money=True),
        ]
        for dep in [*view.departments, view.total]
    ]
    out += [
        paragraph(_("By department"), H3),
        paragraph(
            _(
                "The budget is labour and materials for the expected requests plus each "
                "department's annual fixed costs."
            ),
            NOTE,
        ),
        _table([_("Department"), *head], dep_rows, [0.28, 0.12, 0.15, 0.11, 0.14, 0.2], total=True),
    ]
    service_rows = [
        [
            srv.service_name,
            *_interval(srv.forecast.total),
            number(srv.hours.mean) if srv.hours else DASH,
            *_interval(srv.budget, money=True),
        ]
        for srv in view.services[:TOP_SERVICES]
    ]
    out += [
        paragraph(_("By service: the %(count)d busiest") % {"count": TOP_SERVICES}, H3),
        _table([_("Service"), *head], service_rows, [0.28, 0.12, 0.15, 0.11, 0.14, 0.2]),
    ]
    return out


def _definitions() -> list[Flowable]:
    out: list[Flowable] = [paragraph(_("Definitions"), H2)]
    for term, text in DEFINITIONS:
        out.append(
            KeepTogether(
                [
                    Paragraph(f"<b>{escape(str(term))}</b>. {escape(str(text))}", BODY),
                    Spacer(1, 3),
                ]
            )
        )
    out.append(
        paragraph(
            _(
                "The full definitions are in the performance guide (docs/performance.md); the "
                "cost model and forecast method in docs/budget-and-reports.md."
            ),
            NOTE,
        )
    )
    return out
