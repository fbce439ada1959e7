"""Next year's requests per service from the monthly history, and the workload and budget
they imply. docs/budget-and-reports.md states the method in words.

The model is multiplicative: expected requests in month t = trend(t) x seasonal index of
t's calendar month. It is fitted by alternating two steps until they settle:

- the trend is a weighted least-squares line through the deseasonalised counts (a constant
  level when there are fewer than 24 months, where a trend and a season cannot be told
  apart); the forecast damps it (each month adds 0.95 times the previous month's slope), as
  straight lines extrapolated a year ahead are the usual way forecasts go wrong;
- each month's seasonal index is its requests over its trend, shrunk towards 1 by how much
  of its spread is more than counting noise (an empirical-Bayes weight). A service with a
  few requests a month has noisy months; shrinking keeps one odd March from becoming next
  March's forecast, while a busy service keeps its full pattern.

Fewer than 12 months give a flat average (no season can be seen yet); no history, no
forecast. The prediction interval adds three variances: the counting noise of the month
itself (Poisson, scaled by the over-dispersion the residuals show), the uncertainty of the
fitted trend (which grows with the horizon) and that of the seasonal index.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from django.utils.translation import gettext_lazy as _

from civicdesk.catalog.models import Department

from .budget import CostBasis, UnitCost, cost_basis
from .selectors import Filters, period_end, received_counts, received_span

HORIZON = 12
DAMPING = 0.95
Z80 = 1.2815515655446004
Z95 = 1.959963984540054

METHODS: dict[str, Any] = {
    "seasonal-trend": _("seasonal indices with a damped trend (24 months or more)"),
    "seasonal": _("seasonal indices on a constant level (12 to 23 months)"),
    "average": _("average of the months so far (fewer than 12 months)"),
    "none": _("no history: no forecast"),
}


# Short names for tables; METHODS explains each.
METHOD_NAMES: dict[str, Any] = {
    "seasonal-trend": _("Seasonal with trend"),
    "seasonal": _("Seasonal"),
    "average": _("Average"),
    "none": _("No history"),
}


@dataclass(frozen=True)
class Interval:
    mean: float
    sd: float

    @property
    def low80(self) -> float:
        return max(0.0, self.mean - Z80 * self.sd)

    @property
    def high80(self) -> float:
        return self.mean + Z80 * self.sd

    @property
    def low95(self) -> float:
        return max(0.0, self.mean - Z95 * self.sd)

    @property
    def high95(self) -> float:
        return self.mean + Z95 * self.sd

    def scaled(self, factor: float, plus: float = 0.0) -> Interval:
        """``factor`` x this + ``plus`` (a fixed amount with no uncertainty)."""
        return Interval(self.mean * factor + plus, self.sd * abs(factor))


@dataclass(frozen=True)
class SeriesForecast:
    """A forecast of one monthly series: ``months[h]`` is expected to see ``monthly[h]``."""

    method: str
    history_months: int
    seasonal: tuple[float, ...]  # index per calendar month, January first (1.0: average)
    level: float  # the fitted trend at the last month of history
    slope: float  # per month, before damping
    dispersion: float
    monthly: tuple[Interval, ...]
    total: Interval  # the horizon's sum, with its own interval

    @property
    def method_label(self) -> str:
        return str(METHOD_NAMES[self.method])


def _wls(x: np.ndarray, z: np.ndarray, w: np.ndarray, trend: bool) -> tuple[np.ndarray, np.ndarray]:
    """Weighted least squares of z on (1, x), or on 1 alone: the coefficients (always two,
    the slope 0 without a trend) and the inverse of the weighted design's cross-product (the
    coefficients' covariance, up to the variance of one unit-weight observation)."""
    design = np.column_stack([np.ones_like(x), x]) if trend else np.ones((len(x), 1))
    weighted = design * w[:, None]
    inverse = np.linalg.pinv(design.T @ weighted)
    coef = inverse @ (weighted.T @ z)
    if trend:
        return coef, inverse
    return np.array([coef[0], 0.0]), np.array([[inverse[0, 0], 0.0], [0.0, 0.0]])


