"""What makes the job queue safe to run with several workers that may die:

- Periodic jobs (the overdue sweep, the notification sweep) are enqueued by whichever worker
  first claims the due row with a conditional update, so each runs once per interval however
  many workers there are.
- Each worker beats in ``WorkerHeartbeat``. A task left *running* by a worker that has gone
  quiet is put back on the queue (or failed after too many attempts), so no job is lost when a
  worker dies mid-job. Our tasks are idempotent, so running one again is safe.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
import threading
from dataclasses import dataclass

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone
from django.utils.module_loading import import_string
from django_tasks_db.models import DBTaskResult

from .models import PeriodicJob, WorkerHeartbeat

logger = logging.getLogger("civicdesk.jobs")

RUNNING, READY, FAILED = "RUNNING", "READY", "FAILED"


@dataclass(frozen=True)
class Periodic:
    name: str
    task_path: str
    interval_seconds: int


def periodic_jobs() -> list[Periodic]:
    return [
        Periodic(
            "escalate-overdue",
            "civicdesk.servicerequests.tasks.escalate_overdue",
            settings.CIVICDESK_SLA_SWEEP_SECONDS,
        ),
        Periodic("sweep-notifications", "civicdesk.notifications.tasks.sweep_notifications", 300),
        Periodic(
            "refresh-rollups",
            "civicdesk.performance.tasks.refresh_rollups",
            settings.CIVICDESK_ROLLUP_SECONDS,
        ),
        # Personal data past its retention limit (see docs/privacy.md): once a day is plenty.
        Periodic("apply-retention", "civicdesk.servicerequests.tasks.apply_retention", 86400),
    ]


def periodic_tick(now: dt.datetime | None = None) -> list[str]:
    """Enqueue every periodic job that is due; returns the names enqueued by this caller."""
    now = now or timezone.now()
    enqueued = []
    for job in periodic_jobs():
        row, _ = PeriodicJob.objects.get_or_create(
            name=job.name,
            defaults={
                "task_path": job.task_path,
                "interval_seconds": job.interval_seconds,
                "next_run_at": now,
            },
        )
        if row.next_run_at > now:
            continue
        claimed = PeriodicJob.objects.filter(pk=row.pk, next_run_at=row.next_run_at).update(
            next_run_at=now + dt.timedelta(seconds=job.interval_seconds),
            last_run_at=now,
            task_path=job.task_path,
            interval_seconds=job.interval_seconds,
        )
        if claimed:
            import_string(job.task_path).enqueue()
            enqueued.append(job.name)
    return enqueued


def heartbeat(worker_id: str, *, now: dt.datetime | None = None) -> None:
    now = now or timezone.now()
    updated = WorkerHeartbeat.objects.filter(worker_id=worker_id).update(last_seen=now)
    if not updated:
        WorkerHeartbeat.objects.create(
            worker_id=worker_id,
            hostname=socket.gethostname()[:255],
            pid=os.getpid(),
            started_at=now,
            last_seen=now,
        )


def stranded_tasks_recover(now: dt.datetime | None = None) -> dict[str, int]:
    """Requeue tasks left running by dead workers; fail those that were tried too often."""
    now = now or timezone.now()
    stale_before = now - dt.timedelta(seconds=settings.CIVICDESK_WORKER_STALE_SECONDS)
    alive = set(
        WorkerHeartbeat.objects.filter(last_seen__gte=stale_before).values_list(
            "worker_id", flat=True
        )
    )
    requeued = failed = 0
    running = DBTaskResult.objects.filter(status=RUNNING, started_at__lt=stale_before)
    for task_id, worker_ids in running.values_list("id", "worker_ids"):
        if worker_ids and worker_ids[-1] in alive:
            continue
        if len(worker_ids or []) >= settings.CIVICDESK_TASK_MAX_ATTEMPTS:
            failed += DBTaskResult.objects.filter(id=task_id, status=RUNNING).update(
                status=FAILED,
                finished_at=now,
                exception_class_path="civicdesk.ops.jobs.WorkerLost",
                traceback=f"the worker running this task stopped {len(worker_ids)} times",
            )
        else:
            requeued += DBTaskResult.objects.filter(id=task_id, status=RUNNING).update(
                status=READY, started_at=None
            )
    if requeued or failed:
        logger.warning(
            "recovered tasks from dead workers: %s requeued, %s failed", requeued, failed
        )
    WorkerHeartbeat.objects.filter(last_seen__lt=now - dt.timedelta(days=1)).delete()
    return {"requeued": requeued, "failed": failed}


class WorkerLost(Exception):
    """Recorded on a task whose worker died too many times while running it."""


class Housekeeper(threading.Thread):
    """Beats for its worker, enqueues periodic jobs and recovers stranded tasks."""

    def __init__(self, worker_id: str, *, interval: float = 5.0, periodic: bool = True):
        super().__init__(name="civicdesk-housekeeper", daemon=True)
        self.worker_id = worker_id
        self.interval = interval
        self.periodic = periodic
        self.stopping = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                self.tick()
                self.stopping.wait(self.interval)
        finally:
            connection.close()

    def tick(self) -> None:
        close_old_connections()
        try:
            heartbeat(self.worker_id)
            if self.periodic:
                periodic_tick()
            stranded_tasks_recover()
        except Exception:
            # A locked database or a lost connection: try again on the next beat.
            logger.exception("housekeeping failed; retrying in %ss", self.interval)

    def stop(self) -> None:
        self.stopping.set()
