"""The results of a fielded survey (docs/surveys.md, "Results, benchmarks and the council
report"): population targets and benchmarks (imported or entered), the in-app responses
turned into the analysis engine's inputs and raked to the targets, the estimates with their
margins of error, compared with benchmarks and with the previous survey of the series, and
the 311 figures of the services a question is tied to.

The statistics are the engine's (``surveys.analysis``: the same functions as
``civicdesk survey analyze``); this module only builds their inputs from the database.

Estimates are computed on demand and cached (not stored): they are a pure function of the
submitted responses and the targets, so a stored copy would go stale with every paper
questionnaire entered; the cache key is a fingerprint of exactly those inputs, so a change to
either is seen at once, and an unchanged survey costs one small query per page.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import io
import math
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from django.core.cache import cache
from django.db import transaction
from django.db.models import Count, Max
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicdesk.accounts.models import User
from civicdesk.audit.services import audit_record
from civicdesk.catalog.models import Service
from civicdesk.errors import InvalidInput
from civicdesk.surveys.analysis import SurveyInputError, estimation, inputs, raking
from civicdesk.surveys.analysis.estimation import Z_95, EstimateRow
from civicdesk.surveys.analysis.output import ESTIMATE_COLUMNS

from .models import (
    Answer,
    Benchmark,
    PopulationTarget,
    Question,
    QuestionKind,
    QuestionService,
    Response,
    ResponseMode,
    ResultsSettings,
    Survey,
)
from .selectors import response_rates

RATING_LABEL_OF = {
    "excellent": "Excellent",
    "good": "Good",
    "fair": "Fair",
    "poor": "Poor",
    "dont_know": "Don't know",
}
AREA = "area"
PROBABILITY = "probability"
NON_PROBABILITY = "non_probability"
DEFAULT_SIMILAR_POINTS = 5.0
DEFAULT_MUCH_POINTS = 10.0
MAX_IMPORT_LINES = 10_000
CACHE_SECONDS = 3600

LABELS = {
    "much_higher": gettext_lazy("much higher"),
    "higher": gettext_lazy("higher"),
    "similar": gettext_lazy("similar"),
    "lower": gettext_lazy("lower"),
    "much_lower": gettext_lazy("much lower"),
}

CSV_COLUMNS = (
    *ESTIMATE_COLUMNS,
    "sample",
    "question",
    "question_text",
    "choice",
    "kind",
    "group_variable",
    "margin_of_error",
    "benchmark",
    "benchmark_source",
    "label",
    "previous",
    "change",
)


# --- the questionnaire as the engine sees it ---------------------------------------------------


@dataclass(frozen=True)
class ItemSpec:
    """One estimate's column: a rating or number question, or one choice of a choice question."""

    name: str  # the column: the question code, or "code:choice"
    question: str
    text: str
    kind: str  # "rating", "choice" or "number"
    choice: str = ""
    choice_label: str = ""

    @property
    def scale(self) -> float:
        """Estimates are shares (shown in percent) except a number's mean."""
        return 1.0 if self.kind == "number" else 100.0


@dataclass(frozen=True)
class Layout:
    questions: list[Question]
    items: list[ItemSpec]
    demographics: dict[str, Question]  # variable -> its single-choice question


def _questions(survey: Survey) -> list[Question]:
    return list(
        Question.objects.filter(survey=survey)
        .select_related("section")
        .order_by("section__position", "position")
    )


def layout(survey: Survey, raked: Iterable[str] = ()) -> Layout:
    """The items to estimate and the demographic variables. A question whose demographic
    variable is raked is not estimated (raking makes its shares the targets')."""
    raked = set(raked)
    questions = _questions(survey)
    demographics: dict[str, Question] = {}
    for q in questions:
        if q.demographic_variable and q.kind == QuestionKind.SINGLE:
            demographics.setdefault(q.demographic_variable, q)
    items: list[ItemSpec] = []
    for q in questions:
        if q.demographic_variable in raked and demographics.get(q.demographic_variable) == q:
            continue
        if q.kind == QuestionKind.RATING:
            items.append(ItemSpec(q.code, q.code, q.text, "rating"))
        elif q.kind == QuestionKind.NUMBER:
            items.append(ItemSpec(q.code, q.code, q.text, "number"))
        elif q.kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
            for choice in q.choices:
                code = str(choice.get("code"))
                items.append(
                    ItemSpec(
                        f"{q.code}:{code}",
                        q.code,
                        q.text,
                        "choice",
                        code,
                        str(choice.get("label") or code),
                    )
                )
    return Layout(questions=questions, items=items, demographics=demographics)


