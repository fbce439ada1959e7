"""The public performance page and the staff dashboard in a real browser: no WCAG 2.1 A/AA
violation axe-core can find, in English and in Spanish; every chart drawn, with its table;
the district map drawn; a staff table sorted by a click."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from civicdesk.performance.rollups import rollups_rebuild
from civicdesk.servicerequests.models import Channel
from tests.browser.conftest import axe_violations, set_language
from tests.browser.test_console_pages import sign_in
from tests.conftest import EAST_SIDE
from tests.test_measures import at, history

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

DAY = dt.date(2026, 10, 14)
QUERY = "?period=custom&start=2026-06-01&end=2026-10-31&grain=month"


def _requests() -> None:
    due = at(DAY + dt.timedelta(days=2), 17)
    for month in (6, 7, 8, 9, 10):
        day = DAY.replace(month=month)
        history(received=at(day, 9), closed=at(day, 15), due=due, first_action=at(day, 10))
        history(received=at(day, 10), closed=at(day + dt.timedelta(days=6), 10), due=due)
        history("graffiti", received=at(day, 11), due=due, channel=Channel.PHONE, at=EAST_SIDE)
    rollups_rebuild()


def _check_drawn(page: Any) -> None:
    page.wait_for_selector("canvas[data-chart]")
    charts = page.locator("canvas[data-chart]")
    assert charts.count() == 7  # five trends, the backlog, the channel shares
    drawn = page.evaluate(
        "() => Array.from(document.querySelectorAll('canvas[data-chart]'))"
        ".every(c => window.Chart.getChart(c) !== undefined && c.width > 0)"
    )
    assert drawn
    assert page.locator("details.chart-data table").count() == 7
    page.wait_for_selector(".district-map.leaflet-container path.district-area")
    assert page.locator(".district-map path.district-area").count() >= 6
    assert page.locator(".map-legend li").count() == 5


def test_public_performance_page_is_accessible_and_drawn(page: Any, site: str) -> None:
    _requests()
    page.goto(site + "/performance/" + QUERY)
    _check_drawn(page)
    page.click("details.chart-data summary >> nth=0")
    assert page.locator("details.chart-data >> nth=0").get_attribute("open") is not None
    assert axe_violations(page) == []
    set_language(page, site, "es")
    page.goto(site + "/performance/" + QUERY)
    assert page.locator("h1").inner_text() == "Cómo vamos"
    _check_drawn(page)
    assert axe_violations(page) == []


def test_public_page_with_bad_filters_is_accessible(page: Any, site: str) -> None:
    page.goto(site + "/performance/?period=custom&start=2026-10-31&end=2026-10-01")
    assert page.locator(".error-summary").is_visible()
    assert axe_violations(page) == []


def test_staff_dashboard_is_accessible_drawn_and_sortable(page: Any, site: str) -> None:
    _requests()
    sign_in(page, site, "analyst")
    page.goto(site + "/staff/performance/" + QUERY)
    _check_drawn(page)
    assert axe_violations(page) == []
    # Sort the services by on-time rate: the heading says so, the rows follow.
    table = page.locator("#breakdown-service")
    heading = table.locator("thead th", has_text="On-time rate")
    heading.locator("button").click()
    assert heading.get_attribute("aria-sort") == "descending"
    first = table.locator("tbody tr >> nth=0 >> th").inner_text()
    assert first == "Pothole"  # 50% on time, graffiti none yet
    heading.locator("button").click()
    assert heading.get_attribute("aria-sort") == "ascending"
    set_language(page, site, "es")
    page.goto(site + "/staff/performance/" + QUERY)
    assert page.locator("h1").inner_text() == "Desempeño"
    _check_drawn(page)
    assert axe_violations(page) == []
