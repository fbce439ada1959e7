"""What requests cost: unit costs from the city's cost data and the period's volumes from the
rollups. docs/budget-and-reports.md states the model in words.

A request of service ``s`` handled by department ``d`` costs

    labour hours(s) x rate(s, d) + materials(s) + fixed share(d)

where the rate is the service's own rate if it has one, else department ``d``'s hourly rate,
and the fixed share is ``d``'s annual fixed cost divided by the requests ``d`` handled in the
twelve months ending on the period's last day (scaled up to a year when the data cover less).
The handling department is the one the rollups record (routing may send a service to another
department than the catalogue's), so the department that spends the hours is the one whose
rate applies. Every request received counts, duplicates included: labour hours are an average
over all requests of a service, as a city measures them (hours booked / requests received).

A service without labour hours, or without any hourly rate, is *not costed*: it is listed with
its volume and left out of the totals, never counted as free.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from django.utils.translation import gettext_lazy as _

from civicdesk.catalog.models import Department, Service
from civicdesk.geo.models import Zone

from .models import DepartmentCost, ServiceCost
from .selectors import Filters, received_counts, received_span, year_back

CENTS = Decimal("0.01")
ZERO = Decimal(0)
NO_DISTRICT = _("No district")

# Why a service has no unit cost.
NO_SERVICE_COSTS = _("no labour hours or materials set for the service")
NO_RATE = _("no hourly rate for the service or its department")


def money(value: Decimal | float | int) -> Decimal:
    """Round to cents, half up (what a finance office expects)."""
    return Decimal(value).quantize(CENTS)


@dataclass(frozen=True)
class ServiceAtDepartment:
    """A service as one department handles it, with the names a table shows."""

    service_id: int
    service_code: str
    service_name: str
    department_id: int
    department_code: str
    department_name: str


@dataclass(frozen=True)
class UnitCost(ServiceAtDepartment):
    """What one request of a service, handled by one department, costs."""

    labour_hours: Decimal
    hourly_rate: Decimal
    rate_from_service: bool
    materials: Decimal
    fixed_share: Decimal

    @property
    def labour(self) -> Decimal:
        return self.labour_hours * self.hourly_rate

    @property
    def variable(self) -> Decimal:
        """Labour and materials: the part that grows with each request."""
        return self.labour + self.materials

    @property
    def total(self) -> Decimal:
        return self.variable + self.fixed_share


@dataclass(frozen=True)
class NotCosted(ServiceAtDepartment):
    reason: Any
    requests: int = 0


@dataclass
class CostLine:
    """The cost of a slice (a service, a department, a district, a district and service)."""

    key: Any
    code: str
    label: str
    requests: int = 0
    labour_hours: Decimal = ZERO
    cost: Decimal = ZERO
    not_costed_requests: int = 0
    parent: str = ""  # the district of a district-and-service line

    @property
    def per_request(self) -> Decimal | None:
        return self.cost / self.requests if self.requests else None

    def add(self, unit: UnitCost, requests: int) -> None:
        self.requests += requests
        self.labour_hours += unit.labour_hours * requests
        self.cost += unit.total * requests


@dataclass(frozen=True)
class CostBasis:
    """The cost data and twelve-month volumes needed to price requests as of one day."""

    as_of: dt.date
    window: tuple[dt.date, dt.date]
    window_days: int  # days of the window the data cover (the fixed-share denominator's span)
    services: dict[int, Service]
    departments: dict[int, Department]
    service_costs: dict[int, ServiceCost]
    department_costs: dict[int, DepartmentCost]
    department_requests: dict[int, int]  # handled in the window, all services
    language: str | None

    def department_year_requests(self, department_id: int) -> Decimal:
        """Requests the department handles in a year: the window's, scaled to 365 days."""
        handled = self.department_requests.get(department_id, 0)
        if not handled or not self.window_days:
            return ZERO
        return Decimal(handled) * Decimal(365) / Decimal(self.window_days)

    def fixed_share(self, department_id: int) -> Decimal:
        cost = self.department_costs.get(department_id)
        year = self.department_year_requests(department_id)
        if cost is None or not year:
            return ZERO
        return cost.annual_fixed_cost / year

    def price(self, service_id: int, department_id: int) -> UnitCost | NotCosted:
        service = self.services[service_id]
        department = self.departments[department_id]
        names: dict[str, Any] = {
            "service_id": service_id,
            "service_code": service.service_code,
            "service_name": service.localized("name", self.language),
            "department_id": department_id,
            "department_code": department.code,
            "department_name": department.localized("name", self.language),
        }
        costs = self.service_costs.get(service_id)
        if costs is None:
            return NotCosted(**names, reason=NO_SERVICE_COSTS)
        department_cost = self.department_costs.get(department_id)
        if costs.hourly_rate is not None:
            rate, from_service = costs.hourly_rate, True
        elif department_cost is not None:
            rate, from_service = department_cost.hourly_rate, False
        else:
            return NotCosted(**names, reason=NO_RATE)
        return UnitCost(
            **names,
            labour_hours=costs.labour_hours,
            hourly_rate=rate,
            rate_from_service=from_service,
            materials=costs.materials_cost,
            fixed_share=self.fixed_share(department_id),
        )


