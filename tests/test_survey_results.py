"""The results of a fielded survey: targets and benchmarks imported with their line errors,
the in-app responses weighted by the analysis engine exactly as ``survey analyze`` weights
the same answers written as CSV, open-link responses kept apart, benchmark labels at their
thresholds, the previous survey's change, the CSV, the council report PDF, who may see
what, and the 311 figures beside a tied question. Real database, real pages."""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone
from pypdf import PdfReader

from civicdesk.catalog.models import Service
from civicdesk.dashboards.presenters import show
from civicdesk.errors import InvalidInput
from civicdesk.performance.rollups import rollups_rebuild
from civicdesk.performance.selectors import Filters, districts, measures
from civicdesk.surveys.analysis import survey_analyze
from civicdesk.surveys.analysis.output import ESTIMATE_COLUMNS
from civicdesk.surveys.forms import TargetsForm
from civicdesk.surveys.models import (
    Answer,
    Question,
    QuestionService,
    Response,
    ResponseMode,
    SampleAddress,
    Survey,
)
from civicdesk.surveys.results import (
    CSV_COLUMNS,
    NON_PROBABILITY,
    benchmark_label,
    benchmarks_import,
    estimates_csv,
    layout,
    results_settings_save,
    survey_estimate,
    targets_import,
    targets_of,
    targets_save,
)
from civicdesk.surveys.services import (
    ChoiceInput,
    question_save,
    sample_import,
    section_save,
    survey_publish,
    survey_save,
)
from tests.conftest import make_request, sign_in, staff

pytestmark = pytest.mark.usefixtures("city")

RATINGS = ["excellent", "good", "fair", "poor", "dont_know"]
LABEL = {
    "excellent": "Excellent",
    "good": "Good",
    "fair": "Fair",
    "poor": "Poor",
    "dont_know": "Don't know",
}
TARGETS = "variable,category,population\nage,18-34,4000\nage,35plus,6000\nsex,f,5100\nsex,m,4900\n"
N = 48


def _build(title: str = "Resident survey 2026") -> Survey:
    survey = survey_save(title=title, intro="How is the city doing?", translations={})
    first = section_save(survey=survey, title="City services", translations={})
    question_save(section=first, code="streets", kind="rating", text="Street maintenance")
    question_save(section=first, code="parks", kind="rating", text="Parks")
    question_save(
        section=first,
        code="tenure",
        kind="single",
        text="Own or rent?",
        choices=[ChoiceInput("own", "Own", {}), ChoiceInput("rent", "Rent", {})],
    )
    question_save(
        section=first,
        code="routes",
        kind="multiple",
        text="Which routes?",
        choices=[ChoiceInput("r1", "Route 1", {}), ChoiceInput("r2", "Route 2", {})],
    )
    question_save(section=first, code="years", kind="number", text="Years in the city")
    second = section_save(survey=survey, title="About you", translations={})
    question_save(
        section=second,
        code="age",
        kind="single",
        text="Your age",
        choices=[ChoiceInput("18-34", "18 to 34", {}), ChoiceInput("35plus", "35 or over", {})],
        demographic_variable="age",
    )
    question_save(
        section=second,
        code="sex",
        kind="single",
        text="Sex",
        choices=[ChoiceInput("f", "Female", {}), ChoiceInput("m", "Male", {})],
        demographic_variable="sex",
    )
    return survey_publish(survey=survey)


def _answers(i: int, shift: int = 0) -> dict[str, Any]:
    answers: dict[str, Any] = {
        "streets": RATINGS[(i + shift) % 5],
        "parks": None if i % 11 == 0 else RATINGS[(i * 7 + shift) % 5],
        "tenure": "own" if i % 4 else "rent",
        "routes": ["r1", "r2"] if i % 5 == 0 else (["r1"] if i % 3 else None),
        "years": (i % 17) + 0.5 * (i % 2),
        "age": "18-34" if i % 3 == 0 else "35plus",
        "sex": "f" if i % 2 else "m",
    }
    return answers


