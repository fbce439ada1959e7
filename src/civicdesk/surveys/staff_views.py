"""The staff's survey pages, under /staff/surveys/: the list, the builder, the preview, the
sample and its mailings, paper entry and response tracking. Who may open each is in
``access``; the rules are the services'."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from civicdesk.accounts.models import User
from civicdesk.console.access import staff_required
from civicdesk.errors import InvalidInput
from civicdesk.i18n import current_language

from .access import (
    can_build_surveys,
    can_enter_paper,
    can_read_survey_results,
    can_see_surveys,
)
from .forms import AnswersForm, PaperForm, QuestionForm, SampleUploadForm, SectionForm, SurveyForm
from .mailing_pdf import mailing_pdf
from .models import Question, Section, Survey, SurveyStatus
from .selectors import response_rates, sample_addresses, sample_nonresponders
from .services import (
    choices_parse,
    choices_text,
    paper_response_enter,
    question_save,
    sample_import,
    section_save,
    survey_close,
    survey_publish,
    survey_questions,
    survey_save,
)
from .views import render_page


def _user(request: HttpRequest) -> User:
    assert isinstance(request.user, User)
    return request.user


def _render(
    request: HttpRequest, template: str, context: dict[str, object], status: int = 200
) -> HttpResponse:
    return render(
        request,
        template,
        {"section": "surveys", "language": current_language(), **context},
        status=status,
    )


@staff_required(allowed=can_see_surveys)
@require_http_methods(["GET", "HEAD"])
def survey_list(request: HttpRequest) -> HttpResponse:
    return _render(
        request,
        "surveys/staff/list.html",
        {"surveys": Survey.objects.all(), "can_build": can_build_surveys(_user(request))},
    )


def _es(data: dict[str, str], *names: str) -> dict[str, dict[str, str]]:
    return {"es": {name: data.get(f"{name}_es", "") for name in names}}


@staff_required(allowed=can_build_surveys)
@require_http_methods(["GET", "HEAD", "POST"])
def survey_edit(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug) if slug else None
    if request.method == "POST":
        form = SurveyForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                survey = survey_save(
                    survey=survey,
                    title=data["title"],
                    intro=data["intro"],
                    translations=_es(data, "title", "intro"),
                    anonymous=data["anonymous"],
                    languages=data["languages"],
                    actor=_user(request),
                )
            except InvalidInput as exc:
                form.add_core_errors(exc)
            else:
                messages.success(request, _("Survey saved."))
                return redirect("surveys:staff_survey", slug=survey.slug)
    else:
        form = SurveyForm.for_survey(survey) if survey else SurveyForm()
    return _render(
        request,
        "surveys/staff/survey_form.html",
        {"form": form, "survey": survey},
        status=400 if request.method == "POST" else 200,
    )


@staff_required(allowed=can_see_surveys)
@require_http_methods(["GET", "HEAD"])
def survey_detail(request: HttpRequest, slug: str) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    user = _user(request)
    questions = survey_questions(survey)
    sections = [
        (section, [q for q in questions if q.section_id == section.pk])
        for section in survey.sections.all()
    ]
    return _render(
        request,
        "surveys/staff/survey.html",
        {
            "survey": survey,
            "sections": sections,
            "can_build": can_build_surveys(user),
            "can_read": can_read_survey_results(user),
            "can_paper": can_enter_paper(user),
            "draft": survey.status == SurveyStatus.DRAFT,
            "public_url": request.build_absolute_uri(reverse("surveys:start", args=[survey.slug])),
            "open_url": request.build_absolute_uri(reverse("surveys:open", args=[survey.slug])),
        },
    )


@staff_required(allowed=can_build_surveys)
@require_POST
def survey_status(request: HttpRequest, slug: str, action: str) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    try:
        if action == "publish":
            survey_publish(survey=survey, actor=_user(request))
            messages.success(request, _("The survey is open for answers."))
        elif action == "close":
            survey_close(survey=survey, actor=_user(request))
            messages.success(request, _("The survey is closed."))
    except InvalidInput as exc:
        messages.error(request, str(exc))
    return redirect("surveys:staff_survey", slug=survey.slug)


@staff_required(allowed=can_build_surveys)
@require_http_methods(["GET", "HEAD", "POST"])
def section_edit(request: HttpRequest, slug: str, section_id: int | None = None) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    section = get_object_or_404(Section, pk=section_id, survey=survey) if section_id else None
    if request.method == "POST":
        form = SectionForm(request.POST)
        if form.is_valid():
            data = form.cleaned_data
            try:
                section_save(
                    survey=survey,
                    section=section,
                    title=data["title"],
                    intro=data["intro"],
                    translations=_es(data, "title", "intro"),
                )
            except InvalidInput as exc:
                form.add_core_errors(exc)
            else:
                messages.success(request, _("Section saved."))
                return redirect("surveys:staff_survey", slug=survey.slug)
    else:
        form = SectionForm.for_section(section) if section else SectionForm()
    return _render(
        request,
        "surveys/staff/section_form.html",
        {"form": form, "survey": survey, "survey_section": section},
        status=400 if request.method == "POST" else 200,
    )


@staff_required(allowed=can_build_surveys)
@require_http_methods(["GET", "HEAD", "POST"])
def question_edit(
    request: HttpRequest, slug: str, section_id: int | None = None, question_id: int | None = None
) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    question = get_object_or_404(Question, pk=question_id, survey=survey) if question_id else None
    section = (
        question.section if question else get_object_or_404(Section, pk=section_id, survey=survey)
    )
    if request.method == "POST":
        form = QuestionForm(request.POST, survey=survey, exclude=question)
        if form.is_valid():
            data = form.cleaned_data
            try:
                question_save(
                    section=section,
                    question=question,
                    code=data["code"],
                    kind=data["kind"],
                    text=data["text"],
                    help_text=data["help_text"],
                    translations=_es(data, "text", "help_text"),
                    choices=choices_parse(data["choices"]),
                    required=data["required"],
                    demographic_variable=data["demographic_variable"],
                    show_if_question=data["show_if_question"],
                    show_if_values=data["show_if_values"].split(","),
                )
            except InvalidInput as exc:
                form.add_core_errors(exc)
            else:
                messages.success(request, _("Question saved."))
                return redirect("surveys:staff_survey", slug=survey.slug)
    elif question is not None:
        es = question.translations.get("es", {})
        form = QuestionForm(
            survey=survey,
            exclude=question,
            initial={
                "code": question.code,
                "kind": question.kind,
                "text": question.text,
                "help_text": question.help_text,
                "text_es": es.get("text", ""),
                "help_text_es": es.get("help_text", ""),
                "choices": choices_text(question),
                "required": question.required,
                "demographic_variable": question.demographic_variable,
                "show_if_question": question.show_if_question_id,
                "show_if_values": ", ".join(question.show_if_values),
            },
        )
    else:
        form = QuestionForm(survey=survey)
    return _render(
        request,
        "surveys/staff/question_form.html",
        {"form": form, "survey": survey, "survey_section": section, "question": question},
        status=400 if request.method == "POST" else 200,
    )


@staff_required(allowed=can_read_survey_results)
@require_http_methods(["GET", "HEAD"])
def preview(request: HttpRequest, slug: str) -> HttpResponse:
    """The resident's pages as they will look, one section at a time; nothing is saved."""
    survey = get_object_or_404(Survey, slug=slug)
    sections = list(survey.sections.all())
    if not sections:
        messages.error(request, _("Add a section and its questions to preview the survey."))
        return redirect("surveys:staff_survey", slug=survey.slug)
    try:
        number = min(max(1, int(request.GET.get("page", "1"))), len(sections))
    except ValueError:
        number = 1
    questions = survey_questions(survey)
    shown = [q for q in questions if q.section_id == sections[number - 1].pk]
    form = AnswersForm(questions=shown, language=current_language())
    return render_page(
        request, survey=survey, number=number, form=form, sections=sections, preview=True
    )


