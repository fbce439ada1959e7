"""A resident answers a mailed survey on a phone, in English and in Spanish: code entry
(refused, then accepted), each page with an error and without, the skip rule shown and
hidden by the static script, the thank-you page; axe-core finds no WCAG 2.1 A/AA violation
on any of them."""

from __future__ import annotations

from typing import Any

import pytest

from civicdesk.surveys.models import Answer, Response, SampleAddress
from civicdesk.surveys.services import code_display, sample_import
from tests.browser.test_console_pages import Audit, switch_language
from tests.test_survey_fielding import SAMPLE, build

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PHONE = {"width": 375, "height": 740}


@pytest.mark.parametrize("language", ["en", "es"])
def test_answering_a_survey_on_a_phone(page: Any, site: str, language: str) -> None:
    survey = build()
    sample_import(survey=survey, data=SAMPLE)
    code = SampleAddress.objects.get(survey=survey, address="7 Oak Ave").code
    page.set_viewport_size(PHONE)
    audit = Audit(page, site, language)
    start = f"{site}/surveys/{survey.slug}/"
    page.goto(start)
    if language != "en":
        switch_language(page, language)
    assert page.locator("h1").inner_text() == survey.localized("title", language)
    audit("code entry")

    page.fill("#id_code", "AAAA-AAAA")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".error-summary").is_visible()
    assert page.locator("#id_code").get_attribute("aria-invalid") == "true"
    audit("code refused")

    page.fill("#id_code", code_display(code).lower())
    page.click("main form button[type=submit]")
    page.wait_for_url("**/page/1/")
    # The follow-up about the bus is hidden until the resident says they ride it.
    follow_up = page.locator("[data-show-if='q_rides_bus']")
    assert follow_up.is_hidden()
    audit("page 1")
    page.click("main form button[value=next]")
    page.wait_for_load_state()
    assert page.locator(".error-summary li").count() == 2
    audit("page 1 with errors")

    page.check("#id_q_streets_1")  # good
    page.check("#id_q_rides_bus_0")  # yes
    assert follow_up.is_visible()
    page.check("#id_q_bus_rating_2")  # fair
    audit("page 1 with the follow-up shown")
    page.click("main form button[value=next]")
    page.wait_for_url("**/page/2/")
    assert page.locator("#id_q_routes_0").is_visible()
    audit("page 2")
    page.check("#id_q_routes_1")
    page.check("#id_q_age_1")
    page.fill("#id_q_years", "12")
    page.click("main form button[value=next]")
    page.wait_for_url("**/thanks/")
    audit("thank you")

    # No horizontal scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    response = Response.objects.get(survey=survey)
    assert response.submitted and response.language == language
    answers = dict(Answer.objects.filter(response=response).values_list("question__code", "value"))
    assert answers == {
        "streets": "good",
        "rides_bus": "yes",
        "bus_rating": "fair",
        "routes": ["r2"],
        "age": "35plus",
        "years": 12,
    }
    assert not audit.failures, audit.failures
    assert len(audit.checked) == 7