def _year_before(day: dt.date) -> dt.date:
    """The first day of the twelve months that end on ``day``."""
    return year_back(day) + dt.timedelta(days=1)


def cost_basis(*, as_of: dt.date, language: str | None = None) -> CostBasis:
    """Cost data and the twelve months of volumes ending on ``as_of``."""
    start = _year_before(as_of)
    span = received_span()
    covered_from = max(start, span[0]) if span else as_of
    window_days = max(0, (as_of - covered_from).days + 1) if span else 0
    handled = received_counts(Filters(start=start, end=as_of), ("department",))
    return CostBasis(
        as_of=as_of,
        window=(start, as_of),
        window_days=window_days,
        services={s.pk: s for s in Service.objects.all()},
        departments={d.pk: d for d in Department.objects.all()},
        service_costs={c.service_id: c for c in ServiceCost.objects.all()},
        department_costs={c.department_id: c for c in DepartmentCost.objects.all()},
        department_requests={key[0]: n for key, n in handled.items()},
        language=language,
    )


@dataclass(frozen=True)
class UnitCostTable:
    """Unit costs of every service at its own department, and at any other department that
    handled it in the twelve months, as of ``basis.as_of``."""

    basis: CostBasis
    rows: list[UnitCost]
    not_costed: list[NotCosted]
    departments_without_costs: list[str]


def _pairs_handled(basis: CostBasis) -> set[tuple[int, int]]:
    """The (service, department) pairs with requests in the basis's twelve months."""
    start, end = basis.window
    counts = received_counts(Filters(start=start, end=end), ("service", "department"))
    return {(key[0], key[1]) for key in counts}


def unit_costs(*, as_of: dt.date, language: str | None = None) -> UnitCostTable:
    basis = cost_basis(as_of=as_of, language=language)
    pairs = {(s.pk, s.department_id) for s in basis.services.values() if s.active}
    pairs |= _pairs_handled(basis)
    rows: list[UnitCost] = []
    not_costed: list[NotCosted] = []
    for service_id, department_id in pairs:
        priced = basis.price(service_id, department_id)
        if isinstance(priced, UnitCost):
            rows.append(priced)
        else:
            not_costed.append(priced)
    return UnitCostTable(
        basis=basis,
        rows=sorted(rows, key=_by_names),
        not_costed=sorted(not_costed, key=_by_names),
        departments_without_costs=_departments_without_costs(basis, pairs),
    )


def _by_names(item: UnitCost | NotCosted) -> tuple[str, str]:
    return (item.service_name.casefold(), item.department_name.casefold())


