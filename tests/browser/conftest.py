"""Browser tests: Debian's chromium driven by Playwright against pytest-django's live server,
with axe-core (from npm, see package.json) injected to check WCAG 2.1 A and AA rules.

Run `make browser-deps` once (make test does it). No browser is ever downloaded: Playwright
is pointed at /usr/bin/chromium, and every request that leaves the live server (map tiles)
is answered locally so the tests never touch the network.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

# Playwright's sync API runs an event loop in this thread; the live server and the test's
# own queries are plain synchronous Django code, which is safe here.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
AXE = Path(__file__).resolve().parent / "node_modules" / "axe-core" / "axe.min.js"
WCAG_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-default-apps",
]


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists() or not AXE.exists():
        pytest.fail("browser tests need Debian's chromium and axe-core: run `make browser-deps`")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def site(live_server: Any, city: None) -> str:
    return str(live_server.url)


def _offline(route: Any, site_url: str) -> None:
    if route.request.url.startswith(site_url):
        route.continue_()
    else:  # map tiles and anything else outside: an empty answer, never the network
        route.fulfill(status=204, body="")


@pytest.fixture
def page(browser: Any, site: str) -> Iterator[Any]:
    context = browser.new_context(locale="en-US", timezone_id="America/Chicago")
    context.route("**/*", lambda route: _offline(route, site))
    page = context.new_page()
    page.set_default_timeout(15_000)
    # Anything the Content-Security-Policy blocks is a page that breaks in production.
    blocked: list[str] = []
    page.on(
        "console",
        lambda message: (
            blocked.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield page
    context.close()
    assert not blocked, f"the Content-Security-Policy blocked: {blocked}"


def axe_violations(page: Any) -> list[dict[str, Any]]:
    """WCAG 2.1 A/AA violations axe-core finds in the page as it is now."""
    # Evaluated through the browser's debugging protocol, as a tool does, rather than added
    # as a <script>: the site's Content-Security-Policy rightly refuses inline scripts.
    page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
    result = page.evaluate(
        "async (tags) => await axe.run(document, {runOnly: {type: 'tag', values: tags}})",
        WCAG_TAGS,
    )
    return [
        {
            "id": v["id"],
            "impact": v["impact"],
            "help": v["help"],
            "nodes": [n["target"] for n in v["nodes"]][:5],
        }
        for v in result["violations"]
    ]


def set_language(page: Any, site: str, code: str) -> None:
    """Switch the interface language the way a resident does: the switch on every page."""
    page.goto(site + "/")
    page.select_option("#language-select", code)
    page.click(".language-switch button")
    page.wait_for_load_state()