def forecast_series(
    history: Sequence[float], *, first_month: int, horizon: int = HORIZON
) -> SeriesForecast:
    """Forecast ``horizon`` months after a monthly ``history`` whose first value is for
    calendar month ``first_month`` (1 = January)."""
    y = np.asarray(history, dtype=float)
    n = len(y)
    if n == 0:
        empty = Interval(0.0, 0.0)
        return SeriesForecast("none", 0, (1.0,) * 12, 0.0, 0.0, 1.0, (empty,) * horizon, empty)
    method = "seasonal-trend" if n >= 24 else "seasonal" if n >= 12 else "average"
    trend = method == "seasonal-trend"
    seasonal = method != "average"
    t = np.arange(n, dtype=float)
    calendar = (first_month - 1 + np.arange(n)) % 12
    # Degrees of freedom left for the dispersion once every parameter is counted in full.
    dof = n - (2 if trend else 1) - (11 if seasonal else 0)

    index = np.ones(12)
    index_var = np.zeros(12)
    dispersion = 1.0  # counting noise is Poisson unless the residuals show more
    coef = np.array([max(float(y.mean()), 1e-9), 0.0])
    inverse = np.zeros((2, 2))
    for _round in range(100):
        s_t = np.maximum(index[calendar], 1e-3)
        coef_new, inverse = _wls(t, y / s_t, s_t, trend)
        level_t = np.maximum(coef_new[0] + coef_new[1] * t, 1e-9)
        raw = np.ones(12)
        index_new = index
        if seasonal:
            observed = np.bincount(calendar, weights=y, minlength=12)
            expected = np.maximum(np.bincount(calendar, weights=level_t, minlength=12), 1e-9)
            raw = observed / expected
            raw = raw / raw.mean() if raw.mean() > 0 else np.ones(12)
        # The dispersion comes from the unshrunk fit's Pearson residuals, over the degrees
        # of freedom that fit leaves (none with exactly 12 months: then Poisson is assumed).
        fitted = np.maximum(level_t * raw[calendar], 1e-9)
        if dof >= 1:
            dispersion = max(1.0, float(np.sum((y - fitted) ** 2 / fitted)) / dof)
        if seasonal:
            noise = dispersion / expected
            signal = max(0.0, float(np.mean((raw - 1) ** 2) - np.mean(noise)))
            weight = signal / (signal + noise) if signal > 0 else np.zeros(12)
            shrunk = 1 + weight * (raw - 1)
            index_new = shrunk / shrunk.mean()
            index_var = weight**2 * dispersion * raw / expected
        settled = np.allclose(index_new, index, atol=1e-7) and np.allclose(
            coef_new, coef, rtol=1e-9, atol=1e-9
        )
        index, coef = index_new, coef_new
        if settled:
            break
    # A deseasonalised month has variance dispersion x level / index: with weights equal to
    # the index, one unit-weight observation has variance dispersion x level.
    cov = inverse * dispersion * float(np.mean(np.maximum(coef[0] + coef[1] * t, 1e-9)))

    last = n - 1
    monthly = []
    trend_sd_sum = 0.0
    noise_var = 0.0
    season_var = 0.0
    steps = 0.0
    for h in range(1, horizon + 1):
        steps += DAMPING**h
        x = last + steps if trend else 0.0
        vector = np.array([1.0, x])
        level = max(0.0, float(coef[0] + coef[1] * x))
        month = (first_month - 1 + last + h) % 12
        s = float(index[month])
        mean = level * s
        level_var = max(0.0, float(vector @ cov @ vector))
        month_noise = dispersion * mean
        month_season = level**2 * float(index_var[month])
        sd = math.sqrt(month_noise + s**2 * level_var + month_season)
        monthly.append(Interval(mean, sd))
        noise_var += month_noise
        season_var += month_season
        trend_sd_sum += s * math.sqrt(level_var)  # one fitted line: its errors move together
    total_mean = sum(m.mean for m in monthly)
    total_sd = math.sqrt(noise_var + season_var + trend_sd_sum**2)
    return SeriesForecast(
        method=method,
        history_months=n,
        seasonal=tuple(float(v) for v in index),
        level=float(max(0.0, coef[0] + coef[1] * last)),
        slope=float(coef[1]),
        dispersion=dispersion,
        monthly=tuple(monthly),
        total=Interval(total_mean, total_sd),
    )


# --- the city's outlook ----------------------------------------------------------------------


