"""``civicdesk personal-data export|erase``: a resident's personal data on their request
(the services in ``servicerequests/privacy.py``; see docs/privacy.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicdesk.audit.context import command_origin, origin
from civicdesk.errors import CivicdeskError
from civicdesk.ops.files import private_file_create
from civicdesk.servicerequests.privacy import (
    personal_data_erase,
    personal_data_erase_plan,
    personal_data_export,
)


def _write_new(path: Path, text: str) -> None:
    """Write ``text`` to a file that must not exist yet, readable by its owner only."""
    try:
        private_file_create(path, text)
    except FileExistsError:
        raise CommandError(f"{path} already exists; choose another --out file") from None
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror}") from None


class Command(BaseCommand):
    help = "Export or erase a resident's personal data, found by email address and/or phone."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="{export,erase}")
        export = sub.add_parser("export", help="Everything held on the person, as JSON.")
        erase = sub.add_parser(
            "erase", help="Blank the person's details, keeping their requests' records."
        )
        for action in (export, erase):
            action.add_argument("--email", default="", help="The person's email address.")
            action.add_argument("--phone", default="", help="The person's phone number.")
        export.add_argument(
            "--out", metavar="FILE", help="Write to FILE (must not exist) instead of stdout."
        )
        erase.add_argument(
            "--redact-text",
            action="store_true",
            help="Also replace the description of the requests the person reported.",
        )
        erase.add_argument(
            "--yes",
            action="store_true",
            help="Erase. Without it, show what would be erased and change nothing.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        email, phone = options["email"], options["phone"]
        try:
            with origin(command_origin("personal-data")):
                if options["action"] == "export":
                    self._export(email, phone, options.get("out"))
                else:
                    self._erase(email, phone, options["redact_text"], options["yes"])
        except CivicdeskError as exc:
            raise CommandError(str(exc)) from None

    def _export(self, email: str, phone: str, out: str | None) -> None:
        if out and Path(out).exists():  # checked first: a refused export is not recorded
            raise CommandError(f"{out} already exists; choose another --out file")
        document = personal_data_export(email=email, phone=phone)
        text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
        if not out:
            self.stdout.write(text, ending="")
            return
        _write_new(Path(out), text)
        self.stderr.write(
            f"Wrote {out}: {len(document['contacts'])} contact records, "
            f"{len(document['requests'])} requests, {len(document['notifications'])} "
            f"notifications, {len(document['accounts'])} accounts."
        )

    def _erase(self, email: str, phone: str, redact_text: bool, yes: bool) -> None:
        plan = personal_data_erase_plan(email=email, phone=phone)
        counts = plan.counts
        ids = ", ".join(plan.public_ids) or "none"
        if not yes:
            redacted = (
                f"; the description of {counts['reported']} reported requests would be replaced"
                if redact_text
                else ""
            )
            self.stdout.write(
                f"Would erase: {counts['contacts']} contact records, stop "
                f"{counts['followers']} follows, blank the address on "
                f"{counts['notifications']} notifications, anonymise {counts['accounts']} "
                f"resident accounts{redacted}.\n"
                f"Requests concerned (kept, with their timelines): {ids}.\n"
                "Nothing was changed; run again with --yes to erase."
            )
            return
        done = personal_data_erase(email=email, phone=phone, redact_text=redact_text)
        redacted = f", {done['descriptions']} descriptions replaced" if redact_text else ""
        self.stdout.write(
            self.style.SUCCESS(
                f"Erased: {done['contacts']} contact records blanked, {done['followers']} "
                f"follows removed, {done['notifications']} notification addresses blanked, "
                f"{done['accounts']} resident accounts anonymised{redacted}. "
                f"Requests kept: {ids}."
            )
        )
