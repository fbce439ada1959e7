"""Background jobs of the service-requests app."""

from __future__ import annotations

from django_tasks import task

from .retention import retention_apply
from .sla import overdue_escalate


@task()
def escalate_overdue() -> int:
    return overdue_escalate()


@task()
def apply_retention() -> dict[str, int]:
    return retention_apply()
