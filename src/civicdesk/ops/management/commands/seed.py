"""`civicdesk seed`: load the demo city and synthetic service requests."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from civicdesk.accounts.mfa import DEMO_TOTP_SECRET, totp_code
from civicdesk.ops.demo import DEMO_PASSWORD, demo_city_load
from civicdesk.ops.seed import requests_seed
from civicdesk.performance.rollups import rollups_rebuild
from civicdesk.servicerequests.models import ServiceRequest

DEMO_REQUESTS = 5000


def _requests(n: int) -> str:
    return f"{n:,} request" + ("" if n == 1 else "s")


class Command(BaseCommand):
    help = (
        "Load the demo city of Prairie Falls (departments, services, calendar, boundaries, "
        "staff) and synthetic service requests over the last 18 months."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--requests",
            type=int,
            default=None,
            metavar="N",
            help=f"Add N synthetic requests (default: {DEMO_REQUESTS} when there are none yet).",
        )
        parser.add_argument(
            "--if-empty",
            action="store_true",
            help="Do nothing if the database already holds requests.",
        )
        parser.add_argument(
            "--seed", type=int, default=311, help="Random seed, for repeatable data (default 311)."
        )
        parser.add_argument(
            "--demo-code",
            action="store_true",
            help="Only print the demo staff's current sign-in code (their second step) and stop.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["demo_code"]:
            self.stdout.write(totp_code(DEMO_TOTP_SECRET))
            return
        count = options["requests"]
        if count is not None and count < 0:
            raise CommandError("--requests must be zero or more")
        existing = ServiceRequest.objects.count()
        if options["if_empty"] and existing:
            self.stdout.write(f"The database already holds {_requests(existing)}; nothing to do.")
            return
        summary = demo_city_load()
        self.stdout.write(
            f"Demo city loaded: {summary.departments} departments, {summary.services} services, "
            f"{summary.zones} zones, {summary.staff} staff accounts "
            f"(password {DEMO_PASSWORD!r}; second step: authenticator key "
            f"{DEMO_TOTP_SECRET}, or `civicdesk seed --demo-code` prints the current code)."
        )
        if count is None:
            if existing:
                self.stdout.write(
                    f"The database already holds {_requests(existing)}; none added "
                    "(use --requests N to add more)."
                )
                return
            count = DEMO_REQUESTS
        if count == 0:
            return
        started = time.perf_counter()
        tty = sys.stdout.isatty()

        def progress(done: int) -> None:
            rate = done / max(time.perf_counter() - started, 1e-9)
            line = f"  {done:,}/{count:,} requests ({rate:,.0f}/s)"
            if tty:
                self.stdout.write("\r" + line, ending="")
                self.stdout.flush()
            elif done == count or done % 100_000 == 0:
                self.stdout.write(line)

        try:
            stats = requests_seed(count=count, seed=options["seed"], progress=progress)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if tty:
            self.stdout.write("")
        self.stdout.write(
            f"Added {stats.requests:,} requests, {stats.events:,} timeline events and "
            f"{stats.contacts:,} contacts in {stats.seconds:.1f}s "
            f"({stats.requests / max(stats.seconds, 1e-9):,.0f} requests/s)."
        )
        started = time.perf_counter()
        rows = rollups_rebuild()
        self.stdout.write(
            f"Performance rollups rebuilt: {rows:,} daily rows in "
            f"{time.perf_counter() - started:.1f}s."
        )
