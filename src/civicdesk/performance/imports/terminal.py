"""What the import commands show a person: a progress bar on stderr, the summary, every
rejected row (and, with ``--errors FILE``, all of them as CSV)."""

from __future__ import annotations

import csv
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from django.core.management.base import BaseCommand, CommandError, CommandParser, OutputWrapper

from civicdesk.errors import InvalidInput

from .run import ImportReport, Progress

BAR_WIDTH = 30
REDRAW_SECONDS = 0.25
SHOWN_WITH_ERRORS_FILE = 20


def run_arguments(parser: CommandParser, unit: str) -> None:
    """The options both import commands take."""
    parser.add_argument(
        "--strict", action="store_true", help=f"Write nothing if any {unit} is bad."
    )
    parser.add_argument("--dry-run", action="store_true", help="Check everything; write nothing.")
    parser.add_argument(
        "--errors", metavar="FILE", help=f"Write every rejected {unit} (line, id, reason) as CSV."
    )
    parser.add_argument(
        "--progress",
        action="store_true",
        help="Show the progress bar even when stderr is not a terminal.",
    )


class ProgressBar:
    """``[#########.........]  31%  310,000 rows  52,000 rows/s``, redrawn a few times a second."""

    def __init__(self, stream: TextIO, *, enabled: bool) -> None:
        self.stream = stream
        self.enabled = enabled
        self.started = time.monotonic()
        self.last = 0.0
        self.drawn = False

    def __call__(self, rows: int, done: float) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self.last < REDRAW_SECONDS and done < 1:
            return
        self.last = now
        done = min(max(done, 0.0), 1.0)
        filled = int(done * BAR_WIDTH)
        rate = rows / max(now - self.started, 1e-9)
        self.stream.write(
            f"\r[{'#' * filled}{'.' * (BAR_WIDTH - filled)}] {done:4.0%}  "
            f"{rows:,} rows  {rate:,.0f} rows/s "
        )
        self.stream.flush()
        self.drawn = True

    def close(self) -> None:
        if self.drawn:
            self.stream.write("\n")
            self.stream.flush()


def errors_write(report: ImportReport, path: str | Path) -> None:
    with Path(path).open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "source_id", "reason"])
        for error in report.errors:
            writer.writerow([error.line, error.source_id, error.reason])


def report_show(
    report: ImportReport,
    *,
    stdout: OutputWrapper,
    stderr: OutputWrapper,
    errors_path: str | None,
    unit: str = "row",
) -> None:
    """Print the summary and the rejected rows; raise ``CommandError`` if nothing was kept
    because of ``--strict``."""
    if errors_path:
        errors_write(report, errors_path)
    shown = report.errors if not errors_path else report.errors[:SHOWN_WITH_ERRORS_FILE]
    for error in shown:
        ident = f" (source id {error.source_id})" if error.source_id else ""
        stderr.write(f"{unit} {error.line}{ident}: {error.reason}")
    if len(shown) < len(report.errors):
        stderr.write(
            f"... and {len(report.errors) - len(shown):,} more rejected {unit}s: "
            f"all {len(report.errors):,} are in {errors_path}"
        )
    elif errors_path and report.errors:
        stderr.write(f"The rejected {unit}s are also in {errors_path}")
    verb = "would be" if not report.committed else ""
    counts = (
        f"{report.created:,} created, {report.updated:,} updated, "
        f"{report.unchanged:,} unchanged, {report.rejected:,} rejected"
    )
    stdout.write(
        f"{report.source}: read {report.read:,} {unit}s from {report.location} in "
        f"{report.seconds:.1f}s ({report.rows_per_second:,.0f} {unit}s/s)"
    )
    stdout.write(f"  {verb + ': ' if verb else ''}{counts}")
    made = [
        f"{n:,} {one if n == 1 else many}"
        for n, one, many in (
            (report.services_created, "service", "services"),
            (report.departments_created, "department", "departments"),
            (report.districts_created, "council district", "council districts"),
        )
        if n
    ]
    if made:
        stdout.write(f"  new: {', '.join(made)}")
    for warning in report.warnings:
        stderr.write(f"warning: {warning}")
    if report.dry_run:
        stdout.write("Dry run: nothing was written.")
    elif not report.committed:
        raise CommandError(
            f"{report.rejected:,} bad {unit}{'s' if report.rejected != 1 else ''}; "
            "nothing was imported (--strict)"
        )


def import_and_show(
    command: BaseCommand,
    run: Callable[[Progress], ImportReport],
    options: dict[str, Any],
    *,
    unit: str,
) -> None:
    """Run an import with a progress bar, then show what it did (``CommandError`` when
    nothing was imported)."""
    bar = ProgressBar(sys.stderr, enabled=options["progress"] or sys.stderr.isatty())
    try:
        report = run(bar)
    except InvalidInput as exc:
        raise CommandError(f"{exc}\nNothing was imported.") from None
    finally:
        bar.close()
    report_show(
        report,
        stdout=command.stdout,
        stderr=command.stderr,
        errors_path=options["errors"],
        unit=unit,
    )
