"""Reading and checking the analysis's inputs: the responses, the raking targets, the design
columns and the items. Every problem becomes a SurveyInputError naming where it is.

Lines are counted as a text editor shows them, the header being line 1 (a quoted value
spanning several lines shifts the count of the rows after it).
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import polars as pl

from civicdesk.surveys.analysis.errors import SurveyInputError

#: Rating labels, compared case-insensitively after trimming spaces.
RATING_POSITIVE = frozenset({"excellent", "good"})
RATING_NEGATIVE = frozenset({"fair", "poor"})
RATING_DONT_KNOW = frozenset({"don't know", "dont know", "don\u2019t know"})
RATING_LABELS = RATING_POSITIVE | RATING_NEGATIVE | RATING_DONT_KNOW

#: Totals of the raking variables may differ by this share of the largest before we refuse.
TARGET_TOTALS_TOLERANCE = 0.001

ItemKind = Literal["numeric", "rating"]


@dataclass(frozen=True)
class Responses:
    """The responses as read: every value a string (None for a blank), original spelling kept
    for weights.csv; `values` holds the same columns trimmed of surrounding spaces."""

    path: Path
    raw: pl.DataFrame
    values: pl.DataFrame

    @property
    def rows(self) -> int:
        return self.raw.height

    def line(self, row: int) -> int:
        """The file line of a 0-based respondent row."""
        return row + 2


@dataclass(frozen=True)
class Margin:
    """One raking variable: each respondent's category code and each category's total."""

    variable: str
    categories: list[str]
    codes: np.ndarray  # int64 per respondent, an index into categories
    totals: np.ndarray  # float64 per category


@dataclass(frozen=True)
class Item:
    """An item to estimate: `values` is the number (numeric) or 1.0/0.0 for positive/other
    (rating), NaN where the respondent gave no usable answer."""

    name: str
    kind: ItemKind
    values: np.ndarray


@dataclass(frozen=True)
class Design:
    """The sample design: base weights, and stratum, PSU and population-size columns."""

    base_weight: np.ndarray
    strata: np.ndarray | None = None  # int codes
    clusters: np.ndarray | None = None  # int codes, unique across strata
    fpc: np.ndarray | None = None  # population size of each row's stratum (units or PSUs)
    names: dict[str, str | None] = field(default_factory=dict)


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SurveyInputError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SurveyInputError(f"{path}: is a directory, not a CSV file") from None
    except OSError as exc:
        raise SurveyInputError(f"{path}: cannot be read ({exc.strerror})") from None
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise SurveyInputError(
            f"{path}: is not UTF-8 text (line {line} has the byte 0x{data[exc.start]:02X}); "
            "save the file as CSV UTF-8"
        ) from None
    if not text.strip():
        raise SurveyInputError(f"{path}: is empty")
    return text


def _malformed(text: str, detail: str) -> str:
    """Say which line of a CSV file polars could not read, found with the csv module."""
    reader = csv.reader(io.StringIO(text))
    expected = len(next(reader))
    for record in reader:
        if record and len(record) != expected:
            return (
                f"line {reader.line_num} has {len(record)} values but the header names "
                f"{expected} columns"
            )
    first = detail.strip().splitlines()[0] if detail.strip() else "unreadable"
    return f"is not a well-formed CSV file ({first})"


def read_csv(path: Path) -> Responses:
    """Read a CSV file whose first line names the columns, every value as text."""
    text = _read_text(path)
    header = text.splitlines()[0]
    try:
        raw = pl.read_csv(
            text.encode("utf-8"),
            infer_schema=False,
            has_header=True,
        )
    except pl.exceptions.DuplicateError as exc:
        raise SurveyInputError(f"{path}: two columns have the same name ({exc})") from None
    except (pl.exceptions.ComputeError, pl.exceptions.PolarsError) as exc:
        raise SurveyInputError(f"{path}: {_malformed(text, str(exc))}") from None
    names = [c.strip() for c in raw.columns]
    if any(not n for n in names):
        raise SurveyInputError(f"{path}: a column in the first line has no name ({header!r})")
    if len(set(names)) != len(names):
        dupes = sorted({n for n in names if names.count(n) > 1})
        raise SurveyInputError(f"{path}: two columns have the same name: {', '.join(dupes)}")
    raw = raw.rename(dict(zip(raw.columns, names, strict=True)))
    if raw.height == 0:
        raise SurveyInputError(f"{path}: has a header line but no rows")
    stripped = raw.select(
        pl.col(c).str.strip_chars().replace("", None).alias(c) for c in raw.columns
    )
    return Responses(path=path, raw=raw, values=stripped)


def require_columns(responses: Responses, columns: dict[str, str]) -> None:
    """`columns` maps each needed column to what it is for (an option name)."""
    missing = [f"{col!r} ({why})" for col, why in columns.items() if col not in responses.values]
    if missing:
        have = ", ".join(responses.values.columns)
        raise SurveyInputError(
            f"{responses.path}: no column {', '.join(missing)}; the columns are: {have}"
        )


def _first_row(mask: pl.Series) -> int:
    return int(mask.arg_true()[0])


def _numbers(responses: Responses, column: str, what: str) -> np.ndarray:
    """A column that must hold a number on every row."""
    col = responses.values[column]
    blank = col.is_null()
    if blank.any():
        row = _first_row(blank)
        raise SurveyInputError(
            f"{responses.path}, line {responses.line(row)}: {what} column {column!r} is blank"
        )
    num = col.cast(pl.Float64, strict=False)
    bad = num.is_null() | num.is_nan() | num.is_infinite()
    if bad.any():
        row = _first_row(bad)
        raise SurveyInputError(
            f"{responses.path}, line {responses.line(row)}: {what} column {column!r} has "
            f"{col[row]!r}, not a number"
        )
    return num.to_numpy().astype(np.float64)


def read_design(
    responses: Responses,
    *,
    weight: str | None,
    strata: str | None,
    cluster: str | None,
    fpc: str | None,
) -> Design:
    """The base weights and the sample design, checked row by row."""
    n = responses.rows
    path = responses.path
    if weight is None:
        base = np.ones(n)
    else:
        base = _numbers(responses, weight, "the weight")
        bad = np.flatnonzero(base <= 0)
        if bad.size:
            row = int(bad[0])
            raise SurveyInputError(
                f"{path}, line {responses.line(row)}: the weight column {weight!r} has "
                f"{responses.values[weight][row]!r}; a weight must be greater than 0"
            )

    strata_codes: np.ndarray | None = None
    if strata is not None:
        col = responses.values[strata]
        if col.is_null().any():
            row = _first_row(col.is_null())
            raise SurveyInputError(
                f"{path}, line {responses.line(row)}: the stratum column {strata!r} is blank"
            )
        strata_codes = col.cast(pl.Categorical).to_physical().to_numpy().astype(np.int64)
        _, strata_codes = np.unique(strata_codes, return_inverse=True)

    cluster_codes: np.ndarray | None = None
    if cluster is not None:
        col = responses.values[cluster]
        if col.is_null().any():
            row = _first_row(col.is_null())
            raise SurveyInputError(
                f"{path}, line {responses.line(row)}: the cluster column {cluster!r} is blank"
            )
        # A cluster is named within its stratum (R's nest=TRUE).
        key = col if strata is None else responses.values[strata] + "\x1f" + col
        cluster_codes = key.cast(pl.Categorical).to_physical().to_numpy().astype(np.int64)
        _, cluster_codes = np.unique(cluster_codes, return_inverse=True)

    fpc_values: np.ndarray | None = None
    if fpc is not None:
        fpc_values = _numbers(responses, fpc, "the fpc")
        _check_fpc(responses, fpc, fpc_values, strata, strata_codes, cluster_codes)
    _check_lonely_psu(responses, strata, strata_codes, cluster_codes, fpc_values)
    return Design(
        base_weight=base,
        strata=strata_codes,
        clusters=cluster_codes,
        fpc=fpc_values,
        names={"weight": weight, "strata": strata, "cluster": cluster, "fpc": fpc},
    )


def _stratum_rows(strata_codes: np.ndarray | None, n: int) -> list[np.ndarray]:
    if strata_codes is None:
        return [np.arange(n)]
    order = np.argsort(strata_codes, kind="stable")
    bounds = np.flatnonzero(np.diff(strata_codes[order])) + 1
    return np.split(order, bounds)


def _psus_in(rows: np.ndarray, cluster_codes: np.ndarray | None) -> int:
    return int(rows.size if cluster_codes is None else np.unique(cluster_codes[rows]).size)


def _stratum_label(responses: Responses, strata: str | None, rows: np.ndarray) -> str:
    if strata is None:
        return "the sample"
    return f"stratum {responses.values[strata][int(rows[0])]!r}"


def _check_fpc(
    responses: Responses,
    fpc: str,
    values: np.ndarray,
    strata: str | None,
    strata_codes: np.ndarray | None,
    cluster_codes: np.ndarray | None,
) -> None:
    unit = "units" if cluster_codes is None else "clusters"
    for rows in _stratum_rows(strata_codes, responses.rows):
        first = float(values[rows[0]])
        differ = rows[values[rows] != first]
        label = _stratum_label(responses, strata, rows)
        if differ.size:
            row = int(differ[0])
            raise SurveyInputError(
                f"{responses.path}, line {responses.line(row)}: the fpc column {fpc!r} has "
                f"{values[row]:g} but {first:g} on line {responses.line(int(rows[0]))}; it must "
                f"be the same within {label}"
            )
        sampled = _psus_in(rows, cluster_codes)
        if first < sampled:
            raise SurveyInputError(
                f"{responses.path}: the fpc column {fpc!r} gives {first:g} {unit} in the "
                f"population of {label}, fewer than the {sampled} {unit} in its sample "
                f"(line {responses.line(int(rows[0]))}); fpc is the population size, "
                "not a sampling fraction"
            )


def _check_lonely_psu(
    responses: Responses,
    strata: str | None,
    strata_codes: np.ndarray | None,
    cluster_codes: np.ndarray | None,
    fpc_values: np.ndarray | None,
) -> None:
    # As R's default (survey.lonely.psu = "fail"): one PSU gives no variance estimate,
    # unless the stratum was taken whole (fpc equal to its sample: no sampling variance).
    for rows in _stratum_rows(strata_codes, responses.rows):
        sampled = _psus_in(rows, cluster_codes)
        whole = fpc_values is not None and float(fpc_values[rows[0]]) == sampled
        if sampled == 1 and not whole:
            unit = "respondent" if cluster_codes is None else "cluster"
            raise SurveyInputError(
                f"{responses.path}: {_stratum_label(responses, strata, rows)} has a single "
                f"{unit} (line {responses.line(int(rows[0]))}), so its sampling variance "
                "cannot be estimated; merge it with a similar stratum"
            )


def read_targets(path: Path) -> dict[str, dict[str, float]]:
    """TARGETS.csv: `variable,category,population`, one row per category of each raking
    variable. Returns {variable: {category: population}} in the file's order."""
    table = read_csv(path)
    require_columns(table, {"variable": "targets", "category": "targets", "population": "targets"})
    values = table.values
    targets: dict[str, dict[str, float]] = {}
    for row, (variable, category, population) in enumerate(
        values.select("variable", "category", "population").iter_rows()
    ):
        where = f"{path}, line {table.line(row)}"
        if variable is None or category is None:
            raise SurveyInputError(f"{where}: the variable and the category must not be blank")
        try:
            total = float(population) if population is not None else math.nan
        except ValueError:
            total = math.nan
        if not math.isfinite(total):
            raise SurveyInputError(
                f"{where}: the population of {variable} = {category!r} is {population!r}, "
                "not a number"
            )
        if total <= 0:
            raise SurveyInputError(
                f"{where}: the population of {variable} = {category!r} is {population}; it "
                "must be greater than 0 (leave out a category nobody belongs to)"
            )
        per_variable = targets.setdefault(variable, {})
        if category in per_variable:
            raise SurveyInputError(f"{where}: {variable} = {category!r} is listed twice")
        per_variable[category] = total
    sums = {variable: sum(cats.values()) for variable, cats in targets.items()}
    low = min(sums, key=lambda v: sums[v])
    high = max(sums, key=lambda v: sums[v])
    if sums[high] - sums[low] > TARGET_TOTALS_TOLERANCE * sums[high]:
        raise SurveyInputError(
            f"{path}: the populations of {low!r} add up to {sums[low]:,.6g} but those of "
            f"{high!r} to {sums[high]:,.6g}; every raking variable must describe the same "
            f"population (within {TARGET_TOTALS_TOLERANCE:.1%})"
        )
    return targets


