"""Staff sign-in end to end, as a browser does it: the password, then the second step; setting
up a second step; lockout after repeated failures; when a session ends; signing out the other
devices; and what the audit log records of it all."""

from __future__ import annotations

import importlib
import re
import time
from typing import Any

import pytest
from allauth.mfa.models import Authenticator
from allauth.usersessions.models import UserSession
from axes.models import AccessAttempt
from django.conf import settings as django_settings
from django.contrib.auth.hashers import Argon2PasswordHasher
from django.core.cache import cache
from django.test import Client

from civicdesk.accounts.mfa import DEMO_TOTP_SECRET, totp_code, totp_enroll
from civicdesk.accounts.middleware import SEEN_KEY, STARTED_KEY
from civicdesk.accounts.models import Role, User
from civicdesk.audit.models import AuditEntry
from civicdesk.ops.demo import DEMO_PASSWORD
from tests.conftest import sign_in, staff

pytestmark = pytest.mark.usefixtures("city")

QUEUE = "/staff/"
LOGIN = "/accounts/login/"
SECOND_STEP = "/accounts/2fa/authenticate/"
OTHER_SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
HOME_ADDRESS = "203.0.113.7"  # the address every client in these tests comes from


def browser(address: str = HOME_ADDRESS) -> Client:
    return Client(REMOTE_ADDR=address)


def text(response: Any) -> str:
    return response.content.decode()


def password_step(client: Client, username: str, password: str = DEMO_PASSWORD) -> Any:
    return client.post(LOGIN, {"login": username, "password": password})


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def full_sign_in(client: Client, username: str, code: str | None = None) -> Any:
    first = password_step(client, username)
    assert first.status_code == 302 and first["Location"] == SECOND_STEP, first
    return client.post(SECOND_STEP, {"code": code or totp_code(DEMO_TOTP_SECRET)})


# --------------------------------------------------------------------------------------
# Password, then the second step


def test_staff_sign_in_with_password_then_authenticator_code() -> None:
    client = browser()
    first = password_step(client, "calltaker")
    assert first.status_code == 302 and first["Location"] == SECOND_STEP
    assert client.get(QUEUE).status_code == 302  # the password alone opens nothing
    page = client.get(SECOND_STEP)
    assert page.status_code == 200 and 'name="code"' in text(page)
    done = client.post(SECOND_STEP, {"code": totp_code(DEMO_TOTP_SECRET)})
    assert done.status_code == 302 and done["Location"] == QUEUE
    queue = client.get(QUEUE)
    assert queue.status_code == 200 and "Carmen" in text(queue)


def test_a_wrong_code_is_refused() -> None:
    client = browser()
    password_step(client, "calltaker")
    right = totp_code(DEMO_TOTP_SECRET)
    wrong = "000000" if right != "000000" else "111111"
    response = client.post(SECOND_STEP, {"code": wrong})
    assert response.status_code == 200 and "Incorrect code" in text(response)
    assert not signed_in(client)
    assert client.get(QUEUE).status_code == 302
    assert AuditEntry.objects.filter(action="auth.mfa_failed").exists()


def test_an_authenticator_code_cannot_be_used_twice() -> None:
    code = totp_code(DEMO_TOTP_SECRET)
    first = browser()
    assert full_sign_in(first, "calltaker", code)["Location"] == QUEUE
    # Someone who saw the code over the shoulder, with the password, within the same minute.
    second = browser("198.51.100.20")
    response = full_sign_in(second, "calltaker", code)
    assert response.status_code == 200 and "Incorrect code" in text(response)
    assert not signed_in(second)
    assert second.get(QUEUE).status_code == 302


def test_wrong_password_is_refused_with_a_message() -> None:
    client = browser()
    response = password_step(client, "calltaker", "not-the-password")
    assert response.status_code == 200 and 'role="alert"' in text(response)
    assert not signed_in(client)


# --------------------------------------------------------------------------------------
# Setting up a second step


