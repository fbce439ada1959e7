"""``civicdesk backup OUT``: an encrypted, consistent backup of the database and uploaded
files. ``civicdesk backup keygen [--out FILE]``: a new key pair for it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicdesk.audit.context import origin
from civicdesk.ops.backup import (
    BackupError,
    backup_create,
    cli_origin,
    keypair_create,
    recipients_parse,
)

DEFAULT_IDENTITY_FILE = "civicdesk-backup-identity.txt"


class Command(BaseCommand):
    help = (
        "Write an encrypted backup of the database and uploaded files to OUT (a new file), "
        "encrypted to the public keys in --recipient and CIVICDESK_BACKUP_RECIPIENTS. "
        "`civicdesk backup keygen [--out FILE]` makes a new key pair (to back up to a file "
        "named keygen, write ./keygen)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("out", metavar="OUT", help="The backup file to create, or keygen.")
        parser.add_argument(
            "--recipient",
            action="append",
            default=[],
            metavar="AGE_PUBLIC_KEY",
            help="Encrypt to this public key (age1...), as well as to those in "
            "CIVICDESK_BACKUP_RECIPIENTS. Repeatable.",
        )
        parser.add_argument(
            "--out",
            dest="identity_out",
            metavar="FILE",
            help=f"With keygen: where to write the identity (default {DEFAULT_IDENTITY_FILE}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        self.verbosity = options["verbosity"]
        try:
            if options["out"] == "keygen":
                self._keygen(Path(options["identity_out"] or DEFAULT_IDENTITY_FILE))
            else:
                if options["identity_out"]:
                    raise CommandError("--out is for `civicdesk backup keygen`; give OUT instead")
                self._backup(Path(options["out"]), options["recipient"])
        except BackupError as error:
            raise CommandError(str(error)) from None

    def _keygen(self, path: Path) -> None:
        public = keypair_create(path)
        self.stdout.write(
            f"Wrote a new backup identity (secret key) to {path} (readable only by you).\n"
            f"Public key: {public}\n\n"
            "Give the public key to the server: CIVICDESK_BACKUP_RECIPIENTS="
            f"{public} (or --recipient). The server can then write backups it cannot read.\n"
            f"Keep {path} OFFLINE (a USB key in a safe, a password manager), never on the server "
            "that makes the backups: whoever holds it can read every backup, and without it "
            "no backup can be restored. Keep two copies in different places."
        )

    def _backup(self, out: Path, extra: list[str]) -> None:
        recipients = recipients_parse([*settings.CIVICDESK_BACKUP_RECIPIENTS, *extra])
        with origin(cli_origin("backup")):
            summary = backup_create(out, recipients=recipients, progress=self._progress)
        manifest = summary.manifest
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup written to {summary.path}: {summary.rows:,} rows in "
                f"{len(manifest['tables'])} tables, {len(manifest['media']):,} media files, "
                f"{summary.size / 1e6:,.1f} MB encrypted to {len(recipients)} key(s), "
                f"in {summary.seconds:.1f} s."
            )
        )
        self.stdout.write(
            f"Audit head: #{manifest['audit']['head_sequence']} "
            f"{manifest['audit']['head_hash']}\n"
            "Record this head hash somewhere else (it proves, after a restore, that no audit "
            "entry was cut off): `civicdesk audit verify --expect-head HASH`."
        )

    def _progress(self, line: str) -> None:
        if self.verbosity > 1:
            self.stdout.write(line)
