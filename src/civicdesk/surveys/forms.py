"""Forms of the survey pages: the resident's answers (built from a section's questions) and
the staff builder's. Rules are the services'; their field errors are shown next to fields."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from civicdesk.console.forms import CoreErrorsMixin

from .models import CHOICE_KINDS, Question, QuestionKind, Section, Survey
from .results import target_key
from .services import LANGUAGE_CODES, RATING_CODES

RATING_LABELS = {
    "excellent": _("Excellent"),
    "good": _("Good"),
    "fair": _("Fair"),
    "poor": _("Poor"),
    "dont_know": _("Don't know"),
}
LANGUAGE_NAMES = {"en": _("English"), "es": _("Spanish")}


def answer_field_name(code: str) -> str:
    return f"q_{code}"


class _AnyChoice(forms.ChoiceField):
    """Membership is the service's to check, so every problem shows at once."""

    def valid_value(self, value: Any) -> bool:
        return True


class _AnyChoices(forms.MultipleChoiceField):
    def valid_value(self, value: Any) -> bool:
        return True


def question_choices(question: Question, language: str) -> list[tuple[str, str]]:
    if question.kind == QuestionKind.RATING:
        return [(code, str(RATING_LABELS[code])) for code in RATING_CODES]
    return [
        (str(c["code"]), question.choice_label(str(c["code"]), language)) for c in question.choices
    ]


def _answer_field(question: Question, language: str) -> forms.Field:
    common: dict[str, Any] = {
        "label": question.localized("text", language),
        "help_text": question.localized("help_text", language),
        "required": False,
    }
    if question.kind in (QuestionKind.RATING, QuestionKind.SINGLE):
        return _AnyChoice(
            choices=question_choices(question, language), widget=forms.RadioSelect, **common
        )
    if question.kind == QuestionKind.MULTIPLE:
        return _AnyChoices(
            choices=question_choices(question, language),
            widget=forms.CheckboxSelectMultiple,
            **common,
        )
    if question.kind == QuestionKind.NUMBER:
        return forms.CharField(widget=forms.TextInput(attrs={"inputmode": "decimal"}), **common)
    if question.kind == QuestionKind.LONG_TEXT:
        return forms.CharField(widget=forms.Textarea(attrs={"rows": 4}), **common)
    return forms.CharField(**common)


def _initial(question: Question, value: Any) -> Any:
    if value is None:
        return None
    if question.kind == QuestionKind.MULTIPLE:
        return list(value)
    return str(value)


class AnswersForm(CoreErrorsMixin, forms.Form):
    """The answers to ``questions`` (one section, or the whole paper questionnaire)."""

    def __init__(
        self,
        data: Any = None,
        *,
        questions: Sequence[Question],
        language: str,
        saved: dict[str, Any] | None = None,
        prefix: str | None = None,
    ) -> None:
        super().__init__(data, prefix=prefix)
        self.questions = list(questions)
        for question in self.questions:
            field = _answer_field(question, language)
            field.is_required_question = question.required  # type: ignore[attr-defined]
            field.initial = _initial(question, (saved or {}).get(question.code))
            self.fields[answer_field_name(question.code)] = field

    def raw(self) -> dict[str, Any]:
        """The answers by question code, as typed (the service checks them)."""
        return {q.code: self.cleaned_data.get(answer_field_name(q.code)) for q in self.questions}

    def core_field(self, name: str) -> str | None:
        field = answer_field_name(name)  # the service names questions by their code
        return field if field in self.fields else None

    def rows(self) -> list[tuple[Question, forms.BoundField]]:
        return [(q, self[answer_field_name(q.code)]) for q in self.questions]


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Your access code"),
        max_length=20,
        help_text=_("Eight letters and numbers, printed on the letter or postcard you received."),
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"}
        ),
    )


# ------------------------------------------------------------------------------------------
# Staff


