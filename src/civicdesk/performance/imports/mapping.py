"""Mapping files: how another system's export maps onto civicdesk's fields.

A mapping is a TOML file edited by people (comments allowed); presets are mapping files
shipped in ``presets/``. Every problem is reported with the key and its line in the file,
all at once, so one round of editing fixes them. The format is documented in docs/imports.md.
"""

from __future__ import annotations

import codecs
import json
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings

from civicdesk.errors import InvalidInput
from civicdesk.servicerequests.channels import Channel
from civicdesk.servicerequests.statuses import Status

# The fields a column can feed, and what each is. Only the first three are required.
FIELDS: dict[str, str] = {
    "source_id": "the request's id in the source system",
    "requested_at": "when the request was received",
    "service": "the service (category, complaint type) asked for",
    "closed_at": "when it was closed",
    "updated_at": "when it last changed",
    "due_at": "when it was due",
    "service_group": "the group of a service created by the import",
    "department": "the department (agency) responsible",
    "department_name": "the department's full name, when the department column holds a code",
    "status": "the status, translated by [statuses]",
    "status_notes": "the latest public note (resolution)",
    "description": "what the resident said, or the sub-type",
    "address": "the street address",
    "zipcode": "the ZIP code",
    "lat": "latitude (WGS84)",
    "long": "longitude (WGS84)",
    "channel": "how it came in, translated by [channels]",
    "district": "the council district's code",
}
REQUIRED_FIELDS = ("source_id", "requested_at", "service")
# Text fields may join several columns (blank ones are left out).
JOINABLE_FIELDS = frozenset({"description", "address", "status_notes"})
JOIN_WITH = " / "

TABLES = ("source", "columns", "dates", "statuses", "channels", "districts", "defaults")
TABLES_OF_RULES = ("services", "departments")
SOURCE_KEYS = ("name", "id_prefix", "encoding", "delimiter", "timezone", "bounds")
DEFAULT_KEYS = ("status", "channel", "department")
SERVICE_KEYS = ("code", "name", "group", "department")
DEPARTMENT_KEYS = ("code", "name")

SOURCE_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")
ID_PREFIX_RE = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,11}$")
SERVICE_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
DEPARTMENT_CODE_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$")
DEFAULT_DEPARTMENT = "Imported requests"


class MappingError(InvalidInput):
    """The mapping file itself is wrong; each message names the key and its line."""

    code = "mapping"


def value_key(value: str) -> str:
    """How source values are matched against a mapping's tables: trimmed, any case."""
    return value.strip().casefold()


@dataclass(frozen=True)
class ServiceRule:
    """``[services."Source name"]``: an existing service's code, or how to create one."""

    code: str = ""
    name: str = ""
    group: str = ""
    department: str = ""
    written: str = ""  # the source name as the mapping writes it (rules match in any case)


@dataclass(frozen=True)
class DepartmentRule:
    code: str = ""
    name: str = ""
    written: str = ""


@dataclass(frozen=True)
class Mapping:
    label: str  # "preset nyc" or the file's path, for messages
    text: str
    source: str
    id_prefix: str
    encoding: str = "utf-8"
    delimiter: str = ","
    timezone: ZoneInfo = field(default_factory=lambda: ZoneInfo(settings.TIME_ZONE))
    bounds: tuple[float, float, float, float] | None = None  # min long, min lat, max long, max lat
    columns: dict[str, tuple[str, ...]] = field(default_factory=dict)
    date_format: str = "iso"
    statuses: dict[str, str] = field(default_factory=dict)  # value_key(source value) -> status
    channels: dict[str, str] = field(default_factory=dict)
    districts: dict[str, str] = field(default_factory=dict)
    services: dict[str, ServiceRule] = field(default_factory=dict)
    departments: dict[str, DepartmentRule] = field(default_factory=dict)
    default_status: str | None = None
    default_channel: str = Channel.WEB
    default_department: str = DEFAULT_DEPARTMENT

    def line_of(self, table: tuple[str, ...], key: str | None = None) -> int | None:
        return line_of(self.text, table, key)

    def where(self, table: tuple[str, ...], key: str | None = None) -> str:
        """``preset nyc, line 14`` (or just the label when the line cannot be found)."""
        line = self.line_of(table, key)
        return f"{self.label}, line {line}" if line else self.label


# --------------------------------------------------------------------------------------
# Finding a key's line: tomllib parses values but forgets where they were.

_HEADER_RE = re.compile(r"^\s*\[\s*([^\[\]]+?)\s*\]\s*(?:#.*)?$")
_KEY_RE = re.compile(r"""^\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*=""")
_PART_RE = re.compile(r"""\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*(?:\.|$)""")


def _unquote(token: str) -> str:
    if token.startswith('"'):
        try:
            return str(json.loads(token))
        except ValueError:
            return token[1:-1]
    if token.startswith("'"):
        return token[1:-1]
    return token


def _header_path(text: str) -> tuple[str, ...]:
    return tuple(_unquote(m.group(1)) for m in _PART_RE.finditer(text))


