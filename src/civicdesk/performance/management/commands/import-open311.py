"""`civicdesk import-open311 URL`: pull requests from another GeoReport v2 server."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from civicdesk.performance.imports.run import open311_import
from civicdesk.performance.imports.terminal import import_and_show, run_arguments

DEFAULT_DAYS = 90


def _moment(text: str, option: str) -> dt.datetime:
    """A date (midnight, local) or an ISO 8601 date and time."""
    moment = parse_datetime(text)
    if moment is None:
        day = parse_date(text)
        if day is None:
            raise CommandError(f"{option} {text!r} is not a date (YYYY-MM-DD) or date and time")
        moment = dt.datetime.combine(day, dt.time())
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    return moment


class Command(BaseCommand):
    help = (
        "Import service requests from another city system's GeoReport v2 (Open311) server, "
        "window by window. URL is the endpoint that serves services.json and requests.json. "
        "Idempotent like `civicdesk import`; see docs/imports.md."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("url", help="e.g. https://311.example.gov/open311/v2")
        parser.add_argument(
            "--since",
            metavar="DATE",
            help=f"Requests received from this date (default: {DEFAULT_DAYS} days ago).",
        )
        parser.add_argument(
            "--until", metavar="DATE", help="Requests received up to this date (default: now)."
        )
        parser.add_argument(
            "--source", default="", help="Name of the source (default: the server's host)."
        )
        parser.add_argument(
            "--id-prefix",
            default="",
            help="Public ids become PREFIX-<id> (default: from the source's name).",
        )
        parser.add_argument("--api-key", default="", help="Sent as api_key.")
        parser.add_argument("--jurisdiction-id", default="", help="Sent as jurisdiction_id.")
        parser.add_argument(
            "--page-size",
            type=int,
            default=None,
            metavar="N",
            help="The most requests the server returns at once (default: learned).",
        )
        parser.add_argument("--timeout", type=float, default=60, help="Seconds per call.")
        run_arguments(parser, "request")

    def handle(self, *args: Any, **options: Any) -> None:
        until = _moment(options["until"], "--until") if options["until"] else timezone.now()
        since = (
            _moment(options["since"], "--since")
            if options["since"]
            else until - dt.timedelta(days=DEFAULT_DAYS)
        )
        if since >= until:
            raise CommandError(f"--since ({since:%Y-%m-%d %H:%M}) must be before --until")
        if options["page_size"] is not None and options["page_size"] < 1:
            raise CommandError("--page-size must be at least 1")
        import_and_show(
            self,
            lambda progress: open311_import(
                url=options["url"],
                since=since,
                until=until,
                source=options["source"],
                id_prefix=options["id_prefix"],
                api_key=options["api_key"],
                jurisdiction_id=options["jurisdiction_id"],
                page_size=options["page_size"],
                timeout=options["timeout"],
                strict=options["strict"],
                dry_run=options["dry_run"],
                progress=progress,
                started_by="command line",
            ),
            options,
            unit="request",
        )
