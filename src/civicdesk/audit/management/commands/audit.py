"""``civicdesk audit verify``: recompute the audit log's hash chain and name the first
broken entry. ``civicdesk audit list``: the latest entries."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from civicdesk.audit.chain import chain_verify
from civicdesk.audit.models import AuditEntry


class Command(BaseCommand):
    help = "Check the audit log's hash chain (verify) or show its latest entries (list)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True, metavar="{verify,list}")
        verify = sub.add_parser("verify", help="Check every entry's hash and link.")
        verify.add_argument(
            "--expect-head",
            metavar="HASH",
            help="Also require the chain to reach the entry with this hash (a head you "
            "recorded elsewhere, e.g. in a backup's manifest): this catches entries cut off "
            "the end.",
        )
        listing = sub.add_parser("list", help="Show the latest entries.")
        listing.add_argument("--last", type=int, default=20, metavar="N")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "list":
            last = options["last"]
            if last < 1:
                raise CommandError("--last must be at least 1")
            for entry in reversed(AuditEntry.objects.order_by("-sequence")[:last]):
                target = f"{entry.target_type} {entry.target_id}".strip()
                self.stdout.write(
                    f"#{entry.sequence}  {timezone.localtime(entry.at):%Y-%m-%d %H:%M:%S%z}  "
                    f"{entry.actor or '(system)'}  {entry.action}  {target}  {entry.ip}".rstrip()
                )
            return
        report = chain_verify()
        if not report.ok:
            raise CommandError(
                f"audit chain broken at entry #{report.broken_sequence} (row id "
                f"{report.broken_id}): {report.problem}. The {report.entries} entries before "
                "it are intact."
            )
        expected = (options.get("expect_head") or "").strip().lower()
        if expected:
            reached = AuditEntry.objects.filter(hash=expected).values_list("sequence", flat=True)
            sequence = reached.first()
            if sequence is None:
                raise CommandError(
                    f"the chain is intact but holds no entry with hash {expected}: entries "
                    f"were removed from its end (it now ends at #{report.head_sequence}), or "
                    "the hash is from another installation."
                )
            self.stdout.write(
                f"it reaches the expected entry #{sequence}"
                + (
                    f" and {report.head_sequence - sequence} entries follow it"
                    if report.head_sequence > sequence
                    else ""
                )
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"audit chain intact: {report.entries} entries; head #{report.head_sequence} "
                f"{report.head_hash}"
            )
        )
