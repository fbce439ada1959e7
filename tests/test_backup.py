"""`civicdesk backup` and `civicdesk restore`: a backup taken, the installation wiped, the
backup restored, every table compared; the drill; and every bad input refused, changing
nothing. Runs on SQLite and PostgreSQL (DATABASE_URL)."""

from __future__ import annotations

import io
import json
import stat
import tarfile
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from typing import Any

import pyrage
import pytest
from django.apps import apps
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection, connections
from pyrage import x25519

from civicdesk.audit.chain import chain_verify
from civicdesk.audit.models import AuditEntry
from civicdesk.ops.backup import EXCLUDED_TABLES
from civicdesk.servicerequests.models import ServiceRequest

from .conftest import EAST_SIDE, make_request


@pytest.fixture
def key(tmp_path: Path) -> tuple[Path, str]:
    """An identity file made by `civicdesk backup keygen`, and its public key."""
    identity = tmp_path / "identity.txt"
    out = StringIO()
    call_command("backup", "keygen", identity_out=str(identity), stdout=out)
    public = next(word for word in out.getvalue().split() if word.startswith("age1"))
    return identity, public


@pytest.fixture
def media(settings: Any, tmp_path: Path) -> Path:
    root = tmp_path / "media"
    (root / "requests" / "2026").mkdir(parents=True)
    (root / "requests" / "2026" / "pothole.jpg").write_bytes(b"\xff\xd8 a pothole " * 1000)
    (root / "notes.txt").write_text("council notes", encoding="utf-8")
    settings.MEDIA_ROOT = str(root)
    return root


def backup(out: Path, public: str) -> str:
    stdout = StringIO()
    call_command("backup", str(out), recipient=[public], stdout=stdout)
    return stdout.getvalue()


def restore(source: Path, identity: Path, **options: Any) -> str:
    stdout = StringIO()
    call_command("restore", str(source), identity=str(identity), stdout=stdout, **options)
    return stdout.getvalue()


def every_table() -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every installed model's table, in key order."""
    tables = {}
    for model in apps.get_models(include_auto_created=True):
        columns = [f.attname for f in model._meta.concrete_fields]
        tables[model._meta.db_table] = list(
            model._base_manager.order_by("pk").values_list(*columns)
        )
    return tables


def files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def rewrite(
    source: Path, identity: Path, public: str, change: Callable[[dict[str, bytes]], None]
) -> Path:
    """The backup decrypted, its members changed, encrypted again to the same key: a backup
    that passes age's integrity check but not ours."""
    ids = [
        x25519.Identity.from_str(line)
        for line in identity.read_text().splitlines()
        if line.startswith("AGE-")
    ]
    members: dict[str, bytes] = {}
    with tarfile.open(fileobj=io.BytesIO(pyrage.decrypt(source.read_bytes(), ids))) as tar:
        for info in tar:
            extracted = tar.extractfile(info)
            assert extracted is not None
            members[info.name] = extracted.read()
    change(members)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    target = source.with_name("changed.age")
    target.write_bytes(pyrage.encrypt(buffer.getvalue(), [x25519.Recipient.from_str(public)]))
    return target


# --- the round trip -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_backup_wipe_restore_gives_back_every_row_and_file(
    city: None, key: tuple[Path, str], media: Path, tmp_path: Path
) -> None:
    identity, public = key
    make_request("pothole", email="resident@example.org")
    make_request("graffiti", at=EAST_SIDE)
    out = tmp_path / "prairie-falls.age"
    printed = backup(out, public)
    head = AuditEntry.objects.order_by("-sequence").first()
    assert head is not None and head.action == "backup.create"
    assert head.user_agent.startswith("cli: civicdesk backup")
    assert f"#{head.sequence} {head.hash}" in printed
    before = every_table()
    media_before = files(media)
    assert out.stat().st_mode & 0o777 == 0o600
    assert b"pothole" not in out.read_bytes()  # encrypted

    call_command("flush", interactive=False, verbosity=0)  # the server is wiped and rebuilt
    for path in media.rglob("*"):
        if path.is_file():
            path.unlink()
    assert not ServiceRequest.objects.exists()

    # The runbook: drill on the clean server first, then restore.
    printed = restore(out, identity, drill=True)
    assert "DRILL PASSED" in printed and "Not recorded in the audit log" in printed
    printed = restore(out, identity)
    assert "Restored" in printed and "Audit chain intact" in printed

    after = every_table()
    for table, rows in before.items():
        if table in EXCLUDED_TABLES:
            assert after[table] == [], table
        elif table == "audit_auditentry":
            assert after[table][:-1] == rows
        else:
            assert after[table] == rows, table
    assert sum(len(rows) for rows in before.values()) > 300
    assert files(media) == media_before
    last = AuditEntry.objects.order_by("-sequence").first()
    assert last is not None and last.action == "backup.restore"
    assert last.details["head_hash"] == head.hash
    assert chain_verify().ok
    # New rows get fresh keys after the restored ones (PostgreSQL sequences were reset).
    created = make_request("pothole")
    assert created.pk > max(row[0] for row in before["servicerequests_servicerequest"])


