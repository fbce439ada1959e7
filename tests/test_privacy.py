"""Residents' personal data: exported and erased on request without touching the service
record, removed by the retention rules once past its limit, and never written to the audit
log."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client
from django.utils import timezone

from civicdesk.accounts.models import Role, User
from civicdesk.audit.models import AuditEntry
from civicdesk.errors import PermissionDenied
from civicdesk.notifications.models import DeliveryStatus, Notification
from civicdesk.servicerequests.models import (
    Contact,
    Follower,
    RequestEvent,
    RequestMedia,
    ServiceRequest,
)
from civicdesk.servicerequests.privacy import (
    REDACTED_DESCRIPTION,
    personal_data_erase,
    personal_data_export,
)
from civicdesk.servicerequests.retention import retention_apply
from civicdesk.servicerequests.services import (
    ContactInput,
    request_follow,
    request_media_attach,
    request_transition,
)
from civicdesk.servicerequests.statuses import Status
from tests.conftest import make_request
from tests.test_media import _jpeg_with_gps

pytestmark = pytest.mark.usefixtures("city")

ANA = "ana.reyes@example.org"
ANA_PHONE = "+1 217 555 0142"
BOB = "bob.lind@example.org"
NOW = timezone.now()


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def resident(email: str = ANA, **fields: Any) -> User:
    return User.objects.create(
        username="ana", email=email, first_name="Ana", last_name="Reyes", **fields
    )


def ana_reports(**overrides: Any) -> ServiceRequest:
    return make_request(
        contact=ContactInput(name="Ana Reyes", email=ANA, phone=ANA_PHONE, sms_opt_in=True),
        description="Pothole outside my house at 12 Elm St, call Ana",
        **overrides,
    )


def closed(request: ServiceRequest, days_ago: float) -> ServiceRequest:
    """The request, resolved ``days_ago`` days before now."""
    request_transition(request=request, to_status=Status.RESOLVED)
    ServiceRequest.objects.filter(pk=request.pk).update(closed_at=NOW - dt.timedelta(days=days_ago))
    request.refresh_from_db()
    return request


def privacy_entries() -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action__startswith="privacy.").order_by("sequence"))


def assert_no_contact_details(entries: list[AuditEntry]) -> None:
    for entry in entries:
        text = json.dumps([entry.details, entry.target_type, entry.target_id, entry.actor])
        for secret in (ANA, ANA_PHONE, "Ana Reyes", "ana.reyes", "555 0142"):
            assert secret not in text


# --------------------------------------------------------------------------------------
# Export


def test_export_holds_the_persons_requests_and_nothing_of_anyone_else() -> None:
    account = resident(phone=ANA_PHONE)
    reported = ana_reports()
    followed = make_request("graffiti", email=BOB)
    request_follow(request=followed, contact=ContactInput(email="ANA.Reyes@example.org "))
    others = make_request(email=BOB, description="Bob's own request")

    document = personal_data_export(email=" Ana.Reyes@Example.org", phone="")

    by_id = {r["public_id"]: r for r in document["requests"]}
    assert set(by_id) == {reported.public_id, followed.public_id}
    assert by_id[reported.public_id]["relationship"] == ["reporter", "follower"]
    assert by_id[followed.public_id]["relationship"] == ["follower"]
    assert by_id[reported.public_id]["description"].startswith("Pothole outside my house")
    assert by_id[reported.public_id]["status"] == "new"
    assert by_id[reported.public_id]["service"] == "pothole"
    assert {c["email"] for c in document["contacts"]} == {ANA}
    assert {c["name"] for c in document["contacts"]} == {"Ana Reyes", ""}
    assert [a["username"] for a in document["accounts"]] == [account.username]
    # The "we received your request" email and text message went to her.
    assert {(n["channel"], n["recipient"]) for n in document["notifications"]} == {
        ("email", ANA),
        ("sms", ANA_PHONE),
    }
    text = json.dumps(document)
    assert BOB not in text and others.public_id not in text and "Bob's own" not in text

    # By phone alone: the same person (her contact and her account), not the follow by email.
    by_phone = personal_data_export(phone=ANA_PHONE)
    assert [r["public_id"] for r in by_phone["requests"]] == [reported.public_id]
    assert [a["username"] for a in by_phone["accounts"]] == [account.username]

    entries = privacy_entries()
    assert [e.action for e in entries] == ["privacy.export", "privacy.export"]
    assert entries[0].details == {"contacts": 2, "requests": 2, "notifications": 2, "accounts": 1}
    assert_no_contact_details(entries)


def test_export_command_writes_a_new_file_and_never_overwrites(tmp_path: Path) -> None:
    request = ana_reports()
    out = tmp_path / "ana.json"
    run("personal-data", "export", "--email", ANA, "--out", str(out))
    document = json.loads(out.read_text())
    assert [r["public_id"] for r in document["requests"]] == [request.public_id]
    assert out.stat().st_mode & 0o077 == 0  # readable by its owner only

    out.write_text("keep me")
    with pytest.raises(CommandError, match=r"ana\.json already exists"):
        run("personal-data", "export", "--email", ANA, "--out", str(out))
    assert out.read_text() == "keep me"
    assert len(privacy_entries()) == 1  # the refused export was not recorded

    # To standard output by default.
    assert json.loads(run("personal-data", "export", "--phone", ANA_PHONE))["contacts"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give the person's email address or phone number"),
        (["--email", "not-an-email"], "email: 'not-an-email' is not an email address"),
        (["--phone", "call me"], "phone: 'call me' is not a phone number"),
        (["--email", "nobody@example.org"], "no personal data found for the email address"),
        (["--phone", "+1 217 555 9999"], "no personal data found for the phone number"),
    ],
)
@pytest.mark.parametrize("action", [["export"], ["erase"], ["erase", "--yes"]])
def test_bad_input_is_a_clear_error_and_changes_nothing(
    action: list[str], args: list[str], message: str
) -> None:
    ana_reports()
    with pytest.raises(CommandError, match=message):
        run("personal-data", *action, *args)
    assert Contact.objects.get().email == ANA
    assert privacy_entries() == []


# --------------------------------------------------------------------------------------
# Erasure


def test_erase_blanks_the_person_everywhere_and_keeps_the_requests_record(
    client: Client,
) -> None:
    account = resident()
    reported = ana_reports(actor=account)
    followed = make_request("graffiti", email=BOB)
    request_follow(request=followed, contact=ContactInput(email=ANA))
    request_transition(request=reported, to_status=Status.IN_PROGRESS, note="Crew on the way")
    timeline = list(RequestEvent.objects.filter(request=reported).values_list("kind", "note"))
    before = {
        url: client.get(url).status_code
        for url in (
            f"/requests/{reported.public_id}/",
            f"/open311/v2/requests/{reported.public_id}.json",
        )
    }
    assert set(before.values()) == {200}

    counts = personal_data_erase(email=ANA)

    assert counts == {
        "contacts": 2,
        "followers": 2,  # her own request (a reporter follows it) and Bob's
        "notifications": 4,  # received, in progress: by email and by text each
        "accounts": 1,
        "descriptions": 0,
    }
    for contact in Contact.objects.exclude(email=BOB):
        assert (contact.name, contact.email, contact.phone, contact.user) == ("", "", "", None)
    assert not Follower.objects.filter(request=followed).exclude(contact__email=BOB).exists()
    assert not Notification.objects.filter(recipient__in=[ANA, ANA_PHONE]).exists()
    account.refresh_from_db()
    assert not account.is_active and not account.has_usable_password()
    assert (account.email, account.first_name, account.last_name) == ("", "", "")
    assert "ana" not in account.username
    # Bob is untouched.
    assert Contact.objects.filter(email=BOB).count() == 1
    assert Notification.objects.filter(recipient=BOB).exists()

    # The requests are as they were: same status, timeline, public page and API record.
    reported.refresh_from_db()
    assert reported.reporter is not None  # still reported, by nobody we can name
    assert reported.status == Status.IN_PROGRESS
    assert reported.description.startswith("Pothole outside my house")
    assert list(RequestEvent.objects.filter(request=reported).values_list("kind", "note")) == (
        timeline
    )
    page = client.get(f"/requests/{reported.public_id}/")
    assert page.status_code == 200
    assert "Crew on the way" in page.content.decode()
    api = client.get(f"/open311/v2/requests/{reported.public_id}.json")
    assert api.status_code == 200
    [record] = api.json()
    assert (record["service_request_id"], record["status"]) == (reported.public_id, "open")
    assert client.get(f"/requests/{followed.public_id}/").status_code == 200

    [entry] = privacy_entries()
    assert entry.action == "privacy.erase"
    assert entry.details["public_ids"] == [reported.public_id, followed.public_id]
    assert entry.details["contacts"] == 2
    assert_no_contact_details([entry])

    # Nothing is left to find.
    with pytest.raises(Exception, match="no personal data found"):
        personal_data_erase(email=ANA)


def test_erase_can_replace_the_description_of_requests_they_reported() -> None:
    reported = ana_reports()
    followed = make_request("graffiti", email=BOB, description="Tag on the bridge")
    request_follow(request=followed, contact=ContactInput(email=ANA))
    out = run("personal-data", "erase", "--email", ANA, "--redact-text", "--yes")
    assert "1 descriptions replaced" in out
    reported.refresh_from_db()
    followed.refresh_from_db()
    assert reported.description == REDACTED_DESCRIPTION
    assert followed.description == "Tag on the bridge"  # someone else's words


def test_erase_without_yes_shows_what_it_would_do_and_changes_nothing() -> None:
    reported = ana_reports()
    out = run("personal-data", "erase", "--phone", ANA_PHONE)
    assert "Would erase: 1 contact records" in out
    assert reported.public_id in out
    assert "Nothing was changed; run again with --yes" in out
    assert Contact.objects.get().email == ANA
    assert privacy_entries() == []

    out = run("personal-data", "erase", "--phone", ANA_PHONE, "--yes")
    assert "Erased: 1 contact records blanked" in out
    assert Contact.objects.get().phone == ""
    [entry] = privacy_entries()
    assert entry.user_agent == "cli: civicdesk personal-data"
    assert_no_contact_details([entry])


@pytest.mark.skipif(not apps.is_installed("axes"), reason="django-axes is not installed")
def test_erase_removes_the_accounts_sign_in_records() -> None:
    account = resident()
    attempt = apps.get_model("axes", "AccessAttempt")
    for name in ("ana", ANA, "bob"):
        attempt.objects.create(
            username=name,
            ip_address="192.0.2.1",
            user_agent="test",
            get_data="",
            post_data="",
            failures_since_start=1,
        )
    if apps.is_installed("allauth.account"):
        apps.get_model("account", "EmailAddress").objects.create(user=account, email=ANA)
    personal_data_erase(email=ANA)
    assert list(attempt.objects.values_list("username", flat=True)) == ["bob"]
    if apps.is_installed("allauth.account"):
        assert not apps.get_model("account", "EmailAddress").objects.exists()


def test_a_staff_account_is_never_erased() -> None:
    supervisor = User.objects.get(username="pw.supervisor")
    make_request(email=supervisor.email)
    with pytest.raises(PermissionDenied, match=r"staff account pw\.supervisor"):
        personal_data_erase(email=supervisor.email)
    with pytest.raises(CommandError, match="staff accounts are not erased"):
        run("personal-data", "erase", "--email", supervisor.email.upper())
    supervisor.refresh_from_db()
    assert supervisor.is_active and supervisor.role == Role.SUPERVISOR
    assert Contact.objects.get().email == supervisor.email
    assert privacy_entries() == []


# --------------------------------------------------------------------------------------
# Retention


@pytest.fixture
def limits(settings: Any) -> Any:
    settings.CIVICDESK_RETAIN_CONTACTS_DAYS = 1000
    settings.CIVICDESK_RETAIN_NOTIFICATIONS_DAYS = 100
    settings.CIVICDESK_RETAIN_MEDIA_DAYS = 500
    settings.CIVICDESK_RETAIN_SIGN_IN_ATTEMPTS_DAYS = 30
    return settings


def contact_of(request: ServiceRequest) -> Contact:
    assert request.reporter_id is not None
    return Contact.objects.get(pk=request.reporter_id)


def test_retention_blanks_only_contacts_past_the_limit(limits: Any) -> None:
    old = closed(make_request(email="old@example.org"), days_ago=1001)
    recent = closed(make_request(email="recent@example.org"), days_ago=999)
    still_open = make_request(email="open@example.org")
    ServiceRequest.objects.filter(pk=still_open.pk).update(
        requested_at=NOW - dt.timedelta(days=2000)
    )
    ana_old = closed(ana_reports(), days_ago=2000)
    # A contact made long ago that follows a request closed recently is kept.
    request_follow(request=recent, contact=ContactInput(email="old-follower@example.org"))
    Contact.objects.filter(email="old-follower@example.org").update(
        created_at=NOW - dt.timedelta(days=3000)
    )
    # A follower of the old request goes with it.
    request_follow(request=old, contact=ContactInput(email="gone@example.org"))

    assert retention_apply(dry_run=True)["contacts"] == 3
    assert Contact.objects.filter(email="old@example.org").exists()

    removed = retention_apply()

    assert removed["contacts"] == 3  # old's reporter and follower, and Ana's old report
    assert contact_of(old).email == ""
    assert contact_of(ana_old).email == ""
    assert not Follower.objects.filter(request=old).exists()
    assert contact_of(recent).email == "recent@example.org"
    assert contact_of(still_open).email == "open@example.org"
    assert Contact.objects.filter(email="old-follower@example.org").exists()
    old.refresh_from_db()
    assert old.status == Status.RESOLVED and old.events.exists()

    [entry] = privacy_entries()
    assert entry.action == "privacy.retention"
    assert entry.details["contacts"] == 3
    assert_no_contact_details([entry])

    # Idempotent: nothing more to remove, and no second entry.
    assert retention_apply() == {
        "contacts": 0,
        "notifications": 0,
        "media": 0,
        "sign_in_attempts": 0,
    }
    assert len(privacy_entries()) == 1


def test_retention_deletes_old_delivery_records_and_photos(
    limits: Any, settings: Any, tmp_path: Path, django_capture_on_commit_callbacks: Any
) -> None:
    settings.MEDIA_ROOT = str(tmp_path)
    settings.CIVICDESK_RETAIN_CONTACTS_DAYS = 0  # kept for ever
    old = make_request(email="old@example.org")
    recent = make_request(email="recent@example.org")
    old_photo = request_media_attach(request=old, data=_jpeg_with_gps())
    recent_photo = request_media_attach(request=recent, data=_jpeg_with_gps())
    old, recent = closed(old, days_ago=501), closed(recent, days_ago=499)
    sent_long_ago = Notification.objects.filter(recipient="old@example.org").update(
        created_at=NOW - dt.timedelta(days=101), status=DeliveryStatus.SENT
    )
    # Never delivered (still queued), however old: kept, so nothing is silently dropped.
    stuck = Notification.objects.filter(recipient="recent@example.org").update(
        created_at=NOW - dt.timedelta(days=400)
    )
    assert sent_long_ago and stuck
    old_file = Path(old_photo.file.path)
    assert old_file.exists()

    dry = retention_apply(dry_run=True)
    assert (dry["notifications"], dry["media"]) == (sent_long_ago, 1)
    assert RequestMedia.objects.count() == 2
    assert Notification.objects.count() == sent_long_ago + stuck

    with django_capture_on_commit_callbacks(execute=True):  # files go once rows are gone
        removed = retention_apply()

    assert (removed["contacts"], removed["notifications"], removed["media"]) == (
        0,
        sent_long_ago,
        1,
    )
    assert not Notification.objects.filter(recipient="old@example.org").exists()
    assert Notification.objects.filter(recipient="recent@example.org").count() == stuck
    assert list(RequestMedia.objects.values_list("pk", flat=True)) == [recent_photo.pk]
    assert not old_file.exists()
    assert Path(recent_photo.file.path).exists()
    assert contact_of(old).email == "old@example.org"  # contacts kept for ever (0)
    assert retention_apply()["media"] == 0


def test_retention_with_every_limit_zero_keeps_everything(settings: Any) -> None:
    for name in ("CONTACTS", "NOTIFICATIONS", "MEDIA", "SIGN_IN_ATTEMPTS"):
        setattr(settings, f"CIVICDESK_RETAIN_{name}_DAYS", 0)
    old = closed(make_request(email="old@example.org"), days_ago=10_000)
    sent = Notification.objects.update(
        created_at=NOW - dt.timedelta(days=10_000), status=DeliveryStatus.SENT
    )
    assert set(retention_apply().values()) == {0}
    assert contact_of(old).email == "old@example.org"
    assert Notification.objects.count() == sent > 0
    assert privacy_entries() == []


@pytest.mark.skipif(not apps.is_installed("axes"), reason="django-axes is not installed")
def test_retention_deletes_old_sign_in_records(limits: Any) -> None:
    attempt = apps.get_model("axes", "AccessAttempt")
    log = apps.get_model("axes", "AccessLog")
    for model, days_ago in ((attempt, 31), (attempt, 29), (log, 31), (log, 1)):
        extra = {"get_data": "", "post_data": "", "failures_since_start": 1}
        row = model.objects.create(
            username="ana",
            ip_address="192.0.2.1",
            user_agent=f"browser {days_ago}",
            **(extra if model is attempt else {}),
        )
        model.objects.filter(pk=row.pk).update(attempt_time=NOW - dt.timedelta(days=days_ago))
    assert retention_apply()["sign_in_attempts"] == 2
    assert attempt.objects.count() == 1 and log.objects.count() == 1


def test_retention_command_dry_run_changes_nothing(limits: Any) -> None:
    old = closed(make_request(email="old@example.org"), days_ago=1001)
    out = run("retention", "--dry-run")
    assert "Would remove (dry run, nothing changed):" in out
    assert "       1  contact records (details blanked), older than 1000 days" in out
    assert contact_of(old).email == "old@example.org"
    assert privacy_entries() == []

    out = run("retention")
    assert out.startswith("Removed:")
    assert "       1  contact records (details blanked)" in out
    assert contact_of(old).email == ""
    [entry] = privacy_entries()
    assert entry.user_agent == "cli: civicdesk retention"
