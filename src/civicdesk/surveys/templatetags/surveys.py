"""Template filters of the survey pages: a survey's, section's or question's text in the
reader's language (the portal's ``localized`` tag, as filters usable inside other tags)."""

from __future__ import annotations

from django import template

from civicdesk.catalog.models import Translatable

register = template.Library()


@register.filter
def localized_title(obj: Translatable, language: str | None) -> str:
    return obj.localized("title", language)


@register.filter
def localized_intro(obj: Translatable, language: str | None) -> str:
    return obj.localized("intro", language)


@register.filter
def localized_text(obj: Translatable, language: str | None) -> str:
    return obj.localized("text", language)


@register.filter
def percent(value: float | None) -> str:
    return "-" if value is None else f"{value:.0%}"


@register.filter
def get_item(mapping: dict[str, object] | None, key: str) -> object:
    """``mapping[key]``, or None: a results table's 311 figures by question or area."""
    return (mapping or {}).get(key)
