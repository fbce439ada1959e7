"""Validation of answers to a service's questions (Open311 attributes) against their
definitions. Every door passes raw answers here and stores what comes back."""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _

from civicdesk.errors import InvalidInput

from .models import Datatype, ServiceAttribute

MAX_STRING_LENGTH = 500
MAX_TEXT_LENGTH = 4000

Answer = str | int | float | list[str]


def _blank(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip()
    if isinstance(value, list | tuple):
        return all(_blank(v) for v in value)
    return False


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, list | tuple):
        return [v for v in value if not _blank(v)]
    return [value]


def _one(value: Any, label: str) -> Any:
    values = _as_list(value)
    if len(values) != 1:
        raise ValueError(
            _("%(label)s takes one answer, got %(n)s") % {"label": label, "n": len(values)}
        )
    if not isinstance(values[0], str | int | float | Decimal | dt.date):
        raise ValueError(_("expected text, got %(kind)s") % {"kind": type(values[0]).__name__})
    return values[0]


# Plain ASCII decimal notation only: Decimal() would also take "1_000" and other scripts' digits.
_NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$", re.ASCII)


def _not_a_choice(key: str, allowed: list[str]) -> str:
    return _("%(value)r is not one of the choices (%(choices)s)") % {
        "value": key,
        "choices": ", ".join(allowed),
    }


def answer_clean(attribute: ServiceAttribute, value: Any) -> Answer:
    """One answer, checked and normalised to its datatype; ``ValueError`` says why not."""
    datatype = attribute.datatype
    if datatype in (Datatype.STRING, Datatype.TEXT):
        text = str(_one(value, _("this question"))).strip()
        limit = MAX_STRING_LENGTH if datatype == Datatype.STRING else MAX_TEXT_LENGTH
        if len(text) > limit:
            raise ValueError(
                _("must be at most %(limit)s characters (got %(n)s)")
                % {"limit": limit, "n": len(text)}
            )
        return text
    if datatype == Datatype.NUMBER:
        raw = _one(value, _("a number"))
        if isinstance(raw, bool):
            raise ValueError(_("must be a number"))
        text = str(raw).strip()
        if not _NUMBER_RE.match(text):
            raise ValueError(_("%(value)r is not a number") % {"value": raw})
        try:
            number = Decimal(text)
        except InvalidOperation:
            raise ValueError(_("%(value)r is not a number") % {"value": raw}) from None
        if not number.is_finite() or not math.isfinite(float(number)):
            raise ValueError(_("%(value)r is not a finite number") % {"value": raw})
        return int(number) if number == number.to_integral_value() else float(number)
    if datatype == Datatype.DATETIME:
        raw = _one(value, _("a date and time"))
        if isinstance(raw, dt.datetime):
            moment: dt.datetime | None = raw
        else:
            try:
                moment = parse_datetime(str(raw).strip())
            except ValueError:
                moment = None
            if moment is None:
                try:
                    day = dt.date.fromisoformat(str(raw).strip())
                except ValueError:
                    raise ValueError(
                        _("%(value)r is not a date and time (use ISO 8601, e.g. 2026-05-01T14:30)")
                        % {"value": raw}
                    ) from None
                moment = dt.datetime.combine(day, dt.time())
        assert moment is not None
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment)
        return moment.isoformat()
    allowed = [str(v["key"]) for v in attribute.values]
    if datatype == Datatype.SINGLEVALUELIST:
        key = str(_one(value, _("this question"))).strip()
        if key not in allowed:
            raise ValueError(_not_a_choice(key, allowed))
        return key
    if datatype == Datatype.MULTIVALUELIST:
        keys: list[str] = []
        for item in _as_list(value):
            key = str(item).strip()
            if key not in allowed:
                raise ValueError(_not_a_choice(key, allowed))
            if key not in keys:
                keys.append(key)
        return keys
    raise ValueError(f"unknown datatype {datatype!r}")  # pragma: no cover


def answers_clean(
    attributes: Iterable[ServiceAttribute], raw: Mapping[str, Any] | None
) -> dict[str, Answer]:
    """All answers for a service: required ones present, each valid, no unknown codes.

    Raises ``InvalidInput`` naming every bad answer (``attribute[CODE]``) at once.
    Informational texts (``variable=False``) ask nothing: a value a client echoes back for one
    is ignored, not refused and not stored.
    """
    raw = dict(raw or {})
    attributes = list(attributes)
    questions = {a.code: a for a in attributes if a.variable}
    informational = {a.code for a in attributes if not a.variable}
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Answer] = {}
    for code in raw:
        if code not in questions and code not in informational:
            errors[f"attribute[{code}]"] = [_("this service has no such question")]
    for code, attribute in questions.items():
        value = raw.get(code)
        if _blank(value):
            if attribute.required:
                errors[f"attribute[{code}]"] = [_("an answer is required")]
            continue
        try:
            cleaned[code] = answer_clean(attribute, value)
        except ValueError as exc:
            errors[f"attribute[{code}]"] = [str(exc)]
    if errors:
        raise InvalidInput(errors, code="invalid_attribute")
    return cleaned


def attribute_definition_check(*, datatype: str, values: Any, variable: bool = True) -> None:
    """The rules an attribute definition itself must meet (used by the admin and loaders)."""
    if datatype not in Datatype.values:
        raise InvalidInput({"datatype": [f"{datatype!r} is not an Open311 datatype"]})
    is_list = datatype in (Datatype.SINGLEVALUELIST, Datatype.MULTIVALUELIST)
    if not isinstance(values, list):
        raise InvalidInput({"values": ["must be a list"]})
    if is_list:
        keys = [v.get("key") if isinstance(v, dict) else None for v in values]
        if not values:
            raise InvalidInput({"values": [f"a {datatype} question needs at least one choice"]})
        if any(not k or not isinstance(k, str) for k in keys):
            raise InvalidInput({"values": ["each choice needs a non-empty key and a name"]})
        if len(set(keys)) != len(keys):
            raise InvalidInput({"values": ["choice keys must be unique"]})
        if any(not isinstance(v.get("name"), str) or not v["name"] for v in values):
            raise InvalidInput({"values": ["each choice needs a name"]})
    elif values:
        raise InvalidInput({"values": [f"a {datatype} question has no list of choices"]})
