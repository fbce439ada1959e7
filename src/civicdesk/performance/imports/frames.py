"""Records a block at a time: a block's text fields turned into record columns by polars
expressions, the same rules as ``reader.row_converter`` applies to one row.

The expressions only take a row they are sure of. A row any rule doubts (an empty or
unparsable date, a time that does not exist in the local zone, a status the mapping does
not name, a location that is not a pair of numbers, a closed request without its closing
time...) is "suspect" and goes through ``row_converter`` itself, which either makes its
record or names what is wrong: so there is one wording of every message, and a date is
only taken here when writing it back in the mapping's format gives the text read.

A record frame (``RECORD_SCHEMA``) holds the fields of ``records.Record``, times as
microseconds since the epoch (UTC).
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import polars as pl

from civicdesk.servicerequests.statuses import CLOSED_STATUSES, Status

from .blocks import Block
from .mapping import JOIN_WITH, Mapping
from .reader import (
    channel_translate,
    columns_mapped,
    district_translate,
    row_converter,
    status_translate,
)
from .records import Record, RowError, RowProblem

TIMES = ("requested", "closed", "updated", "due")
RECORD_SCHEMA: dict[str, pl.DataType] = {
    "line": pl.Int64(),
    "source_id": pl.String(),
    "requested": pl.Int64(),
    "service": pl.String(),
    "service_group": pl.String(),
    "department": pl.String(),
    "department_name": pl.String(),
    "status": pl.String(),
    "status_notes": pl.String(),
    "description": pl.String(),
    "address": pl.String(),
    "zipcode": pl.String(),
    "lat": pl.Float64(),
    "long": pl.Float64(),
    "channel": pl.String(),
    "district": pl.String(),
    "closed": pl.Int64(),
    "updated": pl.Int64(),
    "due": pl.Int64(),
}
MICRO = 1_000_000

# The strftime directives whose text chrono (polars) writes back exactly as Python reads it.
_VECTOR_DIRECTIVES = frozenset("YmdHIMSp%")
_ISO_FORMATS = (
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%:z",
    "%Y-%m-%dT%H:%M:%S%:z",
)


def _vector_formats(fmt: str) -> tuple[str, ...]:
    """The chrono formats to try for the mapping's format; () when none fits it exactly."""
    if fmt == "iso":
        return _ISO_FORMATS
    if set(re.findall(r"%(.)", fmt)) <= _VECTOR_DIRECTIVES:
        return (fmt,)
    return ()


def block_converting_possible(mapping: Mapping) -> bool:
    return bool(_vector_formats(mapping.date_format))


def records_frame(records: list[Record]) -> pl.DataFrame:
    """Records (as the exact reader or another server gives them) as a record frame."""
    data: dict[str, list[object]] = {name: [] for name in RECORD_SCHEMA}
    for r in records:
        for name in RECORD_SCHEMA:
            value = getattr(r, name)
            if name in TIMES and value is not None:
                value = round(value * MICRO)
            data[name].append(value)
    return pl.DataFrame(data, schema=RECORD_SCHEMA)


def frame_records(frame: pl.DataFrame) -> list[Record]:
    """A record frame back as records (for the row-by-row loader)."""
    names = list(RECORD_SCHEMA)
    times = [names.index(t) for t in TIMES]
    out = []
    for row in frame.select(names).iter_rows():
        values = list(row)
        for i in times:
            if values[i] is not None:
                values[i] = values[i] / MICRO
        out.append(Record(*values))
    return out


