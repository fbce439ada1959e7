"""The audit log: what is recorded, that the chain holds, and that any edit or deletion of
an entry is found by `civicdesk audit verify` (which names the first broken entry)."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, transaction
from django.test import Client

from civicdesk.audit.chain import chain_verify
from civicdesk.audit.models import AuditEntry
from civicdesk.audit.services import audit_record
from civicdesk.catalog.models import Service
from civicdesk.richtext import rich_text_clean, rich_text_html
from civicdesk.servicerequests.services import ContactInput, request_transition
from civicdesk.servicerequests.statuses import Status
from tests.conftest import make_request, sign_in, staff

pytestmark = pytest.mark.django_db


def _verify(*args: str) -> str:
    out = io.StringIO()
    call_command("audit", "verify", *args, stdout=out)
    return out.getvalue()


def _tamper(sql: str, params: list[Any]) -> None:
    """What an intruder with database access would do: get around the append-only trigger
    and change the table directly."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("ALTER TABLE audit_auditentry DISABLE TRIGGER audit_entry_no_update")
            cursor.execute(sql, params)
            cursor.execute("ALTER TABLE audit_auditentry ENABLE TRIGGER audit_entry_no_update")
        else:
            cursor.execute("DROP TRIGGER IF EXISTS audit_entry_no_update")
            cursor.execute(sql, params)


def _entries(n: int) -> list[AuditEntry]:
    return [audit_record("test.entry", details={"n": i}) for i in range(n)]


def test_an_intact_chain_verifies_and_reports_its_head() -> None:
    entries = _entries(5)
    head = AuditEntry.objects.order_by("-sequence").first()
    assert head is not None and head.pk == entries[-1].pk
    text = _verify()
    assert "audit chain intact" in text and head.hash in text
    assert _verify("--expect-head", head.hash)
    report = chain_verify()
    assert report.ok and report.head_hash == head.hash


def test_the_database_refuses_to_update_an_entry() -> None:
    entry = _entries(1)[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).update(action="nothing.happened")


@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="SQLite's trigger refuses updates only"
)
def test_postgresql_refuses_to_delete_an_entry() -> None:
    entry = _entries(1)[0]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        AuditEntry.objects.filter(pk=entry.pk).delete()


def test_an_edited_entry_is_named() -> None:
    entries = _entries(4)
    _tamper("UPDATE audit_auditentry SET actor = %s WHERE id = %s", ["mallory", entries[2].pk])
    with pytest.raises(CommandError) as caught:
        _verify()
    message = str(caught.value)
    assert f"broken at entry #{entries[2].sequence}" in message
    assert "does not match its hash (it was edited)" in message


def test_an_entry_edited_with_its_hash_recomputed_breaks_the_next_link() -> None:
    from civicdesk.audit.chain import HASHED_FIELDS, entry_hash

    entries = _entries(4)
    row = AuditEntry.objects.filter(pk=entries[1].pk).values("id", *HASHED_FIELDS).get()
    row["actor"] = "mallory"
    _tamper(
        "UPDATE audit_auditentry SET actor = %s, hash = %s WHERE id = %s",
        ["mallory", entry_hash(row), entries[1].pk],
    )
    with pytest.raises(CommandError, match=f"entry #{entries[2].sequence}") as caught:
        _verify()
    assert "does not link to the entry before it" in str(caught.value)


def test_a_deleted_entry_is_found_in_the_middle_and_at_the_end() -> None:
    entries = _entries(5)
    head_before = entries[-1].hash
    _tamper("DELETE FROM audit_auditentry WHERE id = %s", [entries[1].pk])
    with pytest.raises(CommandError) as caught:
        _verify()
    assert f"broken at entry #{entries[2].sequence}" in str(caught.value)
    assert f"entry #{entries[1].sequence} before it is missing" in str(caught.value)

    # Cutting entries off the end leaves a chain that links: the head recorded elsewhere (in
    # the backup manifest, say) shows the loss.
    entries = _entries(3)
    head = entries[-1].hash
    _tamper("DELETE FROM audit_auditentry WHERE id >= %s", [entries[0].pk])
    _tamper("DELETE FROM audit_auditentry WHERE sequence <= %s", [entries[0].sequence])
    assert head_before != head
    with pytest.raises(CommandError, match="entries were removed from its end"):
        _verify("--expect-head", head)