# --- population targets ---------------------------------------------------------------------


def targets_of(survey: Survey) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for t in PopulationTarget.objects.filter(survey=survey).order_by("id"):
        out.setdefault(t.variable, {})[t.category] = t.population
    return out


def _decode(data: bytes) -> str:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(
            {"file": [_("The file is not UTF-8 text: save it as CSV UTF-8.")]}
        ) from None


def _rows(text: str, columns: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """The CSV's rows with their line numbers; the header must name ``columns``."""
    reader = csv.DictReader(io.StringIO(text))
    header = [h.strip() for h in (reader.fieldnames or [])]
    missing = [c for c in columns if c not in header]
    if missing:
        raise InvalidInput(
            {
                "file": [
                    _("The first line must name the columns %(columns)s (missing: %(missing)s).")
                    % {"columns": ",".join(columns), "missing": ", ".join(missing)}
                ]
            }
        )
    reader.fieldnames = header
    rows: list[tuple[int, dict[str, str]]] = []
    for record in reader:
        if len(rows) >= MAX_IMPORT_LINES:
            raise InvalidInput(
                {"file": [_("The file has more than %(n)s lines.") % {"n": MAX_IMPORT_LINES}]}
            )
        values = {k: (v or "").strip() for k, v in record.items() if isinstance(k, str)}
        if any(values.values()):
            rows.append((reader.line_num, values))
    if not rows:
        raise InvalidInput({"file": [_("The file has a header line but no rows.")]})
    return rows


def targets_import(*, survey: Survey, data: bytes, actor: User | None = None) -> int:
    """Replace the survey's population targets with a CSV ``variable,category,population``.
    Every problem is named by its line; nothing is saved unless the whole file is right."""
    text = _decode(data)
    rows = _rows(text, ("variable", "category", "population"))
    demographics = layout(survey).demographics
    errors: list[str] = []
    for line, row in rows:
        variable, category = row["variable"], row["category"]
        question = demographics.get(variable)
        if question is None:
            errors.append(
                _(
                    "Line %(line)s: %(variable)s is not the demographic variable of a "
                    "single-choice question of this survey (those are: %(known)s)."
                )
                % {
                    "line": line,
                    "variable": variable or "(blank)",
                    "known": ", ".join(demographics) or "none",
                }
            )
            continue
        codes = [str(c.get("code")) for c in question.choices]
        if category not in codes:
            errors.append(
                _("Line %(line)s: %(category)s is not a choice of %(variable)s (%(codes)s).")
                % {
                    "line": line,
                    "category": category or "(blank)",
                    "variable": variable,
                    "codes": ", ".join(codes),
                }
            )
    if errors:
        raise InvalidInput({"file": errors})
    # The generic checks (numbers, positive, listed once, totals that agree) are the
    # analysis's own, on the same file.
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "targets.csv"
        path.write_text(text, encoding="utf-8")
        try:
            targets = inputs.read_targets(path)
        except SurveyInputError as exc:
            message = str(exc).replace(f"{path}, line", _("Line")).replace(f"{path}: ", "")
            raise InvalidInput({"file": [message]}) from None
    return _replace_targets(survey, targets, actor, "survey.targets_import")


def target_key(variable: str, category: str) -> str:
    """The key under which ``targets_save`` names a problem with one category's population."""
    return f"{variable}:{category}"


def _replace_targets(
    survey: Survey, targets: Mapping[str, Mapping[str, float]], actor: User | None, action: str
) -> int:
    with transaction.atomic():
        PopulationTarget.objects.filter(survey=survey).delete()
        PopulationTarget.objects.bulk_create(
            PopulationTarget(survey=survey, variable=v, category=c, population=p)
            for v, cats in targets.items()
            for c, p in cats.items()
        )
        audit_record(action, actor=actor, target=("survey", survey.slug))
    return sum(len(c) for c in targets.values())


def targets_save(
    *,
    survey: Survey,
    targets: Mapping[tuple[str, str], str | float | None],
    actor: User | None = None,
) -> int:
    """Targets entered on the staff page: ``{(variable, category): population as typed}``.
    A variable whose categories are all blank is not weighted by; otherwise every category
    needs a number greater than 0, and the variables' totals must agree within the import's
    tolerance. Each problem is named by its variable and category (under
    ``target_key(variable, category)``; totals that disagree under ``targets``) and nothing
    is saved unless everything is right. Replaces the survey's targets."""
    demographics = layout(survey).demographics
    errors: dict[str, list[str]] = {}
    given: dict[str, dict[str, str]] = {}
    for (variable, category), raw in targets.items():
        question = demographics.get(variable)
        codes = [str(c.get("code")) for c in question.choices] if question else []
        if category not in codes:
            errors.setdefault("targets", []).append(
                _("%(category)s is not a choice of a demographic variable %(variable)s.")
                % {"category": category or _("(blank)"), "variable": variable or _("(blank)")}
            )
            continue
        text = "" if raw is None else str(raw).strip()
        given.setdefault(variable, {})[category] = text
    clean: dict[str, dict[str, float]] = {}
    for variable, cats in given.items():
        if not any(cats.values()):
            continue  # not weighted by this variable
        for category, text in cats.items():
            key = target_key(variable, category)
            names = {"variable": variable, "category": category, "value": text}
            if not text:
                errors[key] = [
                    _(
                        "The population of %(variable)s = %(category)s is blank: fill in every "
                        "category of %(variable)s, or none of them not to weight by it."
                    )
                    % names
                ]
                continue
            try:
                value = float(text)
            except ValueError:
                value = math.nan
            if not math.isfinite(value):
                errors[key] = [
                    _("The population of %(variable)s = %(category)s is %(value)s, not a number.")
                    % names
                ]
            elif value <= 0:
                errors[key] = [
                    _(
                        "The population of %(variable)s = %(category)s is %(value)s; it must be "
                        "greater than 0."
                    )
                    % names
                ]
            else:
                clean.setdefault(variable, {})[category] = value
    if not errors and clean:
        sums = {variable: sum(cats.values()) for variable, cats in clean.items()}
        low = min(sums, key=lambda v: sums[v])
        high = max(sums, key=lambda v: sums[v])
        if sums[high] - sums[low] > inputs.TARGET_TOTALS_TOLERANCE * sums[high]:
            errors["targets"] = [
                _(
                    "The populations of %(low)s add up to %(low_total)s but those of %(high)s "
                    "to %(high_total)s; every variable must describe the same population "
                    "(within %(tolerance)s)."
                )
                % {
                    "low": low,
                    "low_total": f"{sums[low]:,.6g}",
                    "high": high,
                    "high_total": f"{sums[high]:,.6g}",
                    "tolerance": f"{inputs.TARGET_TOTALS_TOLERANCE:.1%}",
                }
            ]
    if errors:
        raise InvalidInput(errors)
    return _replace_targets(survey, clean, actor, "survey.targets_save")


# --- benchmarks and settings -----------------------------------------------------------------


def _group_ok(survey: Survey, group: str, lay: Layout) -> bool:
    if not group:
        return True
    variable, sep, category = group.partition("=")
    if not sep or not category:
        return False
    if variable == AREA:
        return True
    question = lay.demographics.get(variable)
    return question is not None and category in [str(c.get("code")) for c in question.choices]


def benchmarks_import(*, survey: Survey, data: bytes, actor: User | None = None) -> int:
    """Replace the survey's benchmarks with a CSV ``item,group,benchmark,source``: ``item`` a
    question code (rating, number) or ``code:choice``; ``group`` blank (every resident) or
    ``variable=category`` (``age=18-34``, ``area=D1``); ``benchmark`` in percent for a rating
    (percent positive) or a choice (percent choosing it), in the question's units for a
    number."""
    rows = _rows(_decode(data), ("item", "group", "benchmark"))
    lay = layout(survey)
    known = {i.name for i in lay.items} | {
        f"{q.code}:{c.get('code')}" for q in lay.demographics.values() for c in q.choices
    }
    errors: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    made = []
    for line, row in rows:
        item, group = row["item"], row["group"].replace(" ", "")
        if item not in known:
            errors.append(
                _("Line %(line)s: %(item)s is not an item of this survey.")
                % {"line": line, "item": item or "(blank)"}
            )
            continue
        if not _group_ok(survey, group, lay):
            errors.append(
                _(
                    "Line %(line)s: the group %(group)s is not blank nor variable=category of "
                    "a demographic variable or the area."
                )
                % {"line": line, "group": group}
            )
            continue
        try:
            value = float(row["benchmark"])
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            errors.append(
                _("Line %(line)s: the benchmark %(value)s is not a number.")
                % {"line": line, "value": row["benchmark"] or "(blank)"}
            )
            continue
        if (item, group) in seen:
            errors.append(
                _("Line %(line)s: %(item)s %(group)s is already on line %(first)s.")
                % {"line": line, "item": item, "group": group, "first": seen[(item, group)]}
            )
            continue
        seen[(item, group)] = line
        made.append(
            Benchmark(
                survey=survey,
                item=item,
                group=group,
                value=value,
                source=row.get("source", "")[:200],
            )
        )
    if errors:
        raise InvalidInput({"file": errors})
    with transaction.atomic():
        Benchmark.objects.filter(survey=survey).delete()
        Benchmark.objects.bulk_create(made)
        audit_record("survey.benchmarks_import", actor=actor, target=("survey", survey.slug))
    return len(made)


def results_settings(survey: Survey) -> ResultsSettings:
    found = ResultsSettings.objects.filter(survey=survey).select_related("previous").first()
    return found or ResultsSettings(
        survey=survey, similar_points=DEFAULT_SIMILAR_POINTS, much_points=DEFAULT_MUCH_POINTS
    )


def results_settings_save(
    *,
    survey: Survey,
    similar_points: float,
    much_points: float,
    previous: Survey | None,
    actor: User | None = None,
) -> ResultsSettings:
    errors: dict[str, list[str]] = {}
    if not 0 <= similar_points < much_points:
        errors["much_points"] = [
            _("The 'much' threshold must be greater than the 'similar' one, both 0 or more.")
        ]
    if previous is not None and previous.pk == survey.pk:
        errors["previous"] = [_("A survey cannot be its own previous survey.")]
    if errors:
        raise InvalidInput(errors)
    settings, _created = ResultsSettings.objects.update_or_create(
        survey=survey,
        defaults={
            "similar_points": similar_points,
            "much_points": much_points,
            "previous": previous,
        },
    )
    audit_record("survey.results_settings", actor=actor, target=("survey", survey.slug))
    return settings


def question_services_save(
    *, survey: Survey, links: Mapping[str, Iterable[int]], actor: User | None = None
) -> None:
    """Tie rating questions (by code) to 311 services (by id); replaces the survey's ties."""
    questions = {
        q.code: q for q in Question.objects.filter(survey=survey, kind=QuestionKind.RATING)
    }
    unknown = sorted(set(links) - set(questions))
    if unknown:
        raise InvalidInput({"services": [_("Not a rating question: %s") % ", ".join(unknown)]})
    with transaction.atomic():
        QuestionService.objects.filter(question__survey=survey).delete()
        QuestionService.objects.bulk_create(
            QuestionService(question=questions[code], service_id=pk)
            for code, ids in links.items()
            for pk in sorted(set(ids))
        )
        audit_record("survey.question_services", actor=actor, target=("survey", survey.slug))


# --- from the database to the engine -----------------------------------------------------------


@dataclass(frozen=True)
class Sampled:
    """Submitted responses split into the random sample and the others."""

    probability: list[Response]
    other: list[Response]
    note: str = ""


def split_responses(survey: Survey) -> Sampled:
    """The random sample: answered with a mailed code, or on paper with a code. Open-link
    answers and paper without a code are not. In an anonymous survey no paper response
    names its code: paper counts as sampled only when every paper response used a code."""
    submitted = list(
        Response.objects.filter(survey=survey, submitted_at__isnull=False)
        .select_related("sample_address")
        .order_by("id")
    )
    note = ""
    paper_sampled: bool | None = None
    if survey.anonymous and any(r.mode == ResponseMode.PAPER for r in submitted):
        without = response_rates(survey).paper_without_code
        paper_sampled = without == 0
        if without:
            note = _(
                "This survey is anonymous and %(n)s paper questionnaires had no code; paper "
                "responses cannot be told apart, so all of them are reported outside the "
                "random sample."
            ) % {"n": without}
    probability: list[Response] = []
    other: list[Response] = []
    for r in submitted:
        if r.mode == ResponseMode.MAIL_CODE:
            sampled = True
        elif r.mode == ResponseMode.PAPER:
            sampled = bool(paper_sampled) if survey.anonymous else r.sample_address is not None
        else:
            sampled = False
        (probability if sampled else other).append(r)
    return Sampled(probability, other, note)


def responses_frame(survey: Survey, responses: Sequence[Response], lay: Layout) -> pl.DataFrame:
    """One row per response, every value text (blank: None), as a CSV for
    ``survey analyze`` would hold them: each rating as its label, each number, each choice
    of a choice question as 1 or 0 (blank when the question was not answered), each
    demographic variable as its choice code, and the sampled address's area."""
    by_question = {q.pk: q for q in lay.questions}
    answers: dict[int, dict[str, Any]] = {r.pk: {} for r in responses}
    ids = list(answers)
    for start in range(0, len(ids), 2000):
        chunk = ids[start : start + 2000]
        for response_id, question_id, value in Answer.objects.filter(
            response_id__in=chunk
        ).values_list("response_id", "question_id", "value"):
            q = by_question.get(question_id)
            if q is not None:
                answers[response_id][q.code] = value
    columns: dict[str, list[str | None]] = {}
    for item in lay.items:
        column: list[str | None] = []
        for r in responses:
            value = answers[r.pk].get(item.question)
            if value is None or value == [] or value == "":
                column.append(None)
            elif item.kind == "rating":
                column.append(RATING_LABEL_OF.get(str(value)))
            elif item.kind == "number":
                column.append(repr(value) if isinstance(value, float) else str(value))
            else:
                chosen = value if isinstance(value, list) else [value]
                column.append("1" if item.choice in chosen else "0")
        columns[item.name] = column
    for variable, q in lay.demographics.items():
        if variable in columns:
            raise InvalidInput(
                _("The demographic variable %(v)s has the code of a question; rename one.")
                % {"v": variable}
            )
        columns[variable] = [
            (str(answers[r.pk][q.code]) if answers[r.pk].get(q.code) else None) for r in responses
        ]
    if AREA in columns:
        raise InvalidInput(_("A question or variable is named 'area'; rename it."))
    columns[AREA] = [r.sample_address.area if r.sample_address else None for r in responses]
    return pl.DataFrame(columns, schema=dict.fromkeys(columns, pl.String))


@dataclass(frozen=True)
class Estimate:
    sample: str  # PROBABILITY or NON_PROBABILITY
    item: ItemSpec
    group_variable: str  # "" for every resident
    group: str
    estimate: float
    se: float
    ci_low: float
    ci_high: float
    n: int
    deff: float
    benchmark: float | None = None
    benchmark_source: str = ""
    label: str = ""
    previous: float | None = None
    change: float | None = None  # in points (or units, for a number)
    change_significant: bool | None = None

    @property
    def margin(self) -> float:
        """The margin of error (95%), in points (or units)."""
        return Z_95 * self.se * self.item.scale

    @property
    def shown(self) -> float:
        return self.estimate * self.item.scale

    @property
    def estimate_text(self) -> str:
        if math.isnan(self.estimate):
            return "-"
        return f"{self.shown:.0f}%" if self.item.scale == 100 else f"{self.shown:.1f}"

    @property
    def margin_text(self) -> str:
        """``±4 points`` (or ``±0.3`` for a number's mean)."""
        if math.isnan(self.se):
            return "-"
        if self.item.scale == 100:
            return _("±%(x)s points") % {"x": f"{self.margin:.0f}"}
        return f"±{self.margin:.1f}"

    @property
    def benchmark_text(self) -> str:
        if self.benchmark is None:
            return ""
        return f"{self.benchmark:.0f}%" if self.item.scale == 100 else f"{self.benchmark:.1f}"

    @property
    def change_text(self) -> str:
        if self.change is None:
            return ""
        unit = _(" points") if self.item.scale == 100 else ""
        return f"{self.change:+.0f}{unit}" if unit else f"{self.change:+.1f}"

    @property
    def label_text(self) -> str:
        return str(LABELS[self.label]) if self.label else ""

    @property
    def group_key(self) -> str:
        return f"{self.group_variable}={self.group}" if self.group_variable else ""


@dataclass
class SurveyResults:
    survey_slug: str
    estimates: list[Estimate] = field(default_factory=list)  # the random sample, weighted
    open_estimates: list[Estimate] = field(default_factory=list)  # the others, unweighted
    diagnostics: dict[str, Any] = field(default_factory=dict)
    error: str = ""  # why the random sample could not be weighted
    note: str = ""
    sampled: int = 0  # submitted responses of the random sample
    left_out: int = 0  # of those, with a blank raking variable
    others: int = 0
    variables: list[str] = field(default_factory=list)  # raked
    group_variables: list[str] = field(default_factory=list)

    def rows(self, group_variable: str = "") -> list[Estimate]:
        return [e for e in self.estimates if e.group_variable == group_variable]


def _responses_input(frame: pl.DataFrame, slug: str) -> inputs.Responses:
    return inputs.Responses(path=Path(_("the responses of %s") % slug), raw=frame, values=frame)


def _run(
    frame: pl.DataFrame,
    lay: Layout,
    slug: str,
    targets: dict[str, dict[str, float]] | None,
    group_variables: Sequence[str],
    sample: str,
) -> tuple[list[Estimate], dict[str, Any]]:
    """The engine on one set of responses: raked to ``targets``, or unweighted without."""
    responses = _responses_input(frame, slug)
    names = [i.name for i in lay.items if frame[i.name].drop_nulls().len()]
    if not names:
        return [], {}
    spec = {i.name: i for i in lay.items}
    items = inputs.read_items(responses, names)
    if targets:
        design = inputs.read_design(responses, weight=None, strata=None, cluster=None, fpc=None)
    else:
        # Unweighted, no design: describes these respondents only (even a single one).
        design = inputs.Design(base_weight=np.ones(frame.height))
    diagnostics: dict[str, Any] = {}
    if targets:
        margins = inputs.read_margins(
            responses, targets, Path(_("the population targets of %s") % slug)
        )
        raked = raking.rake(design.base_weight, margins)
        weights = raked.weights
        diagnostics = {
            "raking": {
                "variables": [m.variable for m in margins],
                "iterations": raked.iterations,
                "converged": raked.converged,
                "largest_gap": raked.gap.relative,
            },
            "weights": raking.weight_diagnostics(weights),
        }
    else:
        margins = []
        weights = design.base_weight
    out: list[Estimate] = []

    def add(rows: list[EstimateRow], variable: str) -> None:
        for row in rows:
            if variable and not row.group:
                continue
            out.append(
                Estimate(
                    sample=sample,
                    item=spec[row.item],
                    group_variable=variable if row.group else "",
                    group=row.group,
                    estimate=float(row.estimate),
                    se=float(row.se),
                    ci_low=float(row.ci_low),
                    ci_high=float(row.ci_high),
                    n=int(row.n),
                    deff=float(row.deff),
                )
            )

    add(estimation.estimate(design, weights, margins, items, None), "")
    for variable in group_variables:
        column = responses.values[variable]
        if column.drop_nulls().len():
            add(estimation.estimate(design, weights, margins, items, column), variable)
    return out, diagnostics


def _fingerprint(survey: Survey) -> str:
    agg = Response.objects.filter(survey=survey, submitted_at__isnull=False).aggregate(
        n=Count("id"), last=Max("id"), at=Max("submitted_at")
    )
    answers = Answer.objects.filter(response__survey=survey).aggregate(
        n=Count("id"), last=Max("id")
    )
    targets = list(
        PopulationTarget.objects.filter(survey=survey)
        .order_by("id")
        .values_list("variable", "category", "population")
    )
    questions = list(
        Question.objects.filter(survey=survey)
        .order_by("id")
        .values_list("id", "code", "kind", "choices", "demographic_variable", "text")
    )
    key = repr((survey.pk, survey.anonymous, agg, answers, targets, questions))
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def _compute(survey: Survey) -> SurveyResults:
    targets = targets_of(survey)
    lay = layout(survey, raked=targets)
    split = split_responses(survey)
    result = SurveyResults(
        survey_slug=survey.slug,
        note=split.note,
        sampled=len(split.probability),
        others=len(split.other),
        variables=list(targets),
    )
    group_variables = [*lay.demographics, AREA]
    result.group_variables = group_variables
    if split.probability:
        frame = responses_frame(survey, split.probability, lay)
        if not targets:
            result.error = _(
                "Enter the population targets to weight the responses of the random sample."
            )
        else:
            complete = pl.all_horizontal(pl.col(v).is_not_null() for v in targets)
            kept = frame.filter(complete)
            result.left_out = frame.height - kept.height
            try:
                if kept.height == 0:
                    raise SurveyInputError(_("no respondent answered every raking question"))
                result.estimates, result.diagnostics = _run(
                    kept, lay, survey.slug, targets, group_variables, PROBABILITY
                )
            except SurveyInputError as exc:
                result.error = _("The responses cannot be weighted: %s") % exc
    if split.other:
        lay_all = layout(survey)  # nothing raked: every question is an item
        frame = responses_frame(survey, split.other, lay_all)
        try:
            result.open_estimates, _diag = _run(
                frame, lay_all, survey.slug, None, group_variables[:-1], NON_PROBABILITY
            )
        except SurveyInputError as exc:
            result.note = " ".join(filter(None, [result.note, str(exc)]))
    return result


def _cached(survey: Survey) -> SurveyResults:
    key = f"surveys:results:{survey.pk}:{_fingerprint(survey)}"
    found = cache.get(key)
    if isinstance(found, SurveyResults):
        return found
    result = _compute(survey)
    cache.set(key, result, CACHE_SECONDS)
    return result


def benchmark_label(difference: float, similar: float, much: float) -> str:
    """``similar`` within ±similar points (inclusive), ``much`` beyond ±much points."""
    d = round(difference, 9)
    if abs(d) <= similar:
        return "similar"
    if d > much:
        return "much_higher"
    if d > 0:
        return "higher"
    if d < -much:
        return "much_lower"
    return "lower"


def survey_estimate(survey: Survey) -> SurveyResults:
    """Every estimate of the survey (weighted random sample, and the other responses apart),
    labelled against its benchmark and compared with the previous survey's."""
    base = _cached(survey)
    settings = results_settings(survey)
    benchmarks = {
        (b.item, b.group): b for b in Benchmark.objects.filter(survey=survey).order_by("id")
    }
    previous: dict[tuple[str, str], Estimate] = {}
    if settings.previous_id and settings.previous is not None:
        before = _cached(settings.previous)
        previous = {(e.item.name, e.group_key): e for e in before.estimates}

    def decorate(e: Estimate) -> Estimate:
        changes: dict[str, Any] = {}
        if math.isnan(e.estimate):
            return e
        b = benchmarks.get((e.item.name, e.group_key))
        if b is not None and e.sample == PROBABILITY:
            changes.update(
                benchmark=b.value,
                benchmark_source=b.source,
                label=benchmark_label(
                    e.shown - b.value, settings.similar_points, settings.much_points
                ),
            )
        p = previous.get((e.item.name, e.group_key)) if e.sample == PROBABILITY else None
        if p is not None and not math.isnan(p.estimate):
            difference = e.estimate - p.estimate
            changes.update(
                previous=p.shown,
                change=difference * e.item.scale,
                change_significant=abs(difference) > Z_95 * math.hypot(e.se, p.se),
            )
        return replace(e, **changes) if changes else e

    return replace(
        base,
        estimates=[decorate(e) for e in base.estimates],
        open_estimates=list(base.open_estimates),
    )


# --- 311 figures of tied services ---------------------------------------------------------------


@dataclass(frozen=True)
class ServiceFigure:
    received: int
    on_time_rate: float | None


@dataclass(frozen=True)
class ServiceLink:
    services: list[str]
    overall: ServiceFigure
    by_area: dict[str, ServiceFigure]  # council district code -> figure


def fielding_period(survey: Survey) -> tuple[dt.date, dt.date]:
    start = survey.published_at or survey.created_at
    end = survey.closed_at or timezone.now()
    first, last = timezone.localdate(start), timezone.localdate(end)
    return first, max(first, last)


def service_links(survey: Survey, language: str | None = None) -> dict[str, ServiceLink]:
    """For each rating question tied to 311 services: their requests received over the
    fielding period, and the on-time rate; by council district where the sample's areas
    are district codes."""
    from civicdesk.performance.measures import Measures
    from civicdesk.performance.selectors import Filters, districts, measures, measures_by

    ties: dict[str, list[Service]] = {}
    for link in (
        QuestionService.objects.filter(question__survey=survey)
        .select_related("question", "service")
        .order_by("question_id", "service__name")
    ):
        ties.setdefault(link.question.code, []).append(link.service)
    if not ties:
        return {}
    start, end = fielding_period(survey)
    areas = set(survey.sample.values_list("area", flat=True).distinct())
    zone_codes = dict(districts().filter(code__in=areas).values_list("pk", "code"))
    out = {}
    for code, services in ties.items():
        filters = Filters(start=start, end=end, service_ids=tuple(s.pk for s in services))
        total = measures(filters)
        by_area: dict[str, Measures] = {}
        if zone_codes:
            for zone_id, figures in measures_by(filters, "district"):
                if zone_id in zone_codes:
                    by_area.setdefault(zone_codes[zone_id], Measures()).add(figures)
        out[code] = ServiceLink(
            services=[s.localized("name", language) for s in services],
            overall=ServiceFigure(total.received, total.on_time_rate),
            by_area={a: ServiceFigure(m.received, m.on_time_rate) for a, m in by_area.items()},
        )
    return out


# --- the CSV of every estimate ---------------------------------------------------------


def _num(value: float | None) -> str:
    return "" if value is None or math.isnan(value) else f"{value:.10g}"


def estimates_csv(results: SurveyResults) -> str:
    """Every estimate: ``survey analyze``'s estimates.csv columns, then what says what each
    one is and how it compares (docs/surveys.md)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for e in [*results.estimates, *results.open_estimates]:
        writer.writerow(
            [
                e.item.name,
                e.group,
                _num(e.estimate),
                _num(e.se),
                _num(e.ci_low),
                _num(e.ci_high),
                e.n,
                _num(e.deff),
                e.sample,
                e.item.question,
                e.item.text,
                e.item.choice,
                e.item.kind,
                e.group_variable,
                _num(e.margin),
                _num(e.benchmark),
                e.benchmark_source,
                e.label,
                _num(e.previous),
                _num(e.change),
            ]
        )
    return buffer.getvalue()


def weight_summary(results: SurveyResults) -> dict[str, Any]:
    """The weighting diagnostics the page and the report show."""
    w = results.diagnostics.get("weights") or {}
    r = results.diagnostics.get("raking") or {}
    if not w:
        return {}
    return {
        "respondents": int(w["respondents"]),
        "deff": w["deff_weighting_kish"],
        "effective_n": w["effective_sample_size"],
        "weight_min": w["weight_min"] / w["weight_mean"],
        "weight_max": w["weight_max"] / w["weight_mean"],
        "ratio": w["weight_ratio_max_min"],
        "converged": bool(r.get("converged")),
        "iterations": r.get("iterations"),
        "variables": r.get("variables", []),
        # The margin of error of a 50% share among every respondent, this design.
        "margin": 100 * Z_95 * math.sqrt(0.25 / max(w["effective_sample_size"] - 1, 1)),
    }


__all__ = [
    "CSV_COLUMNS",
    "Estimate",
    "SurveyResults",
    "benchmark_label",
    "benchmarks_import",
    "estimates_csv",
    "survey_estimate",
    "target_key",
    "targets_import",
    "targets_save",
]
