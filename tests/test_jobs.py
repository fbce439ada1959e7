"""Background jobs: periodic jobs run once per interval however many workers there are, the
overdue sweep escalates each late request once to its department's supervisors, and a job
whose worker died is run again rather than lost."""

from __future__ import annotations

import datetime as dt
import io
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.utils import timezone
from django_tasks_db.models import DBTaskResult

from civicdesk.accounts.models import Role, User
from civicdesk.catalog.models import Department
from civicdesk.notifications.models import Notification
from civicdesk.ops.jobs import heartbeat, periodic_tick, stranded_tasks_recover
from civicdesk.ops.models import PeriodicJob, WorkerHeartbeat
from civicdesk.servicerequests.models import EventKind, RequestEvent, ServiceRequest
from civicdesk.servicerequests.services import request_reopen, request_transition
from civicdesk.servicerequests.sla import overdue_escalate
from civicdesk.servicerequests.statuses import Status
from tests.conftest import EAST_SIDE, make_request, run_jobs
from tests.jobs_fixtures import (
    add,
    sleep_on_first_attempt,
)

PROJECT = Path(__file__).resolve().parents[1]
ESCALATE = "civicdesk.servicerequests.tasks.escalate_overdue"
SWEEP = "civicdesk.notifications.tasks.sweep_notifications"
ROLLUPS = "civicdesk.performance.tasks.refresh_rollups"
RETENTION = "civicdesk.servicerequests.tasks.apply_retention"


def queued_paths() -> list[str]:
    return sorted(DBTaskResult.objects.values_list("task_path", flat=True))


def result_row(result: Any) -> DBTaskResult:
    return DBTaskResult.objects.get(id=result.id)


# --------------------------------------------------------------------------------------
# Periodic jobs


def test_periodic_jobs_are_enqueued_once_per_interval(city: None, settings: Any) -> None:
    settings.CIVICDESK_SLA_SWEEP_SECONDS = 60
    settings.CIVICDESK_ROLLUP_SECONDS = 600
    start = timezone.now()

    assert periodic_tick(start) == [
        "escalate-overdue",
        "sweep-notifications",
        "refresh-rollups",
        "apply-retention",
    ]
    # A second worker ticking at the same moment finds nothing due.
    assert periodic_tick(start) == []
    assert periodic_tick(start + dt.timedelta(seconds=59)) == []
    assert queued_paths() == [SWEEP, ROLLUPS, RETENTION, ESCALATE]

    assert periodic_tick(start + dt.timedelta(seconds=60)) == ["escalate-overdue"]
    assert periodic_tick(start + dt.timedelta(seconds=60)) == []
    assert periodic_tick(start + dt.timedelta(seconds=300)) == [
        "escalate-overdue",
        "sweep-notifications",
    ]
    assert queued_paths() == [SWEEP, SWEEP, ROLLUPS, RETENTION, ESCALATE, ESCALATE, ESCALATE]
    jobs = {job.name: job for job in PeriodicJob.objects.all()}
    assert jobs["escalate-overdue"].next_run_at == start + dt.timedelta(seconds=360)
    assert jobs["sweep-notifications"].last_run_at == start + dt.timedelta(seconds=300)
    assert jobs["apply-retention"].next_run_at == start + dt.timedelta(days=1)

    # The jobs they enqueue run.
    run_jobs()
    assert set(DBTaskResult.objects.values_list("status", flat=True)) == {"SUCCESSFUL"}


# --------------------------------------------------------------------------------------
# The overdue sweep


def make_overdue(request: ServiceRequest, hours: float = 2) -> ServiceRequest:
    ServiceRequest.objects.filter(pk=request.pk).update(
        due_at=timezone.now() - dt.timedelta(hours=hours)
    )
    request.refresh_from_db()
    return request


def escalations(request: ServiceRequest) -> list[tuple[bool, str]]:
    return list(
        RequestEvent.objects.filter(request=request, kind=EventKind.ESCALATION).values_list(
            "public", "actor_label"
        )
    )


