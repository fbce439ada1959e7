"""Encrypted backups of the database and uploaded files, their restore into an empty
installation, and the restore drill that proves a backup works. See docs/backups.md.

A backup is an age-encrypted tar of ``tables/<table>.jsonl.gz`` (one canonical JSON array per
row, in primary-key order), ``media/<path>`` and ``manifest.json`` (last: it holds the row
counts and checksums of everything before it). The format is engine-neutral, so a SQLite
backup restores onto PostgreSQL and back.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import gzip
import hashlib
import importlib.metadata
import io
import json
import secrets
import shutil
import tarfile
import tempfile
import time
import uuid
import zlib
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import IO, Any

import pyrage
from django.apps import apps
from django.conf import settings
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import DatabaseError, connections, models, transaction
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone
from django.utils.duration import duration_iso_string
from pyrage import x25519

from civicdesk.audit.chain import chain_verify
from civicdesk.audit.context import NO_ORIGIN, Origin, command_origin, current_origin
from civicdesk.audit.models import GENESIS_HASH, AuditEntry
from civicdesk.audit.services import audit_record
from civicdesk.errors import CivicdeskError
from civicdesk.ops.files import private_file_create

FORMAT = "civicdesk-backup"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"

# Tables left out of every backup, and why.
EXCLUDED_TABLES = {
    "django_session": "restored sessions would sign people back in",
    "usersessions_usersession": "the record of sessions that are not restored",
    "django_tasks_database_dbtaskresult": "queued and finished background jobs: replaying "
    "them after a restore would send old notifications; periodic jobs re-queue themselves",
}
# Tables that ``migrate`` fills on a fresh database: an empty installation has rows in them,
# and a restore replaces those rows with the backup's (other tables' rows refer to their ids).
MIGRATE_FILLED_TABLES = ("auth_permission", "django_content_type")

BATCH_ROWS = 2000
AGE_MAGIC = b"age-encryption.org/v1\n"
AGE_ARMOR = b"-----BEGIN AGE ENCRYPTED FILE-----"


class BackupError(CivicdeskError):
    """A backup or restore refused, with a message for the person running it."""

    code = "backup"


def cli_origin(command: str) -> Origin:
    """The origin ``civicdesk`` set for this run (it names the system account), or, when a
    command is called from code (``call_command``), one naming the command."""
    here = current_origin()
    return here if here != NO_ORIGIN else command_origin(command)


# --- keys -----------------------------------------------------------------------------------


def keypair_create(path: Path) -> str:
    """Write a new age identity to ``path`` (mode 0600, never over an existing file) and
    return its public key (the recipient to back up to)."""
    identity = x25519.Identity.generate()
    public = str(identity.to_public())
    text = (
        f"# civicdesk backup identity, created {timezone.now():%Y-%m-%dT%H:%M:%SZ}\n"
        f"# public key: {public}\n"
        "# Keep this file offline (not on the server that makes the backups).\n"
        f"{identity}\n"
    )
    try:
        private_file_create(path, text, encoding="ascii")
    except FileExistsError:
        raise BackupError(f"{path} already exists; not overwriting an identity") from None
    except OSError as error:
        raise BackupError(f"cannot create {path}: {error.strerror}") from None
    return public


def recipients_parse(keys: Iterable[str]) -> list[x25519.Recipient]:
    recipients = []
    for key in keys:
        key = key.strip()
        if not key:
            continue
        try:
            recipients.append(x25519.Recipient.from_str(key))
        except Exception:
            raise BackupError(
                f"{key!r} is not an age public key (one starts with age1; make a key pair with "
                "`civicdesk backup keygen --out FILE`)"
            ) from None
    if not recipients:
        raise BackupError(
            "no recipient to encrypt the backup to: make a key pair with `civicdesk backup "
            "keygen --out FILE` on a machine you trust, keep FILE offline, and give its public "
            "key (age1...) with --recipient or CIVICDESK_BACKUP_RECIPIENTS"
        )
    return recipients


def identities_load(path: Path) -> list[x25519.Identity]:
    """The identities in an age identity file (``AGE-SECRET-KEY-`` lines; ``#`` comments)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise BackupError(f"cannot read the identity file {path}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise BackupError(f"{path} is not an age identity file") from None
    identities = []
    for number, line in enumerate(lines, 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            identities.append(x25519.Identity.from_str(line))
        except Exception:
            raise BackupError(
                f"line {number} of {path} is not an age identity (AGE-SECRET-KEY-...)"
            ) from None
    if not identities:
        raise BackupError(f"{path} holds no age identity (a line starting AGE-SECRET-KEY-)")
    return identities


# --- canonical rows -------------------------------------------------------------------------


def _canonical(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        if timezone.is_naive(value):
            value = timezone.make_aware(value, dt.UTC)
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, dt.timedelta):
        return duration_iso_string(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    raise TypeError(f"cannot back up a value of type {type(value).__name__}")


_ENCODER = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=_canonical
)


def backed_up_models() -> list[type[models.Model]]:
    """Every installed model with a table of its own, but the excluded ones, by table name."""
    found: dict[str, type[models.Model]] = {}
    for model in apps.get_models(include_auto_created=True):
        meta = model._meta
        if meta.proxy or not meta.managed or meta.db_table in EXCLUDED_TABLES:
            continue
        found.setdefault(meta.db_table, model)
    return [found[table] for table in sorted(found)]


def _columns(model: type[models.Model]) -> list[str]:
    return [f.attname for f in model._meta.concrete_fields]


def _integer_pk(model: type[models.Model]) -> bool:
    pk: Any = model._meta.pk
    while pk.is_relation:
        pk = pk.target_field
    return isinstance(pk, models.IntegerField)


def _rows(model: type[models.Model], using: str) -> Iterator[tuple[Any, ...]]:
    """The table's rows in primary-key order: integer keys in key-ordered batches (flat
    memory); other keys sorted here, so the order is the same on every engine."""
    columns = _columns(model)
    assert model._meta.pk is not None
    pk_index = columns.index(model._meta.pk.attname)
    queryset = model._base_manager.using(using).order_by("pk").values_list(*columns)
    if not _integer_pk(model):
        yield from sorted(queryset, key=lambda row: str(_ENCODER.encode(row[pk_index])))
        return
    last = None
    while True:
        batch = queryset if last is None else queryset.filter(pk__gt=last)
        rows = list(batch[:BATCH_ROWS])
        if not rows:
            return
        yield from rows
        last = rows[-1][pk_index]


@dataclass
class TableSum:
    rows: int = 0
    sha256: str = ""
    bytes: int = 0


def _table_write(model: type[models.Model], using: str, out: Any) -> TableSum:
    """Write the table as JSON lines to ``out`` (if given); return its count and checksum."""
    digest = hashlib.sha256()
    total = TableSum()
    pending: list[bytes] = []
    for row in _rows(model, using):
        pending.append(_ENCODER.encode(row).encode("utf-8") + b"\n")
        total.rows += 1
        if len(pending) >= BATCH_ROWS:
            chunk = b"".join(pending)
            digest.update(chunk)
            total.bytes += len(chunk)
            if out is not None:
                out.write(chunk)
            pending = []
    chunk = b"".join(pending)
    digest.update(chunk)
    total.bytes += len(chunk)
    if out is not None:
        out.write(chunk)
    total.sha256 = digest.hexdigest()
    return total


def _applied_migrations(using: str) -> list[list[str]]:
    recorder = MigrationRecorder(connections[using])
    return sorted([app, name] for app, name in recorder.applied_migrations())


def _version() -> str:
    try:
        return importlib.metadata.version("civicdesk")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


@contextmanager
def _snapshot(using: str) -> Iterator[None]:
    """One consistent view of the database for the whole dump."""
    connection = connections[using]
    if connection.in_atomic_block:
        # Already inside a transaction (a test, or a caller's atomic block): it is the view.
        yield
        return
    if connection.vendor == "sqlite":
        # A deferred BEGIN fixes the WAL snapshot at the first read without taking the write
        # lock (Django's own atomic() would BEGIN IMMEDIATE and block writers meanwhile).
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("BEGIN DEFERRED")
        try:
            yield
        finally:
            with connection.cursor() as cursor:
                cursor.execute("ROLLBACK")
        return
    with transaction.atomic(using=using):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        yield


@contextmanager
def private_dir(prefix: str) -> Iterator[Path]:
    """A temporary directory only this user can read, removed however the block ends."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    path.chmod(0o700)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


class _HashingReader(io.RawIOBase):
    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.digest = hashlib.sha256()

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.digest.update(data)
        return data


def _media_files(root: Path) -> Iterator[tuple[str, Path]]:
    if not root.is_dir():
        return
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            yield path.relative_to(root).as_posix(), path


def _tar_add(tar: tarfile.TarFile, name: str, size: int, fileobj: IO[bytes]) -> None:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mode = 0o600
    info.mtime = int(time.time())
    tar.addfile(info, fileobj)


@dataclass
class BackupSummary:
    path: Path
    manifest: dict[str, Any]
    size: int
    rows: int
    seconds: float


def backup_create(
    out: Path,
    *,
    recipients: list[x25519.Recipient],
    using: str = "default",
    media_root: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> BackupSummary:
    """Dump every backed-up table and the media files into an age-encrypted tar at ``out``."""
    started = time.perf_counter()
    out = Path(out)
    if out.exists():
        raise BackupError(f"{out} already exists; not overwriting it (choose a new name)")
    if not out.parent.is_dir():
        raise BackupError(f"the directory {out.parent} does not exist")
    partial = out.with_name(out.name + ".partial")
    if partial.exists():
        raise BackupError(f"{partial} exists (an interrupted backup?); remove it first")
    media_root = Path(settings.MEDIA_ROOT if media_root is None else media_root)
    audit_record("backup.create", details={"file": out.name}, using=using)
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "created_at": timezone.now().astimezone(dt.UTC).isoformat(),
        "civicdesk_version": _version(),
        "engine": connections[using].vendor,
        "excluded_tables": sorted(EXCLUDED_TABLES),
        "tables": {},
        "media": [],
    }
    total_rows = 0
    with private_dir("civicdesk-backup-") as work:
        tar_path = work / "backup.tar"
        with tarfile.open(tar_path, "w", format=tarfile.PAX_FORMAT) as tar, _snapshot(using):
            manifest["migrations"] = _applied_migrations(using)
            head = (
                AuditEntry.objects.using(using)
                .order_by("-sequence")
                .values("sequence", "hash")
                .first()
            )
            manifest["audit"] = {
                "head_sequence": head["sequence"] if head else 0,
                "head_hash": head["hash"] if head else GENESIS_HASH,
            }
            for model in backed_up_models():
                table = model._meta.db_table
                member = f"tables/{table}.jsonl.gz"
                part = work / "table.jsonl.gz"
                with gzip.GzipFile(part, "wb", compresslevel=5, mtime=0) as gz:
                    summed = _table_write(model, using, gz)
                with part.open("rb") as data:
                    _tar_add(tar, member, part.stat().st_size, data)
                part.unlink()
                manifest["tables"][table] = {
                    "model": model._meta.label_lower,
                    "columns": _columns(model),
                    "rows": summed.rows,
                    "sha256": summed.sha256,
                    "member": member,
                }
                total_rows += summed.rows
                if progress:
                    progress(f"  {table}: {summed.rows:,} rows")
            for relative, path in _media_files(media_root):
                try:
                    size = path.stat().st_size
                    with path.open("rb") as raw:
                        reader = _HashingReader(raw)
                        _tar_add(tar, f"media/{relative}", size, reader)  # type: ignore[arg-type]
                except OSError as error:
                    raise BackupError(f"cannot read the media file {path}: {error}") from None
                manifest["media"].append(
                    {"path": relative, "size": size, "sha256": reader.digest.hexdigest()}
                )
            if progress:
                progress(f"  media: {len(manifest['media']):,} files")
            encoded = json.dumps(manifest, indent=1, sort_keys=True).encode("utf-8")
            _tar_add(tar, MANIFEST, len(encoded), io.BytesIO(encoded))
        try:
            try:
                pyrage.encrypt_file(str(tar_path), str(partial), recipients)
            except (OSError, pyrage.EncryptError) as error:
                raise BackupError(f"cannot write {partial}: {error}") from None
            partial.chmod(0o600)
            if out.exists():
                raise BackupError(f"{out} appeared while the backup was written; not replacing")
            partial.replace(out)
        except BaseException:
            partial.unlink(missing_ok=True)
            raise
    return BackupSummary(
        path=out,
        manifest=manifest,
        size=out.stat().st_size,
        rows=total_rows,
        seconds=time.perf_counter() - started,
    )


# --- opening a backup -----------------------------------------------------------------------


@dataclass
class OpenedBackup:
    """A decrypted, unpacked and verified backup in a private directory."""

    source: Path
    root: Path
    manifest: dict[str, Any]

    def member(self, name: str) -> Path:
        return self.root / name

    @property
    def rows(self) -> int:
        return sum(t["rows"] for t in self.manifest["tables"].values())


def _safe_media_path(path: Any) -> bool:
    if not isinstance(path, str) or not path or "\\" in path or "\x00" in path:
        return False
    pure = PurePosixPath(path)
    return not pure.is_absolute() and all(part not in ("", ".", "..") for part in pure.parts)


def _manifest_check(manifest: Any) -> None:
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("this is not a civicdesk backup (its manifest is missing or foreign)")
    if manifest.get("version") != FORMAT_VERSION:
        raise BackupError(
            f"this backup is in format version {manifest.get('version')!r}; this civicdesk "
            f"reads version {FORMAT_VERSION} (use the civicdesk version that made it: "
            f"{manifest.get('civicdesk_version', 'unknown')})"
        )
    for key in ("tables", "media", "migrations", "audit"):
        if key not in manifest:
            raise BackupError(f"the backup's manifest has no {key!r}: the backup is damaged")
    for entry in manifest["media"]:
        if not _safe_media_path(entry.get("path")):
            raise BackupError(f"the backup names an unsafe media path {entry.get('path')!r}")


def _decrypt(source: Path, identity_file: Path, target: Path) -> None:
    try:
        with source.open("rb") as head:
            magic = head.read(len(AGE_ARMOR))
    except OSError as error:
        raise BackupError(f"cannot read {source}: {error.strerror}") from None
    if not (magic.startswith(AGE_MAGIC) or magic.startswith(AGE_ARMOR)):
        raise BackupError(f"{source} is not an age-encrypted file (not a civicdesk backup)")
    identities = identities_load(identity_file)
    try:
        pyrage.decrypt_file(str(source), str(target), identities)
    except (pyrage.DecryptError, OSError) as error:
        if isinstance(error, OSError) and error.errno is not None:
            raise BackupError(f"cannot decrypt {source}: {error.strerror}") from None
        if "no matching keys" in str(error).lower():
            raise BackupError(
                f"this backup was not encrypted to the key in {identity_file} "
                "(or its header is damaged)"
            ) from None
        raise BackupError(
            f"{source} is damaged or truncated: it failed age's integrity check ({error})"
        ) from None


def _verify_table(path: Path, expected: dict[str, Any], name: str) -> None:
    digest = hashlib.sha256()
    rows = 0
    try:
        with gzip.open(path, "rb") as data:
            for chunk in iter(lambda: data.read(1 << 20), b""):
                digest.update(chunk)
                rows += chunk.count(b"\n")
    except (OSError, EOFError, zlib.error):
        raise BackupError(f"the member {name} is damaged (it does not decompress)") from None
    if digest.hexdigest() != expected["sha256"] or rows != expected["rows"]:
        raise BackupError(f"the member {name} failed its checksum: the backup is damaged")


def _file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for chunk in iter(lambda: data.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def backup_open(source: Path, *, identity_file: Path, work: Path) -> OpenedBackup:
    """Decrypt ``source`` into ``work`` (a private directory), unpack it and check every
    member against the manifest. Touches nothing outside ``work``."""
    source = Path(source)
    tar_path = work / "backup.tar"
    _decrypt(source, Path(identity_file), tar_path)
    root = work / "unpacked"
    root.mkdir(mode=0o700)
    members: set[str] = set()
    try:
        with tarfile.open(tar_path, "r:") as tar:
            for info in tar:
                name = info.name
                if not info.isfile() or not _safe_media_path(name) or name in members:
                    raise BackupError(f"the backup holds an unexpected member {name!r}")
                members.add(name)
                target = root / name
                target.parent.mkdir(parents=True, exist_ok=True)
                data = tar.extractfile(info)
                assert data is not None
                with target.open("wb") as out:
                    shutil.copyfileobj(data, out, 1 << 20)
    except tarfile.TarError as error:
        raise BackupError(f"{source} decrypts but is not a backup archive ({error})") from None
    finally:
        tar_path.unlink(missing_ok=True)
    if MANIFEST not in members:
        raise BackupError(f"{source} holds no manifest: it is not a civicdesk backup")
    try:
        manifest = json.loads((root / MANIFEST).read_bytes())
    except ValueError:
        raise BackupError(
            "the backup's manifest is not valid JSON: the backup is damaged"
        ) from None
    _manifest_check(manifest)
    expected = {MANIFEST}
    for table, entry in manifest["tables"].items():
        if entry.get("member") != f"tables/{table}.jsonl.gz":
            raise BackupError(f"the manifest's entry for {table!r} is damaged")
        expected.add(entry["member"])
    expected.update(f"media/{entry['path']}" for entry in manifest["media"])
    if members != expected:
        missing = sorted(expected - members)
        extra = sorted(members - expected)
        problem = f"missing {missing[0]}" if missing else f"an unlisted member {extra[0]}"
        raise BackupError(f"the backup does not match its manifest ({problem})")
    for entry in manifest["tables"].values():
        _verify_table(root / entry["member"], entry, entry["member"])
    for entry in manifest["media"]:
        path = root / "media" / entry["path"]
        if path.stat().st_size != entry["size"] or _file_sha256(path) != entry["sha256"]:
            raise BackupError(f"the member media/{entry['path']} failed its checksum")
    return OpenedBackup(source=source, root=root, manifest=manifest)


# --- restoring ------------------------------------------------------------------------------


@dataclass
class RestoreSummary:
    tables: int
    rows: int
    media_files: int
    chain_ok: bool
    chain_entries: int
    chain_problem: str
    head_matches: bool
    seconds: float


def first_table_with_rows(using: str = "default") -> str:
    """The first table holding data, or "" if the database is as ``migrate`` left it."""
    for model in backed_up_models():
        table = model._meta.db_table
        if table not in MIGRATE_FILLED_TABLES and model._base_manager.using(using).exists():
            return table
    return ""


def _restore_checks(opened: OpenedBackup, using: str, media_root: Path) -> None:
    """Everything that must hold before a row is written; raise BackupError if not."""
    manifest = opened.manifest
    connection = connections[using]
    applied = {tuple(m) for m in _applied_migrations(using)}
    wanted = {tuple(m) for m in manifest["migrations"]}
    if wanted != applied:
        known = set(MigrationLoader(None, ignore_no_migrations=True).disk_migrations)
        unknown = sorted(wanted - known)
        if unknown:
            raise BackupError(
                f"the backup was made by a newer civicdesk ({manifest.get('civicdesk_version')}):"
                f" this code does not know its migration {unknown[0][0]}.{unknown[0][1]}; "
                "install that version or later, then restore"
            )
        if wanted - applied:
            missing = sorted(wanted - applied)[0]
            raise BackupError(
                f"the database is not migrated (missing {missing[0]}.{missing[1]}): run "
                "`civicdesk migrate`, then restore"
            )
        newer = sorted(applied - wanted)[0]
        raise BackupError(
            f"the backup was made by an older civicdesk ({manifest.get('civicdesk_version')}), "
            f"before migration {newer[0]}.{newer[1]}: install that version, restore, then "
            "upgrade (which migrates the restored data)"
        )
    ours = {model._meta.db_table: model for model in backed_up_models()}
    if set(ours) != set(manifest["tables"]):
        difference = sorted(set(ours) ^ set(manifest["tables"]))
        raise BackupError(
            f"the backup's tables do not match this installation's (e.g. {difference[0]}): "
            "restore with the civicdesk version that made the backup"
        )
    for table, entry in manifest["tables"].items():
        if entry["columns"] != _columns(ours[table]):
            raise BackupError(
                f"the table {table} has other columns in the backup than here: restore with "
                "the civicdesk version that made the backup"
            )
    table_with_rows = first_table_with_rows(using)
    if table_with_rows:
        raise BackupError(
            f"the database {connection.settings_dict['NAME']} is not empty ({table_with_rows} "
            "has rows): restore only into a freshly migrated installation; nothing was changed"
        )
    for entry in manifest["media"]:
        existing = media_root / entry["path"]
        if existing.exists() and (
            not existing.is_file() or _file_sha256(existing) != entry["sha256"]
        ):
            raise BackupError(
                f"{existing} already exists with other content; not overwriting it (restore "
                "into an empty MEDIA_ROOT); nothing was changed"
            )


# Fields whose JSON value (str, int, bool, float) is already what every driver stores.
_PLAIN_FIELDS = (
    models.AutoField,
    models.BigAutoField,
    models.SmallAutoField,
    models.BigIntegerField,
    models.BooleanField,
    models.CharField,
    models.EmailField,
    models.FileField,
    models.FloatField,
    models.IntegerField,
    models.PositiveBigIntegerField,
    models.PositiveIntegerField,
    models.PositiveSmallIntegerField,
    models.SlugField,
    models.SmallIntegerField,
    models.TextField,
    models.URLField,
)


def _plain(field: Any) -> bool:
    while type(field) in (models.ForeignKey, models.OneToOneField):
        field = field.target_field
    return type(field) in _PLAIN_FIELDS


def _table_load(model: type[models.Model], path: Path, using: str) -> int:
    """Insert the rows as stored: values converted the way Django saves them, but written
    with COPY (PostgreSQL) or one prepared INSERT (SQLite), so auto_now fields keep their
    stored values and no signal fires (the audit receivers would otherwise append to the
    chain). Like ``ops.bulkload.rows_insert``, but on any connection and from JSON lines."""
    connection = connections[using]
    fields = list(model._meta.concrete_fields)
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(str(f.column)) for f in fields)
    converters = [
        None
        if _plain(f)
        else (lambda value, f=f: f.get_db_prep_save(f.to_python(value), connection))
        for f in fields
    ]

    def rows() -> Iterator[list[Any]]:
        with gzip.open(path, "rb") as data:
            for line in data:
                yield [
                    v if c is None or v is None else c(v)
                    for c, v in zip(converters, json.loads(line), strict=True)
                ]

    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor  # psycopg 3 cursor under Django's wrapper
            with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows():
                    copy.write_row(row)
                    count += 1
            return count
        placeholders = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({placeholders})"  # noqa: S608
        pending: list[list[Any]] = []
        for row in rows():
            pending.append(row)
            if len(pending) >= BATCH_ROWS:
                cursor.executemany(sql, pending)
                count += len(pending)
                pending = []
        if pending:
            cursor.executemany(sql, pending)
            count += len(pending)
    return count


def backup_restore(
    opened: OpenedBackup, *, using: str = "default", media_root: Path | None = None
) -> RestoreSummary:
    """Restore an opened backup into the (empty, migrated) database ``using`` and media
    into ``media_root``. All checks come first; the rows go in one transaction, which rolls
    back if any table's recomputed checksum differs from the manifest's."""
    started = time.perf_counter()
    manifest = opened.manifest
    media_root = Path(settings.MEDIA_ROOT if media_root is None else media_root)
    _restore_checks(opened, using, media_root)
    ours = {model._meta.db_table: model for model in backed_up_models()}
    connection = connections[using]
    staging = media_root / f".civicdesk-restore-{secrets.token_hex(4)}"
    try:
        # Media first, into a staging directory beside its destination, so a full disk or
        # a read-only MEDIA_ROOT stops the restore before the database is touched.
        staged = []
        try:
            for entry in manifest["media"]:
                destination = media_root / entry["path"]
                if destination.exists():
                    continue  # same content, checked above
                staged_path = staging / entry["path"]
                staged_path.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(opened.root / "media" / entry["path"], staged_path)
                staged.append((staged_path, destination))
        except OSError as error:
            raise BackupError(
                f"cannot write the media files to {media_root}: {error}; nothing was changed"
            ) from None
        with transaction.atomic(using=using):
            with connection.cursor() as cursor:
                for table in MIGRATE_FILLED_TABLES:
                    # Fixed table names, quoted.
                    cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")  # noqa: S608
            for table, entry in manifest["tables"].items():
                _table_load(ours[table], opened.member(entry["member"]), using)
            with connection.cursor() as cursor:
                for sql in connection.ops.sequence_reset_sql(no_style(), list(ours.values())):
                    cursor.execute(sql)
            for table, entry in manifest["tables"].items():
                summed = _table_write(ours[table], using, None)
                if summed.sha256 != entry["sha256"] or summed.rows != entry["rows"]:
                    raise BackupError(
                        f"the restored table {table} does not match the backup ({summed.rows:,}"
                        f" rows read back, {entry['rows']:,} expected): the restore was rolled "
                        "back; nothing was changed"
                    )
            report = chain_verify(using=using)
        for staged_path, destination in staged:
            destination.parent.mkdir(parents=True, exist_ok=True)
            staged_path.replace(destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    head = manifest["audit"]
    return RestoreSummary(
        tables=len(manifest["tables"]),
        rows=opened.rows,
        media_files=len(manifest["media"]),
        chain_ok=report.ok,
        chain_entries=report.entries,
        chain_problem=report.problem,
        head_matches=(report.head_sequence, report.head_hash)
        == (head["head_sequence"], head["head_hash"]),
        seconds=time.perf_counter() - started,
    )


# --- the drill ------------------------------------------------------------------------------


@dataclass
class DrillReport:
    ok: bool
    lines: list[str]
    manifest: dict[str, Any]
    problem: str = ""


@contextmanager
def scratch_database(work: Path, using: str = "default") -> Iterator[str]:
    """A new, migrated database beside ``using`` (SQLite: a file in ``work``; PostgreSQL: a
    database on the same server), under a new connection alias; dropped however it ends."""
    base = connections[using].settings_dict
    alias = f"backup_drill_{secrets.token_hex(4)}"
    config = {**base, "OPTIONS": dict(base.get("OPTIONS", {})), "TEST": dict(base["TEST"])}
    config["CONN_MAX_AGE"] = 0
    vendor = connections[using].vendor
    if vendor == "sqlite":
        config["NAME"] = str(work / "drill.sqlite3")
    elif vendor == "postgresql":
        config["NAME"] = f"{base['NAME']}_drill_{secrets.token_hex(4)}"[:63]
        try:
            with connections[using]._nodb_cursor() as cursor:
                name = connections[using].ops.quote_name(config["NAME"])
                cursor.execute(f"CREATE DATABASE {name}")
        except DatabaseError as error:
            raise BackupError(
                f"cannot create the scratch database {config['NAME']} for the drill (the "
                f"database user needs CREATEDB): {error}"
            ) from None
    else:
        raise BackupError(f"the drill does not support the {vendor} engine")
    # The scratch connection is made from its settings, then the settings are withdrawn: the
    # handler keeps the connection for this thread, and code that walks every configured
    # database (closing old connections, Django's test isolation) never meets it.
    connections.databases[alias] = config
    try:
        connections[alias]
    finally:
        del connections.databases[alias]
    try:
        call_command("migrate", database=alias, verbosity=0, interactive=False)
        yield alias
    finally:
        connections[alias].close()
        del connections[alias]
        if vendor == "postgresql":
            with connections[using]._nodb_cursor() as cursor:
                name = connections[using].ops.quote_name(config["NAME"])
                cursor.execute(f"DROP DATABASE IF EXISTS {name}")


def backup_drill(
    source: Path,
    *,
    identity_file: Path,
    using: str = "default",
    progress: Callable[[str], None] | None = None,
) -> DrillReport:
    """Restore ``source`` into a scratch database and temporary media directory, check every
    count, checksum and the audit chain against the manifest, then throw it all away."""
    say = progress or (lambda line: None)
    with private_dir("civicdesk-drill-") as work:
        opened = backup_open(source, identity_file=identity_file, work=work)
        manifest = opened.manifest
        head = manifest["audit"]
        say(
            f"Decrypted and checked {source}: made {manifest['created_at']} by civicdesk "
            f"{manifest['civicdesk_version']} on {manifest['engine']}; "
            f"{len(manifest['tables'])} tables, {opened.rows:,} rows, "
            f"{len(manifest['media']):,} media files; every member matches its checksum."
        )
        with scratch_database(work, using) as alias:
            name = connections[alias].settings_dict["NAME"]
            say(f"Scratch database {name} created and migrated.")
            media = work / "media"
            summary = backup_restore(opened, using=alias, media_root=media)
            restored_media = sum(1 for _ in _media_files(media))
            for entry in manifest["media"]:
                if _file_sha256(media / entry["path"]) != entry["sha256"]:
                    raise BackupError(f"the restored media file {entry['path']} differs")
        lines = [
            f"Restored {summary.rows:,} rows in {summary.tables} tables in "
            f"{summary.seconds:.1f} s; every table's row count and checksum read back from the "
            "scratch database matches the manifest.",
            f"Restored {restored_media:,} media files; each matches its checksum.",
        ]
        problem = ""
        if not summary.chain_ok:
            problem = f"the restored audit chain is broken: {summary.chain_problem}"
        elif not summary.head_matches:
            problem = (
                f"the restored audit chain does not end at the manifest's head "
                f"#{head['head_sequence']} {head['head_hash']}"
            )
        else:
            lines.append(
                f"Audit chain intact: {summary.chain_entries:,} entries, ending at the "
                f"manifest's head #{head['head_sequence']} {head['head_hash']}."
            )
        lines.append("Scratch database and files removed.")
        return DrillReport(ok=not problem, lines=lines, manifest=manifest, problem=problem)
