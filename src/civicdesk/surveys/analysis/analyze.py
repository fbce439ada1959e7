"""The survey analysis from files to files: read and check, rake, estimate, write."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from civicdesk.surveys.analysis import estimation, inputs, output, raking
from civicdesk.surveys.analysis.errors import SurveyInputError


@dataclass(frozen=True)
class AnalysisResult:
    out: Path
    diagnostics: dict[str, Any]
    estimates: list[estimation.EstimateRow]


def survey_analyze(
    *,
    responses_path: Path,
    targets_path: Path,
    items: Sequence[str],
    out: Path,
    weight: str | None = None,
    strata: str | None = None,
    cluster: str | None = None,
    fpc: str | None = None,
    by: str | None = None,
    tolerance: float = raking.DEFAULT_TOLERANCE,
    max_iterations: int = raking.DEFAULT_MAX_ITERATIONS,
    trim_max: float | None = None,
    trim_min: float | None = None,
) -> AnalysisResult:
    """Rake the responses to the targets and estimate each item; write DIR/weights.csv,
    DIR/estimates.csv and DIR/diagnostics.json. Raises SurveyInputError (and writes
    nothing) on any problem with the input."""
    if not items:
        raise SurveyInputError("--items: name at least one column")
    if len(set(items)) != len(items):
        raise SurveyInputError(f"--items: a column is named twice ({', '.join(items)})")
    if trim_max is not None and trim_max <= 1:
        raise SurveyInputError("--trim-max: must be greater than 1 (a multiple of the mean)")
    if trim_min is not None and not 0 < trim_min < 1:
        raise SurveyInputError("--trim-min: must be between 0 and 1 (a multiple of the mean)")
    output.check_out_dir(out)

    responses = inputs.read_csv(responses_path)
    options = {"weight": weight, "strata": strata, "cluster": cluster, "fpc": fpc, "by": by}
    needed = {col: f"--{opt}" for opt, col in options.items() if col is not None}
    needed.update(dict.fromkeys(items, "--items"))
    inputs.require_columns(responses, needed)
    if "weight" in responses.values.columns:
        raise SurveyInputError(
            f"{responses_path}: already has a column named 'weight', which weights.csv adds; "
            "rename it (and pass the new name to --weight if it is the base weight)"
        )
    targets = inputs.read_targets(targets_path)
    for variable in targets:
        if variable in items:
            raise SurveyInputError(
                f"{targets_path}: {variable!r} is both a raking variable and an item"
            )
    margins = inputs.read_margins(responses, targets, targets_path)
    design = inputs.read_design(responses, weight=weight, strata=strata, cluster=cluster, fpc=fpc)
    item_list = inputs.read_items(responses, items)
    groups = inputs.read_groups(responses, by) if by is not None else None

    raked = raking.rake(
        design.base_weight,
        margins,
        tolerance=tolerance,
        max_iterations=max_iterations,
        trim_max=trim_max,
        trim_min=trim_min,
    )
    rows = estimation.estimate(design, raked.weights, margins, item_list, groups)

    diagnostics: dict[str, Any] = {
        "responses": str(responses_path),
        "targets": str(targets_path),
        "design": {
            "weight": weight,
            "strata": strata,
            "cluster": cluster,
            "fpc": fpc,
            "by": by,
        },
        "raking": {
            "variables": [m.variable for m in margins],
            "iterations": raked.iterations,
            "converged": raked.converged,
            "tolerance": tolerance,
            "max_iterations": max_iterations,
            "largest_gap": {
                "variable": raked.gap.variable,
                "category": raked.gap.category,
                "weighted": raked.gap.achieved,
                "population": raked.gap.target,
                "relative": raked.gap.relative,
            },
            "trim_max": trim_max,
            "trim_min": trim_min,
            "trim_cycles": raked.trim_cycles,
            "trimmed": raked.trimmed,
        },
        "weights": raking.weight_diagnostics(raked.weights),
        "base_weights": raking.weight_diagnostics(design.base_weight),
        "items": {item.name: item.kind for item in item_list},
    }
    output.write_all(
        out,
        {
            "weights.csv": lambda p: output.write_weights(responses.raw, raked.weights, p),
            "estimates.csv": lambda p: output.write_estimates(rows, p),
            "diagnostics.json": lambda p: output.write_json(diagnostics, p),
        },
    )
    return AnalysisResult(out=out, diagnostics=diagnostics, estimates=rows)
