"""Reading a large CSV export fast: the file is cut into blocks on row boundaries, numpy finds
each row's line and checks its shape, and polars (compiled, off the GIL) splits the fields.

Only plain CSV is read this way. The exact reader (``reader.CsvExport``) reads the rest of
the file, from the first block that is anything else: a quote inside an unquoted field, a
lone carriage return, a blank line, a row with too few or too many fields, a block polars
will not take. So every file gives the same rows, lines and messages as the exact reader
alone would (tests compare the two on the real exports and on awkward files).

Python's ``csv`` module costs about 4 µs a row and turning a row into a record about 13 µs
more; here the whole costs about 5.5 µs of CPU a row, mostly outside the interpreter (and, for
a large file, in a process of its own: see ``process``).
"""

from __future__ import annotations

import codecs
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

import numpy as np
import polars as pl

BLOCK_BYTES = 8 << 20
MAX_ROW_BYTES = 64 << 20  # a "row" longer than this is a quote never closed
QUOTE, NEWLINE, RETURN = 34, 10, 13
# Encodings in which every ASCII byte is that character and no other character's bytes
# contain one: the quotes, delimiters and line ends can be found in the bytes themselves.
_ASCII_SAFE = frozenset(
    {"utf-8", "utf-8-sig", "ascii", "latin-1", "iso8859-1", "iso8859-15", "cp1252"}
)


def block_reading_possible(encoding: str, delimiter: str) -> bool:
    """Can this file be read in blocks (else the exact reader reads all of it)?"""
    return (
        codecs.lookup(encoding).name in _ASCII_SAFE
        and len(delimiter.encode("ascii", "replace")) == 1
        and delimiter not in '"\r\n'
        and ord(delimiter) < 128
    )


@dataclass
class Block:
    """Rows of the file: their text fields (``c<index>`` columns, blanks as "") and lines."""

    fields: pl.DataFrame
    lines: np.ndarray


@dataclass
class Shape:
    """Where a block's rows are: ``cut`` bytes hold ``len(starts)`` whole rows."""

    cut: int
    starts: np.ndarray
    lines: np.ndarray  # each row's first line, counted from the block's first line (0)
    newlines: int  # line ends in the first ``cut`` bytes


def block_shape(data: bytes, *, final: bool, delimiter: int, width: int) -> Shape | None:
    """The whole rows at the start of ``data`` (which starts at a row), or None when the
    block is not plain CSV of ``width`` fields a row (or holds no whole row yet)."""
    arr = np.frombuffer(data, dtype=np.uint8)
    size = len(arr)
    quotes = np.flatnonzero(arr == QUOTE)
    newlines = np.flatnonzero(arr == NEWLINE)
    # A line end is a row's end when an even number of quotes stands before it.
    outside = np.searchsorted(quotes, newlines) % 2 == 0
    ends = newlines[outside]
    if final and size and (not len(ends) or ends[-1] != size - 1):
        if len(quotes) % 2:
            return None  # a quoted field never closed
        ends = np.append(ends, size)
    if not len(ends):
        if final:
            return None
        return Shape(cut=0, starts=ends, lines=ends, newlines=0)
    cut = int(ends[-1]) + 1 if ends[-1] < size else size
    quotes = quotes[: np.searchsorted(quotes, cut)]
    # Quotes only open a field, close it, or come doubled inside it.
    opening, closing = quotes[0::2], quotes[1::2]
    before = arr[np.maximum(opening - 1, 0)]
    if not np.all(
        (opening == 0)
        | (before == delimiter)
        | (before == NEWLINE)
        | (before == RETURN)
        | (before == QUOTE)
    ):
        return None
    after = arr[np.minimum(closing + 1, size - 1)]
    if not np.all(
        (closing + 1 >= cut)
        | (after == delimiter)
        | (after == NEWLINE)
        | (after == RETURN)
        | (after == QUOTE)
    ):
        return None
    if data.find(b"\r", 0, cut) >= 0:
        returns = np.flatnonzero(arr[:cut] == RETURN)
        if returns[-1] + 1 >= size or np.any(arr[returns + 1] != NEWLINE):
            return None  # a carriage return alone ends a line for the exact reader
    starts = np.concatenate(([0], ends[:-1] + 1))
    lengths = ends - starts
    first_bytes = arr[np.minimum(starts, size - 1)]
    if np.any(lengths == 0) or np.any((lengths == 1) & (first_bytes == RETURN)):
        return None  # a blank line: the exact reader skips it
    # Fields a row: its delimiters, less those inside its quoted fields, plus one. (A
    # quoted field never spans rows: a row ends only outside quotes.)
    delimiters = np.flatnonzero(arr[:cut] == delimiter)
    fields = np.diff(np.searchsorted(delimiters, ends), prepend=0) + 1
    if len(closing):
        opening = opening[: len(closing)]
        quoted = np.searchsorted(delimiters, closing) - np.searchsorted(delimiters, opening)
        fields -= np.bincount(
            np.searchsorted(ends, opening), weights=quoted, minlength=len(ends)
        ).astype(fields.dtype)
    if np.any(fields != width):
        return None
    newlines = newlines[newlines < cut]
    return Shape(
        cut=cut,
        starts=starts,
        lines=np.searchsorted(newlines, starts),
        newlines=len(newlines),
    )


