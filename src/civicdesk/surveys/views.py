"""The resident's survey pages: enter an access code (or start from the open link), answer
one section per page (each saved as it is left, so a code can resume later), send, thanks.
The response being answered is kept in the session, keyed by the survey."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from civicdesk.errors import InvalidInput
from civicdesk.i18n import current_language
from civicdesk.ratelimit import client_limited

from .forms import AnswersForm, CodeForm, question_choices
from .models import Question, Response, Section, Survey, SurveyStatus
from .services import (
    CodeRefused,
    question_visible,
    response_answers,
    response_save,
    response_section_missing,
    response_start,
    response_submit,
    survey_questions,
)

RATE_SETTING = "CIVICDESK_RATE_SURVEY_CODE"


def _session_key(survey: Survey) -> str:
    return f"survey:{survey.slug}"


def _open_survey(slug: str) -> Survey:
    return get_object_or_404(Survey, slug=slug, status__in=[SurveyStatus.OPEN, SurveyStatus.CLOSED])


def _closed(request: HttpRequest, survey: Survey) -> HttpResponse:
    return render(
        request, "surveys/closed.html", {"survey": survey, "language": current_language()}
    )


def _begin(request: HttpRequest, survey: Survey, response: Response) -> HttpResponse:
    request.session[_session_key(survey)] = response.pk
    sections = list(survey.sections.all())
    saved = response_answers(response)
    answered = {q.section_id for q in survey_questions(survey) if q.code in saved}
    page = next((n for n, s in enumerate(sections, 1) if s.pk not in answered), len(sections))
    return redirect("surveys:page", slug=survey.slug, number=max(1, page))


@require_http_methods(["GET", "HEAD", "POST"])
@client_limited("survey_code", RATE_SETTING)
def start(request: HttpRequest, slug: str) -> HttpResponse:
    """The survey's own page: what it is, and the access code from the letter."""
    survey = _open_survey(slug)
    if survey.status != SurveyStatus.OPEN:
        return _closed(request, survey)
    form = CodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            response = response_start(
                survey=survey, code=form.cleaned_data["code"], language=current_language()
            )
        except CodeRefused as exc:
            for message in exc.field_errors.get("code", []):
                form.add_error("code", message)
        else:
            return _begin(request, survey, response)
    return render(
        request,
        "surveys/start.html",
        {"survey": survey, "form": form, "language": current_language()},
        status=400 if request.method == "POST" else 200,
    )


@require_http_methods(["GET", "HEAD", "POST"])
def open_link(request: HttpRequest, slug: str) -> HttpResponse:
    """The open link: anyone may answer; kept apart from the random sample."""
    survey = _open_survey(slug)
    if survey.status != SurveyStatus.OPEN:
        return _closed(request, survey)
    if request.method == "POST":
        current = _current(request, survey)
        if current is None:
            current = response_start(survey=survey, language=current_language())
        return _begin(request, survey, current)
    return render(request, "surveys/open.html", {"survey": survey, "language": current_language()})


def _current(request: HttpRequest, survey: Survey) -> Response | None:
    pk = request.session.get(_session_key(survey))
    if pk is None:
        return None
    return Response.objects.filter(pk=pk, survey=survey, submitted_at__isnull=True).first()


def page_questions(
    section: Section, questions: list[Question], saved: dict[str, Any]
) -> list[Question]:
    """The section's questions to show: those a skip rule on an earlier section's answer
    hides are left out; those that depend on this page's answers are shown (the static
    script hides them as the resident answers, and the service drops what does not apply)."""
    shown = []
    for question in questions:
        if question.section_id != section.pk:
            continue
        rule = question.show_if_question
        if (
            rule is not None
            and rule.section_id != section.pk
            and not question_visible(question, saved)
        ):
            continue
        shown.append(question)
    return shown


def render_page(
    request: HttpRequest,
    *,
    survey: Survey,
    number: int,
    form: AnswersForm,
    sections: list[Section],
    preview: bool = False,
    status: int = 200,
) -> HttpResponse:
    language = current_language()
    section = sections[number - 1]
    rows = []
    by_code = {q.code: q for q in form.questions}
    for question, field in form.rows():
        rule = question.show_if_question
        same_page = rule is not None and rule.code in by_code
        labels = dict(question_choices(rule, language)) if rule is not None else {}
        rows.append(
            {
                "question": question,
                "field": field,
                "choice": getattr(field.field.widget, "input_type", "") in ("radio", "checkbox"),
                "depends_on": rule if same_page else None,
                "depends_values": (
                    [labels.get(v, v) for v in question.show_if_values] if same_page else []
                ),
            }
        )
    return render(
        request,
        "surveys/page.html",
        {
            "survey": survey,
            "section": section,
            "number": number,
            "count": len(sections),
            "form": form,
            "rows": rows,
            "language": language,
            "preview": preview,
        },
        status=status,
    )


def _visible_page(
    sections: list[Section],
    questions: list[Question],
    saved: dict[str, Any],
    number: int,
    step: int,
) -> int:
    """From ``number``, the next page (going ``step``) that has a question to ask."""
    while 1 <= number <= len(sections):
        if page_questions(sections[number - 1], questions, saved):
            return number
        number += step
    return number


@require_http_methods(["GET", "HEAD", "POST"])
def page(request: HttpRequest, slug: str, number: int) -> HttpResponse:
    survey = _open_survey(slug)
    if survey.status != SurveyStatus.OPEN:
        return _closed(request, survey)
    response = _current(request, survey)
    if response is None:
        return redirect("surveys:start", slug=survey.slug)
    sections = list(survey.sections.all())
    if not 1 <= number <= len(sections):
        raise Http404
    section = sections[number - 1]
    questions = survey_questions(survey)
    saved = response_answers(response)
    shown = page_questions(section, questions, saved)
    language = current_language()
    if request.method == "POST":
        form = AnswersForm(request.POST, questions=shown, language=language)
        action = request.POST.get("action", "next")
        if form.is_valid():
            try:
                response_save(
                    response=response, section=section, raw=form.raw(), require=action != "back"
                )
                saved = response_answers(response)
                if action == "back":
                    target = _visible_page(sections, questions, saved, number - 1, -1)
                    return redirect("surveys:page", slug=slug, number=max(1, target))
                target = _visible_page(sections, questions, saved, number + 1, 1)
                if target <= len(sections):
                    return redirect("surveys:page", slug=slug, number=target)
                response_submit(response=response, language=language)
            except InvalidInput as exc:
                if exc.code == "incomplete":
                    missing = response_section_missing(response)
                    if missing is not None and missing.pk != section.pk:
                        return redirect(
                            "surveys:page", slug=slug, number=sections.index(missing) + 1
                        )
                form.add_core_errors(exc)
            else:
                del request.session[_session_key(survey)]
                request.session[f"{_session_key(survey)}:done"] = True
                return redirect("surveys:thanks", slug=slug)
        return render_page(
            request, survey=survey, number=number, form=form, sections=sections, status=400
        )
    form = AnswersForm(questions=shown, language=language, saved=saved)
    return render_page(request, survey=survey, number=number, form=form, sections=sections)


@require_http_methods(["GET", "HEAD"])
def thanks(request: HttpRequest, slug: str) -> HttpResponse:
    survey = _open_survey(slug)
    if not request.session.get(f"{_session_key(survey)}:done"):
        return redirect("surveys:start", slug=survey.slug)
    return render(
        request, "surveys/thanks.html", {"survey": survey, "language": current_language()}
    )
