"""End to end in a real browser: a resident's report worked and closed by staff, seen back on
the portal in Spanish with the notifications its followers got; and a call taker taking a
call with the keyboard only."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from civicdesk.accounts.mfa import DEMO_TOTP_SECRET, totp_code
from civicdesk.notifications.models import DeliveryStatus, Notification
from civicdesk.ops.demo import DEMO_PASSWORD
from civicdesk.servicerequests.models import Channel, ServiceRequest
from civicdesk.servicerequests.statuses import Status
from tests.browser.conftest import _offline, axe_violations, set_language
from tests.browser.test_console_pages import sign_in
from tests.conftest import DOWNTOWN, run_jobs, staff

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

NOTE = "Filled with hot asphalt."


def _photo(tmp_path: Path) -> Path:
    path = tmp_path / "pothole.jpg"
    out = io.BytesIO()
    Image.new("RGB", (320, 240), (70, 70, 70)).save(out, format="JPEG")
    path.write_bytes(out.getvalue())
    return path


@pytest.fixture
def desk(browser: Any, site: str) -> Iterator[Any]:
    """A second browser (its own cookies): the staff member's."""
    context = browser.new_context(locale="en-US", timezone_id="America/Chicago")
    context.route("**/*", lambda route: _offline(route, site))
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


def _open_action(page: Any, action: str) -> Any:
    """The request page's form for ``action``, its <details> opened."""
    details = page.locator(f"details.action:has(form[action$='/{action}/'])")
    if details.get_attribute("open") is None:
        details.locator("summary").click()
    return details.locator(f"form[action$='/{action}/']").last


def test_pothole_reported_worked_closed_and_seen_in_spanish(
    page: Any, desk: Any, site: str, tmp_path: Path, settings: Any, outbox: list[Any]
) -> None:
    settings.MEDIA_ROOT = str(tmp_path / "media")

    # The resident reports a pothole, with a photo and their email.
    page.goto(site + "/services/pothole/")
    page.fill("#id_address", "210 N Main St")
    page.check("input[name=attribute_size][value=large]")
    page.check("input[name=attribute_in_traffic_lane][value=yes]")
    page.fill("#id_description", "Deep hole next to the bus stop")
    page.set_input_files("#id_photos", str(_photo(tmp_path)))
    page.fill("#id_email", "resident@example.net")
    page.click("form[enctype] button[type=submit]")
    page.wait_for_url("**/received/")
    public_id = page.locator(".request-id").inner_text()
    sr = ServiceRequest.objects.get(public_id=public_id)
    assert sr.media.count() == 1
    assert sr.reporter is not None and sr.reporter.email == "resident@example.net"

    # ... finds it from the tracking page and follows it with a second address.
    page.click("header nav a[href='/track/']")
    page.fill("#id_public_id", public_id)
    page.press("#id_public_id", "Enter")
    page.wait_for_url(f"**/requests/{public_id}/")
    page.fill("#id_email", "resident.work@example.net")
    page.click("button[value=follow]")
    page.wait_for_load_state()
    assert page.locator(".message-success").is_visible()

    # Staff, in their own browser: find it in the queue, acknowledge, assign, close.
    crew = staff("pw.crew")
    sign_in(desk, site, "pw.supervisor")
    assert desk.url == site + "/staff/"
    desk.fill("#filter-q", public_id)
    desk.press("#filter-q", "Enter")
    desk.wait_for_url(f"**/staff/?*q={public_id}*")
    rows = desk.locator("table.queue tbody th[scope=row]")
    rows.first.wait_for()
    assert rows.count() == 1
    desk.click(f"table.queue a:text-is('{public_id}')")
    desk.wait_for_url(f"**/staff/requests/{public_id}/")
    assert desk.locator(".photos img").evaluate("img => img.complete && img.naturalWidth > 0")

    desk.click("form[action$='/acknowledge/'] button[type=submit]")
    desk.wait_for_load_state()
    assert desk.locator(".message-success").inner_text() == "The request is acknowledged."

    form = _open_action(desk, "assign")
    form.locator("select[name=assign-assignee]").select_option(str(crew.pk))
    form.locator("button[type=submit]").click()
    desk.wait_for_load_state()
    assert desk.locator(".message-success").inner_text() == "The request is assigned."
    assert str(crew) in desk.locator(".facts").first.inner_text()

    form = _open_action(desk, "status")
    form.locator("select[name=status-to_status]").select_option("closed")
    form.locator("textarea[name=status-note]").fill(NOTE)
    assert form.locator("input[name=status-visibility][value=public]").is_checked()
    form.locator("button[type=submit]").click()
    desk.wait_for_load_state()
    assert desk.locator(".message-success").inner_text() == "The status is now Closed."

    sr.refresh_from_db()
    assert (sr.status, sr.assignee, sr.status_notes) == (Status.CLOSED, crew, NOTE)

    # The resident switches the portal to Spanish and sees the closure on the tracking page.
    set_language(page, site, "es")
    page.click("header nav a[href='/track/']")
    page.fill("#id_public_id", public_id)
    page.press("#id_public_id", "Enter")
    page.wait_for_url(f"**/requests/{public_id}/")
    assert page.locator("html").get_attribute("lang") == "es"
    facts = page.locator(".facts").inner_text()
    assert "Cerrada" in facts
    assert page.locator("img[alt^='Foto 1']").evaluate("img => img.naturalWidth > 0")
    assert "Última nota de la ciudad" in facts and NOTE in facts
    assert page.locator("h2:text-is('Lo que ha pasado')").is_visible()
    timeline = [t.strip() for t in page.locator(".timeline li").all_inner_texts()]
    labels = [line.splitlines()[1].strip() for line in timeline]
    assert labels == [
        "Solicitud recibida",
        "Foto agregada",
        "Estado: Recibida por el departamento",
        "Estado: Asignada",
        "Estado: Cerrada",
    ]
    assert timeline[-1].endswith(NOTE)
    assert axe_violations(page) == []

    # What the followers were sent, each in their language (both followed in English).
    run_jobs()
    sent = [
        (n.recipient, n.kind, n.language, n.subject)
        for n in Notification.objects.filter(request=sr).order_by("id")
    ]
    updates = [
        f"Request {public_id} is now: {status}" for status in ("Acknowledged", "Assigned", "Closed")
    ]
    assert sorted(sent) == sorted(
        [
            ("resident@example.net", "received", "en", f"We received your request {public_id}"),
            *[("resident@example.net", "status_change", "en", s) for s in updates],
            *[("resident.work@example.net", "status_change", "en", s) for s in updates],
        ]
    )
    assert set(Notification.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}
    closing = [m for m in outbox if m.subject == updates[-1]]
    assert len(closing) == 2 and all(NOTE in m.body for m in closing)


