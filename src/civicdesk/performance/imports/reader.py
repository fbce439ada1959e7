"""Reading a city's CSV export through a mapping: decoding, the header, and each row turned
into a ``Record`` (or a ``RowError`` naming the row's line and what is wrong with it).

The file is streamed in chunks so memory stays flat whatever its size. A row is named by
the line it starts on, counting the header as line 1 (a quoted field may span lines).
"""

from __future__ import annotations

import codecs
import csv
import io
import math
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import polars as pl

from civicdesk.servicerequests.channels import Channel
from civicdesk.servicerequests.statuses import CLOSED_STATUSES, Status

from .dates import date_parser, describe_format
from .mapping import FIELDS, JOIN_WITH, Mapping, value_key
from .records import FileProblem, Record, RowError, RowProblem

# A long resolution note is fine; a "field" of megabytes is a broken quote.
csv.field_size_limit(8 * 1024 * 1024)
_STATUSES = frozenset(Status.values)
_CHANNELS = frozenset(Channel.values)


def _reading_encoding(encoding: str) -> str:
    # A byte-order mark is not part of the first column's name.
    return "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding


def decode_error_locate(path: Path, encoding: str) -> tuple[int, int, bytes]:
    """Where a file stops being ``encoding``: (line, byte offset, the bad bytes)."""
    decoder = codecs.getincrementaldecoder(_reading_encoding(encoding))()
    fed = 0
    newlines_before = 0
    with path.open("rb") as raw:
        while True:
            block = raw.read(1 << 20)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                start_of_object = fed + len(block) - len(exc.object)
                offset = start_of_object + exc.start
                raw.seek(0)
                head = raw.read(offset)
                bad = bytes(exc.object[exc.start : exc.end])
                return head.count(b"\n") + 1, offset, bad
            if not block:
                break
            fed += len(block)
            newlines_before += block.count(b"\n")
    return newlines_before + 1, fed, b""