@pytest.mark.django_db
def test_drill_restores_into_a_scratch_database_and_reports(
    city: None, key: tuple[Path, str], media: Path, tmp_path: Path
) -> None:
    identity, public = key
    make_request("pothole")
    out = tmp_path / "weekly.age"
    backup(out, public)
    requests_before = ServiceRequest.objects.count()
    aliases_before = set(connections.databases)

    printed = restore(out, identity, drill=True)

    assert "DRILL PASSED" in printed
    assert "every member matches its checksum" in printed
    assert "Audit chain intact" in printed
    assert "Restored 2 media files" in printed
    assert set(connections.databases) == aliases_before
    assert ServiceRequest.objects.count() == requests_before
    drill = AuditEntry.objects.order_by("-sequence").first()
    assert drill is not None and drill.action == "backup.drill" and drill.details["ok"] is True
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT datname FROM pg_database WHERE datname LIKE %s", ["%_drill_%"])
            assert cursor.fetchall() == []


# --- refusals: each says what is wrong and changes nothing -------------------------------


@pytest.fixture
def made(city: None, key: tuple[Path, str], media: Path, tmp_path: Path) -> Path:
    out = tmp_path / "backup.age"
    backup(out, key[1])
    return out


def refused(message: str, command: str, *args: Any, **options: Any) -> None:
    entries = AuditEntry.objects.count()
    requests = ServiceRequest.objects.count()
    with pytest.raises(CommandError, match=message) as raised:
        call_command(command, *args, stdout=StringIO(), **options)
    assert raised.value.returncode == 1
    assert AuditEntry.objects.count() == entries
    assert ServiceRequest.objects.count() == requests


