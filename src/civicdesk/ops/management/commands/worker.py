"""`civicdesk worker`: run background jobs (notifications, the overdue sweep) from the queue.

Run as many as you like, on one machine or several, against the same database.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.utils.crypto import get_random_string
from django_tasks_db.management.commands.db_worker import Worker

from civicdesk.ops.jobs import Housekeeper, WorkerHeartbeat


class Command(BaseCommand):
    help = "Run a background job worker (with the periodic runner for the overdue sweep)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--batch", action="store_true", help="Run what is queued now, then exit."
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=1.0,
            help="Seconds between polls of an empty queue (default 1).",
        )
        parser.add_argument(
            "--no-periodic",
            action="store_true",
            help="Do not enqueue periodic jobs from this worker.",
        )
        parser.add_argument(
            "--max-tasks", type=int, default=None, help="Exit after running this many tasks."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["interval"] < 0:
            self.stderr.write("--interval must be zero or more")
            raise SystemExit(2)
        if options["max_tasks"] is not None and options["max_tasks"] < 1:
            self.stderr.write("--max-tasks must be 1 or more")
            raise SystemExit(2)
        worker_id = get_random_string(24)
        housekeeper = Housekeeper(worker_id, periodic=not options["no_periodic"])
        housekeeper.tick()  # register and catch up before the first task
        worker = Worker(
            queue_names=["*"],
            interval=options["interval"],
            batch=options["batch"],
            backend_name="default",
            startup_delay=not options["batch"],
            max_tasks=options["max_tasks"],
            worker_id=worker_id,
            excluded_queue_names=[],
        )
        if not options["batch"]:
            housekeeper.start()
            worker.configure_signals()
            self.stdout.write(f"civicdesk worker {worker_id} started; Ctrl+C to stop.")
        try:
            worker.run()
        finally:
            housekeeper.stop()
            WorkerHeartbeat.objects.filter(worker_id=worker_id).delete()