class Keyboard:
    """Moves focus with Tab only, checking at every step that focus moved to a new element,
    is never lost to the page body and is visibly drawn (:focus-visible with an outline)."""

    # The outline is drawn outside the element (outline-offset), over its parent's background:
    # it must contrast 3:1 with it (WCAG 2.1 1.4.11, non-text contrast).
    STATE = """(selector) => {
        const el = document.activeElement;
        const moved = el !== window.__lastFocus;
        window.__lastFocus = el;
        const rgb = (c) => (c.match(/[\\d.]+/g) || []).map(Number);
        const lum = (c) => {
            const [r, g, b] = rgb(c).slice(0, 3).map((v) => {
                v /= 255;
                return v <= 0.03928 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4);
            });
            return 0.2126 * r + 0.7152 * g + 0.0722 * b;
        };
        let behind = el.parentElement, background = 'rgb(255, 255, 255)';
        while (behind) {
            const c = getComputedStyle(behind).backgroundColor;
            if (rgb(c).length === 3 || rgb(c)[3] > 0) { background = c; break; }
            behind = behind.parentElement;
        }
        const style = getComputedStyle(el);
        const [hi, lo] = [lum(style.outlineColor), lum(background)].sort((a, b) => b - a);
        return {
            tag: el.tagName,
            label: el.name || el.id || (el.textContent || '').trim().slice(0, 40),
            moved,
            visible: el.matches(':focus-visible') && style.outlineStyle !== 'none'
                && parseFloat(style.outlineWidth) > 0,
            contrast: (hi + 0.05) / (lo + 0.05),
            colours: style.outlineColor + ' on ' + background,
            matches: el.matches(selector),
        };
    }"""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.path: list[str] = []

    def _press_tab(self, selector: str) -> dict[str, Any]:
        self.page.keyboard.press("Tab")
        state: dict[str, Any] = self.page.evaluate(self.STATE, selector)
        where = f"{state['tag']} {state['label']!r} after {self.path[-3:]}"
        assert state["tag"] != "BODY", f"focus lost to the body after {self.path[-3:]}"
        assert state["moved"], f"Tab did not move focus: {where}"
        assert state["visible"], f"focus not visible on {where}"
        contrast = f"focus outline {state['colours']} ({state['contrast']:.2f}:1) on {where}"
        assert state["contrast"] >= 3, contrast
        self.path.append(f"{state['tag']} {state['label']}")
        return state

    def tab(self, selector: str) -> None:
        """One Tab, which must land on ``selector`` (tab order equals visual order)."""
        state = self._press_tab(selector)
        assert state["matches"], f"expected {selector}, focus is on {self.path[-1]}"

    def tab_to(self, selector: str, limit: int = 30) -> None:
        """Tab until ``selector`` has focus (at once if it has it already)."""
        if self.focused(selector):
            return
        for _ in range(limit):
            if self._press_tab(selector)["matches"]:
                return
        raise AssertionError(f"{selector} not reached with Tab: {self.path}")

    def type(self, text: str) -> None:
        self.page.keyboard.type(text)

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)

    def focused(self, selector: str) -> bool:
        return bool(self.page.evaluate("(s) => document.activeElement.matches(s)", selector))


