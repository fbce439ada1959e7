"""`civicdesk costs load FILE.csv` sets unit costs for budgeting; `civicdesk costs export`
prints them in the same format (docs/budget-and-reports.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicdesk.errors import CivicdeskError
from civicdesk.performance.costs import costs_export, costs_load


class Command(BaseCommand):
    help = "Load or export the unit costs (hourly rates, fixed costs, labour hours, materials)."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        load = sub.add_parser(
            "load", help="Check a costs CSV file and, if every row is good, save it."
        )
        load.add_argument("file", help="CSV: kind,code,hourly_rate,annual_fixed_cost,...")
        sub.add_parser("export", help="Print the current unit costs as a costs CSV file.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "export":
            self.stdout.write(costs_export(), ending="")
            return
        path = Path(options["file"])
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise CommandError(f"{path}: {exc.strerror or exc}") from None
        try:
            saved = costs_load(data)
        except CivicdeskError as exc:
            raise CommandError(f"{path}: nothing was saved. {exc}") from None
        self.stdout.write(f"{path}: {saved}")