@pytest.mark.django_db
def test_a_backup_for_another_key_is_refused(made: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.txt"
    call_command("backup", "keygen", identity_out=str(other), stdout=StringIO())
    refused(
        f"not encrypted to the key in {other}",
        "restore",
        str(made),
        identity=str(other),
        drill=True,
    )


@pytest.mark.django_db
def test_a_truncated_or_damaged_backup_is_refused(made: Path, key: tuple[Path, str]) -> None:
    data = made.read_bytes()
    truncated = made.with_name("truncated.age")
    truncated.write_bytes(data[: len(data) // 2])
    refused("damaged or truncated", "restore", str(truncated), identity=str(key[0]), drill=True)
    flipped = made.with_name("flipped.age")
    flipped.write_bytes(data[:-100] + bytes([data[-100] ^ 1]) + data[-99:])
    refused("damaged or truncated", "restore", str(flipped), identity=str(key[0]), drill=True)


@pytest.mark.django_db
def test_a_member_that_fails_its_checksum_is_named(made: Path, key: tuple[Path, str]) -> None:
    identity, public = key

    def drop_a_service(members: dict[str, bytes]) -> None:
        import gzip

        name = "tables/catalog_service.jsonl.gz"
        lines = gzip.decompress(members[name]).splitlines(keepends=True)
        members[name] = gzip.compress(b"".join(lines[1:]))

    changed = rewrite(made, identity, public, drop_a_service)
    refused(
        "tables/catalog_service.jsonl.gz failed its checksum",
        "restore",
        str(changed),
        identity=str(identity),
        drill=True,
    )

    def swap_a_photo(members: dict[str, bytes]) -> None:
        members["media/notes.txt"] = b"forged notes!"

    changed = rewrite(made, identity, public, swap_a_photo)
    refused(
        "media/notes.txt failed its checksum",
        "restore",
        str(changed),
        identity=str(identity),
        drill=True,
    )


@pytest.mark.django_db
def test_a_backup_from_newer_code_is_refused(made: Path, key: tuple[Path, str]) -> None:
    identity, public = key

    def newer(members: dict[str, bytes]) -> None:
        manifest = json.loads(members["manifest.json"])
        manifest["migrations"].append(["servicerequests", "9999_from_the_future"])
        members["manifest.json"] = json.dumps(manifest).encode()

    changed = rewrite(made, identity, public, newer)
    refused(
        "made by a newer civicdesk", "restore", str(changed), identity=str(identity), drill=True
    )


@pytest.mark.django_db
def test_files_that_are_not_backups_are_refused(made: Path, key: tuple[Path, str]) -> None:
    identity, public = key
    text = made.with_name("notes.txt")
    text.write_text("not a backup")
    refused("is not an age-encrypted file", "restore", str(text), identity=str(identity))
    # Encrypted to the right key, but not a backup.
    plain = made.with_name("plain.age")
    plain.write_bytes(pyrage.encrypt(b"hello", [x25519.Recipient.from_str(public)]))
    refused("not a backup archive", "restore", str(plain), identity=str(identity), drill=True)


@pytest.mark.django_db
def test_restore_into_a_database_with_data_is_refused(made: Path, key: tuple[Path, str]) -> None:
    before = every_table()
    refused("is not empty", "restore", str(made), identity=str(key[0]))
    assert every_table() == before


@pytest.mark.django_db
def test_unreadable_paths_are_refused(made: Path, key: tuple[Path, str], tmp_path: Path) -> None:
    identity, public = key
    refused(
        "cannot read .*missing.age",
        "restore",
        str(tmp_path / "missing.age"),
        identity=str(identity),
    )
    refused(
        "cannot read the identity file", "restore", str(made), identity=str(tmp_path / "no-key.txt")
    )
    not_a_key = tmp_path / "not-a-key.txt"
    not_a_key.write_text("# comment\nhunter2\n")
    refused("line 2 of .* is not an age identity", "restore", str(made), identity=str(not_a_key))
    refused("does not exist", "backup", str(tmp_path / "nowhere" / "b.age"), recipient=[public])


@pytest.mark.django_db
def test_backup_needs_a_recipient_and_a_new_file(
    city: None, key: tuple[Path, str], settings: Any, tmp_path: Path
) -> None:
    settings.CIVICDESK_BACKUP_RECIPIENTS = []
    out = tmp_path / "b.age"
    refused("civicdesk backup keygen", "backup", str(out))
    refused("is not an age public key", "backup", str(out), recipient=["age1nope"])
    assert not out.exists()
    settings.CIVICDESK_BACKUP_RECIPIENTS = [key[1]]
    call_command("backup", str(out), stdout=StringIO())
    first = out.read_bytes()
    with pytest.raises(CommandError, match="already exists"):
        call_command("backup", str(out), stdout=StringIO())
    assert out.read_bytes() == first
    assert not list(tmp_path.glob("*.partial"))


def test_keygen_writes_a_private_identity_once(tmp_path: Path) -> None:
    identity = tmp_path / "id.txt"
    out = StringIO()
    call_command("backup", "keygen", identity_out=str(identity), stdout=out)
    assert stat.S_IMODE(identity.stat().st_mode) == 0o600
    assert "OFFLINE" in out.getvalue() and "age1" in out.getvalue()
    secret = identity.read_text()
    assert "AGE-SECRET-KEY-" in secret
    with pytest.raises(CommandError, match="already exists"):
        call_command("backup", "keygen", identity_out=str(identity), stdout=StringIO())
    assert identity.read_text() == secret


@pytest.mark.django_db
def test_restore_needs_an_identity(made: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CIVICDESK_BACKUP_IDENTITY_FILE", raising=False)
    refused("--identity FILE or CIVICDESK_BACKUP_IDENTITY_FILE", "restore", str(made))