def read_margins(
    responses: Responses, targets: dict[str, dict[str, float]], targets_path: Path
) -> list[Margin]:
    """Match each raking variable's categories in the responses with its targets. The
    totals are rescaled to agree exactly (they differ by at most the tolerance)."""
    require_columns(responses, dict.fromkeys(targets, f"a raking variable in {targets_path.name}"))
    grand = float(np.mean([sum(c.values()) for c in targets.values()]))
    margins = []
    for variable, cats in targets.items():
        col = responses.values[variable]
        if col.is_null().any():
            row = _first_row(col.is_null())
            raise SurveyInputError(
                f"{responses.path}, line {responses.line(row)}: the raking variable "
                f"{variable!r} is blank; every respondent needs a category of each raking "
                "variable"
            )
        categories = list(cats)
        known = col.is_in(categories)
        if not known.all():
            row = _first_row(~known)
            raise SurveyInputError(
                f"{responses.path}, line {responses.line(row)}: {variable} = {col[row]!r} "
                f"has no population in {targets_path} (its categories of {variable} are: "
                f"{', '.join(repr(c) for c in categories)})"
            )
        present = set(col.unique().to_list())
        for category in categories:
            if category not in present:
                raise SurveyInputError(
                    f"{targets_path}: {variable} = {category!r} has a population but no "
                    f"respondent in {responses.path}; raking cannot give it any weight "
                    "(merge it with a neighbouring category in both files)"
                )
        lookup = pl.DataFrame(
            {variable: categories, "__code": list(range(len(categories)))},
            schema={variable: pl.String, "__code": pl.Int64},
        )
        codes = col.to_frame().join(lookup, on=variable, how="left", maintain_order="left")
        totals = np.array([cats[c] for c in categories], dtype=np.float64)
        margins.append(
            Margin(
                variable=variable,
                categories=categories,
                codes=codes["__code"].to_numpy(),
                totals=totals * (grand / totals.sum()),
            )
        )
    return margins


