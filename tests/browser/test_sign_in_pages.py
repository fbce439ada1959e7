"""The sign-in pages in a real browser: every step of a staff sign-in checked with axe in
English and Spanish, and a security key (WebAuthn) added and used with Chromium's virtual
authenticator, as a member of staff with a hardware key or a phone passkey would."""

from __future__ import annotations

from typing import Any

import pytest

from civicdesk.accounts.mfa import DEMO_TOTP_SECRET, totp_code
from civicdesk.ops.demo import DEMO_PASSWORD
from tests.browser.test_console_pages import Audit, sign_in, sign_out, switch_language

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("language", ["en", "es"])
def test_every_sign_in_page_meets_wcag(page: Any, site: str, language: str) -> None:
    audit = Audit(page, site, language)
    page.goto(site + "/accounts/login/")
    switch_language(page, language)
    audit("sign-in")
    page.fill("#id_login", "pw.crew")
    page.fill("#id_password", "not-the-password")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    assert page.locator(".error-summary").is_visible()
    audit("sign-in refused")
    page.fill("#id_login", "pw.crew")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/accounts/2fa/authenticate/")
    audit("second step")
    page.fill("#id_code", "000000")
    page.click("main form button[type=submit]")
    page.wait_for_load_state()
    audit("second step refused")
    page.fill("#id_code", totp_code(DEMO_TOTP_SECRET))
    page.click("main form button[type=submit]")
    page.wait_for_url(site + "/staff/")
    for path, state in (
        ("/accounts/2fa/", "second steps"),
        ("/accounts/sessions/", "signed-in devices"),
        ("/accounts/password/change/", "password"),
    ):
        page.goto(site + path)
        assert page.locator("main h1").count() == 1, path
        audit(state)
    sign_out(page)
    assert not audit.failures, audit.failures


def _virtual_key(page: Any) -> Any:
    """A FIDO2 key with a passkey store and a fingerprint that always matches."""
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "usb",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp


def test_a_security_key_is_added_and_then_signs_in(page: Any, site: str) -> None:
    # WebAuthn needs a domain name, not an address: the site is opened as localhost.
    site = site.replace("127.0.0.1", "localhost")
    _virtual_key(page)
    sign_in(page, site, "pw.supervisor")
    page.goto(site + "/accounts/2fa/webauthn/add/")
    if "/reauthenticate/" in page.url:  # adding a key asks for the password again
        page.fill("#id_password", DEMO_PASSWORD)
        page.click("main form button[type=submit]")
        page.wait_for_url("**/webauthn/add/**")
    page.fill("#id_name", "Office key")
    if page.locator("#id_passwordless").count():
        page.check("#id_passwordless")  # a passkey: it can sign in on its own
    with page.expect_navigation():
        page.click("#mfa_webauthn_add")
    page.goto(site + "/accounts/2fa/webauthn/")
    assert "Office key" in page.content()
    sign_out(page)

    # The password, then the key instead of the authenticator app.
    page.goto(site + "/accounts/login/")
    page.fill("#id_login", "pw.supervisor")
    page.fill("#id_password", DEMO_PASSWORD)
    page.click("main form button[type=submit]")
    page.wait_for_url("**/accounts/2fa/authenticate/")
    with page.expect_navigation():
        page.click("#mfa_webauthn_authenticate")
    page.wait_for_url(site + "/staff/")
    sign_out(page)

    # And the passkey alone, from the sign-in page.
    page.goto(site + "/accounts/login/")
    with page.expect_navigation():
        page.click("#passkey_login")
    page.wait_for_url(site + "/staff/")