class BlockReader:
    """The rows of an open file after its header, in blocks, while they are plain CSV.

    ``offset`` and ``line`` say where the next row starts once iteration stops early
    (``plain`` is then False): the exact reader goes on from there.
    """

    def __init__(
        self,
        binary: IO[bytes],
        *,
        encoding: str,
        delimiter: str,
        width: int,
        columns: list[int],
        block_bytes: int | None = None,
    ) -> None:
        self.binary = binary
        # A byte-order mark can only start the header, which is skipped here.
        name = codecs.lookup(encoding).name
        self.encoding = "utf-8" if name == "utf-8-sig" else name
        self.delimiter = ord(delimiter)
        self.separator = delimiter
        self.width = width
        self.columns = sorted(set(columns))
        self.block_bytes = block_bytes or BLOCK_BYTES
        self.offset = 0
        self.line = 1
        self.plain = True

    def _decoded(self, data: bytes) -> bytes | None:
        """The block as UTF-8 for polars; None if it is not text in the file's encoding
        (the exact reader then names the place)."""
        try:
            text = data.decode(self.encoding)
        except UnicodeDecodeError:
            return None
        return data if self.encoding in ("utf-8", "ascii") else text.encode("utf-8")

    def _fields(self, data: bytes, rows: int) -> pl.DataFrame | None:
        try:
            frame = pl.read_csv(
                data,
                has_header=False,
                separator=self.separator,
                quote_char='"',
                columns=self.columns,
                infer_schema=False,
                raise_if_empty=False,
            )
        except (pl.exceptions.PolarsError, ValueError):
            return None
        if frame.height != rows or frame.width != len(self.columns):
            return None
        frame.columns = [f"c{i}" for i in self.columns]
        return frame.with_columns(pl.all().fill_null(""))

    def __iter__(self) -> Iterator[Block]:
        """Blocks of rows after the header, until the end or the first block that is not
        plain CSV (``plain`` then turns False; ``offset`` and ``line`` say where it starts)."""
        binary = self.binary
        binary.seek(0)
        pending = b""
        final = False
        header = True
        while True:
            if not final and len(pending) < self.block_bytes:
                more = binary.read(self.block_bytes)
                final = not more
                pending += more
                continue
            if not pending:
                return
            shape = block_shape(pending, final=final, delimiter=self.delimiter, width=self.width)
            if shape is None or (shape.cut == 0 and len(pending) > MAX_ROW_BYTES):
                self.plain = False
                return
            if shape.cut == 0:  # no whole row yet: a long quoted field
                more = binary.read(self.block_bytes)
                final = not more
                pending += more
                continue
            if header:
                # The exact reader has read and checked the header: rows start after it.
                header = False
                skip = int(shape.starts[1]) if len(shape.starts) > 1 else shape.cut
                self.offset += skip
                self.line += int(shape.lines[1]) if len(shape.starts) > 1 else shape.newlines
                pending = pending[skip:]
                continue
            data = pending[: shape.cut]
            decoded = self._decoded(data)
            fields = self._fields(decoded, len(shape.starts)) if decoded is not None else None
            if fields is None:
                self.plain = False
                return
            yield Block(fields=fields, lines=shape.lines + self.line)
            self.offset += shape.cut
            self.line += shape.newlines
            pending = pending[shape.cut :]