def block_converter(
    mapping: Mapping, header: list[str], *, where: str
) -> tuple[Callable[[Block], tuple[pl.DataFrame, list[RowError]]], list[int]]:
    """A function from a block to its record frame and its bad rows, and the columns of the
    file it reads."""
    positions_of = columns_mapped(mapping, header, where=where)
    width = len(header)
    convert, id_index = row_converter(mapping, header, where=where)
    formats = _vector_formats(mapping.date_format)
    tz = mapping.timezone.key
    used = sorted({p for field in RECORD_SCHEMA for p in positions_of(_field_of(field))})

    def text(field: str) -> pl.Expr:
        positions = positions_of(field)
        if not positions:
            return pl.lit("")
        if len(positions) == 1:
            return pl.col(f"c{positions[0]}").str.strip_chars()
        parts = [pl.col(f"c{p}").str.strip_chars() for p in positions]
        return pl.concat_str(
            [pl.when(part != "").then(part) for part in parts],
            separator=JOIN_WITH,
            ignore_nulls=True,
        ).fill_null("")

    def date_read(field: str, name: str) -> list[pl.Expr]:
        """A first step for a date: its text and what each format reads in it (made once:
        ``date`` reads each twice, and polars would otherwise parse the text again)."""
        if not positions_of(field):
            return []
        value = text(field)
        return [
            value.alias(f"{name}@text"),
            *(
                value.str.strptime(
                    pl.Datetime("us", "UTC" if "%:z" in chrono else None), chrono, strict=False
                ).alias(f"{name}@{i}")
                for i, chrono in enumerate(formats)
            ),
        ]

    def date(field: str, name: str) -> pl.Expr:
        """The time in microseconds, from ``date_read``'s columns: null when empty or
        doubted (``doubted`` tells which)."""
        if not positions_of(field):
            return pl.lit(None, dtype=pl.Int64).alias(name)
        value = pl.col(f"{name}@text")
        parsed = []
        for i, chrono in enumerate(formats):
            moment = pl.col(f"{name}@{i}")
            exact = moment.dt.strftime(chrono) == value
            if "%:z" not in chrono:
                moment = moment.dt.replace_time_zone(tz, ambiguous="earliest", non_existent="null")
            parsed.append(pl.when(exact).then(moment.dt.epoch("us")))
        return (pl.coalesce(parsed) if len(parsed) > 1 else parsed[0]).alias(name)

    def given(field: str) -> pl.Expr:
        return text(field) != "" if positions_of(field) else pl.lit(False)

    def doubted(column: str) -> pl.Expr:
        """A date given but not taken (read from the columns made below)."""
        return pl.col(f"{column}_given") & pl.col(column).is_null()

    lat_text, long_text = text("lat"), text("long")
    located = (lat_text != "") | (long_text != "")
    lat = lat_text.cast(pl.Float64, strict=False)
    long = long_text.cast(pl.Float64, strict=False)
    # Each value is made once, in a first step; the second reads them by name (polars
    # would otherwise work out a date again wherever its expression is repeated).
    lat_read, long_read = pl.col("lat_read"), pl.col("long_read")
    no_place = (lat_read == 0) & (long_read == 0)
    bad_place = pl.col("located") & (
        lat_read.is_null()
        | long_read.is_null()
        | (
            ~no_place
            & ~(
                lat_read.is_finite()
                & long_read.is_finite()
                & (lat_read.abs() <= 90)
                & (long_read.abs() <= 180)
            )
        )
    )
    texts = ["source_id", "service", "service_group", "department", "department_name"]
    texts += ["status_notes", "description", "address", "zipcode"]
    # The record's time fields ("closed_read" until the status decides what "closed" is),
    # and for the optional ones whether the file gave one (a date given but not taken is
    # doubted; the required one is doubted whenever it is missing).
    dates = [("closed_read" if t == "closed" else t, _field_of(t)) for t in TIMES]
    optional = [name for name, _ in dates if name != "requested"]
    base = [
        *(text(name).alias(name) for name in texts),
        *(e for name, field in dates for e in date_read(field, name)),
        *(given(field).alias(f"{name}_given") for name, field in dates if name in optional),
        located.alias("located"),
        lat.alias("lat_read"),
        long.alias("long_read"),
    ]
    dated = [date(field, name) for name, field in dates]
    placed = pl.col("located") & ~no_place
    checked = [
        pl.when(placed).then(lat_read).alias("lat"),
        pl.when(placed).then(long_read).alias("long"),
        (
            (pl.col("source_id") == "")
            | pl.col("requested").is_null()
            | (pl.col("service") == "")
            | pl.any_horizontal(doubted(name) for name in optional)
            | bad_place
        ).alias("doubt"),
    ]
    status_column = positions_of("status")
    closed_statuses = sorted(CLOSED_STATUSES)
    # Fields whose source values the mapping translates (each distinct value once, by the
    # functions the row converter uses), and their value when the file has no such column.
    translated: list[tuple[str, Callable[[Mapping, str], str | None], str | None]] = [
        ("status", status_translate, None),  # none: decided below from the closed time
        ("channel", channel_translate, mapping.default_channel),
        ("district", district_translate, ""),
    ]

    def convert_block(block: Block) -> tuple[pl.DataFrame, list[RowError]]:
        fields = block.fields
        extra = []
        for field, translate, absent in translated:
            positions = positions_of(field)
            if positions:
                column = f"c{positions[0]}"
                table = {v: translate(mapping, v) for v in fields[column].unique().to_list()}
                extra.append(
                    pl.col(column)
                    .replace_strict(table, default=None, return_dtype=pl.String)
                    .alias(field)
                )
            elif absent is not None:
                extra.append(pl.lit(absent).alias(field))
        frame = (
            fields.select(*base, *extra)
            .with_columns(*dated)
            .with_columns(*checked)
            .with_columns(pl.Series("line", block.lines, dtype=pl.Int64))
        )
        if not status_column:
            frame = frame.with_columns(
                pl.when(pl.col("closed_read").is_not_null())
                .then(pl.lit(Status.CLOSED.value))
                .otherwise(pl.lit(mapping.default_status or Status.NEW.value))
                .alias("status")
            )
        is_closed = pl.col("status").is_in(closed_statuses)
        closing = pl.coalesce("closed_read", "updated")
        frame = frame.with_columns(
            pl.when(is_closed).then(closing).alias("closed"),
            (
                pl.col("doubt")
                | pl.col("status").is_null()
                | (is_closed & (closing.is_null() | (closing < pl.col("requested"))))
            ).alias("doubt"),
        )
        doubted = np.flatnonzero(frame["doubt"].to_numpy())
        errors: list[RowError] = []
        rescued: list[Record] = []
        if len(doubted):
            # The row as the exact reader would see it (the columns not read are blank:
            # no rule looks at them).
            for k in doubted.tolist():
                row = [""] * width
                for p, value in zip(used, fields.row(k), strict=True):
                    row[p] = value
                line = int(block.lines[k])
                try:
                    rescued.append(convert(line, row))
                except RowProblem as exc:
                    errors.append(RowError(line, row[id_index].strip(), str(exc)))
            frame = frame.filter(~pl.col("doubt"))
        frame = frame.select(list(RECORD_SCHEMA))
        if rescued:
            frame = pl.concat([frame, records_frame(rescued)]).sort("line")
        return frame, errors

    return convert_block, used


# The mapping field that feeds a record field, where the names differ.
_FEEDS = {
    "requested": "requested_at",
    "closed": "closed_at",
    "updated": "updated_at",
    "due": "due_at",
}


def _field_of(record_field: str) -> str:
    return _FEEDS.get(record_field, record_field)
