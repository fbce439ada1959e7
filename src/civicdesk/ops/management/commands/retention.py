"""``civicdesk retention [--dry-run]``: apply the personal-data retention rules now (the
"apply-retention" job does it daily) and say what was removed."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from civicdesk.audit.context import command_origin, origin
from civicdesk.servicerequests.retention import retention_apply, retention_days

LABELS = {
    "contacts": "contact records (details blanked)",
    "notifications": "notification records (deleted)",
    "media": "photos (deleted)",
    "sign_in_attempts": "sign-in records (deleted)",
}


class Command(BaseCommand):
    help = "Remove personal data past its retention limit (CIVICDESK_RETAIN_*_DAYS)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would be removed; change nothing."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        dry_run = options["dry_run"]
        with origin(command_origin("retention")):
            counts = retention_apply(dry_run=dry_run)
        days = retention_days()
        self.stdout.write("Would remove (dry run, nothing changed):" if dry_run else "Removed:")
        for name, label in LABELS.items():
            limit = f"older than {days[name]} days" if days[name] else "kept for ever"
            self.stdout.write(f"  {counts[name]:>8}  {label}, {limit}")