def _respond(survey: Survey, mode: str, answers: dict[str, Any], address: Any = None) -> None:
    now = timezone.now()
    response = Response.objects.create(
        survey=survey, mode=mode, started_at=now, submitted_at=now, sample_address=address
    )
    questions = {q.code: q for q in Question.objects.filter(survey=survey)}
    for code, value in answers.items():
        if value is not None:
            Answer.objects.create(response=response, question=questions[code], value=value)
    if address is not None:
        SampleAddress.objects.filter(pk=address.pk).update(used_at=now)


def _areas() -> list[str]:
    codes = list(districts().values_list("code", flat=True).distinct())
    assert len(codes) >= 2
    return codes[:2]


def _fielded(shift: int = 0, title: str = "Resident survey 2026") -> Survey:
    survey = _build(title)
    areas = _areas()
    lines = ["address,area,wave"] + [f"{i} Main St,{areas[i % 2]},1" for i in range(N + 4)]
    sample_import(survey=survey, data=("\n".join(lines) + "\n").encode())
    addresses = list(SampleAddress.objects.filter(survey=survey).order_by("id"))
    for i in range(N):
        _respond(survey, ResponseMode.MAIL_CODE, _answers(i, shift), addresses[i])
    targets_import(survey=survey, data=TARGETS.encode())
    return survey


def _csv(survey: Survey, path: Path) -> None:
    """The same answers as ``survey analyze`` input, written out independently."""
    areas = dict(SampleAddress.objects.filter(survey=survey).values_list("pk", "area"))
    rows = []
    responses = Response.objects.filter(survey=survey, mode=ResponseMode.MAIL_CODE)
    for i, response in enumerate(responses.order_by("id")):
        a = _answers(i)
        rows.append(
            {
                "streets": LABEL[a["streets"]],
                "parks": LABEL[a["parks"]] if a["parks"] else "",
                "tenure:own": "1" if a["tenure"] == "own" else "0",
                "tenure:rent": "1" if a["tenure"] == "rent" else "0",
                "routes:r1": "" if a["routes"] is None else str(int("r1" in a["routes"])),
                "routes:r2": "" if a["routes"] is None else str(int("r2" in a["routes"])),
                "years": str(a["years"]),
                "age": a["age"],
                "sex": a["sex"],
                "area": areas[response.sample_address_id],
            }
        )
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


ITEMS = ["streets", "parks", "tenure:own", "tenure:rent", "routes:r1", "routes:r2", "years"]


