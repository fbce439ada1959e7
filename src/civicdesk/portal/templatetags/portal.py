"""Template helpers shared by the portal and the console."""

from __future__ import annotations

from typing import Any

from django import template
from django.forms import BoundField
from django.utils.safestring import SafeString

from civicdesk.catalog.models import Translatable

register = template.Library()


@register.simple_tag
def localized(obj: Translatable, field: str, language: str | None) -> str:
    """A catalogue text in the reader's language (falling back to the default)."""
    return obj.localized(field, language)


@register.simple_tag
def widget(field: BoundField) -> SafeString:
    """The field's input, tied to its help text and errors for screen readers."""
    described = []
    if field.help_text:
        described.append(f"{field.auto_id}-help")
    attrs: dict[str, Any] = {}
    if field.errors:
        described.append(f"{field.auto_id}-error")
        attrs["aria-invalid"] = "true"
    if described:
        attrs["aria-describedby"] = " ".join(described)
    if getattr(field.field, "is_required_question", False):
        attrs["aria-required"] = "true"
    return field.as_widget(attrs=attrs)


@register.filter
def localized_name(obj: Translatable, language: str | None) -> str:
    return obj.localized("name", language)


@register.filter
def field_named(form: Any, name: str) -> BoundField:
    bound: BoundField = form[name]
    return bound


@register.simple_tag
def service_name_row(row: dict[str, Any], language: str | None) -> str:
    """A service's name in a ``values()`` row carrying ``service__name`` and translations."""
    code = (language or "").split("-")[0]
    names = (row.get("service__translations") or {}).get(code) or {}
    return str(names.get("name") or row["service__name"])


@register.inclusion_tag("portal/_status_badge.html")
def status_badge(status: str) -> dict[str, Any]:
    from civicdesk.servicerequests.statuses import CLOSED_STATUSES, Status

    return {"label": Status(status).label, "closed": status in CLOSED_STATUSES}
