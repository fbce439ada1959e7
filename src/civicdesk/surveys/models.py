"""Resident surveys as the city fields them: the questionnaire (sections, questions, choices,
skip rules, texts in several languages), the mailed sample with its access codes, and the
responses. Rules live in ``services``; figures in ``selectors``.

Anonymity: in an anonymous survey no row ever ties a submitted response to the address or
code that answered it (``Response.sample_address`` stays empty; ``CodeInProgress`` holds
the link only while the resident is answering, so that the code can resume, and is deleted
at submission; times are kept to the day).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from civicdesk.catalog.models import Translatable


class SurveyStatus(models.TextChoices):
    DRAFT = "draft", _("Draft")
    OPEN = "open", _("Open")
    CLOSED = "closed", _("Closed")


class QuestionKind(models.TextChoices):
    RATING = "rating", _("Rating (Excellent, Good, Fair, Poor, Don't know)")
    SINGLE = "single", _("Single choice")
    MULTIPLE = "multiple", _("Multiple choice")
    NUMBER = "number", _("Number")
    SHORT_TEXT = "short_text", _("Short text")
    LONG_TEXT = "long_text", _("Long text")


#: Kinds answered by choosing among codes: the only ones a skip rule can test.
CHOICE_KINDS = frozenset({QuestionKind.RATING, QuestionKind.SINGLE, QuestionKind.MULTIPLE})


class ResponseMode(models.TextChoices):
    MAIL_CODE = "mail_code", _("Mailed code (random sample)")
    OPEN_LINK = "open_link", _("Open link (not a random sample)")
    PAPER = "paper", _("Paper questionnaire")


class Survey(Translatable):
    """``translations`` holds ``{"es": {"title": ..., "intro": ...}}``."""

    slug = models.SlugField(max_length=64, unique=True)
    title = models.CharField(max_length=200)
    intro = models.TextField(blank=True)
    status = models.CharField(
        max_length=8, choices=SurveyStatus.choices, default=SurveyStatus.DRAFT
    )
    anonymous = models.BooleanField(default=False)
    languages = models.JSONField(default=list, blank=True)  # ["en", "es"]
    created_at = models.DateTimeField(auto_now_add=True)
    published_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "title"]

    def __str__(self) -> str:
        return self.title


class Section(Translatable):
    """``translations``: ``{"es": {"title": ..., "intro": ...}}``."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="sections")
    position = models.PositiveIntegerField()
    title = models.CharField(max_length=200)
    intro = models.TextField(blank=True)

    class Meta:
        ordering = ["survey", "position"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "position"], name="section_position_unique")
        ]

    def __str__(self) -> str:
        return self.title


class Question(Translatable):
    """``choices``: ``[{"code": "walk", "label": "Walk", "translations": {"es": "A pie"}}]``
    (single and multiple choice; a rating has its fixed scale). ``show_if_question`` and
    ``show_if_values``: ask this question only if that earlier question's answer is one of
    these codes."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="questions")
    section = models.ForeignKey(Section, on_delete=models.CASCADE, related_name="questions")
    position = models.PositiveIntegerField()
    code = models.SlugField(max_length=40)
    kind = models.CharField(max_length=12, choices=QuestionKind.choices)
    text = models.CharField(max_length=500)
    help_text = models.CharField(max_length=500, blank=True)
    choices = models.JSONField(default=list, blank=True)
    required = models.BooleanField(default=False)
    demographic_variable = models.CharField(max_length=40, blank=True)
    show_if_question = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    show_if_values = models.JSONField(default=list, blank=True)
    # 311 services whose figures the results show beside this (rating) question.
    services = models.ManyToManyField(
        "catalog.Service", through="QuestionService", blank=True, related_name="+"
    )

    class Meta:
        ordering = ["section__position", "position"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "code"], name="question_code_unique"),
            models.UniqueConstraint(
                fields=["section", "position"], name="question_position_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.code

    def choice_label(self, code: str, language: str | None) -> str:
        for choice in self.choices:
            if choice.get("code") == code:
                text = (choice.get("translations") or {}).get((language or "").split("-")[0])
                return str(text or choice.get("label") or code)
        return code


class Wave(models.Model):
    """One mailing of the sample (first letter, reminder, ...), named as the sample file does."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="waves")
    name = models.CharField(max_length=40)

    class Meta:
        ordering = ["survey", "name"]
        constraints = [models.UniqueConstraint(fields=["survey", "name"], name="wave_name_unique")]

    def __str__(self) -> str:
        return self.name


