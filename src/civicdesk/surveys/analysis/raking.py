"""Raking (iterative proportional fitting) of base weights to population margins, with
optional trimming, and the diagnostics of the weights it produces."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from civicdesk.surveys.analysis.errors import SurveyInputError
from civicdesk.surveys.analysis.inputs import Margin

DEFAULT_TOLERANCE = 1e-7
DEFAULT_MAX_ITERATIONS = 100
#: Trim-then-rake cycles before trimming gives up.
MAX_TRIM_CYCLES = 50


@dataclass(frozen=True)
class Gap:
    """The largest relative miss of a margin: |weighted count - population| / population."""

    variable: str
    category: str
    achieved: float
    target: float

    @property
    def relative(self) -> float:
        return abs(self.achieved - self.target) / self.target


@dataclass(frozen=True)
class RakingResult:
    weights: np.ndarray
    iterations: int  # full sweeps over every margin, summed over trim cycles
    converged: bool
    gap: Gap
    trim_cycles: int
    trimmed: int  # respondents whose weight hit a trimming bound in the last cycle


def largest_gap(weights: np.ndarray, margins: Sequence[Margin]) -> Gap:
    worst: Gap | None = None
    for margin in margins:
        sums = np.bincount(margin.codes, weights, minlength=len(margin.categories))
        rel = np.abs(sums - margin.totals) / margin.totals
        k = int(np.argmax(rel))
        if worst is None or rel[k] > worst.relative:
            worst = Gap(margin.variable, margin.categories[k], float(sums[k]), margin.totals[k])
    assert worst is not None
    return worst


def _ipf(
    weights: np.ndarray, margins: Sequence[Margin], tolerance: float, max_iterations: int
) -> tuple[np.ndarray, int, bool]:
    w = weights.copy()
    for iteration in range(1, max_iterations + 1):
        for margin in margins:
            sums = np.bincount(margin.codes, w, minlength=len(margin.categories))
            w *= (margin.totals / sums)[margin.codes]
        # The last margin was just met exactly; the others show how far from the fixed point.
        if len(margins) == 1 or largest_gap(w, margins[:-1]).relative <= tolerance:
            return w, iteration, True
    return w, max_iterations, False


def rake(
    base_weight: np.ndarray,
    margins: Sequence[Margin],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    max_iterations: int = DEFAULT_MAX_ITERATIONS,
    trim_max: float | None = None,
    trim_min: float | None = None,
) -> RakingResult:
    """Rake `base_weight` until every margin's weighted counts are within `tolerance`
    (relative) of its populations. With `trim_max`/`trim_min`, weights above trim_max x
    (or below trim_min x) the mean weight are set to that bound and the result raked
    again, until the raked weights respect the bounds (within 0.1%) or MAX_TRIM_CYCLES.

    Raises SurveyInputError when raking does not converge.
    """
    weights, iterations, converged = _ipf(base_weight, margins, tolerance, max_iterations)
    if not converged:
        gap = largest_gap(weights, margins)
        raise SurveyInputError(
            f"raking did not converge after {iterations} iterations: the weighted count of "
            f"{gap.variable} = {gap.category!r} is still {gap.achieved:,.6g} against a "
            f"population of {gap.target:,.6g} ({gap.relative:.3%} off, tolerance "
            f"{tolerance:g}). The raking variables' categories are probably too sparse "
            "together (a category of one variable met only by respondents that another "
            "variable's targets leave no room for); merge small categories or raise "
            "--max-iterations"
        )
    cycles = 0
    trimmed = 0
    if trim_max is not None or trim_min is not None:
        mean = float(margins[0].totals.sum()) / weights.size
        upper = np.inf if trim_max is None else trim_max * mean
        lower = 0.0 if trim_min is None else trim_min * mean
        while True:
            outside = (weights > upper * 1.001) | (weights < lower * 0.999)
            if not outside.any():
                trimmed = int(((weights >= upper * 0.999) | (weights <= lower * 1.001)).sum())
                break
            if cycles == MAX_TRIM_CYCLES:
                raise SurveyInputError(
                    f"trimming and raking could not both be met after {cycles} cycles: "
                    f"{int(outside.sum())} weights remain outside "
                    f"[{lower / mean:g}, {upper / mean:g}] x the mean weight (from "
                    f"{weights.min() / mean:.3g} to {weights.max() / mean:.3g} x); loosen "
                    "--trim-max/--trim-min or merge sparse raking categories"
                )
            cycles += 1
            clipped = np.clip(weights, lower, upper)
            weights, more, converged = _ipf(clipped, margins, tolerance, max_iterations)
            iterations += more
            if not converged:
                gap = largest_gap(weights, margins)
                raise SurveyInputError(
                    f"raking did not converge after {more} iterations in trimming cycle "
                    f"{cycles}: {gap.variable} = {gap.category!r} is {gap.achieved:,.6g} "
                    f"against {gap.target:,.6g}"
                )
    return RakingResult(
        weights=weights,
        iterations=iterations,
        converged=True,
        gap=largest_gap(weights, margins),
        trim_cycles=cycles,
        trimmed=trimmed,
    )


def weight_diagnostics(weights: np.ndarray) -> dict[str, float]:
    """Kish's design effect due to weighting, the effective sample size, and the spread."""
    n = weights.size
    total = float(weights.sum())
    squares = float(np.dot(weights, weights))
    return {
        "respondents": n,
        "weight_total": total,
        "weight_min": float(weights.min()),
        "weight_max": float(weights.max()),
        "weight_mean": total / n,
        "weight_ratio_max_min": float(weights.max() / weights.min()),
        "deff_weighting_kish": n * squares / total**2,
        "effective_sample_size": total**2 / squares,
    }
