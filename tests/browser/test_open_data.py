"""The open data page in a browser: no WCAG 2.1 A/AA violation axe-core can find, in English
and Spanish, with and without a filter error; the form downloads the chosen requests."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import axe_violations, set_language
from tests.conftest import EAST_SIDE, make_request

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("language", ["en", "es"])
@pytest.mark.parametrize("with_errors", [False, True])
def test_open_data_page_has_no_wcag_violations(
    page: Any, site: str, language: str, with_errors: bool
) -> None:
    set_language(page, site, language)
    if with_errors:
        page.goto(site + "/open-data/requests.csv?from=yesterday&service=nope")
        # The error summary takes focus, so a screen reader announces it.
        assert page.evaluate("document.activeElement.id") == "error-summary"
    else:
        page.goto(site + "/open-data/")
    assert page.locator("html").get_attribute("lang") == language
    assert axe_violations(page) == []


def test_form_downloads_the_chosen_requests(page: Any, site: str, tmp_path: Path) -> None:
    pothole = make_request("pothole")
    make_request("graffiti", at=EAST_SIDE)
    page.goto(site + "/")
    page.click("footer a[href='/open-data/']")
    page.select_option("#od-service", "pothole")
    with page.expect_download() as download:
        page.click("button[formaction='/open-data/requests.csv']")
    saved = tmp_path / "export.csv"
    download.value.save_as(saved)
    assert download.value.suggested_filename == "service-requests.csv"
    rows = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8"), newline="")))
    assert [row["service_request_id"] for row in rows] == [pothole.public_id]
