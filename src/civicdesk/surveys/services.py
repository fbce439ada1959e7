"""Writes of the surveys domain: building a questionnaire, publishing it, importing the mailed
sample, and taking responses (by access code, open link or paper). Every door (the resident
form, the staff console, tests) calls these; the answer rules live in ``answers_clean``."""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _

from civicdesk.accounts.models import User
from civicdesk.audit.services import audit_record
from civicdesk.errors import InvalidInput

from .models import (
    CHOICE_KINDS,
    Answer,
    CodeInProgress,
    Question,
    QuestionKind,
    Response,
    ResponseMode,
    SampleAddress,
    Section,
    Survey,
    SurveyStatus,
    Wave,
)

#: Access codes: 8 characters from an alphabet without look-alikes (0/O, 1/I/L, 2/Z, 5/S,
#: 6/G, 8/B): 24^8, about 1.1e11 codes, guessed at most a few dozen times an hour per address.
CODE_ALPHABET = "ACDEFHJKMNPQRTUVWXY34679"
CODE_LENGTH = 8
RATING_CODES = ("excellent", "good", "fair", "poor", "dont_know")
LANGUAGE_CODES = ("en", "es")
MAX_SAMPLE_LINES = 200_000
MAX_TEXT = {QuestionKind.SHORT_TEXT: 200, QuestionKind.LONG_TEXT: 4000}


def _full_clean(obj: Any, exclude: Sequence[str] = ()) -> None:
    try:
        obj.full_clean(exclude=list(exclude))
    except ValidationError as exc:
        raise InvalidInput(
            {field: [str(m) for m in messages] for field, messages in exc.message_dict.items()}
        ) from None


def _texts(translations: Mapping[str, Mapping[str, str]] | None) -> dict[str, dict[str, str]]:
    """Translations with blanks dropped: ``{"es": {"title": "..."}}``."""
    kept: dict[str, dict[str, str]] = {}
    for language, texts in (translations or {}).items():
        values = {k: str(v).strip() for k, v in texts.items() if str(v or "").strip()}
        if values:
            kept[str(language)] = values
    return kept


def _draft(survey: Survey) -> None:
    if survey.status != SurveyStatus.DRAFT:
        raise InvalidInput(
            _("This survey has been published: its questions can no longer change."),
            code="not_draft",
        )


# ------------------------------------------------------------------------------------------
# Building


def survey_save(
    *,
    survey: Survey | None = None,
    title: str,
    intro: str = "",
    translations: Mapping[str, Mapping[str, str]] | None = None,
    anonymous: bool = False,
    languages: Sequence[str] = ("en", "es"),
    actor: User | None = None,
) -> Survey:
    """Create a survey (``survey`` None) or change its texts and settings. Anonymity and the
    languages are fixed once it is published."""
    creating = survey is None
    if survey is None:
        survey = Survey()
    elif survey.status != SurveyStatus.DRAFT and (
        anonymous != survey.anonymous or list(languages) != list(survey.languages)
    ):
        raise InvalidInput(_("Anonymity and languages are fixed once a survey is published."))
    languages = [code for code in LANGUAGE_CODES if code in set(languages)]
    if not languages:
        raise InvalidInput({"languages": [_("Choose at least one language.")]})
    survey.title = title.strip()
    survey.intro = intro.strip()
    survey.translations = _texts(translations)
    survey.anonymous = anonymous
    survey.languages = languages
    with transaction.atomic():
        if creating:
            base = slugify(survey.title)[:56] or "survey"
            slug, n = base, 2
            while Survey.objects.filter(slug=slug).exists():
                slug, n = f"{base}-{n}", n + 1
            survey.slug = slug
        _full_clean(survey)
        survey.save()
        audit_record(
            "survey.create" if creating else "survey.change",
            actor=actor,
            target=("survey", survey.slug),
        )
    return survey


