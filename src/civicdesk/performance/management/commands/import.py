"""`civicdesk import FILE --preset NAME | --mapping MAP`: load a city's 311 history."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicdesk.errors import InvalidInput
from civicdesk.performance.imports.mapping import mapping_load, preset_load, presets_available
from civicdesk.performance.imports.run import file_import
from civicdesk.performance.imports.terminal import import_and_show, run_arguments


class Command(BaseCommand):
    help = (
        "Import a city's service-request export (CSV) through a preset or a mapping file. "
        "Re-running updates changed requests and creates nothing twice; bad rows are "
        "reported with their line and skipped (or, with --strict, nothing is written). "
        "See docs/imports.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="The CSV export.")
        how = parser.add_mutually_exclusive_group(required=True)
        how.add_argument(
            "--preset", choices=presets_available(), help="A city whose export format ships."
        )
        how.add_argument("--mapping", metavar="MAP", help="A mapping file (TOML).")
        run_arguments(parser, "row")

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            mapping = (
                preset_load(options["preset"])
                if options["preset"]
                else mapping_load(options["mapping"])
            )
        except InvalidInput as exc:
            raise CommandError(str(exc)) from None
        import_and_show(
            self,
            lambda progress: file_import(
                path=options["file"],
                mapping=mapping,
                strict=options["strict"],
                dry_run=options["dry_run"],
                progress=progress,
                started_by="command line",
            ),
            options,
            unit="row",
        )