class CsvExport:
    """One export file, read through one mapping. Use as a context manager."""

    def __init__(self, path: str | Path, mapping: Mapping) -> None:
        self.path = Path(path)
        self.mapping = mapping
        self.total_bytes = 0
        self._binary: IO[bytes] | None = None
        self._text: io.TextIOWrapper | None = None
        self._reader: Any = None  # a csv reader: rows, and line_num
        self.convert: Callable[[int, list[str]], Record] | None = None
        self.source_id_index = 0
        self.header: list[str] = []
        self._line_offset = 0  # lines before where the exact reader started
        self._blocks: Any = None  # the BlockReader while it reads

    def __enter__(self) -> CsvExport:
        if self._binary is None:
            self.open()
        return self

    def open(self) -> None:
        """Open the file and check its header against the mapping (``FileProblem``)."""
        try:
            self._binary = self.path.open("rb")
        except FileNotFoundError:
            raise FileProblem(f"{self.path}: no such file") from None
        except IsADirectoryError:
            raise FileProblem(f"{self.path}: is a folder, not a file") from None
        except OSError as exc:
            raise FileProblem(f"{self.path}: cannot be read ({exc.strerror})") from None
        self.total_bytes = self.path.stat().st_size
        self._text = io.TextIOWrapper(
            self._binary, encoding=_reading_encoding(self.mapping.encoding), newline=""
        )
        self._reader = csv.reader(self._text, delimiter=self.mapping.delimiter)
        try:
            header = next(self._rows(), None)
            if header is None or not any(cell.strip() for cell in header[1]):
                raise FileProblem(f"{self.path}: the file is empty (no header row)")
            self.header = header[1]
            self.convert, self.source_id_index = row_converter(
                self.mapping, header[1], where=str(self.path)
            )
        except FileProblem:
            self._binary.close()
            raise

    def __exit__(self, *exc: object) -> None:
        if self._binary is not None:
            self._binary.close()

    @property
    def bytes_read(self) -> int:
        if self._blocks is not None:
            return int(self._blocks.offset)
        return self._binary.tell() if self._binary is not None and not self._binary.closed else 0

    def _rows(self) -> Iterator[tuple[int, list[str]]]:
        """The non-blank rows, each with the line it starts on; file-level problems raise."""
        reader = self._reader
        offset = self._line_offset
        start = reader.line_num + 1
        try:
            for row in reader:
                if row:
                    yield start + offset, row
                start = reader.line_num + 1
        except UnicodeDecodeError:
            line, offset, bad = decode_error_locate(self.path, self.mapping.encoding)
            raise FileProblem(
                f"{self.path}, line {line} (byte {offset:,}): the bytes {bad!r} are not "
                f"{self.mapping.encoding} text; set the file's encoding in the mapping's "
                '[source] section, e.g. encoding = "cp1252" or "latin-1" '
                f"({self.mapping.where(('source',), 'encoding')})"
            ) from None
        except csv.Error as exc:
            raise FileProblem(
                f"{self.path}, line {reader.line_num + offset}: the file is not valid CSV ({exc})"
            ) from None

    def frames(self, size: int) -> Iterator[tuple[pl.DataFrame, list[RowError]]]:
        """The rows as record frames (``frames.RECORD_SCHEMA``) with the bad ones as errors:
        read in blocks while the file is plain CSV, then by the exact reader (see
        ``blocks``); ``size`` rows at a time for the exact reader."""
        from .blocks import BlockReader, block_reading_possible
        from .frames import block_converter, block_converting_possible, records_frame

        mapping = self.mapping
        if block_reading_possible(mapping.encoding, mapping.delimiter) and (
            block_converting_possible(mapping)
        ):
            convert, used = block_converter(mapping, self.header, where=str(self.path))
            with self.path.open("rb") as binary:
                self._blocks = blocks = BlockReader(
                    binary,
                    encoding=mapping.encoding,
                    delimiter=mapping.delimiter,
                    width=len(self.header),
                    columns=used,
                )
                for block in blocks:
                    yield convert(block)
            self._blocks = None
            if blocks.plain:
                return
            if blocks.offset:  # else the exact reader is still just past the header
                self._exact_from(blocks.offset, blocks.line)
        for records, errors in self.chunks(size):
            yield records_frame(records), errors

    def _exact_from(self, offset: int, line: int) -> None:
        """Go on with the exact reader from a row that starts at byte ``offset``, ``line``."""
        assert self._binary is not None
        if self._text is not None:
            self._text.detach()
        self._binary.seek(offset)
        encoding = _reading_encoding(self.mapping.encoding)
        self._text = io.TextIOWrapper(
            self._binary, encoding="utf-8" if encoding == "utf-8-sig" else encoding, newline=""
        )
        self._reader = csv.reader(self._text, delimiter=self.mapping.delimiter)
        self._line_offset = line - 1

    def chunks(self, size: int) -> Iterator[tuple[list[Record], list[RowError]]]:
        """Rows in chunks of ``size``: the good ones as records, the bad ones as errors."""
        convert = self.convert
        assert convert is not None
        id_index = self.source_id_index
        records: list[Record] = []
        errors: list[RowError] = []
        for line, row in self._rows():
            try:
                records.append(convert(line, row))
            except RowProblem as exc:
                source_id = row[id_index].strip() if id_index < len(row) else ""
                errors.append(RowError(line, source_id, str(exc)))
            if len(records) + len(errors) >= size:
                yield records, errors
                records, errors = [], []
        if records or errors:
            yield records, errors


