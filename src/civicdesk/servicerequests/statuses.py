"""The request lifecycle: statuses, how each maps to Open311's open/closed, and which
transitions are legal. One function (``transition_check``) decides a transition."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from civicdesk.errors import TransitionNotAllowed


class Status(models.TextChoices):
    NEW = "new", _("New")
    ACKNOWLEDGED = "acknowledged", _("Acknowledged")
    ASSIGNED = "assigned", _("Assigned")
    IN_PROGRESS = "in_progress", _("In progress")
    ON_HOLD = "on_hold", _("On hold, waiting on resident")
    RESOLVED = "resolved", _("Resolved")
    CLOSED = "closed", _("Closed")
    DUPLICATE = "duplicate", _("Duplicate")
    REFERRED = "referred", _("Referred to another agency")
    CANNOT_LOCATE = "cannot_locate", _("Cannot locate")
    REOPENED = "reopened", _("Reopened")


CLOSED_STATUSES = frozenset(
    {Status.RESOLVED, Status.CLOSED, Status.DUPLICATE, Status.REFERRED, Status.CANNOT_LOCATE}
)
OPEN_STATUSES = frozenset(set(Status) - CLOSED_STATUSES)


def open311_status(status: str) -> str:
    """GeoReport v2 knows only ``open`` and ``closed``."""
    return "closed" if status in CLOSED_STATUSES else "open"


_WORKING = {Status.ACKNOWLEDGED, Status.ASSIGNED, Status.IN_PROGRESS, Status.ON_HOLD}
_ENDINGS = set(CLOSED_STATUSES)

TRANSITIONS: dict[str, frozenset[str]] = {
    Status.NEW: frozenset(_WORKING | _ENDINGS),
    Status.ACKNOWLEDGED: frozenset(
        {Status.ASSIGNED, Status.IN_PROGRESS, Status.ON_HOLD} | _ENDINGS
    ),
    Status.ASSIGNED: frozenset({Status.IN_PROGRESS, Status.ON_HOLD} | _ENDINGS),
    Status.IN_PROGRESS: frozenset({Status.ASSIGNED, Status.ON_HOLD} | _ENDINGS),
    Status.ON_HOLD: frozenset({Status.ASSIGNED, Status.IN_PROGRESS} | _ENDINGS),
    Status.REOPENED: frozenset(_WORKING | _ENDINGS),
    # A resolved request may still be closed (confirmed) or reopened; other endings only reopen.
    Status.RESOLVED: frozenset({Status.CLOSED, Status.REOPENED}),
    Status.CLOSED: frozenset({Status.REOPENED}),
    Status.DUPLICATE: frozenset({Status.REOPENED}),
    Status.REFERRED: frozenset({Status.REOPENED}),
    Status.CANNOT_LOCATE: frozenset({Status.REOPENED}),
}


def transition_check(current: str, target: str) -> None:
    """Raise ``TransitionNotAllowed`` unless ``current -> target`` is legal."""
    if target not in Status.values:
        raise TransitionNotAllowed(f"{target!r} is not a status")
    if target == current:
        raise TransitionNotAllowed(f"the request is already {Status(current).label}")
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current]))
        raise TransitionNotAllowed(
            f"a request that is {Status(current).label} cannot become {Status(target).label} "
            f"(allowed: {allowed})"
        )