def read_items(responses: Responses, names: Sequence[str]) -> list[Item]:
    """Each item is a rating if every answer is a rating label, else numeric if every
    answer is a number; anything else is refused."""
    items = []
    for name in names:
        col = responses.values[name]
        answered = col.drop_nulls()
        lowered = col.str.to_lowercase()
        if answered.len() and lowered.drop_nulls().is_in(list(RATING_LABELS)).all():
            positive = lowered.is_in(list(RATING_POSITIVE)).to_numpy()
            usable = lowered.is_in(list(RATING_POSITIVE | RATING_NEGATIVE)).to_numpy()
            values = np.where(usable, positive.astype(np.float64), np.nan)
            items.append(Item(name=name, kind="rating", values=values))
            continue
        num = col.cast(pl.Float64, strict=False)
        bad = (col.is_not_null() & (num.is_null() | num.is_nan() | num.is_infinite())).fill_null(
            False
        )
        if answered.len() and not bad.any():
            values = num.fill_null(np.nan).to_numpy().astype(np.float64)
            items.append(Item(name=name, kind="numeric", values=values))
            continue
        if not answered.len():
            raise SurveyInputError(
                f"{responses.path}: the item {name!r} has no answers (every row is blank)"
            )
        labels = lowered.is_in(list(RATING_LABELS)).fill_null(False)
        # Report against what the column seems meant to be.
        if labels.any():
            odd = col.is_not_null() & ~labels
            row = _first_row(odd)
            expected = "a rating label (Excellent, Good, Fair, Poor, Don't know)"
        else:
            row = _first_row(bad)
            expected = "a number"
        raise SurveyInputError(
            f"{responses.path}, line {responses.line(row)}: the item {name!r} has "
            f"{col[row]!r}, which is neither {expected} nor blank; an item must be all "
            "rating labels or all numbers"
        )
    return items


def read_groups(responses: Responses, by: str) -> pl.Series:
    """The --by column; a blank leaves the respondent out of every group (not the overall)."""
    return responses.values[by]
