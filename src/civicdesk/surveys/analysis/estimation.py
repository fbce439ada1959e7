"""Design-based estimates of each item, overall and by group, with their standard errors
and design effects, by Taylor linearisation, as R's survey package computes them for a
design made by rake() (svymean(..., na.rm = TRUE, deff = TRUE), domains as subset()).

For a domain d (everyone, or one group) and an item, with a_i = 1 if respondent i answered
and is in d, w_i the raked weight and W_d = sum(a w):

1. the mean is  ybar = sum(a w y) / W_d  (for a rating, y is 1 for Excellent/Good, else 0);
2. the linearised variable is  u_i = a_i (y_i - ybar) / W_d;
3. the raking is credited as R does it: ten rounds of sweeping u, margin by margin, to its
   residual from the margin's category means (unweighted means of u, which are means of the
   weighted scores divided by the weights); written here as u - sum_k M_k' c_k with the
   coefficients c_k updated in the small space of categories, which gives the same numbers
   without ten passes over the respondents per margin;
4. the weighted residuals x = w u are totalled per cluster (each respondent is its own
   cluster without --cluster), centred within each stratum, and
   var = sum_h (1 - n_h/N_h) n_h/(n_h - 1) sum_c (z_hc - zbar_h)^2,
   n_h the clusters sampled in stratum h and N_h its population (--fpc; no correction without);
5. deff = var / var_srs, var_srs = s2 (W_d - m)/(W_d m), with m the answering respondents
   in d and s2 = sum(a w (y - ybar)^2)/W_d * m/(m - 1): simple random sampling of the same
   size without replacement (R's default deff).

Everything is vectorised over items; the respondents are passed over a few times per domain.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from civicdesk.surveys.analysis.inputs import Design, Item, Margin

Z_95 = 1.959963984540054  # the normal quantile R's confint() uses for svymean
#: R's svyrecvar() sweeps a raked design's margins ten times, whatever their convergence.
RAKING_SWEEPS = 10


@dataclass(frozen=True)
class EstimateRow:
    item: str
    group: str  # "" for every respondent
    estimate: float  # NaN when nobody in the group answered
    se: float
    ci_low: float
    ci_high: float
    n: int
    deff: float


@dataclass(frozen=True)
class _Structure:
    """What does not depend on the item or the domain: margins, clusters and strata.

    Rows are put in design order (by stratum, then cluster), so that a domain's rows,
    taken in that order, fall into runs of one cluster and runs of one stratum."""

    weights: np.ndarray
    indicators: np.ndarray  # n x sum(K): 1 where a respondent is in a margin's category
    offsets: list[int]  # start of each margin's categories in `indicators`
    counts: np.ndarray  # respondents per category (sum(K))
    share: np.ndarray  # sum(K) x sum(K): in category a, the share of respondents also in b
    order: np.ndarray  # rows in design order
    cluster: np.ndarray  # cluster index of each row (clusters numbered in design order)
    cluster_weight: np.ndarray  # clusters x sum(K): weight of each category in each cluster
    cluster_stratum: np.ndarray  # stratum index of each cluster (non-decreasing)
    swept_squares: np.ndarray  # strata x sum(K) x sum(K): sum over clusters of W_c W_c'
    swept_sums: np.ndarray  # strata x sum(K): sum over clusters of W_c
    sampled: np.ndarray  # clusters sampled per stratum
    scale: np.ndarray  # (1 - n_h/N_h) n_h/(n_h - 1) per stratum


def _structure(design: Design, weights: np.ndarray, margins: Sequence[Margin]) -> _Structure:
    n = weights.size
    offsets = [0]
    for margin in margins:
        offsets.append(offsets[-1] + len(margin.categories))
    indicators = np.zeros((n, offsets[-1]))
    for k, margin in enumerate(margins):
        indicators[np.arange(n), offsets[k] + margin.codes] = 1.0
    counts = indicators.sum(axis=0)
    share = (indicators.T @ indicators) / counts[:, None]

    strata = np.zeros(n, dtype=np.int64) if design.strata is None else design.strata
    clusters = np.arange(n) if design.clusters is None else design.clusters
    order = np.lexsort((clusters, strata))
    in_order = clusters[order]
    first = np.r_[True, (in_order[1:] != in_order[:-1]) | (np.diff(strata[order]) != 0)]
    starts = np.flatnonzero(first)
    cluster = np.empty(n, dtype=np.int64)
    cluster[order] = np.cumsum(first) - 1
    cluster_weight = np.add.reduceat((indicators * weights[:, None])[order], starts, axis=0)
    cluster_stratum = strata[order][starts]

    n_strata = int(strata.max()) + 1
    sampled = np.bincount(cluster_stratum, minlength=n_strata).astype(np.float64)
    bounds = np.r_[0, np.cumsum(sampled).astype(np.int64)]
    k_all = offsets[-1]
    swept_squares = np.zeros((n_strata, k_all, k_all))
    swept_sums = np.zeros((n_strata, k_all))
    for h in range(n_strata):
        block = cluster_weight[bounds[h] : bounds[h + 1]]
        swept_squares[h] = block.T @ block
        swept_sums[h] = block.sum(axis=0)
    if design.fpc is None:
        fraction = np.zeros(n_strata)
    else:
        population = np.zeros(n_strata)
        population[strata] = design.fpc
        fraction = sampled / population
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.where(sampled > 1, (1 - fraction) * sampled / (sampled - 1), 0.0)
    return _Structure(
        weights=weights,
        indicators=indicators,
        offsets=offsets,
        counts=counts,
        share=share,
        order=order,
        cluster=cluster,
        cluster_weight=cluster_weight,
        cluster_stratum=cluster_stratum,
        swept_squares=swept_squares,
        swept_sums=swept_sums,
        sampled=sampled,
        scale=scale,
    )


def _by_run(values: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sums of `values` over runs of equal, sorted `keys`; and each run's key."""
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    return np.add.reduceat(values, starts, axis=0), keys[starts]