def test_call_taker_takes_a_call_with_the_keyboard_only(page: Any, site: str) -> None:
    keys = Keyboard(page)
    page.goto(site + "/staff/login/")
    page.wait_for_url("**/accounts/login/**")
    assert keys.focused("#id_login")  # the sign-in form starts there
    keys.tab_to("#id_login")
    keys.type("calltaker")
    keys.tab("#id_password")
    keys.type(DEMO_PASSWORD)
    keys.press("Enter")
    page.wait_for_url("**/accounts/2fa/authenticate/")
    assert keys.focused("#id_code")  # the second step starts on its one field
    keys.type(totp_code(DEMO_TOTP_SECRET))
    keys.press("Enter")
    page.wait_for_url(site + "/staff/")

    keys.tab_to("header nav a[href='/staff/intake/']")
    keys.press("Enter")
    page.wait_for_url(site + "/staff/intake/")
    keys.tab_to("#service-search")
    keys.type("pothole")
    keys.press("Enter")
    page.wait_for_url("**/staff/intake/?q=pothole")
    page.wait_for_function("document.activeElement.id === 'results-heading'")
    keys.tab(".service-results a")
    assert page.evaluate("document.activeElement.textContent") == "Pothole"
    keys.press("Enter")
    page.wait_for_url(site + "/staff/intake/pothole/")

    # The knowledge-base article for potholes is beside the form.
    article = page.locator("aside.knowledge h3", has_text="Potholes: what to ask")
    assert article.is_visible()
    form_box = page.locator(".intake-form").bounding_box()
    aside_box = page.locator("aside.knowledge").bounding_box()
    assert aside_box["x"] >= form_box["x"] + form_box["width"]

    # The address is asked first and has focus already; then the questions, the caller.
    page.wait_for_function("document.activeElement.name === 'address'")
    keys.type("210 N Main St")
    keys.tab("input[name=lat]")
    keys.type(str(DOWNTOWN[0]))
    keys.tab("input[name=long]")
    keys.type(str(DOWNTOWN[1]))
    keys.tab("input[name=attribute_size][value=small]")
    keys.press("ArrowDown")
    keys.press("ArrowDown")
    assert keys.focused("input[name=attribute_size][value=large]:checked")
    keys.tab("input[name=attribute_in_traffic_lane][value=yes]")
    keys.press("Space")
    assert keys.focused(":checked")
    keys.tab("input[name=attribute_depth_inches]")
    keys.type("4")
    keys.tab("textarea[name=description]")
    keys.type("Deep hole in the right lane, cars swerve around it.")
    keys.tab("select[name=priority]")
    keys.tab("input[name=name]")
    keys.type("Maria Lopez")
    keys.tab("input[name=phone]")
    keys.type("217-555-0142")
    keys.tab("input[name=email]")
    keys.tab("select[name=preferred_language]")
    keys.press("ArrowDown")  # English -> Spanish
    assert page.input_value("select[name=preferred_language]") == "es"
    keys.tab("input[name=sms_opt_in]")
    keys.press("Space")
    keys.tab(".intake-form button[type=submit]")
    keys.press("Enter")

    page.wait_for_url("**/staff/intake/received/**")
    public_id = page.locator(".public-id strong").inner_text()
    created = ServiceRequest.objects.select_related("reporter").get(public_id=public_id)
    assert created.channel == Channel.PHONE
    assert created.service.service_code == "pothole"
    assert created.attributes == {"size": "large", "in_traffic_lane": "yes", "depth_inches": 4}
    assert created.address == "210 N Main St"
    caller = created.reporter
    assert caller is not None
    assert (caller.name, caller.phone, caller.sms_opt_in) == ("Maria Lopez", "217-555-0142", True)
    assert caller.preferred_language == "es"
