"""Every page of the staff console, in English and Spanish, has no WCAG 2.1 A/AA violation
that axe-core can find. Staff sign in through the real sign-in form, as the roles that see
each page; every state a page can be in (errors, messages, read-only) is checked too."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from civicdesk.accounts.mfa import DEMO_TOTP_SECRET, totp_code
from civicdesk.ops.demo import DEMO_PASSWORD
from civicdesk.servicerequests.models import ServiceRequest
from civicdesk.servicerequests.services import (
    request_acknowledge,
    request_media_attach,
    request_note_add,
)
from civicdesk.servicerequests.statuses import Status
from tests.browser.conftest import axe_violations
from tests.conftest import DOWNTOWN, make_request, staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ARTICLE = "potholes-what-to-ask"


def _jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (70, 70, 70)).save(out, format="JPEG")
    return out.getvalue()


def sign_in(page: Any, site: str, username: str, password: str = DEMO_PASSWORD) -> None:
    """Sign in through the console's form, as a person does."""
    page.goto(site + "/staff/login/")
    page.fill("#id_login", username)
    page.fill("#id_password", password)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/accounts/2fa/authenticate/")
    page.fill("#id_code", totp_code(DEMO_TOTP_SECRET))
    page.click("main form button[type=submit]")
    page.wait_for_load_state()


def switch_language(page: Any, code: str) -> None:
    """The language switch in the header: it comes back to the page it was used on."""
    before = page.url
    page.select_option("#language-select", code)
    page.click(".language-switch button[type=submit]")
    page.wait_for_load_state()
    assert page.url == before
    assert page.locator("html").get_attribute("lang") == code


def sign_out(page: Any) -> None:
    page.click(".sign-out button[type=submit]")
    page.wait_for_url("**/accounts/login/**")


class Audit:
    """Runs axe on the page as it is now and keeps the violations by state and URL."""

    def __init__(self, page: Any, site: str, language: str) -> None:
        self.page, self.site, self.language = page, site, language
        self.failures: dict[str, list[dict[str, Any]]] = {}
        self.checked: list[str] = []

    def __call__(self, state: str) -> None:
        path = self.page.url.removeprefix(self.site)
        key = f"{state}: {path}"
        assert self.page.locator("html").get_attribute("lang") == self.language, key
        violations = axe_violations(self.page)
        if violations:
            self.failures[key] = violations
        self.checked.append(key)


def _details(page: Any, action: str) -> Any:
    """The action form ``action`` on a request page, its <details> opened."""
    form = page.locator(f"form[action$='/{action}/']").last
    details = page.locator(f"details.action:has(form[action$='/{action}/'])")
    if details.count() and details.first.get_attribute("open") is None:
        details.first.locator("summary").click()
    return form


