"""`civicdesk export requests`: the open data export of service requests, to a file or
standard output (the same rows and formats as the portal's open data downloads)."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicdesk.audit.services import audit_record
from civicdesk.errors import InvalidInput
from civicdesk.performance.opendata import (
    FORMATS,
    Row,
    export_filter_parse,
    request_export_pages,
)


class Command(BaseCommand):
    help = "Export open data: service requests as CSV, JSON or GeoJSON, without personal data."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="dataset", required=True)
        requests = sub.add_parser(
            "requests", help="Service requests, oldest first (see docs/open-data.md)."
        )
        requests.add_argument("--format", choices=sorted(FORMATS), default="csv")
        requests.add_argument(
            "--from",
            dest="date_from",
            default="",
            metavar="DATE",
            help="First day received, YYYY-MM-DD (included).",
        )
        requests.add_argument(
            "--to",
            dest="date_to",
            default="",
            metavar="DATE",
            help="Last day received, YYYY-MM-DD (included).",
        )
        requests.add_argument(
            "--service",
            action="append",
            default=[],
            metavar="CODE",
            help="Only this service (repeat, or separate codes with commas).",
        )
        requests.add_argument(
            "--out",
            default="-",
            metavar="FILE",
            help="Write to FILE (replaced only once the export is complete); default stdout.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            export_filter = export_filter_parse(
                date_from=options["date_from"],
                date_to=options["date_to"],
                services=options["service"],
            )
        except InvalidInput as exc:
            raise CommandError(
                "\n".join(
                    f"--{field}: {message}"
                    for field, messages in exc.field_errors.items()
                    for message in messages
                )
            ) from None
        counted = [0]
        chunks = FORMATS[options["format"]].chunks(
            _counting(request_export_pages(export_filter), counted)
        )
        out = options["out"]
        if out == "-":
            try:
                for chunk in chunks:
                    self.stdout.write(chunk, ending="")
                self.stdout.flush()
            except BrokenPipeError:
                # The reader has had enough (`| head`): stop quietly, as other tools do.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                raise SystemExit(1) from None
        else:
            _write_whole(Path(out), chunks)
        where = "standard output" if out == "-" else out
        count = counted[0]
        audit_record(
            "export.requests",
            details={
                "format": options["format"],
                "rows": count,
                "to": where,
                "from": options["date_from"] or "",
                "until": options["date_to"] or "",
                "services": list(options["service"] or []),
            },
        )
        self.stderr.write(f"Exported {count:,} request{'' if count == 1 else 's'} to {where}.")


def _counting(pages: Iterable[list[Row]], counted: list[int]) -> Iterator[list[Row]]:
    for page in pages:
        counted[0] += len(page)
        yield page


def _write_whole(path: Path, chunks: Iterable[str]) -> None:
    """Write beside ``path`` and rename at the end: a failed export never leaves a file
    that looks complete."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.partial")
    try:
        handle = partial.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        raise CommandError(f"cannot write {path}: {exc.strerror}") from None
    try:
        with handle:
            for chunk in chunks:
                handle.write(chunk)
        partial.replace(path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