def by_recipient(outbox: list[Any]) -> dict[str, Any]:
    messages: dict[str, Any] = {}
    for message in outbox:
        [to] = message.to
        assert to not in messages, f"{to} received two digests"
        messages[to] = message
    return messages


def test_overdue_requests_are_escalated_once_to_each_supervisor(
    city: None, deliver: Any, outbox: list[Any]
) -> None:
    public_works = Department.objects.get(code="PW")
    User.objects.create(
        username="pw.supervisor2",
        email="deputy@prairiefalls.example",
        role=Role.SUPERVISOR,
        department=public_works,
    )
    User.objects.create(
        username="pw.retired",
        email="retired@prairiefalls.example",
        role=Role.SUPERVISOR,
        department=public_works,
        is_active=False,
    )
    pothole = make_overdue(make_request(), hours=5)
    east_pothole = make_overdue(make_request(at=EAST_SIDE), hours=1)
    vehicle = make_overdue(make_request("abandoned-vehicle"))
    assert [r.department.code for r in (pothole, east_pothole, vehicle)] == ["PW", "PW", "DOT"]
    resolved = make_request()
    request_transition(request=resolved, to_status=Status.RESOLVED)
    resolved = make_overdue(resolved)
    not_yet_due = make_request()
    assert not_yet_due.due_at is not None and not_yet_due.due_at > timezone.now()

    with deliver():
        assert overdue_escalate() == 3

    for request in (pothole, east_pothole, vehicle):
        request.refresh_from_db()
        assert request.escalated_at is not None
        assert escalations(request) == [(False, "system")]
    for request in (resolved, not_yet_due):
        request.refresh_from_db()
        assert request.escalated_at is None
        assert escalations(request) == []

    digests = by_recipient(outbox)
    assert sorted(digests) == [
        "deputy@prairiefalls.example",
        "dot.supervisor@prairiefalls.example",
        "pw.supervisor@prairiefalls.example",
    ]
    for address in ("pw.supervisor@prairiefalls.example", "deputy@prairiefalls.example"):
        digest = digests[address]
        assert digest.subject == "2 requests are now overdue in Public Works"
        assert "passed their due time and were escalated to you" in digest.body
        # Most overdue first.
        assert digest.body.index(pothole.public_id) < digest.body.index(east_pothole.public_id)
        assert f"{pothole.public_id} Pothole, due " in digest.body
        assert vehicle.public_id not in digest.body
    transportation = digests["dot.supervisor@prairiefalls.example"]
    assert transportation.subject == "1 request is now overdue in Transportation"
    assert vehicle.public_id in transportation.body
    assert pothole.public_id not in transportation.body
    assert set(
        Notification.objects.filter(kind="escalation").values_list("user__username", flat=True)
    ) == {"pw.supervisor", "pw.supervisor2", "dot.supervisor"}

    # The next sweep finds nothing new.
    outbox.clear()
    with deliver():
        assert overdue_escalate() == 0
    assert outbox == []
    assert escalations(pothole) == [(False, "system")]


def test_a_reopened_request_can_be_escalated_again(
    city: None, deliver: Any, outbox: list[Any]
) -> None:
    request = make_overdue(make_request())
    assert overdue_escalate() == 1
    request_transition(request=request, to_status=Status.RESOLVED)
    request_reopen(request=request, reason="Still there", by_resident=True)
    request.refresh_from_db()
    assert request.escalated_at is None
    assert request.due_at is not None and request.due_at > timezone.now()

    assert overdue_escalate() == 0  # a fresh target after reopening: not late yet
    make_overdue(request)
    with deliver():
        assert overdue_escalate() == 1
    assert escalations(request) == [(False, "system"), (False, "system")]
    [digest] = outbox
    assert digest.to == ["pw.supervisor@prairiefalls.example"]
    assert request.public_id in digest.body


# --------------------------------------------------------------------------------------
# Tasks left running by a dead worker