@pytest.mark.parametrize("language", ["en", "es"])
def test_console_pages_have_no_wcag_violations(
    page: Any, site: str, language: str, tmp_path: Path, settings: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")
    supervisor = staff("pw.supervisor")
    # A request with a photo, notes (public and internal) and a reporter to contact.
    worked = make_request(email="resident@example.net", description="Deep hole by the bus stop")
    request_media_attach(request=worked, data=_jpeg())
    request_acknowledge(request=worked, actor=supervisor)
    request_note_add(request=worked, note="Crew scheduled for Tuesday.", public=True)
    request_note_add(request=worked, note="Check the bus stop too.", public=False)
    fresh = make_request(at=DOWNTOWN, description="Another hole nearby")
    contested = make_request(description="Someone else will change this one")

    audit = Audit(page, site, language)

    # Sign-in: the form (where the language is switched), then a failed attempt.
    page.goto(site + "/staff/login/")
    switch_language(page, language)
    audit("sign-in")
    page.fill("#id_login", "pw.supervisor")
    page.fill("#id_password", "not-the-password")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".error-summary").is_visible()
    assert page.evaluate("document.activeElement.classList.contains('error-summary')")
    audit("sign-in failed")

    # Queue as a supervisor: plain, filtered, after a bulk action (one done, one refused).
    sign_in(page, site, "pw.supervisor")
    assert page.url == site + "/staff/"
    assert page.locator(f"table.queue a:text-is('{worked.public_id}')").count() == 1
    audit("queue")
    page.goto(site + "/staff/?q=hole&service=pothole&status=all&district=1&sort=priority&mine=")
    assert page.locator("table.queue tbody th[scope=row]").count() >= 2
    audit("queue filtered")
    page.goto(site + "/staff/?sla=overdue&status=closed")
    audit("queue filtered, nothing matches")
    page.goto(site + "/staff/")
    page.check(f"#select-{worked.pk}")
    page.check(f"#select-{fresh.pk}")
    page.select_option("#id_bulk-action", "acknowledge")
    page.click("#bulk-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".message-success").count() == 1
    assert page.locator(".message-error").count() == 1
    audit("queue after bulk action")

    # A request: photo, timeline, reporter's contact details, then two refused actions.
    page.goto(f"{site}/staff/requests/{worked.public_id}/")
    assert page.locator("#reporter-heading").is_visible()
    assert page.locator(".photos img").evaluate("img => img.complete && img.naturalWidth > 0")
    assert page.locator(".timeline li").count() >= 4
    audit("request as supervisor")
    form = _details(page, "note")
    form.locator("button[type=submit]").click()  # an empty note: an error next to the field
    page.wait_for_load_state()
    assert page.locator(".error-summary").is_visible()
    audit("request, note form with an error")

    page.goto(f"{site}/staff/requests/{contested.public_id}/")
    request_note_add(request=contested, note="Changed meanwhile.", public=False)  # version++
    page.click("form[action$='/acknowledge/'] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".message-error").is_visible()
    assert ServiceRequest.objects.get(pk=contested.pk).status == Status.NEW
    audit("request after a refused action")

    # Phone intake: choosing the service (search, list, error), the form, its errors, done.
    page.goto(site + "/staff/intake/")
    audit("intake")
    page.fill("#service-search", "bache" if language == "es" else "pothole")
    page.press("#service-search", "Enter")
    page.wait_for_load_state()
    assert page.locator(".service-results a").count() >= 1
    audit("intake search results")
    page.goto(site + "/staff/intake/?service=")
    assert page.locator(".error-summary").is_visible()
    audit("intake, no service chosen")
    page.goto(site + "/staff/intake/pothole/")
    assert page.locator("aside.knowledge article").count() >= 1
    audit("intake form")
    page.click(".intake-form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".error-summary").is_visible()
    audit("intake form with errors")
    page.check("input[name=attribute_size][value=small]")
    page.check("input[name=attribute_in_traffic_lane][value=yes]")
    page.fill("input[name=lat]", str(DOWNTOWN[0]))
    page.fill("input[name=long]", str(DOWNTOWN[1]))
    page.fill("input[name=name]", "Caller")
    page.click(".intake-form button[type=submit]")
    page.wait_for_url("**/staff/intake/received/**")
    assert page.locator("table caption").count() == 1  # open potholes nearby
    audit("intake done")

    # Knowledge base: list, search, article, edit (with an error), new.
    page.goto(site + "/staff/kb/")
    audit("knowledge base")
    page.fill("input[name=q]", "recoleccion")
    page.click("form[role=search] button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".article-list a").count() >= 1
    audit("knowledge base search")
    page.goto(f"{site}/staff/kb/{ARTICLE}/")
    audit("article")
    page.goto(f"{site}/staff/kb/{ARTICLE}/edit/")
    audit("article edit")
    page.fill("textarea[name=body]", "")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".error-summary").is_visible()
    audit("article edit with an error")
    page.goto(site + "/staff/kb/new/")
    audit("article new")

    # An analyst: the request read-only without contact details, and a page not for them.
    sign_out(page)
    audit("signed out")
    sign_in(page, site, "analyst")
    page.goto(f"{site}/staff/requests/{worked.public_id}/")
    assert page.locator("#reporter-heading").count() == 0
    assert page.locator("form[action*='/staff/requests/']").count() == 0
    audit("request as analyst")
    response = page.goto(site + "/staff/intake/")
    assert response.status == 403
    audit("403")

    assert audit.failures == {}
    assert len(audit.checked) == 24
