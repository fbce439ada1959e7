"""The staff's results pages (docs/surveys.md, "Results, benchmarks and the council report"):
the estimates with their margins of error, benchmarks, previous-survey change and the 311
figures of tied services; their CSV and the council report PDF; and the set-up page
(population targets, benchmarks, thresholds, previous survey, ties to 311 services)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_http_methods

from civicdesk.accounts.models import User
from civicdesk.catalog.models import Service
from civicdesk.console.access import staff_required
from civicdesk.errors import InvalidInput
from civicdesk.i18n import current_language

from .access import can_read_survey_results, can_set_up_results
from .forms import TargetsForm
from .models import Question, QuestionKind, QuestionService, Survey
from .results import (
    benchmarks_import,
    estimates_csv,
    layout,
    question_services_save,
    results_settings,
    results_settings_save,
    service_links,
    survey_estimate,
    targets_import,
    targets_of,
    targets_save,
    weight_summary,
)
from .results_pdf import results_pdf
from .selectors import response_rates


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


class UploadForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("CSV file"))


class SettingsForm(forms.Form):
    similar_points = forms.FloatField(
        label=gettext_lazy("Similar within ± points"), min_value=0, max_value=100
    )
    much_points = forms.FloatField(
        label=gettext_lazy("Much higher or lower beyond ± points"), min_value=0, max_value=100
    )
    previous = forms.ModelChoiceField(
        label=gettext_lazy("Previous survey of the series"),
        queryset=Survey.objects.none(),
        required=False,
    )

    def __init__(self, *args: Any, survey: Survey, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        previous = self.fields["previous"]
        assert isinstance(previous, forms.ModelChoiceField)
        previous.queryset = Survey.objects.exclude(pk=survey.pk)


def _results_context(survey: Survey) -> dict[str, Any]:
    language = current_language()
    results = survey_estimate(survey)
    links = service_links(survey, language)
    groups = [
        (variable, results.rows(variable))
        for variable in results.group_variables
        if results.rows(variable)
    ]
    return {
        "survey": survey,
        "results": results,
        "overall": results.rows(""),
        "groups": groups,
        "open_overall": [e for e in results.open_estimates if not e.group_variable],
        "weights": weight_summary(results),
        "links": links,
        "rates": response_rates(survey),
        "settings": results_settings(survey),
        "section": "surveys",
        "language": language,
    }


@staff_required(allowed=can_read_survey_results)
@require_http_methods(["GET", "HEAD"])
def results(request: HttpRequest, slug: str) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    context = _results_context(survey)
    context["can_set_up"] = can_set_up_results(_user(request))
    return render(request, "surveys/staff/results.html", context)


@staff_required(allowed=can_read_survey_results)
@require_http_methods(["GET", "HEAD"])
def results_csv(request: HttpRequest, slug: str) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    response = HttpResponse(estimates_csv(survey_estimate(survey)), content_type="text/csv")
    response["Content-Disposition"] = f'attachment; filename="{survey.slug}-estimates.csv"'
    return response


@staff_required(allowed=can_read_survey_results)
@require_http_methods(["GET", "HEAD"])
def results_report(request: HttpRequest, slug: str) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    response = HttpResponse(results_pdf(survey, current_language()), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{survey.slug}-results.pdf"'
    return response


def _service_choices() -> list[tuple[int, str]]:
    language = current_language()
    return [
        (s.pk, f"{s.localized('name', language)} ({s.service_code})")
        for s in Service.objects.only("pk", "service_code", "name", "translations").order_by("name")
    ]


@staff_required(allowed=can_set_up_results)
@require_http_methods(["GET", "HEAD", "POST"])
def results_setup(request: HttpRequest, slug: str) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    settings = results_settings(survey)
    demographics = layout(survey).demographics
    current = targets_of(survey)
    entry_form = TargetsForm(prefix="entry", demographics=demographics, current=current)
    targets_form = UploadForm(prefix="targets")
    benchmarks_form = UploadForm(prefix="benchmarks")
    settings_form = SettingsForm(
        survey=survey,
        prefix="settings",
        initial={
            "similar_points": settings.similar_points,
            "much_points": settings.much_points,
            "previous": settings.previous_id,
        },
    )
    ratings = list(Question.objects.filter(survey=survey, kind=QuestionKind.RATING))
    tied: dict[int, set[int]] = {}
    for question_id, service_id in QuestionService.objects.filter(
        question__survey=survey
    ).values_list("question_id", "service_id"):
        tied.setdefault(question_id, set()).add(service_id)
    status = 200
    if request.method == "POST":
        action = request.POST.get("action")
        user = _user(request)
        try:
            if action in ("targets", "benchmarks"):
                form = UploadForm(request.POST, request.FILES, prefix=action)
                if action == "targets":
                    targets_form = form
                else:
                    benchmarks_form = form
                if form.is_valid():
                    data = form.cleaned_data["file"].read()
                    if action == "targets":
                        n = targets_import(survey=survey, data=data, actor=user)
                        messages.success(request, _("%(n)s population targets saved.") % {"n": n})
                    else:
                        n = benchmarks_import(survey=survey, data=data, actor=user)
                        messages.success(request, _("%(n)s benchmarks saved.") % {"n": n})
                    return redirect("surveys:staff_results_setup", slug=survey.slug)
            elif action == "entry":
                entry_form = TargetsForm(
                    request.POST, prefix="entry", demographics=demographics, current=current
                )
                if entry_form.is_valid():
                    try:
                        n = targets_save(survey=survey, targets=entry_form.targets(), actor=user)
                    except InvalidInput as exc:
                        entry_form.add_core_errors(exc)
                    else:
                        messages.success(request, _("%(n)s population targets saved.") % {"n": n})
                        return redirect("surveys:staff_results_setup", slug=survey.slug)
            elif action == "settings":
                settings_form = SettingsForm(request.POST, survey=survey, prefix="settings")
                if settings_form.is_valid():
                    data = settings_form.cleaned_data
                    results_settings_save(
                        survey=survey,
                        similar_points=data["similar_points"],
                        much_points=data["much_points"],
                        previous=data["previous"],
                        actor=user,
                    )
                    messages.success(request, _("Comparison settings saved."))
                    return redirect("surveys:staff_results_setup", slug=survey.slug)
            elif action == "services":
                known = {pk for pk, _label in _service_choices()}
                links = {
                    q.code: [
                        int(v)
                        for v in request.POST.getlist(f"services-{q.code}")
                        if v.isdigit() and int(v) in known
                    ]
                    for q in ratings
                }
                question_services_save(survey=survey, links=links, actor=user)
                messages.success(request, _("Ties to 311 services saved."))
                return redirect("surveys:staff_results_setup", slug=survey.slug)
        except InvalidInput as exc:
            target = {"targets": targets_form, "benchmarks": benchmarks_form}.get(
                action or "", settings_form
            )
            for field, problems in exc.field_errors.items():
                for problem in problems:
                    name = field if field in target.fields else None
                    target.add_error(name, problem)
        status = 400
    return render(
        request,
        "surveys/staff/results_setup.html",
        {
            "survey": survey,
            "section": "surveys",
            "targets": current,
            "entry_form": entry_form,
            "benchmarks": survey.benchmarks.all(),
            "targets_form": targets_form,
            "benchmarks_form": benchmarks_form,
            "settings_form": settings_form,
            "ratings": [(q, tied.get(q.pk, set())) for q in ratings],
            "services": _service_choices(),
        },
        status=status,
    )
