"""Numbers on the budget pages: amounts of money and prediction intervals, in the reader's
language (the same wording as the council report)."""

from __future__ import annotations

from decimal import Decimal

from django import template
from django.conf import settings
from django.template.defaultfilters import floatformat
from django.utils.translation import gettext as _

from civicdesk.performance.forecast import Interval

register = template.Library()


@register.filter
def money(value: Decimal | float | None, decimals: int = 0) -> str:
    """``$1,234`` (``decimals`` after the point), or a dash for no value."""
    if value is None:
        return "\u2013"
    return f"{settings.CIVICDESK_CURRENCY_SYMBOL}{floatformat(value, f'{decimals}g')}"


@register.simple_tag
def interval(value: Interval | None, level: int = 80, as_money: bool = False) -> str:
    """The ``level``% (80 or 95) prediction interval as "low to high"."""
    if value is None:
        return "\u2013"
    low, high = (value.low95, value.high95) if level == 95 else (value.low80, value.high80)
    show = money if as_money else (lambda v: floatformat(v, "0g"))
    return _("%(low)s to %(high)s") % {"low": show(low), "high": show(high)}
