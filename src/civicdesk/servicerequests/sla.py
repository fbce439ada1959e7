"""The overdue sweep: mark open requests that passed their due time and escalate them to
their department's supervisors (one digest per supervisor per sweep)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction
from django.utils import timezone

from civicdesk.accounts.models import Role, User
from civicdesk.catalog.models import Department
from civicdesk.notifications.services import Recipient, notifications_queue

from .models import EventKind, RequestEvent, ServiceRequest
from .statuses import OPEN_STATUSES

BATCH = 500


def overdue_escalate() -> int:
    """Escalate every open, overdue request not yet escalated since it (re)opened.

    Safe to run at any time and from several workers at once: a request is claimed by a
    conditional update, so it is escalated exactly once.
    """
    total = 0
    while True:
        now = timezone.now()
        with transaction.atomic():
            batch = list(
                ServiceRequest.objects.filter(
                    status__in=sorted(OPEN_STATUSES), due_at__lt=now, escalated_at__isnull=True
                )
                .order_by("due_at")
                .values("id", "public_id", "department_id", "due_at", "address", "service__name")[
                    :BATCH
                ]
            )
            if not batch:
                return total
            claimed_ids = set()
            for row in batch:
                if ServiceRequest.objects.filter(pk=row["id"], escalated_at__isnull=True).update(
                    escalated_at=now
                ):
                    claimed_ids.add(row["id"])
            claimed = [row for row in batch if row["id"] in claimed_ids]
            RequestEvent.objects.bulk_create(
                [
                    RequestEvent(
                        request_id=row["id"],
                        kind=EventKind.ESCALATION,
                        public=False,
                        actor_label="system",
                        created_at=now,
                        data={"due_at": row["due_at"].isoformat() if row["due_at"] else None},
                    )
                    for row in claimed
                ]
            )
            _escalation_digests(claimed)
            total += len(claimed)


def _escalation_digests(rows: Sequence[Mapping[str, Any]]) -> None:
    by_department: dict[int, list[dict[str, object]]] = defaultdict(list)
    for row in rows:
        by_department[int(str(row["department_id"]))].append(
            {
                "public_id": row["public_id"],
                "service_name": row["service__name"],
                "due_at": row["due_at"],
                "address": row["address"],
            }
        )
    departments = Department.objects.in_bulk(list(by_department))
    supervisors = User.objects.filter(
        role=Role.SUPERVISOR, is_active=True, department_id__in=list(by_department)
    ).exclude(email="")
    for supervisor in supervisors:
        assert supervisor.department_id is not None
        items = by_department[supervisor.department_id]
        notifications_queue(
            kind="escalation",
            template="escalation",
            context={"requests": items, "department": departments[supervisor.department_id].name},
            recipients=[
                Recipient(
                    email=supervisor.email,
                    language=supervisor.preferred_language,
                    user_id=supervisor.pk,
                )
            ],
        )