# Real commits: allauth announces a new authenticator after the transaction commits, and
# only then does the session count it as the second step.
@pytest.mark.django_db(transaction=True)
def test_staff_without_a_second_step_are_sent_to_set_one_up() -> None:
    user = User.objects.create_user(
        username="new.taker",
        password="a long enough password 42",
        role=Role.CALL_TAKER,
        email="new.taker@prairiefalls.example",
    )
    assert not Authenticator.objects.filter(user=user).exists()
    client = browser()
    response = client.post(LOGIN, {"login": "new.taker", "password": "a long enough password 42"})
    assert response.status_code == 302
    sent = client.get(QUEUE)
    assert sent.status_code == 302 and sent["Location"] == "/accounts/2fa/"
    index = client.get("/accounts/2fa/", follow=True)
    assert "second step" in text(index)

    # Adding an authenticator asks for the password again first (allauth's reauthentication).
    asked = client.get("/accounts/2fa/totp/activate/")
    assert asked.status_code == 302 and asked["Location"].startswith("/accounts/reauthenticate/")
    again = client.post(asked["Location"], {"password": "a long enough password 42"})
    assert again.status_code == 302 and again["Location"] == "/accounts/2fa/totp/activate/"
    activate = client.get("/accounts/2fa/totp/activate/")
    assert activate.status_code == 200
    secret = client.session["mfa.totp.secret"]
    assert secret in text(activate)  # shown for typing into an app without a camera
    wrong = client.post("/accounts/2fa/totp/activate/", {"code": "12345"})
    assert wrong.status_code == 200 and not Authenticator.objects.filter(user=user).exists()
    done = client.post("/accounts/2fa/totp/activate/", {"code": totp_code(secret)})
    assert done.status_code == 302
    assert Authenticator.objects.filter(user=user, type=Authenticator.Type.TOTP).exists()
    assert client.get(QUEUE).status_code == 200
    assert AuditEntry.objects.filter(action="auth.mfa_added", target_id=str(user.pk)).exists()


def test_a_session_signed_in_without_the_second_step_is_ended() -> None:
    client = browser()
    client.force_login(staff("calltaker"))  # e.g. a session from before MFA was required
    response = client.get(QUEUE)
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert not signed_in(client)
    assert client.get(QUEUE).status_code == 302


# --------------------------------------------------------------------------------------
# Lockout


def _fail(client: Client, username: str, times: int) -> list[int]:
    return [password_step(client, username, "wrong-password").status_code for _ in range(times)]


def test_repeated_failures_lock_out_the_account_from_that_address(settings: Any) -> None:
    limit = settings.AXES_FAILURE_LIMIT
    client = browser()
    statuses = _fail(client, "pw.crew", limit)
    # Refused with a message, then the lockout page on the failure that reaches the limit.
    assert statuses == [200] * (limit - 1) + [429]
    # The next attempt, even with the right password, does not sign in; once allauth's own
    # short back-off has passed, the lockout page still answers.
    assert password_step(client, "pw.crew").status_code in (200, 429)
    assert not signed_in(client)
    cache.clear()
    locked = password_step(client, "pw.crew")
    assert locked.status_code == 429
    assert re.search(r"Try again in \d+ minutes", text(locked))
    assert int(locked["Retry-After"]) >= settings.CIVICDESK_LOCKOUT_MINUTES * 60
    assert not signed_in(client)
    entry = AuditEntry.objects.filter(action="auth.locked_out").last()
    assert entry is not None and entry.ip == HOME_ADDRESS
    # The same account from another address still signs in.
    assert password_step(browser("192.0.2.44"), "pw.crew")["Location"] == SECOND_STEP


def test_a_lockout_leaves_other_accounts_from_the_same_address_alone(settings: Any) -> None:
    client = browser()
    _fail(client, "pw.crew", settings.AXES_FAILURE_LIMIT)
    assert password_step(client, "pw.crew").status_code != 302
    # A colleague at the same office (same public address) signs in as usual.
    assert password_step(browser(), "pw.supervisor")["Location"] == SECOND_STEP


def test_the_cool_off_doubles_on_each_further_lockout(settings: Any) -> None:
    settings.CIVICDESK_LOCKOUT_MINUTES = 1
    limit = settings.AXES_FAILURE_LIMIT
    client = browser()
    waits = []
    locked = None
    for _ in range(3):
        statuses = _fail(client, "analyst", limit - 1)
        locked = password_step(client, "analyst", "wrong-password")
        assert statuses == [200] * (limit - 1) and locked.status_code == 429
        waits.append(int(locked["Retry-After"]))
        # The cool-off passes: axes forgets the attempts, allauth's own counters expire.
        AccessAttempt.objects.all().delete()
        cache.clear()
    assert waits == [60, 120, 240]
    assert locked is not None and "Try again in 4 minutes" in text(locked)
    assert AuditEntry.objects.filter(action="auth.locked_out").count() == 3
    # After the last cool-off the right password works again.
    assert password_step(client, "analyst")["Location"] == SECOND_STEP


