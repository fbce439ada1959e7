"""Writing the results: weights.csv, estimates.csv and diagnostics.json, all or nothing.
The files are written into a temporary directory beside DIR and moved into it at the end,
so a failure leaves DIR as it was (absent, or without any new file)."""

from __future__ import annotations

import json
import math
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from civicdesk.surveys.analysis.errors import SurveyInputError
from civicdesk.surveys.analysis.estimation import EstimateRow

ESTIMATE_COLUMNS = ("item", "group", "estimate", "se", "ci_low", "ci_high", "n", "deff")
OUTPUT_FILES = ("weights.csv", "estimates.csv", "diagnostics.json")


def _number(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.10g}"


def estimates_frame(rows: Sequence[EstimateRow]) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "item": [r.item for r in rows],
            "group": [r.group for r in rows],
            "estimate": [_number(r.estimate) for r in rows],
            "se": [_number(r.se) for r in rows],
            "ci_low": [_number(r.ci_low) for r in rows],
            "ci_high": [_number(r.ci_high) for r in rows],
            "n": [str(r.n) for r in rows],
            "deff": [_number(r.deff) for r in rows],
        },
        schema=dict.fromkeys(ESTIMATE_COLUMNS, pl.String),
    )


def check_out_dir(out: Path) -> None:
    """Refuse a DIR that would lose files or cannot be written, before any work."""
    if out.exists() and not out.is_dir():
        raise SurveyInputError(f"--out {out}: exists and is not a directory")
    clash = [name for name in OUTPUT_FILES if (out / name).is_dir()]
    if clash:
        raise SurveyInputError(f"--out {out}: {clash[0]} is a directory")
    parent = out.resolve().parent
    if not parent.is_dir():
        raise SurveyInputError(f"--out {out}: the directory {parent} does not exist")


def write_all(out: Path, writers: dict[str, Callable[[Path], None]]) -> None:
    """Run each writer on a path in a temporary directory, then move the files into `out`."""
    parent = out.resolve().parent
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}-", dir=parent))
    try:
        for name, write in writers.items():
            write(staging / name)
        if not out.exists():
            staging.rename(out)
            return
        for name in writers:
            (staging / name).replace(out / name)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def write_weights(raw: pl.DataFrame, weights: np.ndarray, path: Path) -> None:
    """The responses as they came, with a `weight` column added."""
    column = pl.Series("weight", [f"{w:.10g}" for w in weights.tolist()], dtype=pl.String)
    raw.with_columns(column).write_csv(path)


def write_estimates(rows: Sequence[EstimateRow], path: Path) -> None:
    estimates_frame(rows).write_csv(path)


def write_json(data: dict[str, Any], path: Path) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
