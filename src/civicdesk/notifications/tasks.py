"""Background jobs of the notifications app."""

from __future__ import annotations

from django_tasks import task

from .services import notification_deliver, notifications_sweep


@task()
def deliver_notification(notification_id: int) -> str:
    return notification_deliver(notification_id)


@task()
def sweep_notifications() -> int:
    return notifications_sweep()