def _add_months(month: dt.date, count: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + count
    return dt.date(index // 12, index % 12 + 1, 1)


@dataclass(frozen=True)
class ServiceOutlook:
    service_id: int
    service_code: str
    service_name: str
    department_code: str
    department_name: str
    forecast: SeriesForecast
    hours: Interval | None  # labour hours for the forecast volume
    budget: Interval | None  # labour and materials, plus its share of the fixed costs
    not_costed: Any = None  # why no workload or budget, when there is none


@dataclass
class DepartmentOutlook:
    department_id: int
    department_code: str
    department_name: str
    volume_var: float = 0.0
    volume_mean: float = 0.0
    hours_mean: float = 0.0
    hours_var: float = 0.0
    variable_mean: float = 0.0
    variable_var: float = 0.0
    fixed: float = 0.0
    not_costed_volume: float = 0.0

    @property
    def volume(self) -> Interval:
        return Interval(self.volume_mean, math.sqrt(self.volume_var))

    @property
    def hours(self) -> Interval:
        return Interval(self.hours_mean, math.sqrt(self.hours_var))

    @property
    def budget(self) -> Interval:
        return Interval(self.variable_mean + self.fixed, math.sqrt(self.variable_var))


@dataclass(frozen=True)
class Outlook:
    """Forecasts for the twelve months after ``history_end``, per service and department."""

    as_of: dt.date
    history_start: dt.date | None
    history_end: dt.date | None
    months: tuple[dt.date, ...]
    services: list[ServiceOutlook]
    departments: list[DepartmentOutlook]
    total: DepartmentOutlook
    monthly_total: tuple[Interval, ...]
    methods: dict[str, int] = field(default_factory=dict)

    @property
    def forecast_start(self) -> dt.date | None:
        return self.months[0] if self.months else None

    @property
    def forecast_end(self) -> dt.date | None:
        return period_end(self.months[-1], "month") if self.months else None


def _history_window(as_of: dt.date) -> tuple[dt.date, dt.date] | None:
    """Whole months of history: from the first month the data cover from its first day to
    the month before ``as_of``'s (or ``as_of``'s own, when it is the month's last day)."""
    span = received_span()
    if span is None:
        return None
    first_day = span[0]
    first = first_day if first_day.day == 1 else _add_months(first_day.replace(day=1), 1)
    this_month = as_of.replace(day=1)
    last = this_month if period_end(this_month, "month") == as_of else _add_months(this_month, -1)
    if last < first:
        return None
    return first, last


def _share_of_departments(basis: CostBasis) -> dict[int, dict[int, float]]:
    """For each service, the share of its requests each department handled in the twelve
    months (the catalogue's department when there were none)."""
    start, end = basis.window
    counts = received_counts(Filters(start=start, end=end), ("service", "department"))
    totals: dict[int, int] = defaultdict(int)
    for (service_id, _department_id), n in counts.items():
        totals[service_id] += n
    shares: dict[int, dict[int, float]] = defaultdict(dict)
    for (service_id, department_id), n in counts.items():
        shares[service_id][department_id] = n / totals[service_id]
    for service in basis.services.values():
        if service.pk not in shares:
            shares[service.pk] = {service.department_id: 1.0}
    return shares


def outlook(*, as_of: dt.date, language: str | None = None) -> Outlook:
    """Forecast volume, labour hours and budget per service and department for the twelve
    months after the last whole month up to ``as_of``."""
    basis = cost_basis(as_of=as_of, language=language)
    window = _history_window(as_of)
    departments: dict[int, DepartmentOutlook] = {}
    total = DepartmentOutlook(0, "", str(_("All departments")))
    if window is None:
        return Outlook(as_of, None, None, (), [], [], total, ())
    first, last = window
    months = tuple(_add_months(last, h) for h in range(1, HORIZON + 1))
    counts = received_counts(
        Filters(start=first, end=period_end(last, "month")), ("service",), grain="month"
    )
    series: dict[int, dict[dt.date, int]] = defaultdict(dict)
    for (month, service_id), n in counts.items():
        series[service_id][month] = n
    shares = _share_of_departments(basis)
    # Fixed costs are annual and do not grow with volume; a service carries its department's
    # fixed cost in proportion to the requests it is expected to bring the department.
    expected: dict[tuple[int, int], float] = {}
    forecasts: dict[int, SeriesForecast] = {}
    active = [s for s in basis.services.values() if s.active or s.pk in series]
    for service in active:
        history = series.get(service.pk, {})
        start = max(first, min(history)) if history else None
        if start is None:
            values: list[int] = []
            start = first
        else:
            values = []
            month = start
            while month <= last:
                values.append(history.get(month, 0))
                month = _add_months(month, 1)
        forecasts[service.pk] = result = forecast_series(values, first_month=start.month)
        for department_id, share in shares[service.pk].items():
            expected[(service.pk, department_id)] = result.total.mean * share
    department_expected: dict[int, float] = defaultdict(float)
    for (_service_id, department_id), share_volume in expected.items():
        department_expected[department_id] += share_volume

    def department(department_id: int) -> DepartmentOutlook:
        if department_id not in departments:
            d: Department = basis.departments[department_id]
            cost = basis.department_costs.get(department_id)
            departments[department_id] = DepartmentOutlook(
                department_id,
                d.code,
                d.localized("name", language),
                fixed=float(cost.annual_fixed_cost) if cost else 0.0,
            )
        return departments[department_id]

    for department_id in basis.department_costs:
        if department_id in basis.departments:
            department(department_id)  # its fixed costs are budgeted even with no requests
    services = []
    methods: dict[str, int] = defaultdict(int)
    monthly_mean = np.zeros(HORIZON)
    monthly_var = np.zeros(HORIZON)
    for service in active:
        result = forecasts[service.pk]
        methods[result.method] += 1
        monthly_mean += [m.mean for m in result.monthly]
        monthly_var += [m.sd**2 for m in result.monthly]
        hours_per_request = 0.0
        variable_per_request = 0.0
        fixed = 0.0
        reason = None
        for department_id, share in shares[service.pk].items():
            unit = basis.price(service.pk, department_id)
            place = department(department_id)
            volume = result.total.scaled(share)
            place.volume_mean += volume.mean
            place.volume_var += volume.sd**2
            if not isinstance(unit, UnitCost):
                place.not_costed_volume += volume.mean
                reason = unit.reason
                continue
            hours = float(unit.labour_hours)
            variable = float(unit.variable)
            place.hours_mean += volume.mean * hours
            place.hours_var += (volume.sd * hours) ** 2
            place.variable_mean += volume.mean * variable
            place.variable_var += (volume.sd * variable) ** 2
            hours_per_request += share * hours
            variable_per_request += share * variable
            if department_expected[department_id] > 0:
                fixed += place.fixed * volume.mean / department_expected[department_id]
        # The city's totals add services (whose forecasts are independent), not departments:
        # a service split between two departments is one uncertain volume, not two.
        total.volume_mean += result.total.mean
        total.volume_var += result.total.sd**2
        if reason is None:
            total.hours_mean += result.total.mean * hours_per_request
            total.hours_var += (result.total.sd * hours_per_request) ** 2
            total.variable_mean += result.total.mean * variable_per_request
            total.variable_var += (result.total.sd * variable_per_request) ** 2
        else:
            total.not_costed_volume += result.total.mean
        services.append(
            ServiceOutlook(
                service_id=service.pk,
                service_code=service.service_code,
                service_name=service.localized("name", language),
                department_code=basis.departments[service.department_id].code,
                department_name=basis.departments[service.department_id].localized(
                    "name", language
                ),
                forecast=result,
                hours=result.total.scaled(hours_per_request) if reason is None else None,
                budget=result.total.scaled(variable_per_request, fixed) if reason is None else None,
                not_costed=reason,
            )
        )
    total.fixed = sum(place.fixed for place in departments.values())
    return Outlook(
        as_of=as_of,
        history_start=first,
        history_end=period_end(last, "month"),
        months=months,
        services=sorted(services, key=lambda s: (-s.forecast.total.mean, s.service_name)),
        departments=sorted(departments.values(), key=lambda d: (-d.budget.mean, d.department_name)),
        total=total,
        monthly_total=tuple(
            Interval(float(m), math.sqrt(float(v)))
            for m, v in zip(monthly_mean, monthly_var, strict=True)
        ),
        methods=dict(methods),
    )