def test_the_expected_head_may_be_followed_by_later_entries() -> None:
    head = _entries(3)[-1]
    _entries(2)
    text = _verify("--expect-head", head.hash)
    assert f"reaches the expected entry #{head.sequence} and 2 entries follow it" in text


def test_sign_in_contact_views_status_changes_and_admin_changes_are_recorded() -> None:
    client = Client(REMOTE_ADDR="203.0.113.7")
    sign_in(client, staff("calltaker"))
    signed = AuditEntry.objects.filter(action="auth.sign_in", actor="calltaker").last()
    assert signed is not None

    sr = make_request(contact=ContactInput(name="Rosa", email="rosa@example.net"))
    assert client.get(f"/staff/requests/{sr.public_id}/").status_code == 200
    viewed = AuditEntry.objects.get(action="contact.view", target_id=sr.public_id)
    assert viewed.actor == "calltaker" and viewed.ip == "203.0.113.7"
    assert "rosa" not in str(viewed.details).lower()

    request_transition(request=sr, to_status=Status.IN_PROGRESS, actor=staff("pw.supervisor"))
    change = AuditEntry.objects.get(action="request.status_change", target_id=sr.public_id)
    assert change.actor == "pw.supervisor"
    assert change.details["to"] == Status.IN_PROGRESS

    admin = sign_in(Client(), staff("admin"))
    service = Service.objects.get(service_code="pothole")
    page = admin.get(f"/admin/catalog/service/{service.pk}/change/")
    assert page.status_code == 200

    client.post("/staff/logout/")
    assert AuditEntry.objects.filter(action="auth.sign_out", actor="calltaker").exists()
    assert chain_verify().ok


def test_failed_sign_ins_keep_no_typed_text() -> None:
    client = Client()
    client.post("/accounts/login/", {"login": "someone@example.net", "password": "wrong-pass"})
    failed = AuditEntry.objects.filter(action="auth.sign_in_failed").last()
    assert failed is not None
    assert "someone" not in str(failed.details) and len(failed.details["login"]) == 20
    client.post("/accounts/login/", {"login": "calltaker", "password": "wrong-pass"})
    named = AuditEntry.objects.filter(action="auth.sign_in_failed").last()
    assert named is not None and named.target_id == str(staff("calltaker").pk)


def test_the_export_command_is_recorded(tmp_path: Any) -> None:
    make_request()
    call_command("export", "requests", "--out", str(tmp_path / "r.csv"), stderr=io.StringIO())
    entry = AuditEntry.objects.get(action="export.requests")
    assert entry.details["rows"] >= 1 and entry.details["format"] == "csv"


def test_audit_list_shows_the_latest_entries_and_refuses_a_bad_count() -> None:
    _entries(3)
    out = io.StringIO()
    call_command("audit", "list", "--last", "2", stdout=out)
    assert len(out.getvalue().strip().splitlines()) == 2
    with pytest.raises(CommandError, match="--last must be at least 1"):
        call_command("audit", "list", "--last", "0")


def test_rich_text_keeps_formatting_and_drops_anything_active() -> None:
    dirty = (
        '<h3>Bulk pickup</h3><script>alert(1)</script><p onclick="x()">Call <strong>us</strong>'
        '</p><a href="javascript:alert(1)">bad</a> <a href="https://city.example/">ok</a>'
        '<img src=x onerror="alert(1)"><style>body{}</style>'
    )
    clean = rich_text_clean(dirty)
    assert "<script" not in clean and "onclick" not in clean and "javascript:" not in clean
    assert "<img" not in clean and "<style" not in clean
    assert "<strong>us</strong>" in clean and "<h3>Bulk pickup</h3>" in clean
    assert 'href="https://city.example/"' in clean and 'rel="noopener noreferrer"' in clean
    assert str(rich_text_html("one\ntwo\n\nthree")) == "<p>one<br>two</p>\n<p>three</p>"


def test_a_knowledge_article_is_cleaned_when_saved() -> None:
    client = sign_in(Client(), staff("pw.supervisor"))
    response = client.post(
        "/staff/kb/new/",
        {
            "title": "Potholes",
            "body": "Report <em>any</em> pothole.<script>alert('x')</script>",
            "title_es": "",
            "body_es": "",
            "published": "on",
        },
    )
    assert response.status_code == 302
    page = client.get(response["Location"]).content.decode()
    assert "<em>any</em>" in page and "alert('x')" not in page