def claimed_by(worker_id: str, *, result: Any = None) -> DBTaskResult:
    """A task a worker took off the queue (as the worker does), and then stopped answering."""
    row = result_row(result or add.enqueue(2, 3))
    row.claim(worker_id)
    return row


def after_staleness(seconds: float = 1) -> dt.datetime:
    return timezone.now() + dt.timedelta(
        seconds=django_settings.CIVICDESK_WORKER_STALE_SECONDS + seconds
    )


def test_a_task_of_a_dead_worker_is_requeued_and_then_runs(city: None) -> None:
    heartbeat("dead-worker")
    quiet = claimed_by("dead-worker")
    never_beat = claimed_by("vanished-worker")

    assert stranded_tasks_recover(now=after_staleness()) == {"requeued": 2, "failed": 0}
    for row in (quiet, never_beat):
        row.refresh_from_db()
        assert (row.status, row.started_at) == ("READY", None)

    run_jobs()
    for row in (quiet, never_beat):
        row.refresh_from_db()
        assert (row.status, row.return_value) == ("SUCCESSFUL", 5)
    quiet.refresh_from_db()
    assert quiet.worker_ids == ["dead-worker", "test-worker"]


def test_a_task_of_a_live_worker_is_left_alone(city: None) -> None:
    later = after_staleness(60)
    heartbeat("busy-worker", now=later)  # still beating while its long job runs
    long_job = claimed_by("busy-worker")
    dead_workers_job = claimed_by("vanished-worker")

    assert stranded_tasks_recover(now=later) == {"requeued": 1, "failed": 0}
    long_job.refresh_from_db()
    dead_workers_job.refresh_from_db()
    assert (long_job.status, dead_workers_job.status) == ("RUNNING", "READY")


def test_a_task_started_recently_is_left_alone(city: None) -> None:
    just_started = claimed_by("vanished-worker")
    # Its worker never beat, but the task started too recently to call the worker dead.
    assert stranded_tasks_recover() == {"requeued": 0, "failed": 0}
    just_started.refresh_from_db()
    assert just_started.status == "RUNNING"


def test_a_task_that_keeps_losing_its_worker_is_failed(city: None, settings: Any) -> None:
    settings.CIVICDESK_TASK_MAX_ATTEMPTS = 3
    result = add.enqueue(1, 1)
    for attempt, worker in enumerate(["w1", "w2"], start=1):
        claimed_by(worker, result=result)
        assert stranded_tasks_recover(now=after_staleness()) == {"requeued": 1, "failed": 0}
        assert result_row(result).worker_ids == ["w1", "w2"][:attempt]
    claimed_by("w3", result=result)

    recover_at = after_staleness()
    assert stranded_tasks_recover(now=recover_at) == {"requeued": 0, "failed": 1}
    row = result_row(result)
    assert row.status == "FAILED"
    assert row.finished_at == recover_at
    assert row.exception_class_path == "civicdesk.ops.jobs.WorkerLost"
    assert row.traceback == "the worker running this task stopped 3 times"
    final = add.get_result(result.id)
    assert final.status.name == "FAILED"

    run_jobs()  # a failed task is not run again
    assert result_row(result).status == "FAILED"


# --------------------------------------------------------------------------------------
# The worker command


def test_worker_batch_runs_what_is_queued_and_exits(
    city: None, outbox: list[Any], django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=True):
        request = make_request(email="reporter@example.org")
    sum_result = add.enqueue(20, 22)
    stdout = io.StringIO()

    call_command("worker", "--batch", stdout=stdout)

    assert result_row(sum_result).status == "SUCCESSFUL"
    assert result_row(sum_result).return_value == 42
    [message] = outbox
    assert message.subject == f"We received your request {request.public_id}"
    # Without --no-periodic the worker also enqueued and ran the periodic jobs.
    assert set(PeriodicJob.objects.values_list("name", flat=True)) == {
        "escalate-overdue",
        "sweep-notifications",
        "refresh-rollups",
        "apply-retention",
    }
    assert sorted(DBTaskResult.objects.values_list("task_path", "status")) == [
        ("civicdesk.notifications.tasks.deliver_notification", "SUCCESSFUL"),
        (SWEEP, "SUCCESSFUL"),
        (ROLLUPS, "SUCCESSFUL"),
        (RETENTION, "SUCCESSFUL"),
        (ESCALATE, "SUCCESSFUL"),
        ("tests.jobs_fixtures.add", "SUCCESSFUL"),
    ]
    assert not WorkerHeartbeat.objects.exists()  # it signed off


