"""Every page of the resident portal, in English and Spanish, has no WCAG 2.1 A/AA violation
that axe-core can find."""

from __future__ import annotations

from typing import Any

import pytest

from civicdesk.servicerequests.services import ContactInput, request_note_add
from tests.browser.conftest import axe_violations, set_language
from tests.conftest import make_request

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

PORTAL_PAGES = [
    "/",
    "/?q=pothole",
    "/?q=zzzz",
    "/services/pothole/",
    "/services/missed-pickup/",
    "/services/gas-odor/",
    "/requests/",
    "/requests/?status=open&district=1",
    "/track/",
    "/track/?public_id=nope",
    "/staff/login/",
]


@pytest.mark.parametrize("language", ["en", "es"])
def test_portal_pages_have_no_wcag_violations(page: Any, site: str, language: str) -> None:
    request = make_request(email="resident@example.net")
    request_note_add(request=request, note="Crew scheduled for Tuesday.", public=True)
    make_request("graffiti", contact=ContactInput(email="g@example.net"))
    set_language(page, site, language)
    failures = {}
    for path in [*PORTAL_PAGES, f"/requests/{request.public_id}/"]:
        page.goto(site + path)
        assert page.locator("html").get_attribute("lang") == language, path
        violations = axe_violations(page)
        if violations:
            failures[path] = violations
    assert failures == {}


@pytest.mark.parametrize("language", ["en", "es"])
def test_report_form_with_errors_has_no_wcag_violations(
    page: Any, site: str, language: str
) -> None:
    set_language(page, site, language)
    page.goto(site + "/services/pothole/")
    page.click("form[enctype] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".error-summary").is_visible()
    # The summary takes focus so a screen reader announces it, and links to each field.
    assert page.evaluate("document.activeElement.id") == "error-summary"
    assert axe_violations(page) == []