def section_save(
    *,
    survey: Survey,
    section: Section | None = None,
    title: str,
    intro: str = "",
    translations: Mapping[str, Mapping[str, str]] | None = None,
) -> Section:
    """Add a section at the end of the survey, or change one's texts."""
    if section is None:
        _draft(survey)
        last = survey.sections.aggregate(m=Max("position"))["m"] or 0
        section = Section(survey=survey, position=last + 1)
    section.title = title.strip()
    section.intro = intro.strip()
    section.translations = _texts(translations)
    _full_clean(section)
    section.save()
    return section


@dataclass(frozen=True)
class ChoiceInput:
    code: str
    label: str
    translations: Mapping[str, str]


_CHOICE_LINE = re.compile(r"\s*\|\s*")


def choices_parse(text: str) -> list[ChoiceInput]:
    """Choices written one per line as ``code | English | Spanish`` (the Spanish optional)."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = _CHOICE_LINE.split(line.strip())
        if len(parts) < 2 or not parts[0] or not parts[1]:
            raise InvalidInput(
                {
                    "choices": [
                        _("Line %(n)s: write a code, then | and the English label.") % {"n": number}
                    ]
                }
            )
        es = parts[2] if len(parts) > 2 else ""
        out.append(ChoiceInput(parts[0], parts[1], {"es": es} if es else {}))
    return out


def choices_text(question: Question) -> str:
    """The builder's text for a question's choices: the inverse of ``choices_parse``."""
    lines = []
    for choice in question.choices:
        es = (choice.get("translations") or {}).get("es", "")
        lines.append(" | ".join(p for p in (choice["code"], choice["label"], es) if p))
    return "\n".join(lines)


def question_save(
    *,
    section: Section,
    question: Question | None = None,
    code: str,
    kind: str,
    text: str,
    help_text: str = "",
    translations: Mapping[str, Mapping[str, str]] | None = None,
    choices: Sequence[ChoiceInput] = (),
    required: bool = False,
    demographic_variable: str = "",
    show_if_question: Question | None = None,
    show_if_values: Sequence[str] = (),
) -> Question:
    """Add a question at the end of ``section`` or change one, checking its choices and its
    skip rule (an earlier question of the same survey, answered by choosing, and codes it
    has)."""
    survey = section.survey
    _draft(survey)
    errors: dict[str, list[str]] = {}
    codes = [c.code for c in choices]
    if kind in (QuestionKind.SINGLE, QuestionKind.MULTIPLE):
        if len(choices) < 2:
            errors.setdefault("choices", []).append(_("Give at least two choices."))
        bad = [c for c in codes if not re.fullmatch(r"[a-z0-9_+-]{1,40}", c)]
        if bad:
            errors.setdefault("choices", []).append(
                _("Choice codes use lower-case letters, digits, _, + and -: %(codes)s")
                % {"codes": ", ".join(bad)}
            )
        if len(set(codes)) != len(codes):
            errors.setdefault("choices", []).append(_("Each choice needs its own code."))
    elif choices:
        errors.setdefault("choices", []).append(_("Only single and multiple choice take choices."))
    if question is None:
        last = section.questions.aggregate(m=Max("position"))["m"] or 0
        question = Question(survey=survey, section=section, position=last + 1)
    values = [v.strip() for v in show_if_values if v.strip()]
    if show_if_question is not None:
        if show_if_question.survey_id != survey.pk or show_if_question.kind not in CHOICE_KINDS:
            errors.setdefault("show_if_question", []).append(
                _("A question can depend only on a choice or rating question of this survey.")
            )
        elif not _before(show_if_question, section, question):
            errors.setdefault("show_if_question", []).append(
                _("A question can depend only on a question asked before it.")
            )
        else:
            allowed = set(question_choice_codes(show_if_question))
            unknown = [v for v in values if v not in allowed]
            if not values or unknown:
                errors.setdefault("show_if_values", []).append(
                    _("Give one or more of the codes of that question's answers: %(codes)s")
                    % {"codes": ", ".join(question_choice_codes(show_if_question))}
                )
    elif values:
        errors.setdefault("show_if_question", []).append(
            _("Choose the question these answers belong to.")
        )
    if errors:
        raise InvalidInput(errors)
    question.code = code.strip()
    question.kind = kind
    question.text = text.strip()
    question.help_text = help_text.strip()
    question.translations = _texts(translations)
    question.choices = [
        {"code": c.code, "label": c.label, "translations": dict(c.translations)} for c in choices
    ]
    question.required = required
    question.demographic_variable = demographic_variable.strip()
    question.show_if_question = show_if_question
    question.show_if_values = values if show_if_question else []
    _full_clean(question, exclude=["survey", "section", "show_if_question"])
    try:
        with transaction.atomic():
            question.save()
    except IntegrityError:
        raise InvalidInput(
            {"code": [_("Another question of this survey has this code.")]}
        ) from None
    return question


def _before(earlier: Question, section: Section, question: Question) -> bool:
    key = (earlier.section.position, earlier.position)
    return key < (section.position, question.position) and earlier.pk != question.pk


def question_choice_codes(question: Question) -> list[str]:
    if question.kind == QuestionKind.RATING:
        return list(RATING_CODES)
    return [str(c["code"]) for c in question.choices]


def survey_publish(*, survey: Survey, actor: User | None = None) -> Survey:
    """Open the survey for answers: it needs a question in every section."""
    with transaction.atomic():
        survey = Survey.objects.select_for_update().get(pk=survey.pk)
        _draft(survey)
        sections = list(survey.sections.all())
        if not sections:
            raise InvalidInput(_("Add a section and its questions before publishing."))
        empty = [s.title for s in sections if not s.questions.exists()]
        if empty:
            raise InvalidInput(
                _("These sections have no question: %(names)s") % {"names": ", ".join(empty)}
            )
        survey.status = SurveyStatus.OPEN
        survey.published_at = timezone.now()
        survey.save(update_fields=["status", "published_at"])
        audit_record("survey.publish", actor=actor, target=("survey", survey.slug))
    return survey


def survey_close(*, survey: Survey, actor: User | None = None) -> Survey:
    with transaction.atomic():
        survey = Survey.objects.select_for_update().get(pk=survey.pk)
        if survey.status != SurveyStatus.OPEN:
            raise InvalidInput(_("Only an open survey can be closed."))
        survey.status = SurveyStatus.CLOSED
        survey.closed_at = timezone.now()
        survey.save(update_fields=["status", "closed_at"])
        audit_record("survey.close", actor=actor, target=("survey", survey.slug))
    return survey


# ------------------------------------------------------------------------------------------
# The sample


@dataclass(frozen=True)
class SampleImported:
    created: int
    waves: list[str]


def code_normalize(text: str) -> str:
    """What a resident types (``abcd-efgh``, spaces, lower case) as the stored code."""
    return re.sub(r"[\s\-]", "", text or "").upper()


def code_display(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def _new_codes(count: int) -> list[str]:
    codes: set[str] = set()
    while len(codes) < count:
        wanted = count - len(codes)
        fresh = {
            "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
            for _ in range(wanted)
        } - codes
        taken = set(SampleAddress.objects.filter(code__in=fresh).values_list("code", flat=True))
        codes |= fresh - taken
    return list(codes)


def sample_import(
    *, survey: Survey, data: bytes | str, actor: User | None = None
) -> SampleImported:
    """Add the addresses of a CSV file (``address,area,wave``, a header line first) to the
    survey's sample, each with a new access code. All or nothing: every problem is named
    with its line (the header being line 1)."""
    if survey.status == SurveyStatus.CLOSED:
        raise InvalidInput(_("This survey is closed."))
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput(_("The file is not UTF-8 text (save it as CSV UTF-8).")) from None
    reader = csv.reader(io.StringIO(data))
    header = [h.strip().lower() for h in next(reader, [])]
    missing = [c for c in ("address", "area", "wave") if c not in header]
    if missing:
        raise InvalidInput(
            _("Line 1: the header must name the columns address, area and wave (missing: %(c)s).")
            % {"c": ", ".join(missing)}
        )
    at = {name: header.index(name) for name in ("address", "area", "wave")}
    known = set(survey.sample.values_list("address", flat=True))
    seen: dict[str, int] = {}
    rows: list[tuple[str, str, str]] = []
    problems: list[str] = []
    for row in reader:
        line = reader.line_num
        if len(rows) >= MAX_SAMPLE_LINES:
            problems.append(_("Line %(n)s: a sample file has at most 200,000 lines.") % {"n": line})
            break
        if not any(cell.strip() for cell in row):
            continue
        if len(row) != len(header):
            problems.append(
                _("Line %(n)s: %(got)s values where the header has %(want)s.")
                % {"n": line, "got": len(row), "want": len(header)}
            )
            continue
        address, area, wave = (row[at[c]].strip() for c in ("address", "area", "wave"))
        for name, value, limit in (
            ("address", address, 255),
            ("area", area, 40),
            ("wave", wave, 40),
        ):
            if not value:
                problems.append(_("Line %(n)s: the %(col)s is empty.") % {"n": line, "col": name})
            elif len(value) > limit:
                problems.append(
                    _("Line %(n)s: the %(col)s is longer than %(max)s characters.")
                    % {"n": line, "col": name, "max": limit}
                )
        key = address.casefold()
        if address and key in seen:
            problems.append(
                _("Line %(n)s: this address is already on line %(first)s.")
                % {"n": line, "first": seen[key]}
            )
        elif address and address in known:
            problems.append(_("Line %(n)s: this address is already in the sample.") % {"n": line})
        seen.setdefault(key, line)
        rows.append((address, area, wave))
    if problems:
        raise InvalidInput({"file": problems[:50]})
    if not rows:
        raise InvalidInput(_("The file has no addresses."))
    with transaction.atomic():
        waves: dict[str, Wave] = {}
        for name in sorted({r[2] for r in rows}):
            waves[name], _created = Wave.objects.get_or_create(survey=survey, name=name)
        codes = _new_codes(len(rows))
        SampleAddress.objects.bulk_create(
            [
                SampleAddress(survey=survey, wave=waves[w], address=a, area=area, code=code)
                for (a, area, w), code in zip(rows, codes, strict=True)
            ],
            batch_size=2000,
        )
        audit_record(
            "survey.sample_import",
            actor=actor,
            target=("survey", survey.slug),
            details={"addresses": len(rows), "waves": sorted(waves)},
        )
    return SampleImported(created=len(rows), waves=sorted(waves))


# ------------------------------------------------------------------------------------------
# Responses


def _now(survey: Survey) -> dt.datetime:
    """Now, or in an anonymous survey the start of today: exact times could pair a code's
    use with the response it gave."""
    now = timezone.now()
    if survey.anonymous:
        local = timezone.localtime(now)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    return now


def _open(survey: Survey) -> None:
    if survey.status != SurveyStatus.OPEN:
        raise InvalidInput(_("This survey is not taking answers."), code="not_open")


class CodeRefused(InvalidInput):
    """An access code that is unknown, of another survey, or already used."""

    code = "code_refused"


def response_start(*, survey: Survey, code: str | None = None, language: str = "en") -> Response:
    """Begin answering: with an access code (``mail_code``; resumes the response already
    begun with that code) or, without one, through the open link."""
    _open(survey)
    if code is None:
        return Response.objects.create(
            survey=survey, mode=ResponseMode.OPEN_LINK, language=language, started_at=_now(survey)
        )
    normalized = code_normalize(code)
    with transaction.atomic():
        address = (
            SampleAddress.objects.select_for_update().filter(survey=survey, code=normalized).first()
        )
        if address is None:
            raise CodeRefused(
                {"code": [_("We do not recognise this code. Check it against your letter.")]}
            )
        if address.used_at is not None:
            raise CodeRefused(
                {"code": [_("This code has already been used: each household answers once.")]}
            )
        if survey.anonymous:
            held = CodeInProgress.objects.filter(sample_address=address).first()
            if held is not None:
                return Response.objects.get(pk=held.response_id)
            response = Response.objects.create(
                survey=survey,
                mode=ResponseMode.MAIL_CODE,
                language=language,
                started_at=_now(survey),
            )
            CodeInProgress.objects.create(sample_address=address, response=response)
            return response
        existing = Response.objects.filter(sample_address=address).first()
        if existing is not None:
            return existing
        return Response.objects.create(
            survey=survey,
            mode=ResponseMode.MAIL_CODE,
            language=language,
            started_at=_now(survey),
            sample_address=address,
        )


def survey_questions(survey: Survey) -> list[Question]:
    return list(
        Question.objects.filter(survey=survey)
        .select_related("section", "show_if_question")
        .order_by("section__position", "position")
    )


def question_visible(question: Question, answers: Mapping[str, Any]) -> bool:
    """The skip rule: a question with ``show_if`` is asked only when that earlier question's
    answer (any of a multiple choice's) is one of its codes."""
    rule = question.show_if_question
    if rule is None:
        return True
    if not question_visible(rule, answers):
        return False
    given = answers.get(rule.code)
    chosen = set(given) if isinstance(given, list) else ({given} if given else set())
    return bool(chosen & set(question.show_if_values))


def _clean_one(question: Question, raw: Any) -> Any:
    """One answer as stored, ``None`` for no answer; ``ValueError`` with the message."""
    if question.kind == QuestionKind.MULTIPLE:
        values = [str(v) for v in (raw if isinstance(raw, list | tuple) else [raw]) if v]
        allowed = question_choice_codes(question)
        if any(v not in allowed for v in values):
            raise ValueError(_("Choose among the answers listed."))
        return [c for c in allowed if c in values] or None
    value = str(raw if raw is not None else "").strip()
    if not value:
        return None
    if question.kind in CHOICE_KINDS:
        if value not in question_choice_codes(question):
            raise ValueError(_("Choose among the answers listed."))
        return value
    if question.kind == QuestionKind.NUMBER:
        try:
            number = Decimal(value.replace(",", "."))
        except InvalidOperation:
            raise ValueError(_("Enter a number, like 3 or 2.5.")) from None
        if not number.is_finite() or abs(number) > Decimal("1e12"):
            raise ValueError(_("Enter a number, like 3 or 2.5."))
        return int(number) if number == number.to_integral_value() else float(number)
    limit = MAX_TEXT.get(QuestionKind(question.kind), 4000)
    if len(value) > limit:
        raise ValueError(_("Keep it under %(n)s characters.") % {"n": limit})
    return value


def answers_clean(
    *,
    questions: Iterable[Question],
    raw: Mapping[str, Any],
    earlier: Mapping[str, Any] | None = None,
    require: bool = True,
) -> dict[str, Any]:
    """Check the answers ``raw`` (by question code) to ``questions``, given the answers
    ``earlier`` already saved. Questions the skip rules hide are dropped; with ``require``,
    a required question that is asked must be answered. Returns the cleaned answers
    (``None`` for a question left blank or hidden); raises ``InvalidInput`` keyed by code."""
    known = dict(earlier or {})
    cleaned: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for question in questions:
        if not question_visible(question, known):
            cleaned[question.code] = None
            known[question.code] = None
            continue
        try:
            value = _clean_one(question, raw.get(question.code))
        except ValueError as exc:
            errors[question.code] = [str(exc)]
            continue
        if value is None and require and question.required:
            errors[question.code] = [_("Answer this question.")]
        cleaned[question.code] = value
        known[question.code] = value
    if errors:
        raise InvalidInput(errors)
    return cleaned


def response_answers(response: Response) -> dict[str, Any]:
    """The answers saved so far, by question code."""
    rows = Answer.objects.filter(response=response).values_list("question__code", "value")
    return dict(rows)


def _answers_write(
    response: Response, questions: Sequence[Question], cleaned: Mapping[str, Any]
) -> None:
    by_code = {q.code: q for q in questions}
    blank = [by_code[c].pk for c, v in cleaned.items() if v is None]
    Answer.objects.filter(response=response, question_id__in=blank).delete()
    for code, value in cleaned.items():
        if value is not None:
            Answer.objects.update_or_create(
                response=response, question=by_code[code], defaults={"value": value}
            )


def _in_progress(response: Response) -> Response:
    response = Response.objects.select_for_update().select_related("survey").get(pk=response.pk)
    if response.submitted_at is not None:
        raise InvalidInput(_("These answers have already been sent."), code="submitted")
    _open(response.survey)
    return response


def response_save(
    *, response: Response, section: Section, raw: Mapping[str, Any], require: bool = True
) -> dict[str, Any]:
    """Save the answers to one section (its progress is kept until the response is sent).
    ``require=False`` saves what is there without asking for the required answers (going
    back a page)."""
    with transaction.atomic():
        response = _in_progress(response)
        questions = [q for q in survey_questions(response.survey) if q.section_id == section.pk]
        earlier = response_answers(response)
        cleaned = answers_clean(questions=questions, raw=raw, earlier=earlier, require=require)
        _answers_write(response, questions, cleaned)
    return cleaned


def response_submit(*, response: Response, language: str | None = None) -> Response:
    """Send the response: every question asked must meet its rules; the access code is
    then used (and, in an anonymous survey, its link to the response removed)."""
    with transaction.atomic():
        response = _in_progress(response)
        survey = response.survey
        questions = survey_questions(survey)
        saved = response_answers(response)
        try:
            cleaned = answers_clean(questions=questions, raw=saved)
        except InvalidInput as exc:
            first = next(q for q in questions if q.code in exc.field_errors)
            raise InvalidInput(
                {first.code: exc.field_errors[first.code]}, code="incomplete"
            ) from None
        _answers_write(response, questions, cleaned)
        now = _now(survey)
        if language:
            response.language = language
        response.submitted_at = now
        response.save(update_fields=["submitted_at", "language"])
        if response.mode == ResponseMode.MAIL_CODE:
            if survey.anonymous:
                held = CodeInProgress.objects.select_related("sample_address").get(
                    response=response
                )
                address = held.sample_address
                held.delete()
            else:
                assert response.sample_address is not None
                address = response.sample_address
            SampleAddress.objects.filter(pk=address.pk).update(used_at=now)
    return response


def response_section_missing(response: Response) -> Section | None:
    """The first section with a required question asked and not answered, if any."""
    questions = survey_questions(response.survey)
    try:
        answers_clean(questions=questions, raw=response_answers(response))
    except InvalidInput as exc:
        return next(q.section for q in questions if q.code in exc.field_errors)
    return None


def paper_response_enter(
    *,
    survey: Survey,
    raw: Mapping[str, Any],
    code: str = "",
    language: str = "en",
    actor: User | None = None,
) -> Response:
    """Enter a returned paper questionnaire as written: blanks are kept as blanks (paper
    cannot insist), answers the skip rules hide are dropped. A code printed on it is used,
    as if the resident had answered online."""
    if survey.status == SurveyStatus.DRAFT:
        raise InvalidInput(_("This survey is not taking answers."), code="not_open")
    questions = survey_questions(survey)
    cleaned = answers_clean(questions=questions, raw=raw, require=False)
    with transaction.atomic():
        address = None
        if code.strip():
            address = (
                SampleAddress.objects.select_for_update()
                .filter(survey=survey, code=code_normalize(code))
                .first()
            )
            if address is None:
                raise CodeRefused(
                    {"code": [_("No address of this survey's sample has this code.")]}
                )
            if (
                address.used_at is not None
                or CodeInProgress.objects.filter(sample_address=address).exists()
                or Response.objects.filter(sample_address=address).exists()
            ):
                raise CodeRefused(
                    {"code": [_("This code has already answered or begun answering online.")]}
                )
        now = _now(survey)
        response = Response.objects.create(
            survey=survey,
            mode=ResponseMode.PAPER,
            language=language if language in LANGUAGE_CODES else "en",
            started_at=now,
            submitted_at=now,
            sample_address=None if survey.anonymous else address,
            entered_by=actor,
        )
        _answers_write(response, questions, cleaned)
        if address is not None:
            SampleAddress.objects.filter(pk=address.pk).update(used_at=now)
        audit_record("survey.paper_entry", actor=actor, target=("survey", survey.slug))
    return response