def test_worker_batch_no_periodic_leaves_periodic_jobs_alone(city: None) -> None:
    result = add.enqueue(1, 2)
    call_command("worker", "--batch", "--no-periodic", stdout=io.StringIO())
    assert result_row(result).status == "SUCCESSFUL"
    assert not PeriodicJob.objects.exists()
    assert queued_paths() == ["tests.jobs_fixtures.add"]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--interval", "-1"], "--interval must be zero or more"),
        (["--max-tasks", "0"], "--max-tasks must be 1 or more"),
    ],
)
def test_worker_refuses_bad_options(city: None, options: list[str], message: str) -> None:
    result = add.enqueue(1, 2)
    stderr = io.StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command("worker", "--batch", *options, stderr=stderr, stdout=io.StringIO())
    assert exit_.value.code == 2
    assert message in stderr.getvalue()
    assert result_row(result).status == "READY"  # nothing ran
    assert not WorkerHeartbeat.objects.exists()


def test_worker_refuses_an_interval_that_is_not_a_number(city: None) -> None:
    with pytest.raises(CommandError, match="--interval: invalid float value: 'soon'"):
        call_command("worker", "--interval", "soon")


# --------------------------------------------------------------------------------------
# The real thing: a worker process killed mid-job


def wait_for(condition: Callable[[], bool], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.1)


def database_url() -> str:
    db = django_settings.DATABASES["default"]
    auth = db["USER"] + (f":{db['PASSWORD']}" if db.get("PASSWORD") else "")
    return f"postgres://{auth}@{db['HOST'] or 'localhost'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.slow
def test_a_job_survives_its_worker_being_killed(
    transactional_db: None, city: None, tmp_path: Path
) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("a worker subprocess can share the test database only on PostgreSQL")
    result = sleep_on_first_attempt.enqueue(seconds=60)
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(PROJECT), os.environ.get("PYTHONPATH")])),
        "DJANGO_SETTINGS_MODULE": "civicdesk.settings",
    }
    log = tmp_path / "worker.log"
    with log.open("wb") as log_file:
        worker = subprocess.Popen(  # noqa: S603 - our own command line, fixed arguments
            [
                str(Path(sys.executable).parent / "civicdesk"),
                "worker",
                "--no-periodic",
                "--interval",
                "0.2",
            ],
            cwd=PROJECT,
            env=env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(
            lambda: worker.poll() is not None or result_row(result).status == "RUNNING",
            timeout=30,
            what="the worker to start the job",
        )
        assert worker.poll() is None, f"the worker exited early:\n{log.read_text()}"
        [worker_id] = result_row(result).worker_ids
        assert WorkerHeartbeat.objects.filter(worker_id=worker_id).exists()
        worker.send_signal(signal.SIGKILL)
        worker.wait(timeout=10)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait(timeout=10)
    assert worker.returncode == -signal.SIGKILL

    # The job is stranded: still marked running by a worker that no longer exists.
    assert result_row(result).status == "RUNNING"
    assert stranded_tasks_recover() == {"requeued": 0, "failed": 0}  # too soon to tell

    assert stranded_tasks_recover(now=after_staleness()) == {"requeued": 1, "failed": 0}
    run_jobs()

    row = result_row(result)
    assert (row.status, row.return_value) == ("SUCCESSFUL", 2)
    assert row.worker_ids == [worker_id, "test-worker"]