def _close(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def test_in_app_estimates_equal_survey_analyze_on_the_same_answers(tmp_path: Path) -> None:
    survey = _fielded()
    _respond(survey, ResponseMode.OPEN_LINK, _answers(1))  # not in the weighted results
    (tmp_path / "targets.csv").write_text(TARGETS)
    _csv(survey, tmp_path / "responses.csv")
    results = survey_estimate(survey)
    assert not results.error
    assert results.sampled == N and results.others == 1
    ours = {(e.item.name, e.group_variable, e.group): e for e in results.estimates}
    for by in ("age", "area"):
        analysis = survey_analyze(
            responses_path=tmp_path / "responses.csv",
            targets_path=tmp_path / "targets.csv",
            items=ITEMS,
            out=tmp_path / f"out-{by}",
            by=by,
        )
        for row in analysis.estimates:
            mine = ours[(row.item, by if row.group else "", row.group)]
            assert mine.n == row.n
            for name in ("estimate", "se", "ci_low", "ci_high", "deff"):
                assert _close(getattr(mine, name), getattr(row, name)), (row, name)
        assert analysis.diagnostics["weights"]["effective_sample_size"] == pytest.approx(
            results.diagnostics["weights"]["effective_sample_size"], rel=1e-12
        )
    assert results.diagnostics["raking"]["converged"]
    assert {e.group_variable for e in results.estimates} == {"", "age", "sex", "area"}


def test_open_link_and_paper_without_code_are_apart_and_unweighted() -> None:
    survey = _fielded()
    for _i in range(4):
        _respond(survey, ResponseMode.OPEN_LINK, {"streets": "excellent", "age": "18-34"})
    _respond(survey, ResponseMode.PAPER, {"streets": "poor", "age": "35plus"})
    results = survey_estimate(survey)
    assert results.sampled == N and results.others == 5
    assert all(e.sample == NON_PROBABILITY for e in results.open_estimates)
    streets = next(
        e for e in results.open_estimates if e.item.name == "streets" and not e.group_variable
    )
    assert streets.estimate == pytest.approx(0.8) and streets.n == 5  # unweighted: 4 of 5
    assert all(e.benchmark is None for e in results.open_estimates)
    weighted = next(e for e in results.estimates if e.item.name == "streets" and not e.group)
    assert weighted.n == 48 - 9  # dont_know is not an answer to rate


def test_targets_import_names_bad_lines_and_keeps_the_old_targets() -> None:
    survey = _fielded()
    bad = (
        "variable,category,population\nage,18-34,4000\nincome,low,100\nsex,x,20\nage,35plus,6000\n"
    )
    with pytest.raises(InvalidInput) as caught:
        targets_import(survey=survey, data=bad.encode())
    problems = caught.value.field_errors["file"]
    assert any(p.startswith("Line 3:") and "income" in p for p in problems)
    assert any(p.startswith("Line 4:") and "x" in p for p in problems)
    with pytest.raises(InvalidInput) as caught:
        targets_import(survey=survey, data=b"variable,category,population\nage,18-34,many\n")
    assert "Line 2" in str(caught.value) and "not a number" in str(caught.value)
    with pytest.raises(InvalidInput):
        targets_import(survey=survey, data=b"variable,category\nage,18-34\n")
    assert survey.targets.count() == 4


def test_benchmark_labels_at_the_thresholds() -> None:
    assert benchmark_label(5.0, 5, 10) == "similar"
    assert benchmark_label(-5.0, 5, 10) == "similar"
    assert benchmark_label(5.01, 5, 10) == "higher"
    assert benchmark_label(10.0, 5, 10) == "higher"
    assert benchmark_label(10.01, 5, 10) == "much_higher"
    assert benchmark_label(-10.0, 5, 10) == "lower"
    assert benchmark_label(-10.01, 5, 10) == "much_lower"
    assert benchmark_label(3.0, 2, 4) == "higher"


def test_benchmarks_import_labels_and_errors() -> None:
    survey = _fielded()
    first = survey_estimate(survey)
    streets = next(e for e in first.estimates if e.item.name == "streets" and not e.group)
    shown = streets.shown
    data = (
        "item,group,benchmark,source\n"
        f"streets,,{shown - 5},National survey 2025\n"
        f"streets,age=18-34,{shown + 30},National survey 2025\n"
        "years,,20,\n"
    )
    assert benchmarks_import(survey=survey, data=data.encode()) == 3
    results = survey_estimate(survey)
    overall = next(e for e in results.estimates if e.item.name == "streets" and not e.group)
    assert overall.label == "similar" and overall.benchmark_source == "National survey 2025"
    assert overall.benchmark == pytest.approx(shown - 5)
    years = next(e for e in results.estimates if e.item.name == "years" and not e.group)
    assert years.label == "much_lower"  # a mean of about 8 years against 20
    results_settings_save(survey=survey, similar_points=2, much_points=4, previous=None)
    overall = next(
        e for e in survey_estimate(survey).estimates if e.item.name == "streets" and not e.group
    )
    assert overall.label == "much_higher"
    bad = "item,group,benchmark,source\nnope,,50,x\nstreets,zone=9,50,x\nparks,,lots,x\n"
    with pytest.raises(InvalidInput) as caught:
        benchmarks_import(survey=survey, data=bad.encode())
    problems = caught.value.field_errors["file"]
    assert [p.split(":")[0] for p in problems] == ["Line 2", "Line 3", "Line 4"]
    assert survey.benchmarks.count() == 3


def test_previous_survey_change_by_question_code() -> None:
    before = _fielded(shift=1, title="Resident survey 2025")
    now = _fielded(title="Resident survey 2026")
    results_settings_save(survey=now, similar_points=5, much_points=10, previous=before)
    old = next(e for e in survey_estimate(before).estimates if e.item.name == "streets")
    new = next(e for e in survey_estimate(now).estimates if e.item.name == "streets")
    assert new.previous == pytest.approx(old.shown)
    assert new.change == pytest.approx(new.shown - old.shown)
    assert new.change_significant == (
        abs(new.estimate - old.estimate) > 1.959963984540054 * math.hypot(new.se, old.se)
    )


def test_csv_columns_and_page(tmp_path: Path) -> None:
    survey = _fielded()
    _respond(survey, ResponseMode.OPEN_LINK, _answers(2))
    text = estimates_csv(survey_estimate(survey))
    rows = list(csv.DictReader(io.StringIO(text)))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert CSV_COLUMNS[:8] == ESTIMATE_COLUMNS  # survey analyze's estimates.csv first
    assert {r["sample"] for r in rows} == {"probability", "non_probability"}
    streets = next(r for r in rows if r["item"] == "streets" and r["group"] == "")
    assert streets["question_text"] == "Street maintenance" and streets["kind"] == "rating"
    client = sign_in(Client(), staff("analyst"))
    page = client.get(f"/staff/surveys/{survey.slug}/results/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<caption>" in html and 'scope="row"' in html and "points" in html
    assert "Effective sample size" in html
    download = client.get(f"/staff/surveys/{survey.slug}/results.csv")
    assert download.status_code == 200 and download.content.decode() == text


def test_council_report_pdf_and_command(tmp_path: Path) -> None:
    survey = _fielded()
    client = sign_in(Client(), staff("admin"))
    response = client.get(f"/staff/surveys/{survey.slug}/results.pdf")
    assert response.status_code == 200 and response["Content-Type"] == "application/pdf"
    reader = PdfReader(io.BytesIO(response.content))
    text = "\n".join(page.extract_text() for page in reader.pages)
    assert len(reader.pages) >= 2
    for expected in (
        "Resident survey 2026: results",
        "Method",
        "response rate",
        "margin of error",
        "Percent positive",
        "Street maintenance",
        "By age",
        "By area",
    ):
        assert expected in text, expected
    call_command("survey", "report", survey.slug, "--out", str(tmp_path / "out"))
    assert (tmp_path / "out" / f"{survey.slug}-results.pdf").read_bytes()[:4] == b"%PDF"
    written = (tmp_path / "out" / f"{survey.slug}-estimates.csv").read_text()
    assert written.splitlines()[0] == ",".join(CSV_COLUMNS)


def test_who_may_see_and_set_up_results() -> None:
    survey = _fielded()
    for username, allowed in (
        ("analyst", True),
        ("pw.supervisor", True),
        ("admin", True),
        ("calltaker", False),
        ("pw.crew", False),
    ):
        client = sign_in(Client(), staff(username))
        for url in ("results/", "results.csv", "results.pdf"):
            status = client.get(f"/staff/surveys/{survey.slug}/{url}").status_code
            assert (status == 200) == allowed, (username, url, status)
        # Setting targets and benchmarks changes the results: builders only.
        status = client.get(f"/staff/surveys/{survey.slug}/results/setup/").status_code
        assert (status == 200) == (allowed and username != "analyst"), (username, status)
    assert Client().get(f"/staff/surveys/{survey.slug}/results/").status_code == 302


def test_setup_page_imports_targets_and_names_bad_lines() -> None:
    survey = _fielded()
    client = sign_in(Client(), staff("pw.supervisor"))
    upload = io.BytesIO(b"variable,category,population\nage,18-34,10\nage,old,5\n")
    upload.name = "targets.csv"
    page = client.post(
        f"/staff/surveys/{survey.slug}/results/setup/",
        {"action": "targets", "targets-file": upload},
    )
    assert page.status_code == 400 and "Line 3" in page.content.decode()
    upload = io.BytesIO(TARGETS.encode())
    upload.name = "targets.csv"
    page = client.post(
        f"/staff/surveys/{survey.slug}/results/setup/",
        {"action": "targets", "targets-file": upload},
    )
    assert page.status_code == 302


def test_311_figures_beside_a_tied_question() -> None:
    survey = _fielded()
    for _ in range(3):
        make_request("pothole")
    rollups_rebuild()
    start = timezone.localdate() - dt.timedelta(days=30)
    Survey.objects.filter(pk=survey.pk).update(
        published_at=timezone.make_aware(dt.datetime.combine(start, dt.time(9))), closed_at=None
    )
    pothole = Service.objects.get(service_code="pothole")
    QuestionService.objects.create(question=survey.questions.get(code="streets"), service=pothole)
    expected = measures(Filters(start=start, end=timezone.localdate(), service_ids=(pothole.pk,)))
    assert expected.received >= 3
    client = sign_in(Client(), staff("analyst"))
    html = client.get(f"/staff/surveys/{survey.slug}/results/").content.decode()
    rate = "-" if expected.on_time_rate is None else f"{expected.on_time_rate:.0%}"
    assert f"{rate} ({expected.received})" in html
    assert pothole.name in html
    text = "\n".join(
        page.extract_text()
        for page in PdfReader(
            io.BytesIO(client.get(f"/staff/surveys/{survey.slug}/results.pdf").content)
        ).pages
    )
    assert "311 service over the fielding period" in text and pothole.name in text


# --- targets entered by hand ------------------------------------------------------------------


def _entry(survey: Survey, values: dict[tuple[str, str], str]) -> dict[str, str]:
    """The set-up page's form fields for ``{(variable, category): typed}``."""
    form = TargetsForm(
        prefix="entry", demographics=layout(survey).demographics, current=targets_of(survey)
    )
    data = {"action": "entry"}
    for name, cell in form.cells.items():
        data[f"entry-{name}"] = values.get(cell, "")
    return data


ENTERED = {
    ("age", "18-34"): "40000",
    ("age", "35plus"): "60000",
    ("sex", "f"): "51000",
    ("sex", "m"): "49000.5",
}


def test_setup_page_shows_the_targets_in_a_labelled_table() -> None:
    survey = _fielded()
    client = sign_in(Client(), staff("pw.supervisor"))
    html = client.get(f"/staff/surveys/{survey.slug}/results/setup/").content.decode()
    assert "Population of each category of each demographic variable" in html
    assert 'scope="col"' in html and 'scope="row"' in html
    # Every category has a labelled input, filled with the current target.
    assert 'for="id_entry-target_0_0"' in html and 'name="entry-target_0_0"' in html
    assert 'value="4000"' in html and 'value="4900"' in html


def test_targets_entered_on_the_setup_page_are_saved() -> None:
    survey = _fielded()
    client = sign_in(Client(), staff("pw.supervisor"))
    page = client.post(f"/staff/surveys/{survey.slug}/results/setup/", _entry(survey, ENTERED))
    assert page.status_code == 302
    assert targets_of(survey) == {
        "age": {"18-34": 40000.0, "35plus": 60000.0},
        "sex": {"f": 51000.0, "m": 49000.5},
    }
    assert not survey_estimate(survey).error
    # A variable left entirely blank is not weighted by.
    only_age = {k: v for k, v in ENTERED.items() if k[0] == "age"}
    page = client.post(f"/staff/surveys/{survey.slug}/results/setup/", _entry(survey, only_age))
    assert page.status_code == 302
    assert set(targets_of(survey)) == {"age"}


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("-5", "The population of sex = m is -5; it must be greater than 0."),
        ("0", "The population of sex = m is 0; it must be greater than 0."),
        ("many", "The population of sex = m is many, not a number."),
        ("", "The population of sex = m is blank"),
    ],
)
def test_a_bad_target_is_named_and_nothing_is_saved(typed: str, expected: str) -> None:
    survey = _fielded()
    client = sign_in(Client(), staff("admin"))
    page = client.post(
        f"/staff/surveys/{survey.slug}/results/setup/",
        _entry(survey, {**ENTERED, ("sex", "m"): typed}),
    )
    assert page.status_code == 400
    html = page.content.decode()
    assert expected in html
    assert 'aria-invalid="true"' in html and 'href="#id_entry-target_1_1"' in html
    assert survey.targets.get(variable="sex", category="m").population == 4900  # unchanged
    assert survey.targets.count() == 4


