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
        if k not in {"DEBUG", "SECRET_KEY", "ALLOWED_HOSTS", "DATABASE_URL", "CIVICDESK_ENV"}
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
    ],
)
def test_production_refuses_insecure_settings(env: dict[str, str], complaint: str) -> None:
    result = _load_settings(CIVICDESK_ENV="production", **env)
    assert result.returncode != 0
    assert "Refusing to start in production mode" in result.stderr
    assert complaint in result.stderr


def test_production_starts_with_secure_settings() -> None:
    result = _load_settings(
        CIVICDESK_ENV="production",
        SECRET_KEY=GOOD_KEY,
        ALLOWED_HOSTS="311.example.gov",
        DATABASE_URL="postgres://x@db.example/c",
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    ("env", "complaint"),
    [
        ({"CIVICDESK_ENV": "staging"}, "CIVICDESK_ENV must be"),
        ({"DEBUG": "maybe"}, "DEBUG must be true or false"),
        ({"CIVICDESK_REOPEN_WINDOW_DAYS": "two weeks"}, "must be a whole number"),
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