def _variances(s: _Structure, rows: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Variance of each column's estimator, u being the linearised variable of the domain's
    `rows` (in design order; u is 0 on every other row, n x p in all)."""
    # Step 3: category means of u, and the coefficients c the sweeps subtract (M'c).
    means = (u.T @ s.indicators[rows]).T / s.counts[:, None]
    coef = np.zeros_like(means)
    for _ in range(RAKING_SWEEPS):
        for start, stop in zip(s.offsets[:-1], s.offsets[1:], strict=True):
            coef[start:stop] += means[start:stop] - s.share[start:stop] @ coef
    # Step 4: cluster totals z_c = X_c - R_c, X_c the total of w u (domain rows only) and
    # R_c = W_c c the swept part (every cluster); sums of z and z^2 per stratum without
    # building z for clusters outside the domain.
    x_totals, touched = _by_run(u * s.weights[rows, None], s.cluster[rows])
    swept = s.cluster_weight[touched] @ coef
    stratum = s.cluster_stratum[touched]
    sum_x, present = _by_run(x_totals, stratum)
    sum_x2, _ = _by_run(x_totals * x_totals, stratum)
    sum_xr, _ = _by_run(x_totals * swept, stratum)
    n_strata = s.sampled.size
    sum_z = -(s.swept_sums @ coef)
    sum_z[present] += sum_x
    sum_z2 = np.einsum("kp,hkl,lp->hp", coef, s.swept_squares, coef)
    sum_z2[present] += sum_x2 - 2 * sum_xr
    with np.errstate(divide="ignore", invalid="ignore"):
        within = sum_z2 - sum_z * sum_z / s.sampled[:, None]
    within[s.sampled == 0] = 0.0
    assert within.shape[0] == n_strata
    result: np.ndarray = (np.maximum(within, 0.0) * s.scale[:, None]).sum(axis=0)
    return result


def _domain(
    s: _Structure, values: np.ndarray, answered: np.ndarray, in_domain: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Estimate, SE, deff and n of every item (columns of `values`) in one domain."""
    rows = s.order if in_domain is None else s.order[in_domain[s.order]]
    a = answered[rows]
    y = values[rows]
    wa = a * s.weights[rows, None]
    total = wa.sum(axis=0)
    m = a.sum(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        mean = (wa * y).sum(axis=0) / total
        centred = np.where(a, y - mean, 0.0)
        variance = _variances(s, rows, centred / total)
        ss = (wa * centred * centred).sum(axis=0)
        srs = ss / total * m / (m - 1) * (total - m) / (total * m)
        deff = np.where(total >= m, variance / srs, np.nan)
    se = np.sqrt(variance)
    empty = m == 0
    mean[empty] = se[empty] = deff[empty] = np.nan
    return mean, se, deff, m


def _row(item: Item, group: str, est: float, se: float, n: int, deff: float) -> EstimateRow:
    if n == 0:
        return EstimateRow(item.name, group, math.nan, math.nan, math.nan, math.nan, 0, math.nan)
    low, high = est - Z_95 * se, est + Z_95 * se
    if item.kind == "rating":
        low, high = max(low, 0.0), min(high, 1.0)
    return EstimateRow(item.name, group, est, se, low, high, n, deff)


def estimate(
    design: Design,
    weights: np.ndarray,
    margins: Sequence[Margin],
    items: Sequence[Item],
    groups: pl.Series | None = None,
) -> list[EstimateRow]:
    """For each item: the weighted mean (numeric) or share positive (rating) among the
    respondents who answered, overall then for each group in sorted order. A blank group
    value counts in the overall row only."""
    s = _structure(design, weights, margins)
    raw = np.column_stack([item.values for item in items])
    answered = ~np.isnan(raw)
    values = np.where(answered, raw, 0.0)
    domains: list[tuple[str, np.ndarray | None]] = [("", None)]
    if groups is not None:
        labels = groups.to_numpy()
        domains += [(g, labels == g) for g in sorted(groups.drop_nulls().unique().to_list())]
    per_domain = [(label, *_domain(s, values, answered, mask)) for label, mask in domains]
    rows = []
    for j, item in enumerate(items):
        for label, mean, se, deff, m in per_domain:
            rows.append(_row(item, label, mean[j], se[j], int(m[j]), deff[j]))
    return rows
