"""Configuration by environment: production refuses insecure settings; pages answer."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.test import Client

GOOD_KEY = "k" * 64


def _load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    clean = {
        k: v
        for k, v in os.environ.items()
        if k
        not in {
            "DEBUG",
            "SECRET_KEY",
            "ALLOWED_HOSTS",
            "DATABASE_URL",
            "CIVICDESK_ENV",
            "EMAIL_BACKEND",
            "CIVICDESK_SMS_ADAPTER",
        }
    }
    return subprocess.run(
        [sys.executable, "-c", "import civicdesk.settings"],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        (
            {"ALLOWED_HOSTS": "311.example.gov", "DATABASE_URL": "postgres://x@db/c"},
            "SECRET_KEY must be set",
        ),
        ({"SECRET_KEY": GOOD_KEY, "DATABASE_URL": "postgres://x@db/c"}, "ALLOWED_HOSTS must name"),
        (
            {
                "SECRET_KEY": GOOD_KEY,
                "ALLOWED_HOSTS": "311.example.gov",
                "DEBUG": "true",
                "DATABASE_URL": "postgres://x@db/c",
            },
            "DEBUG must be off",
        ),
        ({"SECRET_KEY": GOOD_KEY, "ALLOWED_HOSTS": "311.example.gov"}, "DATABASE_URL must be set"),
        (
            {
                "SECRET_KEY": GOOD_KEY,
                "ALLOWED_HOSTS": "311.example.gov",
                "DATABASE_URL": "postgres://x@db/c",
                "CIVICDESK_STAFF_MFA_REQUIRED": "false",
            },
            "CIVICDESK_STAFF_MFA_REQUIRED cannot be turned off",
        ),
    ],
)
def test_production_refuses_insecure_settings(env: dict[str, str], complaint: str) -> None:
    result = _load_settings(CIVICDESK_ENV="production", **env)
    assert result.returncode != 0
    assert "Refusing to start in production mode" in result.stderr
    assert complaint in result.stderr


PRODUCTION_DELIVERY = {
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "CIVICDESK_SMS_ADAPTER": "civicdesk.notifications.sms.DisabledSmsAdapter",
}


def test_production_starts_with_secure_settings() -> None:
    result = _load_settings(
        CIVICDESK_ENV="production",
        SECRET_KEY=GOOD_KEY,
        ALLOWED_HOSTS="311.example.gov",
        DATABASE_URL="postgres://x@db.example/c",
        **PRODUCTION_DELIVERY,
    )
    assert result.returncode == 0, result.stderr


def test_production_refuses_delivery_that_prints_contact_details() -> None:
    result = _load_settings(
        CIVICDESK_ENV="production",
        SECRET_KEY=GOOD_KEY,
        ALLOWED_HOSTS="311.example.gov",
        DATABASE_URL="postgres://x@db.example/c",
    )
    assert result.returncode != 0
    assert "EMAIL_BACKEND and CIVICDESK_SMS_ADAPTER must name a real delivery" in result.stderr


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"CIVICDESK_ENV": "staging"}, "CIVICDESK_ENV must be"),
        ({"DEBUG": "maybe"}, "DEBUG must be true or false"),
        ({"CIVICDESK_REOPEN_WINDOW_DAYS": "two weeks"}, "must be a whole number"),
        ({"CIVICDESK_CACHE_URL": "memcached://x"}, "CIVICDESK_CACHE_URL must be a redis://"),
    ],
)
def test_malformed_settings_are_named(env: dict[str, str], complaint: str) -> None:
    result = _load_settings(**env)
    assert result.returncode != 0 and complaint in result.stderr


def test_home_and_health_pages_answer(city: None) -> None:
    client = Client()
    home = client.get("/")
    assert home.status_code == 200
    assert b"Prairie Falls 311" in home.content
    health = client.get("/healthz")
    assert health.status_code == 200 and health.json()["status"] == "ok"
    spanish = client.get("/", HTTP_ACCEPT_LANGUAGE="es")
    assert "311 de Prairie Falls" in spanish.content.decode()


def _command(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    # The browser tests' DJANGO_ALLOW_ASYNC_UNSAFE is the test process's own affair.
    unset = {"DEBUG", "CIVICDESK_ENV", "DJANGO_ALLOW_ASYNC_UNSAFE"}
    clean = {k: v for k, v in os.environ.items() if k not in unset}
    return subprocess.run(  # noqa: S603 - our own command line, fixed arguments
        [sys.executable, "-m", "civicdesk", *args],
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_production_settings_pass_the_deployment_check_without_a_warning() -> None:
    result = _command(
        "check",
        "--deploy",
        "--fail-level",
        "WARNING",
        CIVICDESK_ENV="production",
        SECRET_KEY="s" * 20 + "-Q7x" + "z" * 40,
        ALLOWED_HOSTS="311.example.gov",
        DATABASE_URL=os.environ.get("DATABASE_URL") or "postgres://x@db.example/c",
        **PRODUCTION_DELIVERY,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues (0 silenced)" in result.stdout


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"CIVICDESK_RATE_API": "lots"}, "CIVICDESK_RATE_API: a rate is written like"),
        (
            {"CIVICDESK_BACKUP_RECIPIENTS": "AGE-SECRET-KEY-1QQQ"},
            "is not an age public key",
        ),
    ],
)
def test_badly_written_security_settings_are_named_by_the_check(
    env: dict[str, str], complaint: str
) -> None:
    result = _command("check", **env)
    assert result.returncode != 0 and complaint in result.stderr