def _header_index(mapping: Mapping, header: list[str], where: str) -> dict[str, int]:
    exact: dict[str, list[int]] = {}
    loose: dict[str, list[int]] = {}
    for i, name in enumerate(header):
        exact.setdefault(name, []).append(i)
        loose.setdefault(value_key(name), []).append(i)
    found: dict[str, int] = {}
    problems = []
    for field, columns in mapping.columns.items():
        for column in columns:
            hits = exact.get(column) or loose.get(value_key(column))
            if not hits:
                problems.append(
                    f"{mapping.where(('columns',), field)}: [columns] {field} = {column!r}: "
                    f"the file has no column {column!r}"
                )
            elif len(hits) > 1:
                problems.append(
                    f"{mapping.where(('columns',), field)}: [columns] {field} = {column!r}: "
                    f"the file has {len(hits)} columns named {column!r} (columns "
                    f"{', '.join(str(h + 1) for h in hits)}); rename them"
                )
            else:
                found[column] = hits[0]
    if problems:
        shown = ", ".join(repr(h) for h in header[:60]) + (" ..." if len(header) > 60 else "")
        hint = ""
        if len(header) == 1 and any(c in header[0] for c in ";\t|"):
            hint = (
                "\nThe header has a single column: is the delimiter right? "
                "Set [source] delimiter in the mapping."
            )
        raise FileProblem(
            f"{where}: the mapping names columns that the file does not have:\n"
            + "\n".join(f"  {p}" for p in problems)
            + f"\nThe file's columns are: {shown}{hint}"
        )
    return found


def status_translate(mapping: Mapping, raw: str) -> str | None:
    """A source's status as civicdesk's (None: the mapping does not say)."""
    key = value_key(raw)
    status = mapping.statuses.get(key)
    if status is None:
        status = key if key in _STATUSES else mapping.default_status
    return status or None


def channel_translate(mapping: Mapping, raw: str) -> str:
    key = value_key(raw)
    return mapping.channels.get(key) or (key if key in _CHANNELS else mapping.default_channel)


def district_translate(mapping: Mapping, raw: str) -> str:
    district = raw.strip()
    return mapping.districts.get(value_key(district), district) if district else ""


def columns_mapped(
    mapping: Mapping, header: list[str], *, where: str
) -> Callable[[str], list[int]]:
    """Each field's column positions in the file (``FileProblem`` when the mapping names
    a column the file lacks, or maps lat without long)."""
    index = _header_index(mapping, header, where)
    columns = mapping.columns
    if ("lat" in columns) != ("long" in columns):
        raise FileProblem(
            f"{mapping.where(('columns',), 'lat' if 'lat' in columns else 'long')}: "
            "[columns] lat and long go together: map both or neither"
        )
    return lambda field: [index[name] for name in columns.get(field, ())]


def field_name(mapping: Mapping, field: str) -> str:
    """How messages name a field: the file's column, else what the field is."""
    return mapping.columns[field][0] if field in mapping.columns else FIELDS[field]


