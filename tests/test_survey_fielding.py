"""Fielding a resident survey: building and publishing it, the mailed sample and its codes,
answering by code, by open link and on paper, skip logic, anonymity, response rates, the
mailing PDF and who may do what. Real database, real pages."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from civicdesk.audit.models import AuditEntry
from civicdesk.errors import InvalidInput
from civicdesk.surveys.models import (
    Answer,
    CodeInProgress,
    Question,
    Response,
    ResponseMode,
    SampleAddress,
    Survey,
    SurveyStatus,
)
from civicdesk.surveys.selectors import response_rates
from civicdesk.surveys.services import (
    CODE_ALPHABET,
    ChoiceInput,
    code_display,
    paper_response_enter,
    question_save,
    response_save,
    response_start,
    response_submit,
    sample_import,
    section_save,
    survey_publish,
    survey_save,
)
from tests.conftest import sign_in, staff

pytestmark = pytest.mark.usefixtures("city")

SAMPLE = "address,area,wave\n101 Main St,D1,1\n102 Main St,D1,1\n7 Oak Ave,D2,1\n9 Oak Ave,D2,2\n"


def build(*, anonymous: bool = False, publish: bool = True) -> Survey:
    """Two sections: a rating and a yes/no with a follow-up on the first page, a
    multiple choice asked only of bus riders and a demographic on the second."""
    survey = survey_save(
        title="Resident survey 2026",
        intro="Tell us how the city is doing.",
        translations={"es": {"title": "Encuesta de residentes 2026", "intro": "Díganos."}},
        anonymous=anonymous,
    )
    first = section_save(
        survey=survey, title="City services", translations={"es": {"title": "Servicios"}}
    )
    question_save(
        section=first,
        code="streets",
        kind="rating",
        text="Street maintenance",
        translations={"es": {"text": "Mantenimiento de calles"}},
        required=True,
    )
    bus = question_save(
        section=first,
        code="rides_bus",
        kind="single",
        text="Do you ride the bus?",
        translations={"es": {"text": "¿Usa el autobús?"}},
        choices=[ChoiceInput("yes", "Yes", {"es": "Sí"}), ChoiceInput("no", "No", {"es": "No"})],
        required=True,
    )
    question_save(
        section=first,
        code="bus_rating",
        kind="rating",
        text="Bus service",
        translations={"es": {"text": "Servicio de autobús"}},
        required=True,
        show_if_question=bus,
        show_if_values=["yes"],
    )
    second = section_save(survey=survey, title="About you", translations={"es": {"title": "Usted"}})
    question_save(
        section=second,
        code="routes",
        kind="multiple",
        text="Which routes?",
        translations={"es": {"text": "¿Qué rutas?"}},
        choices=[ChoiceInput("r1", "Route 1", {}), ChoiceInput("r2", "Route 2", {})],
        show_if_question=bus,
        show_if_values=["yes"],
    )
    question_save(
        section=second,
        code="age",
        kind="single",
        text="Your age",
        translations={"es": {"text": "Su edad"}},
        choices=[ChoiceInput("18-34", "18 to 34", {}), ChoiceInput("35plus", "35 or over", {})],
        demographic_variable="age",
        required=True,
    )
    question_save(section=second, code="years", kind="number", text="Years in the city")
    question_save(section=second, code="comments", kind="long_text", text="Anything else?")
    if publish:
        survey = survey_publish(survey=survey)
    return survey


def codes(survey: Survey) -> dict[str, str]:
    return dict(SampleAddress.objects.filter(survey=survey).values_list("address", "code"))


def staffer(username: str) -> Client:
    return sign_in(Client(), staff(username))


# ------------------------------------------------------------------------------------------
# Building and publishing


def test_building_and_publishing_a_survey_through_the_console() -> None:
    client = staffer("admin")
    page = client.post(
        "/staff/surveys/new/",
        {
            "title": "Parks survey",
            "intro": "About parks",
            "title_es": "Encuesta de parques",
            "languages": ["en", "es"],
        },
    )
    assert page.status_code == 302
    survey = Survey.objects.get(title="Parks survey")
    assert survey.localized("title", "es") == "Encuesta de parques"
    assert survey.status == SurveyStatus.DRAFT
    client.post(f"/staff/surveys/{survey.slug}/sections/new/", {"title": "Parks"})
    section = survey.sections.get()
    # A choice question without choices is refused, next to the field.
    bad = client.post(
        f"/staff/surveys/{survey.slug}/sections/{section.pk}/questions/new/",
        {"code": "visits", "kind": "single", "text": "How often?"},
    )
    assert bad.status_code == 400
    assert "at least two choices" in bad.content.decode()
    good = client.post(
        f"/staff/surveys/{survey.slug}/sections/{section.pk}/questions/new/",
        {
            "code": "visits",
            "kind": "single",
            "text": "How often?",
            "text_es": "¿Con qué frecuencia?",
            "choices": "weekly | Weekly | Cada semana\nrarely | Rarely | Rara vez",
            "required": "on",
        },
    )
    assert good.status_code == 302
    question = Question.objects.get(survey=survey, code="visits")
    assert question.choice_label("weekly", "es") == "Cada semana"
    assert question.localized("text", "es") == "¿Con qué frecuencia?"
    # A skip rule naming an answer the question does not have is refused.
    bad_rule = client.post(
        f"/staff/surveys/{survey.slug}/sections/{section.pk}/questions/new/",
        {
            "code": "why",
            "kind": "short_text",
            "text": "Why?",
            "show_if_question": question.pk,
            "show_if_values": "never",
        },
    )
    assert bad_rule.status_code == 400 and "weekly, rarely" in bad_rule.content.decode()
    # Preview renders the resident page without saving anything.
    preview = client.get(f"/staff/surveys/{survey.slug}/preview/")
    assert preview.status_code == 200 and "How often?" in preview.content.decode()
    assert client.post(f"/staff/surveys/{survey.slug}/publish/").status_code == 302
    survey.refresh_from_db()
    assert survey.status == SurveyStatus.OPEN and survey.published_at is not None
    assert AuditEntry.objects.filter(action="survey.publish", target_id=survey.slug).exists()
    # Published: its questions are fixed.
    with pytest.raises(InvalidInput):
        question_save(section=section, code="late", kind="number", text="Too late")


def test_publishing_needs_questions() -> None:
    survey = survey_save(title="Empty")
    with pytest.raises(InvalidInput, match="section"):
        survey_publish(survey=survey)
    section_save(survey=survey, title="Nothing here")
    with pytest.raises(InvalidInput, match="Nothing here"):
        survey_publish(survey=survey)


def test_skip_rule_must_point_to_an_earlier_question() -> None:
    survey = survey_save(title="Order")
    section = section_save(survey=survey, title="One")
    later = question_save(section=section, code="a", kind="number", text="A number")
    with pytest.raises(InvalidInput, match="choice or rating"):
        question_save(
            section=section,
            code="b",
            kind="number",
            text="B",
            show_if_question=later,
            show_if_values=["1"],
        )


# ------------------------------------------------------------------------------------------
# The sample and its codes


def test_importing_a_sample_gives_each_address_a_unique_code() -> None:
    survey = build()
    imported = sample_import(survey=survey, data=SAMPLE.encode())
    assert imported.created == 4 and imported.waves == ["1", "2"]
    all_codes = list(codes(survey).values())
    assert len(set(all_codes)) == 4
    assert all(len(c) == 8 and set(c) <= set(CODE_ALPHABET) for c in all_codes)
    assert not set("01OILZ25SG8B") & set(CODE_ALPHABET)


def test_a_bad_sample_file_names_its_lines_and_adds_nothing() -> None:
    survey = build()
    sample_import(survey=survey, data="address,area,wave\n5 Elm St,D1,1\n")
    bad = (
        "address,area,wave\n"
        "1 Good St,D1,1\n"
        ",D1,1\n"  # line 3: no address
        "2 Good St,D1\n"  # line 4: a value missing
        "1 Good St,D2,1\n"  # line 5: repeated
        "5 Elm St,D1,1\n"  # line 6: already in the sample
    )
    with pytest.raises(InvalidInput) as caught:
        sample_import(survey=survey, data=bad)
    problems = caught.value.field_errors["file"]
    assert problems[0].startswith("Line 3:") and "address" in problems[0]
    assert any(p.startswith("Line 4:") for p in problems)
    assert any(p.startswith("Line 5:") and "line 2" in p for p in problems)
    assert any(p.startswith("Line 6:") and "already in the sample" in p for p in problems)
    assert SampleAddress.objects.filter(survey=survey).count() == 1
    with pytest.raises(InvalidInput, match="Line 1"):
        sample_import(survey=survey, data="street,ward\nx,y\n")


def test_sample_upload_page_shows_line_errors() -> None:
    survey = build()
    client = staffer("admin")
    upload = io.BytesIO(b"address,area,wave\n,D1,1\n")
    upload.name = "sample.csv"
    page = client.post(f"/staff/surveys/{survey.slug}/sample/", {"file": upload})
    assert page.status_code == 400
    assert "Line 2: the address is empty." in page.content.decode()
    good = io.BytesIO(SAMPLE.encode())
    good.name = "sample.csv"
    assert client.post(f"/staff/surveys/{survey.slug}/sample/", {"file": good}).status_code == 302
    assert SampleAddress.objects.filter(survey=survey).count() == 4


def test_the_mailing_pdf_has_one_card_per_address_with_its_code() -> None:
    survey = build()
    sample_import(survey=survey, data=SAMPLE)
    client = staffer("pw.supervisor")
    pdf = client.get(f"/staff/surveys/{survey.slug}/mailing.pdf?language=en&language=es")
    assert pdf.status_code == 200 and pdf["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(pdf.content))
    assert len(reader.pages) == 4
    expected = codes(survey)
    for page in reader.pages:
        text = page.extract_text()
        address = next(a for a in expected if a in text)
        assert code_display(expected[address]) in text
        assert f"/surveys/{survey.slug}/" in text.replace("\n", "")
        assert "Answer at" in text and "Responda en" in text
    wave_two = client.get(f"/staff/surveys/{survey.slug}/mailing.pdf?wave=2&language=es")
    text = PdfReader(io.BytesIO(wave_two.content)).pages[0].extract_text()
    assert len(PdfReader(io.BytesIO(wave_two.content)).pages) == 1
    assert "9 Oak Ave" in text and "Responda en" in text and "Answer at" not in text


# ------------------------------------------------------------------------------------------
# Answering by code


def _answer_first_page(client: Client, slug: str, **answers: str) -> Any:
    return client.post(f"/surveys/{slug}/page/1/", {"action": "next", **answers})


def test_code_entry_good_bad_and_used() -> None:
    survey = build()
    sample_import(survey=survey, data=SAMPLE)
    code = codes(survey)["101 Main St"]
    client = Client()
    assert client.get(f"/surveys/{survey.slug}/").status_code == 200
    bad = client.post(f"/surveys/{survey.slug}/", {"code": "AAAA-AAAA"})
    assert bad.status_code == 400 and "We do not recognise this code" in bad.content.decode()
    typed = code_display(code).lower().replace("-", " - ")
    good = client.post(f"/surveys/{survey.slug}/", {"code": typed})
    assert good.status_code == 302 and good["Location"].endswith("/page/1/")
    assert (
        _answer_first_page(client, survey.slug, q_streets="good", q_rides_bus="no").status_code
        == 302
    )
    done = client.post(f"/surveys/{survey.slug}/page/2/", {"action": "next", "q_age": "18-34"})
    assert done["Location"].endswith("/thanks/")
    assert client.get(done["Location"]).status_code == 200
    response = Response.objects.get(survey=survey)
    assert response.submitted and response.mode == ResponseMode.MAIL_CODE
    assert response.sample_address is not None and response.sample_address.code == code
    used = Client().post(f"/surveys/{survey.slug}/", {"code": code})
    assert used.status_code == 400 and "already been used" in used.content.decode()
    # A code of another survey is no code here.
    other = build()
    assert Client().post(f"/surveys/{other.slug}/", {"code": code}).status_code == 400


def test_code_entry_is_rate_limited(settings: Any) -> None:
    settings.CIVICDESK_RATE_SURVEY_CODE = "3/h"
    survey = build()
    client = Client()
    for _ in range(3):
        assert client.post(f"/surveys/{survey.slug}/", {"code": "AAAAAAAA"}).status_code == 400
    blocked = client.post(f"/surveys/{survey.slug}/", {"code": "AAAAAAAA"})
    assert blocked.status_code == 429 and "Retry-After" in blocked


def test_progress_is_saved_and_the_code_resumes_it() -> None:
    survey = build()
    sample_import(survey=survey, data=SAMPLE)
    code = codes(survey)["7 Oak Ave"]
    first = Client()
    first.post(f"/surveys/{survey.slug}/", {"code": code})
    _answer_first_page(first, survey.slug, q_streets="fair", q_rides_bus="yes", q_bus_rating="poor")
    # Another day, another device: the same code comes back to page 2, page 1 kept.
    second = Client()
    resumed = second.post(f"/surveys/{survey.slug}/", {"code": code})
    assert resumed["Location"].endswith("/page/2/")
    page_one = second.get(f"/surveys/{survey.slug}/page/1/").content.decode()
    assert re.search(r'<input type="radio" name="q_streets" value="fair"[^>]* checked', page_one)
    assert Response.objects.filter(survey=survey).count() == 1
    answers = dict(Answer.objects.values_list("question__code", "value"))
    assert answers == {"streets": "fair", "rides_bus": "yes", "bus_rating": "poor"}


def test_validation_messages_and_required_answers() -> None:
    survey = build()
    client = Client()
    client.post(f"/surveys/{survey.slug}/open/")
    page = _answer_first_page(client, survey.slug, q_rides_bus="maybe")
    body = page.content.decode()
    assert page.status_code == 400
    assert "error-summary" in body
    assert "Answer this question." in body  # streets
    assert "Choose among the answers listed." in body
    assert 'aria-invalid="true"' in body


def test_skip_logic_is_applied_on_the_server() -> None:
    survey = build()
    client = Client()
    client.post(f"/surveys/{survey.slug}/open/")
    # Not a bus rider: the bus rating is not required and an answer to it is dropped.
    ok = _answer_first_page(
        client, survey.slug, q_streets="good", q_rides_bus="no", q_bus_rating="excellent"
    )
    assert ok.status_code == 302
    assert not Answer.objects.filter(question__code="bus_rating").exists()
    # The routes question (page 2) is not shown to someone who does not ride.
    page_two = client.get(f"/surveys/{survey.slug}/page/2/").content.decode()
    assert "Which routes?" not in page_two and "Your age" in page_two
    # A bus rider must rate the bus, and is asked about routes.
    rider = Client()
    rider.post(f"/surveys/{survey.slug}/open/")
    missing = _answer_first_page(rider, survey.slug, q_streets="good", q_rides_bus="yes")
    assert missing.status_code == 400 and "Answer this question." in missing.content.decode()
    assert 'data-show-if="q_rides_bus"' in missing.content.decode()
    assert "Answer if your answer to “Do you ride the bus?” was: Yes." in missing.content.decode()
    _answer_first_page(rider, survey.slug, q_streets="good", q_rides_bus="yes", q_bus_rating="fair")
    assert "Which routes?" in rider.get(f"/surveys/{survey.slug}/page/2/").content.decode()


def test_going_back_saves_without_asking_for_required_answers() -> None:
    survey = build()
    client = Client()
    client.post(f"/surveys/{survey.slug}/open/")
    _answer_first_page(client, survey.slug, q_streets="good", q_rides_bus="no")
    back = client.post(f"/surveys/{survey.slug}/page/2/", {"action": "back", "q_years": "12"})
    assert back.status_code == 302 and back["Location"].endswith("/page/1/")
    assert Answer.objects.get(question__code="years").value == 12


def test_submitting_in_spanish_records_the_language() -> None:
    survey = build()
    client = Client()
    client.post("/i18n/setlang/", {"language": "es"})
    client.post(f"/surveys/{survey.slug}/open/")
    page = client.get(f"/surveys/{survey.slug}/page/1/").content.decode()
    assert "Mantenimiento de calles" in page and "Excelente" in page
    _answer_first_page(client, survey.slug, q_streets="excellent", q_rides_bus="no")
    done = client.post(
        f"/surveys/{survey.slug}/page/2/", {"action": "next", "q_age": "35plus", "q_years": "3,5"}
    )
    assert done.status_code == 302
    response = Response.objects.get(survey=survey)
    assert response.language == "es" and response.submitted
    assert Answer.objects.get(question__code="years").value == 3.5


def test_open_link_responses_are_kept_apart_as_not_a_random_sample() -> None:
    survey = build()
    sample_import(survey=survey, data=SAMPLE)
    landing = Client().get(f"/surveys/{survey.slug}/open/").content.decode()
    assert "apart from those of the households chosen at random" in landing
    client = Client()
    client.post(f"/surveys/{survey.slug}/open/")
    _answer_first_page(client, survey.slug, q_streets="poor", q_rides_bus="no")
    client.post(f"/surveys/{survey.slug}/page/2/", {"action": "next", "q_age": "18-34"})
    response = Response.objects.get(survey=survey)
    assert response.mode == ResponseMode.OPEN_LINK and response.sample_address is None
    assert str(ResponseMode.OPEN_LINK.label) == "Open link (not a random sample)"
    rates = response_rates(survey)
    assert rates.open_link == 1 and rates.overall.responded == 0


def test_anonymous_mode_keeps_code_use_apart_from_answers() -> None:
    survey = build(anonymous=True)
    sample_import(survey=survey, data=SAMPLE)
    code = codes(survey)["102 Main St"]
    client = Client()
    client.post(f"/surveys/{survey.slug}/", {"code": code})
    _answer_first_page(client, survey.slug, q_streets="good", q_rides_bus="no")
    # While answering, the code may resume the response (and only then is it linked).
    assert CodeInProgress.objects.count() == 1
    client.post(f"/surveys/{survey.slug}/page/2/", {"action": "next", "q_age": "18-34"})
    response = Response.objects.get(survey=survey)
    assert response.submitted
    assert response.sample_address_id is None
    assert not CodeInProgress.objects.exists()
    assert not Response.objects.filter(sample_address__isnull=False).exists()
    address = SampleAddress.objects.get(code=code)
    assert address.used_at is not None
    # Times are kept to the day: a code's use cannot be paired with a response by time.
    for when in (address.used_at, response.submitted_at, response.started_at):
        assert when is not None
        local = timezone.localtime(when)
        assert (local.hour, local.minute, local.second, local.microsecond) == (0, 0, 0, 0)
    used = Client().post(f"/surveys/{survey.slug}/", {"code": code})
    assert "already been used" in used.content.decode()
    assert response_rates(survey).overall.responded == 1


# ------------------------------------------------------------------------------------------
# Paper, rates, closing


def test_paper_entry_uses_the_code_and_keeps_blanks() -> None:
    survey = build()
    sample_import(survey=survey, data=SAMPLE)
    code = codes(survey)["9 Oak Ave"]
    client = staffer("calltaker")
    page = client.get(f"/staff/surveys/{survey.slug}/paper/")
    assert page.status_code == 200 and "Street maintenance" in page.content.decode()
    entered = client.post(
        f"/staff/surveys/{survey.slug}/paper/",
        {"code": code, "language": "es", "a-q_streets": "fair", "a-q_rides_bus": "no"},
    )
    assert entered.status_code == 302
    response = Response.objects.get(survey=survey)
    assert response.mode == ResponseMode.PAPER and response.language == "es"
    assert response.entered_by == staff("calltaker")
    assert SampleAddress.objects.get(code=code).used_at is not None
    assert not Answer.objects.filter(response=response, question__code="age").exists()
    again = client.post(f"/staff/surveys/{survey.slug}/paper/", {"code": code, "language": "en"})
    assert again.status_code == 400 and "already answered" in again.content.decode()
    bad = client.post(f"/staff/surveys/{survey.slug}/paper/", {"language": "en", "a-q_years": "x"})
    assert bad.status_code == 400 and "Enter a number" in bad.content.decode()
    paper_response_enter(survey=survey, raw={"streets": "good"})
    rates = response_rates(survey)
    assert rates.paper_without_code == 1 and rates.overall.responded == 1


def test_response_rates_by_wave_and_area() -> None:
    survey = build()
    sample_import(survey=survey, data=SAMPLE)
    mine = codes(survey)
    for address in ("101 Main St", "9 Oak Ave"):
        response = response_start(survey=survey, code=mine[address])
        first, second = survey.sections.all()
        response_save(response=response, section=first, raw={"streets": "good", "rides_bus": "no"})
        response_save(response=response, section=second, raw={"age": "18-34"})
        response_submit(response=response)
    response_start(survey=survey, code=mine["7 Oak Ave"])  # begun, not sent
    rates = response_rates(survey)
    assert (rates.overall.sampled, rates.overall.responded) == (4, 2)
    assert [(r.group, r.sampled, r.responded) for r in rates.by_wave] == [
        ("1", 3, 1),
        ("2", 1, 1),
    ]
    assert [(r.group, r.rate) for r in rates.by_area] == [("D1", 0.5), ("D2", 0.5)]
    assert rates.in_progress == 1
    page = staffer("analyst").get(f"/staff/surveys/{survey.slug}/tracking/").content.decode()
    assert "2 of 4 sampled addresses have answered (50%)" in page
    reminders = staffer("admin").get(f"/staff/surveys/{survey.slug}/reminders.pdf")
    reader = PdfReader(io.BytesIO(reminders.content))
    assert len(reader.pages) == 2  # 102 Main St and 7 Oak Ave
    text = "".join(p.extract_text() for p in reader.pages)
    assert code_display(mine["7 Oak Ave"]) in text and "not yet received" in text
    assert code_display(mine["101 Main St"]) not in text


def test_a_closed_survey_takes_no_more_answers() -> None:
    survey = build()
    sample_import(survey=survey, data=SAMPLE)
    client = Client()
    client.post(f"/surveys/{survey.slug}/open/")
    staffer("admin").post(f"/staff/surveys/{survey.slug}/close/")
    survey.refresh_from_db()
    assert survey.status == SurveyStatus.CLOSED
    assert "closed" in Client().get(f"/surveys/{survey.slug}/").content.decode()
    with pytest.raises(InvalidInput):
        response_start(survey=survey, code=codes(survey)["101 Main St"])
    assert client.get(f"/surveys/{survey.slug}/page/1/").status_code == 200  # the closed page
    draft = build(publish=False)
    assert Client().get(f"/surveys/{draft.slug}/").status_code == 404


# ------------------------------------------------------------------------------------------
# Who may do what


@pytest.mark.parametrize(
    ("username", "build_", "read", "paper"),
    [
        ("admin", True, True, True),
        ("pw.supervisor", True, True, True),
        ("analyst", False, True, False),
        ("calltaker", False, False, True),
        ("pw.crew", False, False, False),
    ],
)
def test_roles(username: str, build_: bool, read: bool, paper: bool) -> None:
    survey = build()
    sample_import(survey=survey, data=SAMPLE)
    client = staffer(username)
    slug = survey.slug

    def allowed(url: str) -> bool:
        status = client.get(url).status_code
        assert status in (200, 403), (url, status)
        return status == 200

    assert allowed("/staff/surveys/") is (build_ or read or paper)
    assert allowed("/staff/surveys/new/") is build_
    assert allowed(f"/staff/surveys/{slug}/sample/") is build_
    assert allowed(f"/staff/surveys/{slug}/mailing.pdf") is build_
    assert allowed(f"/staff/surveys/{slug}/reminders.pdf") is build_
    assert allowed(f"/staff/surveys/{slug}/tracking/") is read
    assert allowed(f"/staff/surveys/{slug}/preview/") is read
    assert allowed(f"/staff/surveys/{slug}/paper/") is paper
    before = survey.status
    client.post(f"/staff/surveys/{slug}/close/")
    survey.refresh_from_db()
    assert (survey.status != before) is build_


def test_residents_and_visitors_cannot_open_staff_survey_pages() -> None:
    survey = build()
    visitor = Client().get(f"/staff/surveys/{survey.slug}/tracking/")
    assert visitor.status_code == 302 and "/accounts/login/" in visitor["Location"]