@staff_required(allowed=can_build_surveys)
@require_http_methods(["GET", "HEAD", "POST"])
def sample(request: HttpRequest, slug: str) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    status = 200
    if request.method == "POST":
        form = SampleUploadForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                imported = sample_import(
                    survey=survey, data=form.cleaned_data["file"].read(), actor=_user(request)
                )
            except InvalidInput as exc:
                for field, problems in exc.field_errors.items():
                    for problem in problems:
                        form.add_error("file" if field == "file" else None, problem)
            else:
                messages.success(
                    request,
                    _("%(n)s addresses added, each with its access code.")
                    % {"n": imported.created},
                )
                return redirect("surveys:staff_sample", slug=survey.slug)
        status = 400
    else:
        form = SampleUploadForm()
    rates = response_rates(survey)
    return _render(
        request,
        "surveys/staff/sample.html",
        {"survey": survey, "form": form, "rates": rates, "languages": survey.languages},
        status=status,
    )


def _pdf(request: HttpRequest, survey: Survey, *, reminder: bool) -> HttpResponse:
    wave = request.GET.get("wave", "").strip()[:40] or None
    languages = [c for c in survey.languages if c in request.GET.getlist("language")]
    languages = languages or list(survey.languages)
    rows = sample_nonresponders(survey, wave) if reminder else sample_addresses(survey, wave)
    pdf = mailing_pdf(
        survey=survey,
        addresses=rows.iterator(),
        url=request.build_absolute_uri(reverse("surveys:start", args=[survey.slug])),
        languages=languages,
        reminder=reminder,
    )
    name = f"{survey.slug}-{'reminders' if reminder else 'mailing'}{'-' + wave if wave else ''}.pdf"
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@staff_required(allowed=can_build_surveys)
@require_http_methods(["GET", "HEAD"])
def mailing(request: HttpRequest, slug: str) -> HttpResponse:
    return _pdf(request, get_object_or_404(Survey, slug=slug), reminder=False)