class SampleAddress(models.Model):
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="sample")
    wave = models.ForeignKey(Wave, on_delete=models.PROTECT, related_name="addresses")
    address = models.CharField(max_length=255)
    area = models.CharField(max_length=40)
    code = models.CharField(max_length=8, unique=True)
    # When the code's response was submitted (to the day in an anonymous survey).
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["survey", "id"]
        constraints = [
            models.UniqueConstraint(fields=["survey", "address"], name="sample_address_unique")
        ]

    def __str__(self) -> str:
        return self.address


class Response(models.Model):
    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="responses")
    mode = models.CharField(max_length=10, choices=ResponseMode.choices)
    language = models.CharField(max_length=8, default="en")
    started_at = models.DateTimeField()
    submitted_at = models.DateTimeField(null=True, blank=True)
    # Never set in an anonymous survey.
    sample_address = models.ForeignKey(
        SampleAddress, on_delete=models.PROTECT, null=True, blank=True, related_name="responses"
    )
    entered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["survey", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sample_address"],
                condition=Q(sample_address__isnull=False),
                name="one_response_per_code",
            )
        ]

    def __str__(self) -> str:
        return f"{self.survey.slug} #{self.pk}"

    @property
    def submitted(self) -> bool:
        return self.submitted_at is not None


class CodeInProgress(models.Model):
    """An anonymous survey's code while its response is being answered: lets the code
    resume on another visit. Deleted when the response is submitted."""

    sample_address = models.OneToOneField(
        SampleAddress, on_delete=models.CASCADE, related_name="in_progress"
    )
    response = models.OneToOneField(Response, on_delete=models.CASCADE, related_name="+")

    def __str__(self) -> str:
        return f"code in progress #{self.pk}"


class Answer(models.Model):
    response = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="answers")
    question = models.ForeignKey(Question, on_delete=models.PROTECT, related_name="answers")
    value: Any = models.JSONField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["response", "question"], name="answer_unique")
        ]

    def __str__(self) -> str:
        return f"{self.question_id}: {self.value}"


# --- results: population targets, benchmarks, ties to 311 services (docs/surveys.md,
# "Results, benchmarks and the council report") ------------------------------------------------


class PopulationTarget(models.Model):
    """The population of one category of a raking variable (a question's demographic
    variable; the categories are its choice codes)."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="targets")
    variable = models.CharField(max_length=40)
    category = models.CharField(max_length=40)
    population = models.FloatField()

    class Meta:
        ordering = ["survey", "variable", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "variable", "category"], name="target_category_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.variable}={self.category}: {self.population:g}"


class Benchmark(models.Model):
    """A comparison figure for one estimate: ``item`` is a question code (rating, number) or
    ``code:choice``; ``group`` is blank for every resident or ``variable=category``;
    ``value`` is in points (percent) for ratings and choices, in the question's units for
    numbers."""

    survey = models.ForeignKey(Survey, on_delete=models.CASCADE, related_name="benchmarks")
    item = models.CharField(max_length=100)
    group = models.CharField(max_length=100, blank=True)
    value = models.FloatField()
    source = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["survey", "item", "group"]
        constraints = [
            models.UniqueConstraint(
                fields=["survey", "item", "group"], name="benchmark_item_group_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.item} {self.group}: {self.value:g}"


class ResultsSettings(models.Model):
    """How a survey's results are compared: benchmark thresholds (in points) and the
    previous survey of the series (its questions matched by code)."""

    survey = models.OneToOneField(Survey, on_delete=models.CASCADE, related_name="results_settings")
    similar_points = models.FloatField(default=5.0)
    much_points = models.FloatField(default=10.0)
    previous = models.ForeignKey(
        Survey, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    changed_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"results settings of {self.survey_id}"


class QuestionService(models.Model):
    """A rating question tied to a 311 service: the results show the service's on-time rate
    and volume over the fielding period beside it."""

    question = models.ForeignKey(Question, on_delete=models.CASCADE, related_name="service_links")
    service = models.ForeignKey(
        "catalog.Service", on_delete=models.CASCADE, related_name="survey_questions"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["question", "service"], name="question_service_unique")
        ]

    def __str__(self) -> str:
        return f"{self.question_id} -> {self.service_id}"
