"""The two responses both dashboards give: the page and a CSV download of one section. The
portal's and the console's views decide who may ask and which template frames the page,
then call these."""

from __future__ import annotations

import csv
from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import gettext as _

from civicdesk.accounts.models import User
from civicdesk.i18n import current_language
from civicdesk.performance.measures import FIGURES
from civicdesk.performance.rollups import rollups_as_of
from civicdesk.performance.selectors import filter_options
from civicdesk.surveys.access import can_read_survey_results

from .forms import DashboardFilterForm
from .presenters import (
    BREAKDOWNS,
    HEADLINE,
    PUBLIC_COLUMNS,
    PUBLIC_ROWS,
    SECTIONS,
    backlog_chart,
    breakdown,
    channel_chart,
    csv_table,
    dashboard_load,
    map_features,
    span_text,
    summary_rows,
    trend_charts,
)
from .ratings import residents_ratings


def dashboard_page(
    request: HttpRequest,
    *,
    template: str,
    csv_url_name: str,
    staff: bool,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    """The dashboard for the filters in the query string; with filters that cannot be used,
    the form with its errors (status 400) and no figures."""
    language = current_language()
    form = DashboardFilterForm(request.GET, options=filter_options(language))
    context: dict[str, Any] = {
        "form": form,
        "staff": staff,
        "language": language,
        "as_of": rollups_as_of(),
        **(extra or {}),
    }
    if not form.is_valid() or form.filters is None:
        return render(request, template, context, status=400)
    filters = form.filters
    board = dashboard_load(filters, form.trend_grain, language=language, with_map=True)
    assert board.comparison is not None and board.backlog is not None
    rows = summary_rows(board.comparison)
    columns = list(FIGURES) if staff else list(PUBLIC_COLUMNS)
    features, legend = map_features(board.districts)
    # Survey results are for the survey readers only (docs/surveys.md, "Who does what").
    user = getattr(request, "user", None)
    ratings = (
        residents_ratings(filters, language)
        if staff and isinstance(user, User) and can_read_survey_results(user)
        else None
    )
    query = urlencode(form.query())
    context.update(
        {
            "filters": filters,
            "span": span_text(filters.start, filters.end),
            "previous_span": span_text(filters.previous().start, filters.previous().end),
            "last_year_span": span_text(filters.last_year().start, filters.last_year().end),
            "selected": _selected(form),
            "headline": [row for row in rows if row.name in HEADLINE],
            "summary": rows,
            "charts": trend_charts(board),
            "channel_chart": channel_chart(board),
            "breakdowns": {
                d: breakdown(board, d, columns=columns, limit=None if staff else PUBLIC_ROWS)
                for d in BREAKDOWNS
            },
            "backlog": board.backlog,
            "backlog_chart": backlog_chart(board.backlog),
            "map_features": features,
            "map_legend": legend,
            "has_code_only_districts": any(f["center"] for f in features),
            "csv": {
                section: f"{reverse(csv_url_name, args=[section])}?{query}" for section in SECTIONS
            },
            "sections": SECTIONS,
            "ratings": ratings,
        }
    )
    return render(request, template, context)


def _selected(form: DashboardFilterForm) -> list[tuple[str, str]]:
    """The narrowing filters in words, e.g. [("Service", "Pothole")]."""
    chosen = []
    fields: dict[str, Any] = form.fields
    for name in ("service", "department", "district", "channel"):
        value = form.cleaned_data.get(name)
        if not value:
            continue
        for choice, label in fields[name].choices:
            options = label if isinstance(label, list | tuple) else [(choice, label)]
            for code, text in options:
                if code == value:
                    chosen.append((str(fields[name].label), str(text)))
    return chosen


def dashboard_csv(request: HttpRequest, section: str) -> HttpResponse:
    """One section of the dashboard as CSV (UTF-8 with a header row), same filters."""
    if section not in SECTIONS:
        raise Http404
    language = current_language()
    form = DashboardFilterForm(request.GET, options=filter_options(language))
    if not form.is_valid() or form.filters is None:
        lines = [_("These filters cannot be used:")]
        for name, errors in form.errors.items():
            label = form.fields[name].label if name in form.fields else ""
            lines.extend(f"{label}: {e}" if label else str(e) for e in errors)
        return HttpResponse(
            "\n".join(lines) + "\n", status=400, content_type="text/plain; charset=utf-8"
        )
    board = dashboard_load(form.filters, form.trend_grain, language=language, sections=[section])
    header, rows = csv_table(section, board)
    filters = form.filters
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    name = f"performance-{section}-{filters.start.isoformat()}-{filters.end.isoformat()}.csv"
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(rows)
    return response
