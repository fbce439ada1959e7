"""Residents' ratings beside the 311 figures on the staff dashboard (docs/dashboards.md,
"Residents' ratings"): for the latest open or closed survey fielded during the chosen
period whose rating questions are tied to 311 services, each tied question's percent
positive with its margin of error (the weighted random sample), beside the on-time rate
and volume of its services over the dashboard's period, and the question's figure in the
chosen council district when that district is one of the survey's areas.

One ``survey_estimate`` call (cached by ``surveys.results``) and one figure query per tied
question; nothing at all when no survey in the period has a tied question.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, replace

from civicdesk.performance.selectors import Filters, districts, measures, open_past_due
from civicdesk.surveys.models import QuestionService, Survey, SurveyStatus
from civicdesk.surveys.results import AREA, Estimate, fielding_period, survey_estimate

from .presenters import Shown, show


@dataclass(frozen=True)
class RatingRow:
    code: str
    text: str
    services: list[str]
    overall: Estimate | None
    area: Estimate | None
    on_time_rate: Shown
    received: Shown


@dataclass(frozen=True)
class ResidentsRatings:
    survey: Survey
    start: dt.date  # the survey's fielding period
    end: dt.date
    area: str  # the chosen district's code when it is one of the survey's areas, else ""
    rows: list[RatingRow]


def _overlapping(filters: Filters) -> Survey | None:
    """The latest open or closed survey fielded during the period with a tied question."""
    candidates = (
        Survey.objects.filter(
            status__in=[SurveyStatus.OPEN, SurveyStatus.CLOSED],
            questions__service_links__isnull=False,
        )
        .distinct()
        .order_by("-published_at", "-created_at", "-pk")
    )
    for survey in candidates:
        start, end = fielding_period(survey)
        if start <= filters.end and end >= filters.start:
            return survey
    return None


def _shown(estimate: Estimate | None) -> Estimate | None:
    return None if estimate is None or math.isnan(estimate.estimate) else estimate


def residents_ratings(filters: Filters, language: str | None = None) -> ResidentsRatings | None:
    survey = _overlapping(filters)
    if survey is None:
        return None
    ties: dict[int, tuple[str, str, list[tuple[int, str, int | None]]]] = {}
    for link in (
        QuestionService.objects.filter(question__survey=survey)
        .select_related("question", "question__section", "service")
        .order_by("question__section__position", "question__position", "service__name")
    ):
        q = link.question
        entry = ties.setdefault(q.pk, (q.code, q.localized("text", language), []))
        s = link.service
        entry[2].append((s.pk, s.localized("name", language), s.department_id))
    # Narrowed to a service or department: only the questions tied to it.
    if filters.service_ids or filters.department_ids:
        ties = {
            pk: t
            for pk, t in ties.items()
            if any(
                sid in filters.service_ids or dep in filters.department_ids
                for sid, _name, dep in t[2]
            )
        }
    if not ties:
        return None
    area = ""
    if filters.district_ids:
        codes = set(districts().filter(pk__in=filters.district_ids).values_list("code", flat=True))
        if len(codes) == 1 and survey.sample.filter(area__in=codes).exists():
            area = codes.pop()
    results = survey_estimate(survey)
    overall = {e.item.name: e for e in results.rows("")}
    by_area = {e.item.name: e for e in results.rows(AREA) if area and e.group == area}
    past_due = open_past_due()
    rows = []
    for code, text, services in ties.values():
        figures = measures(
            replace(filters, service_ids=tuple(s[0] for s in services), department_ids=()),
            past_due=past_due,
        )
        rows.append(
            RatingRow(
                code=code,
                text=text,
                services=[s[1] for s in services],
                overall=_shown(overall.get(code)),
                area=_shown(by_area.get(code)),
                on_time_rate=show("on_time_rate", figures.on_time_rate),
                received=show("received", figures.received),
            )
        )
    start, end = fielding_period(survey)
    return ResidentsRatings(survey=survey, start=start, end=end, area=area, rows=rows)
