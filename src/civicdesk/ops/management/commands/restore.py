"""``civicdesk restore IN``: restore a backup into an empty installation.
``civicdesk restore IN --drill``: prove a backup restores, in a scratch database."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from civicdesk.audit.context import origin
from civicdesk.audit.services import audit_record
from civicdesk.ops.backup import (
    BackupError,
    DrillReport,
    backup_drill,
    backup_open,
    backup_restore,
    cli_origin,
    first_table_with_rows,
    private_dir,
)

IDENTITY_ENV = "CIVICDESK_BACKUP_IDENTITY_FILE"


class Command(BaseCommand):
    help = (
        "Restore a backup made by `civicdesk backup` into this (freshly migrated, empty) "
        "installation, or with --drill into a scratch database that is checked and dropped."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source", metavar="IN", help="The backup file.")
        parser.add_argument(
            "--identity",
            metavar="FILE",
            help=f"The age identity file (secret key) the backup was encrypted to "
            f"(default: ${IDENTITY_ENV}).",
        )
        parser.add_argument(
            "--drill",
            action="store_true",
            help="Restore into a scratch database and temporary media directory, verify row "
            "counts, checksums and the audit chain against the manifest, report, and drop it. "
            "Changes nothing but one backup.drill audit entry.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        identity = options["identity"] or os.environ.get(IDENTITY_ENV, "")
        if not identity:
            raise CommandError(
                f"give the backup's identity file (its secret key) with --identity FILE or "
                f"{IDENTITY_ENV}"
            )
        source = Path(options["source"])
        try:
            with origin(cli_origin("restore")):
                if options["drill"]:
                    self._drill(source, Path(identity))
                else:
                    self._restore(source, Path(identity))
        except BackupError as error:
            raise CommandError(str(error)) from None

    def _restore(self, source: Path, identity: Path) -> None:
        with private_dir("civicdesk-restore-") as work:
            opened = backup_open(source, identity_file=identity, work=work)
            manifest = opened.manifest
            self.stdout.write(
                f"{source}: made {manifest['created_at']} by civicdesk "
                f"{manifest['civicdesk_version']} on {manifest['engine']}; every member matches "
                "its checksum."
            )
            summary = backup_restore(opened)
        head = manifest["audit"]
        audit_record(
            "backup.restore",
            details={
                "file": source.name,
                "backup_created_at": manifest["created_at"],
                "rows": summary.rows,
                "media_files": summary.media_files,
                "head_sequence": head["head_sequence"],
                "head_hash": head["head_hash"],
            },
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {summary.rows:,} rows in {summary.tables} tables and "
                f"{summary.media_files:,} media files in {summary.seconds:.1f} s; every table "
                "read back matches the backup's checksum."
            )
        )
        if summary.chain_ok and summary.head_matches:
            self.stdout.write(
                f"Audit chain intact up to the backup's head #{head['head_sequence']} "
                f"{head['head_hash']} (then one backup.restore entry)."
            )
        else:
            self.stderr.write(
                self.style.ERROR(
                    "WARNING: the restored audit chain does not verify up to the backup's head "
                    f"#{head['head_sequence']} {head['head_hash']}: "
                    f"{summary.chain_problem or 'it ends elsewhere'}. The data is restored as "
                    "backed up; run `civicdesk audit verify` and investigate."
                )
            )
        self.stdout.write(
            "Sessions were not restored: everyone signs in again. Rotate passwords and keys "
            "if this restore follows an incident (docs/backups.md)."
        )

    def _drill(self, source: Path, identity: Path) -> None:
        report = backup_drill(source, identity_file=identity, progress=self.stdout.write)
        for line in report.lines:
            self.stdout.write(line)
        try:
            if first_table_with_rows():
                self._record_drill(source, report)
            else:
                # A clean server awaiting this restore: an entry would make it non-empty.
                self.stdout.write("(Not recorded in the audit log: this installation is empty.)")
        except DatabaseError as error:
            # A drill on a machine without a migrated database still reports its result.
            self.stderr.write(f"(the drill could not be recorded in the audit log: {error})")
        if not report.ok:
            raise CommandError(f"DRILL FAILED: {report.problem}")
        self.stdout.write(self.style.SUCCESS("DRILL PASSED: this backup restores."))

    def _record_drill(self, source: Path, report: DrillReport) -> None:
        head = report.manifest["audit"]
        audit_record(
            "backup.drill",
            details={
                "file": source.name,
                "backup_created_at": report.manifest["created_at"],
                "ok": report.ok,
                "problem": report.problem,
                "head_sequence": head["head_sequence"],
                "head_hash": head["head_hash"],
            },
        )