def test_targets_whose_totals_disagree_are_refused() -> None:
    survey = _fielded()
    with pytest.raises(InvalidInput) as caught:
        targets_save(survey=survey, targets={**ENTERED, ("sex", "m"): "49200"})
    assert "age" in caught.value.field_errors["targets"][0]
    assert "sex" in caught.value.field_errors["targets"][0]
    # Within the import's tolerance (0.1%) they are accepted, as in a file.
    assert targets_save(survey=survey, targets={**ENTERED, ("sex", "m"): "49050"}) == 4
    client = sign_in(Client(), staff("pw.supervisor"))
    page = client.post(
        f"/staff/surveys/{survey.slug}/results/setup/",
        _entry(survey, {**ENTERED, ("sex", "m"): "30000"}),
    )
    assert page.status_code == 400
    assert "every variable must describe the same population" in page.content.decode()
    assert survey.targets.get(variable="sex", category="m").population == 49050


def test_targets_save_refuses_an_unknown_variable_or_category() -> None:
    survey = _fielded()
    with pytest.raises(InvalidInput) as caught:
        targets_save(survey=survey, targets={("income", "low"): "5", ("age", "old"): "5"})
    assert len(caught.value.field_errors["targets"]) == 2
    assert survey.targets.count() == 4


def test_an_analyst_cannot_enter_targets() -> None:
    survey = _fielded()
    client = sign_in(Client(), staff("analyst"))
    page = client.post(f"/staff/surveys/{survey.slug}/results/setup/", _entry(survey, ENTERED))
    assert page.status_code == 403
    assert survey.targets.get(variable="age", category="18-34").population == 4000