@staff_required(allowed=can_build_surveys)
@require_http_methods(["GET", "HEAD"])
def reminders(request: HttpRequest, slug: str) -> HttpResponse:
    return _pdf(request, get_object_or_404(Survey, slug=slug), reminder=True)


@staff_required(allowed=can_enter_paper)
@require_http_methods(["GET", "HEAD", "POST"])
def paper(request: HttpRequest, slug: str) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    questions = survey_questions(survey)
    language = current_language()
    if survey.status == SurveyStatus.DRAFT:
        messages.error(request, _("Publish the survey before entering paper questionnaires."))
        return redirect("surveys:staff_survey", slug=survey.slug)
    if request.method == "POST":
        head = PaperForm(request.POST)
        answers = AnswersForm(request.POST, questions=questions, language=language, prefix="a")
        if head.is_valid() and answers.is_valid():
            try:
                paper_response_enter(
                    survey=survey,
                    raw=answers.raw(),
                    code=head.cleaned_data["code"],
                    language=head.cleaned_data["language"],
                    actor=_user(request),
                )
            except InvalidInput as exc:
                if "code" in exc.field_errors:
                    for message in exc.field_errors["code"]:
                        head.add_error("code", message)
                else:
                    answers.add_core_errors(exc)
            else:
                messages.success(request, _("Paper questionnaire entered. Enter the next one."))
                return redirect("surveys:staff_paper", slug=survey.slug)
        status = 400
    else:
        head = PaperForm(initial={"language": language})
        answers = AnswersForm(questions=questions, language=language, prefix="a")
        status = 200
    sections = [
        (section, [row for row in answers.rows() if row[0].section_id == section.pk])
        for section in survey.sections.all()
    ]
    return _render(
        request,
        "surveys/staff/paper.html",
        {"survey": survey, "head": head, "answers": answers, "sections": sections},
        status=status,
    )


@staff_required(allowed=can_read_survey_results)
@require_http_methods(["GET", "HEAD"])
def tracking(request: HttpRequest, slug: str) -> HttpResponse:
    survey = get_object_or_404(Survey, slug=slug)
    return _render(
        request,
        "surveys/staff/tracking.html",
        {
            "survey": survey,
            "rates": response_rates(survey),
            "can_build": can_build_surveys(_user(request)),
        },
    )