def row_converter(
    mapping: Mapping, header: list[str], *, where: str
) -> tuple[Callable[[int, list[str]], Record], int]:
    """A fast function from one CSV row to a ``Record`` (``RowProblem`` when it is bad),
    and the position of the source id column."""
    positions_of = columns_mapped(mapping, header, where=where)
    width = len(header)

    def at(field: str) -> int | None:
        positions = positions_of(field)
        return positions[0] if positions else None

    def joined(field: str) -> Callable[[list[str]], str]:
        positions = positions_of(field)
        if not positions:
            return lambda row: ""
        if len(positions) == 1:
            only = positions[0]
            return lambda row: row[only].strip()
        return lambda row: JOIN_WITH.join(v for v in (row[p].strip() for p in positions) if v)

    def name(field: str) -> str:
        return field_name(mapping, field)

    parse_date = date_parser(mapping.date_format, mapping.timezone)
    date_help = describe_format(mapping.date_format)
    i_id = at("source_id")
    i_requested = at("requested_at")
    i_service = at("service")
    assert i_id is not None and i_requested is not None and i_service is not None
    i_closed, i_updated, i_due = at("closed_at"), at("updated_at"), at("due_at")
    i_group, i_department, i_department_name = (
        at("service_group"),
        at("department"),
        at("department_name"),
    )
    i_status, i_channel, i_district = at("status"), at("channel"), at("district")
    i_lat, i_long = at("lat"), at("long")
    description, address, status_notes = (
        joined("description"),
        joined("address"),
        joined("status_notes"),
    )
    zipcode = joined("zipcode")
    default_channel = mapping.default_channel
    default_status = mapping.default_status
    status_table = mapping.where(("statuses",))
    # Source values repeat: translate each distinct one once.
    status_seen: dict[str, str] = {}
    channel_seen: dict[str, str] = {}

    def date(row: list[str], i: int | None, field: str, required: bool = False) -> float | None:
        if i is None:
            return None
        text = row[i].strip()
        if not text:
            if required:
                raise RowProblem(f"{name(field)} is empty")
            return None
        try:
            return parse_date(text)
        except (ValueError, OverflowError):
            raise RowProblem(
                f"{name(field)} {text!r} is not a date in the mapping's format, {date_help}"
            ) from None

    def convert(line: int, row: list[str]) -> Record:
        if len(row) != width:
            raise RowProblem(f"has {len(row)} fields where the header has {width}")
        source_id = row[i_id].strip()
        if not source_id:
            raise RowProblem(f"{name('source_id')} (the source id) is empty")
        requested = date(row, i_requested, "requested_at", required=True)
        assert requested is not None
        service = row[i_service].strip()
        if not service:
            raise RowProblem(f"{name('service')} (the service) is empty")
        closed = date(row, i_closed, "closed_at")
        updated = date(row, i_updated, "updated_at")
        due = date(row, i_due, "due_at")

        if i_status is not None:
            raw_status = row[i_status]
            status = status_seen.get(raw_status)
            if status is None:
                status = status_translate(mapping, raw_status)
                if status is None:
                    raise RowProblem(
                        f"{name('status')} {raw_status.strip()!r} is not in the mapping's "
                        f"[statuses] ({status_table}); add it there, or a [defaults] status"
                    )
                status_seen[raw_status] = status
        elif closed is not None:
            status = Status.CLOSED
        else:
            status = default_status or Status.NEW
        if status in CLOSED_STATUSES:
            closed_field, closed_column = "closed_at", i_closed
            if closed is None:
                closed, closed_field, closed_column = updated, "updated_at", i_updated
            if closed is None:
                raise RowProblem(
                    f"status {row[i_status].strip() if i_status is not None else status!r} is "
                    f"a closed status but {name('closed_at')} is empty"
                )
            if closed < requested:
                closed_text = row[closed_column].strip() if closed_column is not None else ""
                raise RowProblem(
                    f"closed before it was received: {name(closed_field)} {closed_text} is "
                    f"before {name('requested_at')} {row[i_requested].strip()}"
                )
        else:
            closed = None

        lat = long = None
        if i_lat is not None and i_long is not None:
            lat_text, long_text = row[i_lat].strip(), row[i_long].strip()
            if lat_text or long_text:
                try:
                    lat, long = float(lat_text), float(long_text)
                except ValueError:
                    raise RowProblem(
                        f"location {lat_text!r}, {long_text!r} ({name('lat')}, {name('long')}) "
                        "is not a pair of numbers"
                    ) from None
                if lat == 0 and long == 0:
                    lat = long = None  # exports write 0, 0 for "no location"
                elif not (
                    math.isfinite(lat)
                    and math.isfinite(long)
                    and abs(lat) <= 90
                    and abs(long) <= 180
                ):
                    raise RowProblem(
                        f"location {lat_text}, {long_text} is not a latitude and longitude"
                    )

        channel = default_channel
        if i_channel is not None:
            raw_channel = row[i_channel]
            channel = channel_seen.get(raw_channel, "")
            if not channel:
                channel = channel_seen[raw_channel] = channel_translate(mapping, raw_channel)
        district = ""
        if i_district is not None:
            district = district_translate(mapping, row[i_district])

        return Record(
            line=line,
            source_id=source_id,
            requested=requested,
            service=service,
            service_group=row[i_group].strip() if i_group is not None else "",
            department=row[i_department].strip() if i_department is not None else "",
            department_name=row[i_department_name].strip() if i_department_name is not None else "",
            status=status,
            status_notes=status_notes(row),
            description=description(row),
            address=address(row),
            zipcode=zipcode(row),
            lat=lat,
            long=long,
            channel=channel,
            district=district,
            closed=closed,
            updated=updated,
            due=due,
        )

    return convert, i_id