# --- residents' ratings on the staff performance dashboard ----------------------------------


def _ratings_section(html: str) -> str:
    found = re.search(r'<section id="ratings".*?</section>', html, re.S)
    assert found is not None
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found[0]))


def test_residents_ratings_beside_the_311_figures_on_the_staff_dashboard() -> None:
    survey = _fielded()
    for _ in range(3):
        make_request("pothole")
    rollups_rebuild()
    start = timezone.localdate() - dt.timedelta(days=20)
    Survey.objects.filter(pk=survey.pk).update(
        published_at=timezone.make_aware(dt.datetime.combine(start, dt.time(9))), closed_at=None
    )
    client = sign_in(Client(), staff("pw.supervisor"))
    page = client.get("/staff/performance/?period=last_30_days")
    assert page.status_code == 200
    assert 'id="ratings"' not in page.content.decode()  # nothing tied yet

    pothole = Service.objects.get(service_code="pothole")
    QuestionService.objects.create(question=survey.questions.get(code="streets"), service=pothole)
    page = client.get("/staff/performance/?period=last_30_days")
    html = page.content.decode()
    assert 'href="#ratings"' in html
    text = _ratings_section(html)
    streets = next(
        e for e in survey_estimate(survey).estimates if e.item.name == "streets" and not e.group
    )
    first = timezone.localdate() - dt.timedelta(days=29)
    figures = measures(Filters(start=first, end=timezone.localdate(), service_ids=(pothole.pk,)))
    assert figures.received >= 3
    assert "Street maintenance" in text and pothole.name in text
    assert f"{streets.estimate_text} {streets.margin_text}" in text
    assert str(show("on_time_rate", figures.on_time_rate).text or "") in text
    assert f" {figures.received} " in text
    assert "Parks" not in text  # not tied
    assert "Percent positive in" not in text  # no district chosen

    # Filtered by a council district that is one of the survey's areas: its figure too.
    area = _areas()[0]
    by_area = next(
        e
        for e in survey_estimate(survey).estimates
        if e.item.name == "streets" and e.group_variable == "area" and e.group == area
    )
    text = _ratings_section(
        client.get(f"/staff/performance/?period=last_30_days&district={area}").content.decode()
    )
    assert f"Percent positive in {area}" in text
    assert f"{by_area.estimate_text} {by_area.margin_text}" in text

    # Not for a period the survey was not fielded in, nor on the public page, nor for
    # staff who have no part in surveys.
    long_ago = "period=custom&start=2020-01-01&end=2020-12-31"
    assert 'id="ratings"' not in client.get(f"/staff/performance/?{long_ago}").content.decode()
    assert 'id="ratings"' not in client.get("/performance/?period=last_30_days").content.decode()
    crew = sign_in(Client(), staff("pw.crew"))
    assert (
        'id="ratings"' not in crew.get("/staff/performance/?period=last_30_days").content.decode()
    )
