"""How an audit entry's hash is computed, and how the chain is checked.

The hashed content is a canonical JSON document (sorted keys, no spaces, UTC timestamps with
microseconds) of every stored field but the hash itself, so the same entry hashes the same on
SQLite and PostgreSQL and after a backup is restored on either.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from .models import GENESIS_HASH, AuditEntry

HASHED_FIELDS = (
    "sequence",
    "at",
    "actor_id",
    "actor",
    "actor_role",
    "action",
    "target_type",
    "target_id",
    "details",
    "ip",
    "user_agent",
    "prev_hash",
)


def _timestamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def entry_hash(values: dict[str, Any]) -> str:
    content = {name: values[name] for name in HASHED_FIELDS}
    content["at"] = _timestamp(content["at"])
    encoded = json.dumps(content, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(encoded.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class ChainReport:
    ok: bool
    entries: int
    head_sequence: int
    head_hash: str
    broken_sequence: int | None = None
    broken_id: int | None = None
    problem: str = ""


def _entries(using: str, batch: int = 5000) -> Iterator[dict[str, Any]]:
    """Every entry in stored order, read in key-ordered batches (flat memory)."""
    last_id = 0
    fields = ("id", "hash", *HASHED_FIELDS)
    while True:
        rows = list(
            AuditEntry.objects.using(using)
            .filter(id__gt=last_id)
            .order_by("id")
            .values(*fields)[:batch]
        )
        if not rows:
            return
        yield from rows
        last_id = rows[-1]["id"]


def chain_verify(using: str = "default") -> ChainReport:
    """Recompute every hash and link; report the first entry that breaks the chain."""
    prev_hash = GENESIS_HASH
    expected_sequence = 1
    count = 0
    for row in _entries(using):
        problem = _link_problem(row, expected_sequence, prev_hash)
        if problem:
            return ChainReport(
                ok=False,
                entries=count,
                head_sequence=expected_sequence - 1,
                head_hash=prev_hash,
                broken_sequence=row["sequence"],
                broken_id=row["id"],
                problem=problem,
            )
        prev_hash = row["hash"]
        expected_sequence += 1
        count += 1
    return ChainReport(
        ok=True, entries=count, head_sequence=expected_sequence - 1, head_hash=prev_hash
    )


def _link_problem(row: dict[str, Any], expected_sequence: int, prev_hash: str) -> str:
    """What is wrong with this entry, given the one before it ("" if nothing)."""
    if row["sequence"] != expected_sequence:
        if row["sequence"] > expected_sequence:
            missing = (
                f"entry #{expected_sequence} before it is missing"
                if row["sequence"] == expected_sequence + 1
                else f"entries #{expected_sequence} to #{row['sequence'] - 1} before it are missing"
            )
            return f"{missing} (deleted)"
        return f"its sequence number should be {expected_sequence}"
    if row["prev_hash"] != prev_hash:
        return "it does not link to the entry before it (that entry was edited or deleted)"
    if entry_hash(row) != row["hash"]:
        return "its content does not match its hash (it was edited)"
    return ""