class SurveyForm(CoreErrorsMixin, forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    intro = forms.CharField(
        label=_("Introduction"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    title_es = forms.CharField(label=_("Title"), max_length=200, required=False)
    intro_es = forms.CharField(
        label=_("Introduction"), required=False, widget=forms.Textarea(attrs={"rows": 4})
    )
    languages = forms.MultipleChoiceField(
        label=_("Languages residents may answer in"),
        choices=[(c, LANGUAGE_NAMES[c]) for c in LANGUAGE_CODES],
        widget=forms.CheckboxSelectMultiple,
        initial=list(LANGUAGE_CODES),
    )
    anonymous = forms.BooleanField(
        label=_("Anonymous: keep the codes that answered apart from the answers"),
        required=False,
    )

    @classmethod
    def for_survey(cls, survey: Survey) -> SurveyForm:
        es = survey.translations.get("es", {})
        return cls(
            initial={
                "title": survey.title,
                "intro": survey.intro,
                "title_es": es.get("title", ""),
                "intro_es": es.get("intro", ""),
                "languages": survey.languages,
                "anonymous": survey.anonymous,
            }
        )


class SectionForm(CoreErrorsMixin, forms.Form):
    title = forms.CharField(label=_("Title"), max_length=200)
    intro = forms.CharField(
        label=_("Introduction"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )
    title_es = forms.CharField(label=_("Title"), max_length=200, required=False)
    intro_es = forms.CharField(
        label=_("Introduction"), required=False, widget=forms.Textarea(attrs={"rows": 3})
    )

    @classmethod
    def for_section(cls, section: Section) -> SectionForm:
        es = section.translations.get("es", {})
        return cls(
            initial={
                "title": section.title,
                "intro": section.intro,
                "title_es": es.get("title", ""),
                "intro_es": es.get("intro", ""),
            }
        )


class QuestionForm(CoreErrorsMixin, forms.Form):
    code = forms.SlugField(
        label=_("Code"),
        max_length=40,
        help_text=_("A short name for the results file, like streets_rating."),
    )
    kind = forms.ChoiceField(label=_("Kind of answer"), choices=QuestionKind.choices)
    text = forms.CharField(label=_("Question"), max_length=500)
    help_text = forms.CharField(label=_("Help text"), max_length=500, required=False)
    text_es = forms.CharField(label=_("Question"), max_length=500, required=False)
    help_text_es = forms.CharField(label=_("Help text"), max_length=500, required=False)
    choices = forms.CharField(
        label=_("Choices (single and multiple choice)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("One per line: code | English | Spanish, like: walk | Walk | A pie"),
    )
    required = forms.BooleanField(label=_("An answer is required"), required=False)
    demographic_variable = forms.CharField(
        label=_("Demographic variable (for weighting)"),
        max_length=40,
        required=False,
        help_text=_("The name of the population figure this question matches, like age or sex."),
    )
    show_if_question = forms.ModelChoiceField(
        label=_("Ask only if this earlier question"),
        queryset=Question.objects.none(),
        required=False,
        empty_label=_("(always ask)"),
    )
    show_if_values = forms.CharField(
        label=_("was answered with one of these codes"),
        required=False,
        max_length=500,
        help_text=_("Codes separated by commas, like: yes, maybe"),
    )

    def __init__(self, *args: Any, survey: Survey, exclude: Question | None = None, **kwargs: Any):
        super().__init__(*args, **kwargs)
        candidates = Question.objects.filter(survey=survey, kind__in=CHOICE_KINDS).select_related(
            "section"
        )
        if exclude is not None:
            candidates = candidates.exclude(pk=exclude.pk)
        field = self.fields["show_if_question"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = candidates
        field.label_from_instance = lambda q: f"{q.code}: {q.text}"  # type: ignore[method-assign,assignment]


class SampleUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Sample file (CSV)"),
        help_text=_("Columns address, area and wave, a header line first; UTF-8."),
    )


class PaperForm(forms.Form):
    code = forms.CharField(
        label=_("Access code printed on the questionnaire"),
        required=False,
        max_length=20,
        help_text=_("Leave empty if the questionnaire has none."),
    )
    language = forms.ChoiceField(
        label=_("Language of the questionnaire"),
        choices=[(c, LANGUAGE_NAMES[c]) for c in LANGUAGE_CODES],
    )


def _population_text(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class TargetsForm(CoreErrorsMixin, forms.Form):
    """The population of each category of each demographic variable, typed in: one field
    per category (named by position, as choice codes may hold any character), kept as text
    so that the service names a bad value by its variable and category."""

    def __init__(
        self,
        *args: Any,
        demographics: dict[str, Question],
        current: dict[str, dict[str, float]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.cells: dict[str, tuple[str, str]] = {}  # field name -> (variable, category)
        self.variables: list[tuple[str, Question, list[str]]] = []
        for i, (variable, question) in enumerate(demographics.items()):
            names = []
            for j, choice in enumerate(question.choices):
                category = str(choice.get("code"))
                name = f"target_{i}_{j}"
                label = str(choice.get("label") or category)
                self.fields[name] = forms.CharField(
                    label=f"{variable}: {label} ({category})",
                    required=False,
                    max_length=30,
                    widget=forms.TextInput(
                        attrs={"inputmode": "decimal", "autocomplete": "off", "size": 12}
                    ),
                )
                population = current.get(variable, {}).get(category)
                if population is not None:
                    self.initial[name] = _population_text(population)
                self.cells[name] = (variable, category)
                names.append(name)
            self.variables.append((variable, question, names))

    def targets(self) -> dict[tuple[str, str], str]:
        return {cell: self.cleaned_data.get(name) or "" for name, cell in self.cells.items()}

    def rows(self) -> list[tuple[str, Question, list[tuple[forms.BoundField, str, str]]]]:
        """Each variable with its question and, per category, the field, code and label."""
        out = []
        for variable, question, names in self.variables:
            labels = {
                str(c.get("code")): str(c.get("label") or c.get("code")) for c in question.choices
            }
            out.append(
                (
                    variable,
                    question,
                    [(self[n], self.cells[n][1], labels[self.cells[n][1]]) for n in names],
                )
            )
        return out

    def core_field(self, name: str) -> str | None:
        # The service names a target "variable = category"; each has its own cell.
        by_key = {target_key(v, c): cell for cell, (v, c) in self.cells.items()}
        return by_key.get(name)
