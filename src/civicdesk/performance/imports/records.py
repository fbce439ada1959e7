"""What every way in (a CSV export, another Open311 server) hands the loader: one ``Record``
per source request, already parsed, or a ``RowError`` saying why a row was refused."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import NamedTuple
from zoneinfo import ZoneInfo

from civicdesk.errors import InvalidInput


@dataclass(slots=True)
class Record:
    line: int  # the row's first line in the file (the header is line 1), or a running number
    source_id: str
    requested: float  # epoch seconds, UTC
    service: str  # the source's name (or code) of the service
    service_group: str = ""
    department: str = ""
    department_name: str = ""
    status: str = "new"
    status_notes: str = ""
    description: str = ""
    address: str = ""
    zipcode: str = ""
    lat: float | None = None
    long: float | None = None
    channel: str = "web"
    district: str = ""
    closed: float | None = None
    updated: float | None = None
    due: float | None = None


class RowError(NamedTuple):
    line: int
    source_id: str
    reason: str


class RowProblem(ValueError):
    """Raised while reading one row; becomes a ``RowError`` with the row's line."""


class FileProblem(InvalidInput):
    """The file (or server) cannot be imported at all; nothing is written."""

    code = "import_file"


def local_text(epoch: float, tz: ZoneInfo) -> str:
    """An epoch as a person reads it in the source's time zone (for messages)."""
    return dt.datetime.fromtimestamp(epoch, tz).strftime("%Y-%m-%d %H:%M:%S")
