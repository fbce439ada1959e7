"""Template helpers of the staff console: names from ``values()`` rows, service-level badges
and the wording of timeline events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django import template
from django.utils.safestring import SafeString
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from civicdesk.catalog.service_levels import SlaState
from civicdesk.richtext import rich_text_html
from civicdesk.servicerequests.models import Channel, EventKind, Priority, RequestEvent
from civicdesk.servicerequests.statuses import Status

register = template.Library()

SLA_LABELS = {
    SlaState.NO_TARGET: gettext_lazy("No target"),
    SlaState.ON_TIME: gettext_lazy("On time"),
    SlaState.DUE_SOON: gettext_lazy("Due soon"),
    SlaState.OVERDUE: gettext_lazy("Overdue"),
    SlaState.CLOSED_ON_TIME: gettext_lazy("Closed on time"),
    SlaState.CLOSED_LATE: gettext_lazy("Closed late"),
}
SLA_CLASSES = {
    SlaState.ON_TIME: "badge-on-time",
    SlaState.DUE_SOON: "badge-due-soon",
    SlaState.OVERDUE: "badge-overdue",
    SlaState.CLOSED_ON_TIME: "badge-closed",
    SlaState.CLOSED_LATE: "badge-late",
}
ACTOR_LABELS = {
    "system": gettext_lazy("the system"),
    "resident": gettext_lazy("a resident"),
    "staff": gettext_lazy("staff"),
    "api": gettext_lazy("an app (Open311)"),
}


@register.inclusion_tag("console/_sla_badge.html")
def sla_badge(state: str) -> dict[str, Any]:
    state = SlaState(state)
    return {"label": SLA_LABELS[state], "css": SLA_CLASSES.get(state, ""), "state": str(state)}


@register.simple_tag
def row_name(row: Mapping[str, Any], prefix: str, language: str | None) -> str:
    """``<prefix>__name`` of a ``values()`` row in the reader's language, if translated."""
    code = (language or "").split("-")[0]
    names = (row.get(f"{prefix}__translations") or {}).get(code) or {}
    return str(names.get("name") or row.get(f"{prefix}__name") or "")


@register.filter
def person_row(row: Mapping[str, Any]) -> str:
    full = f"{row.get('assignee__first_name') or ''} {row.get('assignee__last_name') or ''}"
    return full.strip() or str(row.get("assignee__username") or "")


@register.filter
def status_label(code: str) -> str:
    return str(Status(code).label) if code in Status.values else code


@register.filter
def priority_label(value: Any) -> str:
    return str(Priority(value).label) if value in Priority.values else str(value)


@register.filter
def actor_name(event: RequestEvent) -> str:
    if event.actor is not None:
        return str(event.actor)
    return str(ACTOR_LABELS.get(event.actor_label, event.actor_label or _("the system")))


@register.simple_tag
def event_details(event: RequestEvent, names: Mapping[str, Mapping[int, str]]) -> list[str]:
    """What an event changed, in words (its note is shown separately)."""
    data = event.data or {}
    lines: list[str] = []
    if event.kind == EventKind.STATUS_CHANGE and event.to_status:
        if event.from_status:
            lines.append(
                _("Status: %(old)s → %(new)s")
                % {"old": status_label(event.from_status), "new": status_label(event.to_status)}
            )
        else:
            lines.append(_("Status: %(new)s") % {"new": status_label(event.to_status)})
    if data.get("referred_to"):
        lines.append(_("Referred to %(agency)s") % {"agency": data["referred_to"]})
    if event.kind == EventKind.CREATED and data.get("channel"):
        channel = data["channel"]
        label = Channel(channel).label if channel in Channel.values else channel
        lines.append(_("Received by %(channel)s") % {"channel": label})
    if event.kind == EventKind.ASSIGNMENT and isinstance(data.get("to"), dict):
        to = data["to"]
        parts = [
            names.get("department", {}).get(to.get("department"), ""),
            names.get("team", {}).get(to.get("team"), ""),
            names.get("assignee", {}).get(to.get("assignee"), ""),
        ]
        lines.append(_("Now with: %(who)s") % {"who": " / ".join(p for p in parts if p)})
    if event.kind == EventKind.PRIORITY and "to" in data:
        lines.append(
            _("Priority: %(old)s → %(new)s")
            % {"old": priority_label(data.get("from")), "new": priority_label(data["to"])}
        )
    if event.kind == EventKind.MERGE:
        if data.get("parent"):
            lines.append(_("Duplicate of %(id)s") % {"id": data["parent"]})
        if data.get("duplicate"):
            lines.append(_("%(id)s was merged into this request") % {"id": data["duplicate"]})
    return lines


@register.filter
def rich_text(text: str) -> SafeString:
    """Staff-written formatted text, cleaned (see ``civicdesk.richtext``)."""
    return rich_text_html(text or "")
