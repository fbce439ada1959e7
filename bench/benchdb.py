"""Shared by the benchmarks: a fresh PostgreSQL database to measure in."""

from __future__ import annotations

import sys
from urllib.parse import urlsplit, urlunsplit


def fresh_postgres(url: str) -> None:
    """Drop and create the database ``url`` names (only a civicdesk_bench* or bench* one)."""
    import psycopg

    parts = urlsplit(url)
    name = parts.path.lstrip("/")
    if not name.startswith(("civicdesk_bench", "bench")):
        sys.exit("refusing to drop a database whose name does not start with civicdesk_bench")
    admin = urlunsplit(parts._replace(path="/postgres"))
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')