def line_of(text: str, table: tuple[str, ...], key: str | None = None) -> int | None:
    """The line of ``key`` in ``[table]`` (or of the table's header when key is None)."""
    current: tuple[str, ...] = ()
    header_line = None
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER_RE.match(line)
        if header:
            current = _header_path(header.group(1))
            if current == table:
                header_line = number
                if key is None:
                    return number
            continue
        if key is not None and current == table:
            found = _KEY_RE.match(line)
            if found and _unquote(found.group(1)) == key:
                return number
    return header_line


# --------------------------------------------------------------------------------------
# Loading and checking


class _Checker:
    """Collects every problem of one mapping, each with its place in the file."""

    def __init__(self, label: str, text: str) -> None:
        self.label = label
        self.text = text
        self.problems: list[str] = []

    def problem(self, table: tuple[str, ...], key: str | None, message: str) -> None:
        line = line_of(self.text, table, key)
        where = f"{self.label}, line {line}" if line else self.label
        name = "[" + ".".join(json.dumps(p) if " " in p else p for p in table) + "]"
        if key is not None:
            name += f" {json.dumps(key) if not re.fullmatch(r'[A-Za-z0-9_-]+', key) else key}"
        self.problems.append(f"{where}: {name}: {message}")

    def table(self, data: dict[str, Any], name: str) -> dict[str, Any]:
        value = data.get(name, {})
        if not isinstance(value, dict):
            self.problem((name,), None, "must be a table")
            return {}
        return value

    def unknown_keys(
        self, table: tuple[str, ...], values: dict[str, Any], known: Iterable[str]
    ) -> None:
        allowed = tuple(known)
        for key in values:
            if key not in allowed:
                self.problem(table, key, f"unknown key (known: {', '.join(allowed)})")

    def string(self, table: tuple[str, ...], values: dict[str, Any], key: str, default: str) -> str:
        value = values.get(key, default)
        if not isinstance(value, str):
            self.problem(table, key, f"must be a string, not {value!r}")
            return default
        return value

    def choice(self, table: tuple[str, ...], key: str, value: Any, choices: list[str]) -> str:
        if not isinstance(value, str) or value not in choices:
            self.problem(table, key, f"{value!r} is not one of {', '.join(choices)}")
            return ""
        return value


def _columns(check: _Checker, raw: dict[str, Any]) -> dict[str, tuple[str, ...]]:
    columns: dict[str, tuple[str, ...]] = {}
    for key, value in raw.items():
        if key not in FIELDS:
            check.problem(("columns",), key, f"unknown field (fields: {', '.join(FIELDS)})")
            continue
        if isinstance(value, str) and value.strip():
            columns[key] = (value,)
        elif (
            key in JOINABLE_FIELDS
            and isinstance(value, list)
            and value
            and all(isinstance(v, str) and v.strip() for v in value)
        ):
            columns[key] = tuple(value)
        else:
            what = (
                "a column name or a list of column names"
                if key in JOINABLE_FIELDS
                else ("a column name")
            )
            check.problem(("columns",), key, f"must be {what}, not {value!r}")
    for required in REQUIRED_FIELDS:
        if required not in columns and required not in raw:
            check.problem(("columns",), None, f"{required} is required ({FIELDS[required]})")
    return columns


def _translations(
    check: _Checker, name: str, raw: dict[str, Any], choices: list[str]
) -> dict[str, str]:
    table: dict[str, str] = {}
    for key, value in raw.items():
        if name == "districts":
            if not isinstance(value, str):
                check.problem((name,), key, f'must be a district code or "", not {value!r}')
                continue
            table[value_key(key)] = value.strip()
        elif check.choice((name,), key, value, choices):
            table[value_key(key)] = value
    return table


def _rules(
    check: _Checker, name: str, raw: dict[str, Any], keys: tuple[str, ...], code_re: re.Pattern[str]
) -> dict[str, dict[str, str]]:
    rules: dict[str, dict[str, str]] = {}
    for source_name, rule in raw.items():
        if isinstance(rule, str):  # shorthand: "Source name" = "code"
            rule = {"code": rule}
        if not isinstance(rule, dict):
            check.problem((name,), source_name, "must be a table or a code")
            continue
        path = (name, source_name)
        check.unknown_keys(path, rule, keys)
        values = {k: check.string(path, rule, k, "") for k in keys}
        if values["code"] and not code_re.match(values["code"]):
            check.problem(
                path, "code", f"{values['code']!r} is not a code (letters, digits, - and _)"
            )
        rules[value_key(source_name)] = {**values, "written": source_name}
    return rules


