"""Reading another GeoReport v2 server: its services, and its requests by date window.

GeoReport v2 has no paging: a server answers a ``start_date``/``end_date`` window with at
most some number of requests (often 1,000, at most 90 days). A window that comes back with
as many requests as the server's apparent maximum may have been cut short, so it is halved
and each half fetched again, until every window comes back below the maximum. The maximum is
``page_size`` when given; otherwise it is learned: the first full window is split, and if its
halves hold more requests than it did, the server cut it, and its count is the maximum.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

from civicdesk.servicerequests.statuses import Status

from .dates import date_parser
from .mapping import Mapping, ServiceRule, value_key
from .records import FileProblem, Record, RowError, RowProblem, local_text

MAX_SPAN = dt.timedelta(days=90)  # GeoReport v2's longest window
MIN_SPAN = dt.timedelta(seconds=1)
USER_AGENT = "civicdesk-import (GeoReport v2 client)"


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Open311Server:
    def __init__(
        self,
        base_url: str,
        *,
        api_key: str = "",
        jurisdiction_id: str = "",
        page_size: int | None = None,
        timeout: float = 60,
    ) -> None:
        parts = urllib.parse.urlsplit(base_url.strip())
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise FileProblem(f"{base_url!r} is not an http(s) URL of a GeoReport v2 endpoint")
        self.base = base_url.strip().rstrip("/")
        for suffix in ("/services.json", "/requests.json", "/discovery.json"):
            self.base = self.base.removesuffix(suffix)
        self.host = parts.hostname or "open311"
        self.api_key = api_key
        self.jurisdiction_id = jurisdiction_id
        self.timeout = timeout
        self.cap = page_size  # the server's maximum answer, when known
        self.floor = 0  # answers below this many are known to be complete
        self.warnings: list[str] = []
        self.calls = 0

    def _shown(self, url: str) -> str:
        # The key is a secret: never in a message or a log.
        return url.replace(urllib.parse.quote_plus(self.api_key), "***") if self.api_key else url

    def get(self, path: str, params: dict[str, str]) -> Any:
        query = {k: v for k, v in params.items() if v}
        if self.jurisdiction_id:
            query["jurisdiction_id"] = self.jurisdiction_id
        if self.api_key:
            query["api_key"] = self.api_key
        url = f"{self.base}/{path}" + (f"?{urllib.parse.urlencode(query)}" if query else "")
        request = urllib.request.Request(  # noqa: S310 - the scheme is checked in __init__
            url, headers={"Accept": "application/json", "User-Agent": USER_AGENT}
        )
        self.calls += 1
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310
                body = answer.read()
                content_type = answer.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            detail = _error_detail(exc.read())
            raise FileProblem(
                f"{self._shown(url)} answered HTTP {exc.code} {exc.reason}{detail}"
            ) from None
        except urllib.error.URLError as exc:
            raise FileProblem(f"cannot reach {self._shown(url)}: {exc.reason}") from None
        except TimeoutError:
            raise FileProblem(
                f"{self._shown(url)} did not answer within {self.timeout:g} seconds"
            ) from None
        except OSError as exc:
            raise FileProblem(f"cannot reach {self._shown(url)}: {exc}") from None
        try:
            return json.loads(body)
        except ValueError:
            start = body[:80].decode("utf-8", "replace")
            raise FileProblem(
                f"{self._shown(url)} did not answer JSON (Content-Type {content_type or 'none'}; "
                f"the answer begins {start!r})"
            ) from None

    def services(self) -> list[dict[str, Any]]:
        data = self.get("services.json", {})
        if not isinstance(data, list):
            raise FileProblem(f"{self.base}/services.json: expected a list of services")
        return [s for s in data if isinstance(s, dict) and s.get("service_code")]

    def requests(self, start: dt.datetime, end: dt.datetime) -> list[dict[str, Any]]:
        data = self.get("requests.json", {"start_date": _iso(start), "end_date": _iso(end)})
        if not isinstance(data, list):
            raise FileProblem(
                f"{self.base}/requests.json ({_iso(start)} to {_iso(end)}): expected a list "
                f"of requests, got {type(data).__name__}"
            )
        return [r for r in data if isinstance(r, dict)]

    def _complete(self, count: int) -> bool:
        if self.cap is not None:
            return count < self.cap
        return count < self.floor

    def window(
        self, start: dt.datetime, end: dt.datetime, seen: set[str]
    ) -> Iterator[tuple[list[dict[str, Any]], dt.datetime]]:
        """The requests of ``[start, end]`` in complete pieces, oldest first, each with the
        end of its piece; ids in ``seen`` (met in an earlier piece) are left out."""
        items = self.requests(start, end)
        count = len(items)
        if count == 0 or self._complete(count) or end - start <= MIN_SPAN:
            if count and not self._complete(count) and self.cap is not None:
                self.warnings.append(
                    f"{count} requests between {_iso(start)} and {_iso(end)} is the server's "
                    "maximum and the window cannot be split further: some may be missing"
                )
            yield _fresh(items, seen), end
            return
        middle = start + (end - start) / 2
        in_halves = 0
        for half_start, half_end in ((start, middle), (middle, end)):
            for piece, piece_end in self.window(half_start, half_end, seen):
                in_halves += len(piece)
                yield piece, piece_end
        if self.cap is None:
            if in_halves > count:
                self.cap = count  # the halves held more: the server had cut this window
            else:
                self.floor = max(self.floor, count)

    def windows(
        self, since: dt.datetime, until: dt.datetime
    ) -> Iterator[tuple[list[dict[str, Any]], float]]:
        """Every request received in ``[since, until]``, in pieces, with the share done."""
        seen: set[str] = set()
        span = (until - since).total_seconds() or 1.0
        start = since
        while start < until:
            end = min(start + MAX_SPAN, until)
            for piece, piece_end in self.window(start, end, seen):
                yield piece, (piece_end - since).total_seconds() / span
            start = end


def _fresh(items: list[dict[str, Any]], seen: set[str]) -> list[dict[str, Any]]:
    """Leave out requests already met (a request on a window's edge comes in both)."""
    fresh = []
    for item in items:
        ident = str(item.get("service_request_id") or "")
        if ident and ident in seen:
            continue
        seen.add(ident)
        fresh.append(item)
    return fresh


def _error_detail(body: bytes) -> str:
    """GeoReport's error list (``[{"code": 404, "description": "..."}]``), if that is what
    the server sent."""
    try:
        data = json.loads(body)
    except ValueError:
        return ""
    if isinstance(data, list):
        texts = [str(e.get("description")) for e in data if isinstance(e, dict)]
        return f": {'; '.join(t for t in texts if t)}" if texts else ""
    return ""


def server_mapping(
    server: Open311Server,
    services: list[dict[str, Any]],
    *,
    source: str,
    id_prefix: str,
    tz: ZoneInfo,
) -> Mapping:
    """A mapping for a GeoReport source: statuses open/closed, services by their code."""
    rules = {
        value_key(str(s["service_code"])): ServiceRule(
            name=str(s.get("service_name") or s["service_code"]),
            group=str(s.get("group") or ""),
            written=str(s["service_code"]),
        )
        for s in services
    }
    return Mapping(
        label=f"server {server.base}",
        text="",
        source=source,
        id_prefix=id_prefix,
        timezone=tz,
        statuses={"open": Status.NEW, "closed": Status.CLOSED},
        services=rules,
    )


def request_record(
    item: dict[str, Any], number: int, tz: ZoneInfo, parse: Callable[[str], float]
) -> Record:
    """One GeoReport request as a ``Record``; ``RowProblem`` names what is wrong."""

    def text(key: str) -> str:
        value = item.get(key)
        return "" if value is None else str(value).strip()

    def moment(key: str, required: bool = False) -> float | None:
        value = text(key)
        if not value:
            if required:
                raise RowProblem(f"{key} is missing")
            return None
        try:
            return parse(value)
        except ValueError:
            raise RowProblem(f"{key} {value!r} is not an ISO 8601 date") from None

    source_id = text("service_request_id")
    if not source_id:
        raise RowProblem("service_request_id is missing")
    requested = moment("requested_datetime", required=True)
    assert requested is not None
    service = text("service_code") or text("service_name")
    if not service:
        raise RowProblem("service_code is missing")
    status = value_key(text("status"))
    if status not in ("open", "closed"):
        raise RowProblem(f"status {text('status')!r} is neither open nor closed")
    updated = moment("updated_datetime")
    closed = None
    if status == "closed":
        closed = updated if updated is not None else requested
        if closed < requested:
            raise RowProblem(
                f"closed {local_text(closed, tz)} before it was received "
                f"{local_text(requested, tz)}"
            )
    lat = long = None
    if item.get("lat") not in (None, "") and item.get("long") not in (None, ""):
        try:
            lat, long = float(item["lat"]), float(item["long"])
        except (TypeError, ValueError):
            raise RowProblem(
                f"location {item.get('lat')!r}, {item.get('long')!r} is not a pair of numbers"
            ) from None
        if lat == 0 and long == 0:
            lat = long = None
        elif not (abs(lat) <= 90 and abs(long) <= 180):
            raise RowProblem(f"location {lat}, {long} is not a latitude and longitude")
    return Record(
        line=number,
        source_id=source_id,
        requested=requested,
        service=service,
        department=text("agency_responsible"),
        status=Status.CLOSED if status == "closed" else Status.NEW,
        status_notes=text("status_notes"),
        description=text("description"),
        address=text("address"),
        zipcode=text("zipcode"),
        lat=lat,
        long=long,
        closed=closed,
        updated=updated,
        due=moment("expected_datetime"),
    )


def records_of(
    pieces: Iterator[tuple[list[dict[str, Any]], float]], tz: ZoneInfo
) -> Iterator[tuple[list[Record], list[RowError], float]]:
    """The server's requests as records, numbered in the order they came."""
    number = 0
    parse = date_parser("iso", tz)
    for items, done in pieces:
        records: list[Record] = []
        errors: list[RowError] = []
        for item in items:
            number += 1
            try:
                records.append(request_record(item, number, tz, parse))
            except RowProblem as exc:
                errors.append(RowError(number, str(item.get("service_request_id") or ""), str(exc)))
        yield records, errors, done
