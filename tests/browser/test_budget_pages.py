"""The budget and forecast pages of the staff console, in English and Spanish, have no WCAG
2.1 A/AA violation axe-core can find, in every state they can be in: with costs and a
forecast, with a bad period, the unit-cost form with errors, a rejected costs file, saved."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from civicdesk.performance.rollups import rollups_rebuild
from civicdesk.servicerequests.models import ServiceRequest
from tests.browser.test_console_pages import Audit, sign_in, sign_out, switch_language
from tests.conftest import EAST_SIDE, make_request

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _history() -> None:
    """Fourteen months of potholes, so the page has costs and a seasonal forecast."""
    tz = timezone.get_default_timezone()
    month = timezone.localdate().replace(day=1)
    for _ in range(14):
        month = (month - dt.timedelta(days=1)).replace(day=1)
        for day in (3, 12):
            when = dt.datetime.combine(month.replace(day=day), dt.time(10), tzinfo=tz)
            request = make_request(at=EAST_SIDE, requested_at=when)
            ServiceRequest.objects.filter(pk=request.pk).update(requested_at=when)
    rollups_rebuild()


@pytest.mark.parametrize("language", ["en", "es"])
def test_budget_pages_have_no_wcag_violations(
    page: Any, site: str, language: str, tmp_path: Path
) -> None:
    _history()
    audit = Audit(page, site, language)
    page.goto(site + "/staff/login/")
    switch_language(page, language)

    # An analyst reads the page: costs, unit costs, forecast; no way to change costs.
    sign_in(page, site, "analyst")
    page.goto(site + "/staff/performance/budget/")
    assert page.locator("main h1").count() == 1
    assert page.locator("table").count() >= 6
    assert page.locator("a[href$='/budget/costs/']").count() == 0
    audit("budget page as analyst")
    page.locator("details summary").first.click()  # cost by district and service
    audit("budget page, district and service opened")
    page.fill("#period-start", "2026-10-31")
    page.fill("#period-end", "2026-10-01")
    page.click("form.filters button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".error-summary").is_visible()
    audit("budget page with a bad period")
    sign_out(page)

    # An administrator changes the unit costs: errors in the form, a bad file, then saved.
    sign_in(page, site, "admin")
    page.goto(site + "/staff/performance/budget/")
    page.click("a[href$='/budget/costs/']")
    page.wait_for_load_state()
    audit("unit costs form")
    page.fill("#id_department-PW-hourly_rate", "-5")
    page.fill("#id_service-pothole-labour_hours", "lots")
    page.click("form[action$='/budget/costs/'] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".error-summary li").count() == 2
    assert page.locator("#id_department-PW-hourly_rate").get_attribute("aria-invalid") == "true"
    audit("unit costs form with errors")

    bad = tmp_path / "costs.csv"
    bad.write_text("kind,code,hourly_rate\ndepartment,NOPE,5\n", encoding="utf-8")
    page.goto(site + "/staff/performance/budget/costs/")
    page.set_input_files("#upload-file", str(bad))
    page.click("form[action$='/upload/'] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".error-summary").is_visible()
    assert "NOPE" in page.locator(".error-summary").inner_text()
    audit("costs file rejected")

    page.goto(site + "/staff/performance/budget/costs/")
    page.fill("#id_department-PW-hourly_rate", "70")
    page.click("form[action$='/budget/costs/'] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".message-success").is_visible()
    audit("unit costs saved")

    assert not audit.failures, audit.failures
    assert len(audit.checked) == 7
