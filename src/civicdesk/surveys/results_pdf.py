"""The council report of a survey's results as a PDF (reportlab): the method (sample,
response rate, weighting, margin of error), a chart of percent positive per rating question
with its 95% confidence interval, the tables by subgroup, the benchmarks and the 311
figures of tied services. Every chart is followed by a table of the same numbers."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _
from reportlab.graphics.shapes import Drawing, Line, Rect, String
from reportlab.lib.pagesizes import letter
from reportlab.lib.units import inch
from reportlab.platypus import Flowable, Spacer, Table, TableStyle

from civicdesk.performance.report_pdf import (
    BLUE,
    CELL,
    H2,
    HEAD,
    HEADER_FILL,
    INK,
    RULE,
    TITLE,
    WIDTH,
    OutlinedDocument,
    paragraph,
)

from .models import Survey
from .results import (
    Estimate,
    SurveyResults,
    fielding_period,
    service_links,
    survey_estimate,
    weight_summary,
)
from .selectors import response_rates


# The council report's look: the same colours, type and bookmarks as the monthly report.
def _table(head: Sequence[str], rows: Sequence[Sequence[Any]], widths: Sequence[float]) -> Table:
    cells = [[paragraph(h, HEAD) for h in head]] + [
        [paragraph(v, CELL) for v in row] for row in rows
    ]
    table = Table(cells, colWidths=[w * WIDTH for w in widths], repeatRows=1, hAlign="LEFT")
    table.setStyle(
        TableStyle(
            [
                ("BACKGROUND", (0, 0), (-1, 0), HEADER_FILL),
                ("LINEBELOW", (0, 0), (-1, 0), 0.8, INK),
                ("LINEBELOW", (0, 1), (-1, -1), 0.25, RULE),
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
            ]
        )
    )
    return table


def _name(e: Estimate) -> str:
    return f"{e.item.text}: {e.item.choice_label}" if e.item.choice else e.item.text


def _chart(rows: Sequence[Estimate]) -> Drawing:
    """Horizontal bars of percent positive with the 95% interval as whiskers."""
    bar, gap, label_w = 14, 8, 0.42 * WIDTH
    height = len(rows) * (bar + gap) + 24
    plot_w = WIDTH - label_w - 30
    d = Drawing(WIDTH, height)
    for k in range(0, 101, 25):
        x = label_w + plot_w * k / 100
        d.add(Line(x, 14, x, height, strokeColor=RULE, strokeWidth=0.3))
        d.add(String(x, 2, f"{k}%", fontSize=7, textAnchor="middle", fillColor=INK))
    for i, e in enumerate(rows):
        y = height - (i + 1) * (bar + gap)
        text = e.item.text if len(e.item.text) <= 48 else e.item.text[:47] + "…"
        d.add(String(label_w - 4, y + 4, text, fontSize=7.5, textAnchor="end", fillColor=INK))
        if math.isnan(e.estimate):
            continue
        d.add(Rect(label_w, y, plot_w * e.estimate, bar, fillColor=BLUE, strokeColor=None))
        low, high = label_w + plot_w * e.ci_low, label_w + plot_w * e.ci_high
        mid = y + bar / 2
        d.add(Line(low, mid, high, mid, strokeColor=INK, strokeWidth=1))
        d.add(Line(low, mid - 4, low, mid + 4, strokeColor=INK, strokeWidth=1))
        d.add(Line(high, mid - 4, high, mid + 4, strokeColor=INK, strokeWidth=1))
        d.add(
            String(
                label_w + plot_w * max(e.ci_high, e.estimate) + 4,
                y + 4,
                e.estimate_text,
                fontSize=7.5,
                fillColor=INK,
            )
        )
    return d


def _estimate_rows(rows: Sequence[Estimate], by: bool) -> list[list[str]]:
    return [
        [_name(e), *([e.group] if by else []), e.estimate_text, e.margin_text, str(e.n)]
        for e in rows
    ]


def _method(survey: Survey, results: SurveyResults) -> list[Flowable]:
    rates = response_rates(survey)
    start, end = fielding_period(survey)
    w = weight_summary(results)
    out: list[Flowable] = [paragraph(_("Method"), H2)]
    rate = rates.overall.rate
    out.append(
        paragraph(
            _(
                "A random sample of %(sampled)s addresses was mailed an access code between "
                "%(start)s and %(end)s; %(responded)s answered online or on paper "
                "(a response rate of %(rate)s)."
            )
            % {
                "sampled": rates.overall.sampled,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "responded": rates.overall.responded,
                "rate": "-" if rate is None else f"{rate:.0%}",
            }
        )
    )
    if w:
        out.append(
            paragraph(
                _(
                    "The %(n)s responses were weighted (raked) to the population by "
                    "%(variables)s. The design effect of weighting is %(deff).2f, for an "
                    "effective sample size of %(eff).0f; the margin of error of a 50%% "
                    "result for every resident is ±%(moe).1f points at 95%% confidence, "
                    "larger for subgroups."
                )
                % {
                    "n": w["respondents"],
                    "variables": ", ".join(w["variables"]),
                    "deff": w["deff"],
                    "eff": w["effective_n"],
                    "moe": w["margin"],
                }
            )
        )
    if results.error:
        out.append(paragraph(results.error))
    if results.others:
        out.append(
            paragraph(
                _(
                    "%(n)s further responses came from the open link or on paper without a "
                    "code: not a random sample, they are not in these results."
                )
                % {"n": results.others}
            )
        )
    return out


def results_pdf(survey: Survey, language: str = "en") -> bytes:
    with translation.override(language):
        return _build(survey, language)


def _build(survey: Survey, language: str) -> bytes:
    results = survey_estimate(survey)
    links = service_links(survey, language)
    title = _("%(survey)s: results") % {"survey": survey.title}
    out = io.BytesIO()
    document = OutlinedDocument(
        out,
        pagesize=letter,
        leftMargin=0.75 * inch,
        rightMargin=0.75 * inch,
        topMargin=0.7 * inch,
        bottomMargin=0.8 * inch,
        title=title,
        author="civicdesk",
        subject=_("Resident survey results for the council"),
        creator="civicdesk",
        lang=language,
    )
    story: list[Flowable] = [paragraph(title, TITLE)]
    story += _method(survey, results)
    overall = results.rows("")
    ratings = [e for e in overall if e.item.kind == "rating"]
    if ratings:
        story.append(paragraph(_("Percent positive (excellent or good)"), H2))
        story.append(_chart(ratings))
        story.append(Spacer(1, 6))
        story.append(
            paragraph(
                _("Bars: percent positive; whiskers: the %(level)s confidence interval.")
                % {"level": "95%"},
                CELL,
            )
        )
    if overall:
        story.append(paragraph(_("Every resident"), H2))
        story.append(
            _table(
                [_("Question"), _("Result"), _("Margin of error"), _("Respondents")],
                _estimate_rows(overall, by=False),
                [0.55, 0.15, 0.17, 0.13],
            )
        )
    for variable in results.group_variables:
        rows = results.rows(variable)
        if rows:
            story.append(paragraph(_("By %(variable)s") % {"variable": variable}, H2))
            story.append(
                _table(
                    [_("Question"), variable, _("Result"), _("Margin of error"), _("Respondents")],
                    _estimate_rows(rows, by=True),
                    [0.45, 0.12, 0.13, 0.17, 0.13],
                )
            )
    compared = [e for e in results.estimates if e.benchmark is not None or e.change is not None]
    if compared:
        story.append(paragraph(_("Benchmarks and the previous survey"), H2))
        story.append(
            _table(
                [
                    _("Question"),
                    _("Group"),
                    _("Result"),
                    _("Benchmark"),
                    _("Compared"),
                    _("Change since the previous survey"),
                ],
                [
                    [
                        _name(e),
                        e.group_key or _("every resident"),
                        e.estimate_text,
                        f"{e.benchmark_text} {e.benchmark_source}".strip(),
                        e.label_text,
                        e.change_text,
                    ]
                    for e in compared
                ],
                [0.34, 0.12, 0.1, 0.2, 0.1, 0.14],
            )
        )
    if links:
        start, end = fielding_period(survey)
        story.append(paragraph(_("311 service over the fielding period"), H2))
        story.append(
            paragraph(
                _(
                    "Requests received from %(start)s to %(end)s for the services tied "
                    "to a question."
                )
                % {"start": start.isoformat(), "end": end.isoformat()}
            )
        )
        by_code = {e.item.question: e for e in ratings}
        story.append(
            _table(
                [_("Question"), _("Result"), _("Services"), _("Received"), _("On time")],
                [
                    [
                        by_code[code].item.text if code in by_code else code,
                        by_code[code].estimate_text if code in by_code else "-",
                        ", ".join(link.services),
                        str(link.overall.received),
                        "-"
                        if link.overall.on_time_rate is None
                        else f"{link.overall.on_time_rate:.0%}",
                    ]
                    for code, link in links.items()
                ],
                [0.34, 0.1, 0.32, 0.12, 0.12],
            )
        )
    document.build(story)
    return out.getvalue()
