"""`civicdesk report monthly --month 2026-10 [--out DIR] [--language en|es]`: the council
report as PDF and CSV (docs/budget-and-reports.md)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicdesk.audit.services import audit_record
from civicdesk.errors import CivicdeskError
from civicdesk.performance.report import report_write


class Command(BaseCommand):
    help = "Write the monthly performance report for council (PDF and CSV)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="kind", required=True)
        monthly = sub.add_parser("monthly", help="One month's report.")
        monthly.add_argument("--month", required=True, help="The month, as YYYY-MM (2026-10).")
        monthly.add_argument(
            "--out", default=".", help="Directory to write into (default: the current one)."
        )
        monthly.add_argument(
            "--language",
            default=settings.LANGUAGE_CODE,
            choices=[code for code, _name in settings.LANGUAGES],
            help="Language of the report (default: %(default)s).",
        )
        monthly.add_argument(
            "--allow-empty",
            action="store_true",
            help="Write the report even when no request was received in the month.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        started = time.monotonic()
        try:
            pdf, csv = report_write(
                month=options["month"],
                out=Path(options["out"]),
                language=options["language"],
                allow_empty=options["allow_empty"],
            )
        except CivicdeskError as exc:
            raise CommandError(str(exc)) from None
        audit_record(
            "export.report", details={"month": options["month"], "files": [str(pdf), str(csv)]}
        )
        self.stdout.write(str(pdf))
        self.stdout.write(str(csv))
        if options["verbosity"] > 1:
            self.stderr.write(f"Written in {time.monotonic() - started:.1f} s.")
