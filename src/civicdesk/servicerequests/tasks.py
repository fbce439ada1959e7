"""Background jobs of the service-requests app."""

from __future__ import annotations

from django_tasks import task

from .sla import overdue_escalate


@task()
def escalate_overdue() -> int:
    return overdue_escalate()
