"""Every staff page of resident surveys, in English and Spanish, has no WCAG 2.1 A/AA
violation that axe-core can find: the list, the builder's forms, the preview, the sample,
tracking and paper entry pages, the results and their set-up (with a population typed in
wrong), and the staff performance dashboard with its residents' ratings section. A
supervisor signs in through the real form."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.utils import timezone

from civicdesk.catalog.models import Service
from civicdesk.performance.rollups import rollups_rebuild
from civicdesk.surveys.models import QuestionService, Survey
from civicdesk.surveys.services import section_save, survey_save
from tests.browser.test_console_pages import Audit, sign_in, switch_language
from tests.conftest import make_request
from tests.test_survey_results import _fielded

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _open(page: Any, site: str, path: str) -> None:
    response = page.goto(site + path)
    assert response is not None and response.status == 200, (path, response and response.status)


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_staff_survey_page(page: Any, site: str, language: str) -> None:
    survey = _fielded()
    Survey.objects.filter(pk=survey.pk).update(
        published_at=timezone.now() - dt.timedelta(days=20), closed_at=None
    )
    pothole = Service.objects.get(service_code="pothole")
    QuestionService.objects.create(question=survey.questions.get(code="streets"), service=pothole)
    for _ in range(3):
        make_request("pothole")
    rollups_rebuild()
    # A draft, whose sections and questions can still be edited.
    draft = survey_save(title="Parks survey", intro="", translations={})
    section = section_save(survey=draft, title="Parks", translations={})
    base = f"/staff/surveys/{survey.slug}/"
    draft_base = f"/staff/surveys/{draft.slug}/"
    question = survey.questions.get(code="streets")

    audit = Audit(page, site, language)
    sign_in(page, site, "pw.supervisor")
    _open(page, site, "/staff/surveys/")
    if language != "en":
        switch_language(page, language)
    audit("list")
    for state, path in (
        ("new survey", "/staff/surveys/new/"),
        ("survey", base),
        ("draft survey", draft_base),
        ("edit survey", draft_base + "edit/"),
        ("new section", draft_base + "sections/new/"),
        ("section", f"{draft_base}sections/{section.pk}/"),
        ("new question", f"{draft_base}sections/{section.pk}/questions/new/"),
        ("question", f"{base}questions/{question.pk}/"),
        ("preview", base + "preview/"),
        ("sample", base + "sample/"),
        ("tracking", base + "tracking/"),
        ("paper entry", base + "paper/"),
        ("results", base + "results/"),
        ("results set-up", base + "results/setup/"),
    ):
        _open(page, site, path)
        audit(state)

    # A population typed in wrong: the error summary and the field's error.
    page.fill("#id_entry-target_1_1", "-5")
    page.click("form:has(input[name=action][value=entry]) button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".error-summary").first.is_visible()
    assert page.locator("#id_entry-target_1_1").get_attribute("aria-invalid") == "true"
    audit("results set-up with an error")

    _open(page, site, "/staff/performance/?period=last_30_days")
    assert page.locator("#ratings").is_visible()
    heading = {"en": "Residents' ratings", "es": "Valoraciones de los residentes"}[language]
    assert page.locator("#ratings-heading").inner_text() == heading
    audit("performance with residents' ratings")

    assert audit.failures == {}
    assert len(audit.checked) == 17