def mapping_parse(text: str, *, label: str) -> Mapping:
    """Check a mapping's text; ``MappingError`` lists every problem with its line."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise MappingError(f"{label}: not valid TOML: {exc}") from None
    check = _Checker(label, text)
    for key in data:
        if key not in TABLES and key not in TABLES_OF_RULES:
            known = ", ".join(TABLES + TABLES_OF_RULES)
            check.problem((key,), None, f"unknown table (known: {known})")

    source = check.table(data, "source")
    check.unknown_keys(("source",), source, SOURCE_KEYS)
    name = check.string(("source",), source, "name", "")
    if not SOURCE_NAME_RE.match(name):
        check.problem(
            ("source",),
            "name" if "name" in source else None,
            f'name {name!r} must be a short lowercase name like "nyc311" (required)',
        )
    prefix = check.string(("source",), source, "id_prefix", "")
    if not ID_PREFIX_RE.match(prefix):
        check.problem(
            ("source",),
            "id_prefix" if "id_prefix" in source else None,
            f"id_prefix {prefix!r} must be 1 to 12 letters and digits starting with a letter, "
            'like "NYC" (required: public ids are PREFIX-SOURCEID)',
        )
    encoding = check.string(("source",), source, "encoding", "utf-8")
    try:
        codecs.lookup(encoding)
    except LookupError:
        check.problem(("source",), "encoding", f"{encoding!r} is not a known text encoding")
    delimiter = check.string(("source",), source, "delimiter", ",")
    if len(delimiter) != 1:
        check.problem(("source",), "delimiter", f"{delimiter!r} must be one character")
    tz_name = check.string(("source",), source, "timezone", settings.TIME_ZONE)
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        check.problem(("source",), "timezone", f"{tz_name!r} is not a known time zone")
        tz = ZoneInfo(settings.TIME_ZONE)
    bounds = _bounds(check, source.get("bounds"))

    columns = _columns(check, check.table(data, "columns"))

    dates = check.table(data, "dates")
    check.unknown_keys(("dates",), dates, ("format",))
    date_format = check.string(("dates",), dates, "format", "iso")
    if date_format != "iso" and "%" not in date_format:
        check.problem(
            ("dates",), "format", f'{date_format!r} is neither "iso" nor a strftime format'
        )

    statuses = _translations(check, "statuses", check.table(data, "statuses"), Status.values)
    channels = _translations(check, "channels", check.table(data, "channels"), Channel.values)
    districts = _translations(check, "districts", check.table(data, "districts"), [])

    defaults = check.table(data, "defaults")
    check.unknown_keys(("defaults",), defaults, DEFAULT_KEYS)
    default_status = None
    if "status" in defaults:
        default_status = check.choice(("defaults",), "status", defaults["status"], Status.values)
    default_channel: str = Channel.WEB
    if "channel" in defaults:
        default_channel = check.choice(
            ("defaults",), "channel", defaults["channel"], Channel.values
        )
    default_department = check.string(("defaults",), defaults, "department", DEFAULT_DEPARTMENT)

    services = _rules(
        check, "services", check.table(data, "services"), SERVICE_KEYS, SERVICE_CODE_RE
    )
    departments = _rules(
        check, "departments", check.table(data, "departments"), DEPARTMENT_KEYS, DEPARTMENT_CODE_RE
    )
    if check.problems:
        raise MappingError("\n".join(check.problems))
    return Mapping(
        label=label,
        text=text,
        source=name,
        id_prefix=prefix,
        encoding=encoding,
        delimiter=delimiter,
        timezone=tz,
        bounds=bounds,
        columns=columns,
        date_format=date_format,
        statuses=statuses,
        channels=channels,
        districts=districts,
        services={k: ServiceRule(**v) for k, v in services.items()},
        departments={k: DepartmentRule(**v) for k, v in departments.items()},
        default_status=default_status or None,
        default_channel=default_channel or Channel.WEB,
        default_department=default_department.strip() or DEFAULT_DEPARTMENT,
    )


def _bounds(check: _Checker, raw: Any) -> tuple[float, float, float, float] | None:
    if raw is None:
        return None
    if (
        isinstance(raw, list)
        and len(raw) == 4
        and all(isinstance(v, int | float) and not isinstance(v, bool) for v in raw)
    ):
        min_long, min_lat, max_long, max_lat = (float(v) for v in raw)
        if -180 <= min_long < max_long <= 180 and -90 <= min_lat < max_lat <= 90:
            return min_long, min_lat, max_long, max_lat
    check.problem(
        ("source",),
        "bounds",
        f"{raw!r} must be [min_long, min_lat, max_long, max_lat] with min below max",
    )
    return None


def mapping_load(path: str | Path) -> Mapping:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MappingError(f"{path}: no such mapping file") from None
    except UnicodeDecodeError as exc:
        raise MappingError(f"{path}: a mapping file must be UTF-8 text ({exc.reason})") from None
    except OSError as exc:
        raise MappingError(f"{path}: cannot read the mapping file ({exc.strerror})") from None
    return mapping_parse(text, label=str(path))


def presets_available() -> list[str]:
    folder = resources.files(__package__) / "presets"
    return sorted(
        p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml")
    )


def preset_load(name: str) -> Mapping:
    available = presets_available()
    if name not in available:
        raise MappingError(f"no preset {name!r} (presets: {', '.join(available)})")
    text = (resources.files(__package__) / "presets" / f"{name}.toml").read_text(encoding="utf-8")
    return mapping_parse(text, label=f"preset {name} ({name}.toml)")