def _departments_without_costs(basis: CostBasis, pairs: Iterable[tuple[int, int]]) -> list[str]:
    """Departments that handle requests but have no rate or fixed costs entered."""
    missing = {d for _s, d in pairs if d not in basis.department_costs}
    return sorted(basis.departments[d].localized("name", basis.language) for d in missing)


@dataclass
class CostSummary:
    """The cost of the requests received in a period (``filters``), priced as of its end."""

    filters: Filters
    basis: CostBasis
    total: CostLine
    by_service: list[CostLine]
    by_department: list[CostLine]
    by_district: list[CostLine]
    by_district_service: list[CostLine]
    not_costed: list[NotCosted]
    departments_without_costs: list[str] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return self.total.requests + self.total.not_costed_requests


def cost_summary(filters: Filters, *, language: str | None = None) -> CostSummary:
    """Cost per service, department, district and district-and-service for the period."""
    basis = cost_basis(as_of=filters.end, language=language)
    volumes = received_counts(filters, ("service", "department", "district"))
    zones = {
        pk: (code, name)
        for pk, code, name in Zone.objects.filter(pk__in={k[2] for k in volumes}).values_list(
            "pk", "code", "name"
        )
    }
    total = CostLine(key=None, code="", label=str(_("All services")))
    services: dict[int, CostLine] = {}
    departments: dict[int, CostLine] = {}
    districts: dict[int | None, CostLine] = {}
    district_services: dict[tuple[int | None, int], CostLine] = {}
    not_costed: dict[tuple[int, int], NotCosted] = {}
    priced: dict[tuple[int, int], UnitCost | NotCosted] = {}
    for (service_id, department_id, district_id), n in volumes.items():
        pair = (service_id, department_id)
        if pair not in priced:
            priced[pair] = basis.price(service_id, department_id)
        unit = priced[pair]
        service = services.setdefault(
            service_id, CostLine(key=service_id, code=unit.service_code, label=unit.service_name)
        )
        department = departments.setdefault(
            department_id,
            CostLine(key=department_id, code=unit.department_code, label=unit.department_name),
        )
        code, name = zones.get(district_id) or ("", str(NO_DISTRICT))
        district = districts.setdefault(
            district_id, CostLine(key=district_id, code=code, label=str(name))
        )
        district_service = district_services.setdefault(
            (district_id, service_id),
            CostLine(
                key=(district_id, service_id),
                code=unit.service_code,
                label=unit.service_name,
                parent=district.label,
            ),
        )
        lines = (total, service, department, district, district_service)
        if isinstance(unit, UnitCost):
            for line in lines:
                line.add(unit, n)
        else:
            for line in lines:
                line.not_costed_requests += n
            counted = not_costed.get(pair, unit)
            not_costed[pair] = replace(counted, requests=counted.requests + n)
    return CostSummary(
        filters=filters,
        basis=basis,
        total=total,
        by_service=_largest_first(services.values()),
        by_department=_largest_first(departments.values()),
        by_district=sorted(districts.values(), key=_district_order),
        by_district_service=sorted(
            district_services.values(),
            key=lambda line: (_district_order(districts[line.key[0]]), -line.cost, line.label),
        ),
        not_costed=sorted(not_costed.values(), key=lambda item: (-item.requests, *_by_names(item))),
        departments_without_costs=_departments_without_costs(basis, priced),
    )


def _largest_first(lines: Iterable[CostLine]) -> list[CostLine]:
    return sorted(lines, key=lambda line: (-line.cost, -line.not_costed_requests, line.label))


def _district_order(line: CostLine) -> tuple[int, str, str]:
    # Districts by code (numerically where they are numbers), requests without one last.
    if line.key is None:
        return (2, "", "")
    code = line.code
    return (0, code.zfill(12), line.label) if code.isdigit() else (1, code, line.label)
