"""Fast bulk inserts of plain rows: COPY on PostgreSQL, executemany on SQLite.

For seeding and imports, where one ``save()`` per row would take hours. Rows are tuples in
the order of ``columns``; values must already be what the column stores (ids for foreign
keys, JSON as text, aware datetimes).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from django.db import connection, models


def rows_insert(
    model: type[models.Model], columns: Sequence[str], rows: Iterable[tuple[Any, ...]]
) -> int:
    table = connection.ops.quote_name(model._meta.db_table)
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    count = 0
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            raw = cursor.cursor  # psycopg 3 cursor under Django's wrapper
            with raw.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    count += 1
        else:
            materialised = rows if isinstance(rows, list) else list(rows)
            placeholders = ", ".join(["%s"] * len(columns))
            # Table and column names come from the model, never from input.
            sql = f"INSERT INTO {table} ({cols}) VALUES ({placeholders})"  # noqa: S608
            cursor.executemany(sql, materialised)
            count = len(materialised)
    return count


def epoch_adapter() -> Callable[[float | None], Any]:
    """A fast converter from epoch seconds to what the engine's datetime column takes.

    Django's own adapter costs a few microseconds a value; a million requests carry six
    million datetimes. SQLite stores naive UTC text as Django writes it; PostgreSQL takes
    aware datetimes.
    """
    utc = dt.UTC
    if connection.vendor == "sqlite":
        epoch = dt.datetime(1970, 1, 1)  # naive UTC, as Django stores datetimes in SQLite

        def to_sqlite(value: float | None) -> Any:
            return None if value is None else str(epoch + dt.timedelta(seconds=value))

        return to_sqlite

    def to_aware(value: float | None) -> Any:
        return None if value is None else dt.datetime.fromtimestamp(value, utc)

    return to_aware


def next_id(model: type[models.Model]) -> int:
    """The first free primary key, for loaders that assign ids themselves."""
    last = model._default_manager.aggregate(m=models.Max("pk"))["m"]
    return int(last or 0) + 1


def tables_analyze(models_: Sequence[type[models.Model]]) -> None:
    """Refresh the planner's statistics after a bulk load (and, on PostgreSQL, the visibility
    map, without which index-only scans still read the table). Call outside a transaction."""
    with connection.cursor() as cursor:
        for model in models_:
            table = connection.ops.quote_name(model._meta.db_table)
            if connection.vendor == "postgresql":
                cursor.execute(f"VACUUM ANALYZE {table}")
            else:
                cursor.execute(f"ANALYZE {table}")


def sequence_reset(model: type[models.Model]) -> None:
    """After inserting explicit ids on PostgreSQL, move the id sequence past them."""
    if connection.vendor != "postgresql":
        return
    table = model._meta.db_table
    pk = str(model._meta.pk.column)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT setval(pg_get_serial_sequence(%s, %s), "  # noqa: S608
            f"COALESCE((SELECT MAX({connection.ops.quote_name(pk)}) FROM "
            f"{connection.ops.quote_name(table)}), 1))",
            [table, pk],
        )


@contextmanager
def sqlite_settings(**pragmas: int) -> Iterator[None]:
    """SQLite: these PRAGMAs set on this connection for a while, each put back as it was
    afterwards (however the block ends). Nothing on other engines."""
    if connection.vendor != "sqlite":
        yield
        return
    before: dict[str, int] = {}
    with connection.cursor() as cursor:
        for name, value in pragmas.items():
            cursor.execute(f"PRAGMA {name}")
            before[name] = int(cursor.fetchone()[0])
            cursor.execute(f"PRAGMA {name} = {int(value)}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for name, value in before.items():
                cursor.execute(f"PRAGMA {name} = {value}")
