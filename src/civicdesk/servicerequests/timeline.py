"""The first two entries of an imported request's timeline, read from its row.

An import of a city's history (``civicdesk import``, ``civicdesk import-open311``) writes
the requests, not their timelines: all the source says of a request's past is in its row.
It was received at ``requested_at`` by its ``channel``; and, unless it is still new, it has
had its ``status`` (with the source's ``status_notes``) since it was closed, or else since
the source last updated it. ``imported_entries`` makes those two entries from the row
wherever a timeline is read. Storing them would double the rows an import writes (two
entries a request, three rows in all for each one), for nothing the row does not say.

They are read from the row only while the row is as the import left it. A change made here
moves the very columns they come from (its status, its notes, its updated time), so just
before the first one ``imported_entries_store`` writes them as they were: from then on the
request's timeline is stored, like that of every request taken in by civicdesk.

So an entry of kind ``created`` is the mark: a request whose ``source`` is set and that has
no stored ``created`` entry has its first two entries read from its row. Every request
taken in here has one from the start (and it is public), as has a request imported before
the import stopped writing them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, TypeVar

from .models import EventKind, RequestEvent, ServiceRequest
from .statuses import Status

IMPORT_ACTOR = "import"  # the actor_label of the entries an import stands for
# The columns those entries are read from.
TIMELINE_FIELDS = (
    "id",
    "source",
    "channel",
    "status",
    "status_notes",
    "requested_at",
    "updated_at",
    "closed_at",
)
STORE_BATCH = 2000  # requests looked up per query by imported_entries_store


def imported_entries(request: ServiceRequest) -> list[RequestEvent]:
    """The entries an imported request's row stands for, unsaved: ``created`` at its
    received time, and a public ``status_change`` to its status unless it is new."""
    entries = [
        RequestEvent(
            request_id=request.pk,
            kind=EventKind.CREATED,
            public=True,
            to_status=Status.NEW,
            data={"channel": request.channel, "imported_from": request.source},
            actor_label=IMPORT_ACTOR,
            created_at=request.requested_at,
        )
    ]
    if request.status != Status.NEW:
        entries.append(
            RequestEvent(
                request_id=request.pk,
                kind=EventKind.STATUS_CHANGE,
                public=True,
                from_status=Status.NEW,
                to_status=request.status,
                note=request.status_notes,
                actor_label=IMPORT_ACTOR,
                created_at=request.closed_at or request.updated_at,
            )
        )
    return entries


class Entry(Protocol):
    """What ordering a timeline needs of a stored entry: a ``RequestEvent``, or a row of
    ``values_list("pk", "request_id", "kind", "created_at", ..., named=True)`` (a fraction
    of the cost of a model instance, for lists of many requests)."""

    @property
    def pk(self) -> Any: ...
    @property
    def request_id(self) -> int: ...
    @property
    def kind(self) -> str: ...
    @property
    def created_at(self) -> dt.datetime: ...


E = TypeVar("E", bound=Entry)


def timeline_complete(request: ServiceRequest, stored: Sequence[E]) -> list[E | RequestEvent]:
    """``stored``, the request's stored entries in order (all of them, or the public ones),
    with the entries its import stands for if they are not stored, in the same order
    (time, then id; an entry read from the row comes first among those at its time)."""
    if not request.source or any(e.kind == EventKind.CREATED for e in stored):
        return list(stored)
    entries: list[E | RequestEvent] = [*imported_entries(request), *stored]
    return sorted(entries, key=lambda e: (e.created_at, e.pk or 0))


def timelines_complete(
    rows: Sequence[Mapping[str, Any]], stored: Iterable[E]
) -> dict[int, list[E | RequestEvent]]:
    """``timeline_complete`` for many requests at once, given as rows of ``values()`` with
    the ``TIMELINE_FIELDS``: ``stored`` holds their entries in order. A model instance is
    made only for a request whose entries are read from its row."""
    by_request: dict[int, list[E]] = {r["id"]: [] for r in rows}
    for event in stored:
        by_request[event.request_id].append(event)
    timelines: dict[int, list[E | RequestEvent]] = {}
    for row in rows:
        entries = by_request[row["id"]]
        if row["source"]:
            request = ServiceRequest(**{f: row[f] for f in TIMELINE_FIELDS})
            timelines[row["id"]] = timeline_complete(request, entries)
        else:
            timelines[row["id"]] = list(entries)
    return timelines


def imported_entries_store(requests: Sequence[ServiceRequest]) -> int:
    """Store the entries read from the row for each of ``requests`` that has them, as the
    row is now: call it before changing an imported request. Returns how many it wrote."""
    imported = {r.pk: r for r in requests if r.source}
    if not imported:
        return 0
    stored = set(
        RequestEvent.objects.filter(request_id__in=imported, kind=EventKind.CREATED).values_list(
            "request_id", flat=True
        )
    )
    entries = [e for pk, r in imported.items() if pk not in stored for e in imported_entries(r)]
    RequestEvent.objects.bulk_create(entries)
    return len(entries)


def imported_entries_store_by_id(ids: Sequence[int]) -> int:
    """``imported_entries_store`` for the requests with these ids, a batch at a time."""
    written = 0
    for start in range(0, len(ids), STORE_BATCH):
        batch = ServiceRequest.objects.filter(pk__in=ids[start : start + STORE_BATCH])
        written += imported_entries_store(list(batch.exclude(source="").only(*TIMELINE_FIELDS)))
    return written