# --------------------------------------------------------------------------------------
# When a session ends


def test_a_session_ends_after_the_idle_time(settings: Any) -> None:
    client = sign_in(browser(), staff("calltaker"))
    assert client.get(QUEUE).status_code == 200
    session = client.session
    session[SEEN_KEY] = time.time() - settings.CIVICDESK_SESSION_IDLE_MINUTES * 60 - 5
    session.save()
    response = client.get(QUEUE)
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert not signed_in(client)
    page = client.get(response["Location"])
    assert "inactivity" in text(page)


def test_a_session_that_stays_busy_still_ends_after_the_maximum(settings: Any) -> None:
    client = sign_in(browser(), staff("calltaker"))
    assert client.get(QUEUE).status_code == 200
    session = client.session
    session[STARTED_KEY] = time.time() - settings.CIVICDESK_SESSION_MAX_HOURS * 3600 - 5
    session[SEEN_KEY] = time.time() - 10  # just used
    session.save()
    response = client.get(QUEUE)
    assert response.status_code == 302 and response["Location"].startswith(LOGIN)
    assert not signed_in(client)


def test_a_session_just_inside_the_limits_continues(settings: Any) -> None:
    client = sign_in(browser(), staff("calltaker"))
    client.get(QUEUE)
    session = client.session
    session[STARTED_KEY] = time.time() - settings.CIVICDESK_SESSION_MAX_HOURS * 3600 + 60
    session[SEEN_KEY] = time.time() - settings.CIVICDESK_SESSION_IDLE_MINUTES * 60 + 60
    session.save()
    assert client.get(QUEUE).status_code == 200


# --------------------------------------------------------------------------------------
# Passwords


def test_argon2_is_the_first_password_hasher_in_the_real_settings() -> None:
    # The suite swaps in a fast hasher; the settings module itself says what production uses.
    real = importlib.import_module("civicdesk.settings")
    assert real.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
    assert django_settings.PASSWORD_HASHERS != real.PASSWORD_HASHERS  # the suite's swap
    hasher = Argon2PasswordHasher()
    encoded = hasher.encode("correct horse battery", hasher.salt())
    assert encoded.startswith("argon2$argon2id$")
    assert hasher.verify("correct horse battery", encoded)


# --------------------------------------------------------------------------------------
# Signing out other devices


def test_ending_the_other_sessions_signs_out_the_other_device() -> None:
    laptop, phone = browser(), browser("198.51.100.77")
    assert full_sign_in(laptop, "pw.supervisor")["Location"] == QUEUE
    # A code is good once: the phone signs in with the same account's new authenticator.
    totp_enroll(staff("pw.supervisor"), OTHER_SECRET)
    assert full_sign_in(phone, "pw.supervisor", totp_code(OTHER_SECRET))["Location"] == QUEUE
    assert phone.get(QUEUE).status_code == 200 and laptop.get(QUEUE).status_code == 200
    assert UserSession.objects.filter(user=staff("pw.supervisor")).count() == 2

    listing = laptop.get("/accounts/sessions/")
    assert listing.status_code == 200
    body = text(listing)
    assert HOME_ADDRESS in body
    ended = laptop.post("/accounts/sessions/")
    assert ended.status_code == 302
    assert phone.get(QUEUE).status_code == 302  # the phone is signed out
    assert laptop.get(QUEUE).status_code == 200  # this device stays signed in


# --------------------------------------------------------------------------------------
# The audit log


def test_sign_in_failure_and_sign_out_are_audited_with_the_address() -> None:
    client = browser()
    password_step(client, "calltaker", "wrong-password")
    full_sign_in(client, "calltaker")
    client.post("/staff/logout/")
    user = staff("calltaker")
    failed = AuditEntry.objects.filter(action="auth.sign_in_failed").last()
    signed = AuditEntry.objects.filter(action="auth.sign_in", actor_id=user.pk).last()
    out = AuditEntry.objects.filter(action="auth.sign_out", actor_id=user.pk).last()
    for entry in (failed, signed, out):
        assert entry is not None and entry.ip == HOME_ADDRESS, entry
    assert failed is not None and "wrong-password" not in str(failed.details)
    assert re.fullmatch(r"[0-9a-f.:]+", out.ip)  # type: ignore[union-attr]
