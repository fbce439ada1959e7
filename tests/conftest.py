"""Shared fixtures. The demo city (catalogue, calendar, boundaries, staff) is loaded once
into the test database; each test runs in a transaction that is rolled back. Tests that need
real commits (``transactional_db``) run last and reload the city with the ``city`` fixture.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

import pytest
from allauth.account.authentication import AUTHENTICATION_METHODS_SESSION_KEY
from allauth.mfa.models import Authenticator
from django.core import mail
from django.core.cache import cache
from django.db import close_old_connections, connection
from django.utils import translation
from django_tasks_db.management.commands.db_worker import Worker

from civicdesk.accounts.mfa import DEMO_TOTP_SECRET, totp_enroll
from civicdesk.accounts.models import User
from civicdesk.catalog.models import Service
from civicdesk.notifications.sms import MemorySmsAdapter
from civicdesk.ops.demo import demo_city_load
from civicdesk.servicerequests.models import ServiceRequest
from civicdesk.servicerequests.services import ContactInput, request_create

# Points in the demo city of Prairie Falls.
DOWNTOWN = (40.01346, -89.06441)  # council district 1, ward W03, Thursday collection zone
EAST_SIDE = (40.01156, -88.94227)  # council district 3, ward W09, Tuesday collection zone
OUTSIDE = (40.2, -89.5)  # farmland outside the city limits


def pytest_configure(config: pytest.Config) -> None:
    from django.conf import settings

    # Hashing the demo staff's passwords with PBKDF2 costs seconds on every load of the
    # city; tests only need passwords to check, not to resist cracking.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    # Per-address rate limits are off for the suite (every test client is 127.0.0.1, and
    # the fuzzers send thousands of calls); tests of the limits turn them on.
    settings.CIVICDESK_RATE_REPORT = settings.CIVICDESK_RATE_API = "0"
    settings.CIVICDESK_RATE_OPEN_DATA = settings.CIVICDESK_RATE_SURVEY_CODE = "0"


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    with django_db_blocker.unblock():
        demo_city_load(today=dt.date(2026, 11, 26))


@pytest.fixture
def city(db: None) -> None:
    """The demo city, reloaded if a transactional test emptied the database."""
    if not Service.objects.exists():
        demo_city_load(today=dt.date(2026, 11, 26))


@pytest.fixture(autouse=True)
def _empty_cache() -> Iterator[None]:
    # Rolled-back tests reuse ids: a figure cached by one test must not reach the next.
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _default_language() -> Iterator[None]:
    """Each test starts in the default language: a request in Spanish must not leave the
    thread speaking Spanish for the next test."""
    translation.activate("en")
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _memory_sms(settings: Any) -> Iterator[None]:
    settings.CIVICDESK_SMS_ADAPTER = "civicdesk.notifications.sms.MemorySmsAdapter"
    MemorySmsAdapter.outbox.clear()
    yield
    MemorySmsAdapter.outbox.clear()


def _close_old_connections_outside_tests(**kwargs: Any) -> None:
    # The job worker recycles connections between jobs; inside a test's transaction Django
    # sees autocommit off and would drop the test's own connection (fatal on PostgreSQL).
    if not connection.in_atomic_block:
        close_old_connections(**kwargs)


@pytest.fixture(autouse=True)
def _worker_keeps_test_connection(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("django_tasks_db.management.commands.db_worker", "civicdesk.ops.jobs"):
        monkeypatch.setattr(f"{module}.close_old_connections", _close_old_connections_outside_tests)


def run_jobs() -> None:
    """Run every queued background job now, in this process (the real database worker)."""
    Worker(
        queue_names=["*"],
        interval=0,
        batch=True,
        backend_name="default",
        startup_delay=False,
        max_tasks=None,
        worker_id="test-worker",
        excluded_queue_names=[],
    ).run()


@pytest.fixture
def deliver(django_capture_on_commit_callbacks: Any) -> Any:
    """``with deliver(): ...`` runs the block, its on-commit hooks, then the queued jobs."""
    from contextlib import contextmanager

    @contextmanager
    def _deliver() -> Iterator[None]:
        with django_capture_on_commit_callbacks(execute=True):
            yield
        run_jobs()

    return _deliver


@pytest.fixture
def outbox() -> list[Any]:
    mail.outbox.clear()
    return mail.outbox


def staff(username: str) -> User:
    return User.objects.get(username=username)


def sign_in(client: Any, user: User) -> Any:
    """Sign ``user`` in on ``client`` as if through the sign-in pages, second step included:
    staff must have passed it to use the console (the demo staff hold the demo key)."""
    if user.is_city_staff and not Authenticator.objects.filter(user=user).exists():
        totp_enroll(user, DEMO_TOTP_SECRET)
    client.force_login(user)
    session = client.session
    now = time.time()
    session[AUTHENTICATION_METHODS_SESSION_KEY] = [
        {"method": "password", "at": now, "username": user.username},
        {"method": "mfa", "at": now, "type": "totp"},
    ]
    session["account_authentication_methods_user"] = str(user.pk)
    session.save()
    return client


def make_request(
    service_code: str = "pothole",
    /,
    *,
    at: tuple[float, float] = DOWNTOWN,
    email: str = "",
    language: str = "en",
    **overrides: Any,
) -> ServiceRequest:
    """A valid request with sensible answers for the demo services used in tests."""
    answers = {
        "pothole": {"size": "small", "in_traffic_lane": "yes"},
        "graffiti": {"surface": "sign_pole", "offensive": "no"},
        "abandoned-vehicle": {"vehicle_description": "Blue sedan", "days_parked": "9"},
    }
    kwargs: dict[str, Any] = {
        "service_code": service_code,
        "description": "Test request",
        "lat": at[0],
        "long": at[1],
        "attributes": answers.get(service_code, {}),
    }
    if email:
        kwargs["contact"] = ContactInput(
            name="Test Resident", email=email, preferred_language=language
        )
    kwargs.update(overrides)
    return request_create(**kwargs)
