"""Unit costs in and out: reading them from a CSV file or the console's form, checking every
value, and saving them (the one write, used by the console, the command and the demo city).

The CSV file has one row per department or service (docs/budget-and-reports.md):

    kind,code,hourly_rate,annual_fixed_cost,labour_hours,materials_cost
    department,PW,68.00,120000,,
    service,pothole,,,2.5,45.00
    service,water-main-break,95.00,,12,850

A department row sets the loaded hourly rate (required) and the annual fixed cost (empty: 0).
A service row sets the average labour hours per request (required), materials per request
(empty: 0) and optionally an hourly rate of its own instead of the department's. A row whose
figures are all empty removes that department's or service's costs. Rows not in the file are
left as they are. Any error anywhere rejects the whole file: nothing is written.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation

from django.db import transaction
from django.utils.translation import gettext as _

from civicdesk.audit.services import audit_record
from civicdesk.catalog.models import Department, Service
from civicdesk.errors import InvalidInput

from .models import DepartmentCost, ServiceCost

COLUMNS = ("kind", "code", "hourly_rate", "annual_fixed_cost", "labour_hours", "materials_cost")
DEPARTMENT_FIGURES = ("hourly_rate", "annual_fixed_cost")
SERVICE_FIGURES = ("labour_hours", "materials_cost", "hourly_rate")
MAX_FILE_BYTES = 1_000_000
MAX_ERRORS = 50
# Upper bounds from the database columns: 12 digits with 2 decimals for money, 8 for hours.
_LIMITS = {
    "hourly_rate": Decimal("9999999999.99"),
    "annual_fixed_cost": Decimal("9999999999.99"),
    "materials_cost": Decimal("9999999999.99"),
    "labour_hours": Decimal("999999.99"),
}


@dataclass(frozen=True)
class DepartmentCostInput:
    department_id: int
    hourly_rate: Decimal | None  # None with no fixed cost either: remove
    annual_fixed_cost: Decimal


@dataclass(frozen=True)
class ServiceCostInput:
    service_id: int
    labour_hours: Decimal | None  # None: remove
    materials_cost: Decimal
    hourly_rate: Decimal | None


@dataclass
class CostChanges:
    departments: list[DepartmentCostInput] = field(default_factory=list)
    services: list[ServiceCostInput] = field(default_factory=list)

    def department_add(
        self,
        checker: CostChecker,
        where: str,
        department: Department,
        values: Mapping[str, str | None],
    ) -> None:
        """Check one department's figures; add them when they are good."""
        dep = department_input(checker, where, department, values)
        if dep is not None:
            self.departments.append(dep)

    def service_add(
        self, checker: CostChecker, where: str, service: Service, values: Mapping[str, str | None]
    ) -> None:
        """Check one service's figures; add them when they are good."""
        srv = service_input(checker, where, service, values)
        if srv is not None:
            self.services.append(srv)


@dataclass(frozen=True)
class CostsSaved:
    created: int
    updated: int
    removed: int
    unchanged: int

    def __str__(self) -> str:
        return _(
            "%(created)d added, %(updated)d changed, %(removed)d removed, %(unchanged)d unchanged."
        ) % {
            "created": self.created,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
        }


def figure_parse(raw: str | None, name: str) -> Decimal | None:
    """A non-negative amount with at most two decimals, or None when empty; ValueError with
    a message for a person otherwise."""
    text = (raw or "").strip()
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(
            _("%(value)r is not a number (write it like 1234.50, without currency signs or commas)")
            % {"value": text}
        ) from None
    if not value.is_finite():
        raise ValueError(_("%(value)r is not a number") % {"value": text})
    if value < 0:
        raise ValueError(
            _("%(value)s is negative; costs and hours are 0 or more") % {"value": text}
        )
    exponent = value.as_tuple().exponent
    if isinstance(exponent, int) and exponent < -2:
        raise ValueError(_("%(value)s has more than two decimals") % {"value": text})
    if value > _LIMITS[name]:
        raise ValueError(_("%(value)s is too large") % {"value": text})
    return value


class CostChecker:
    """Collects every error with where it was found (a CSV row, a form's row) and the column
    it concerns, so each door can show it its own way."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str, str]] = []  # (where, column or "", message)

    def error(self, where: str, message: str, column: str = "") -> None:
        self.errors.append((where, column, message))

    def row_figures(
        self, where: str, values: Mapping[str, str | None], names: Iterable[str]
    ) -> dict[str, Decimal | None] | None:
        """The figures ``names`` of one row, or None when the row has any error (in these
        figures or found before)."""
        out: dict[str, Decimal | None] = {}
        for name in names:
            try:
                out[name] = figure_parse(values.get(name), name)
            except ValueError as exc:
                self.error(where, str(exc), name)
                out[name] = None
        if any(checker_where == where for checker_where, _c, _m in self.errors):
            return None
        return out

    def raise_if_any(self) -> None:
        """InvalidInput with one entry per place: "row 5": ["labour_hours: ...", ...]."""
        if not self.errors:
            return
        field_errors: dict[str, list[str]] = {}
        for where, column, message in self.errors[:MAX_ERRORS]:
            field_errors.setdefault(where, []).append(f"{column}: {message}" if column else message)
        if len(self.errors) > MAX_ERRORS:
            field_errors.setdefault("__all__", []).append(
                _("%(count)d more errors not shown.") % {"count": len(self.errors) - MAX_ERRORS}
            )
        raise InvalidInput(field_errors, code="invalid_costs")


def department_input(
    checker: CostChecker, where: str, department: Department, values: Mapping[str, str | None]
) -> DepartmentCostInput | None:
    """Check one department's figures (column name -> text as entered)."""
    figures = checker.row_figures(where, values, DEPARTMENT_FIGURES)
    if figures is None:
        return None
    rate, fixed = figures["hourly_rate"], figures["annual_fixed_cost"]
    if rate is None and fixed is not None:
        checker.error(
            where,
            _("required for department %(code)s when it has a fixed cost")
            % {"code": department.code},
            "hourly_rate",
        )
        return None
    return DepartmentCostInput(department.pk, rate, fixed or Decimal(0))


def service_input(
    checker: CostChecker, where: str, service: Service, values: Mapping[str, str | None]
) -> ServiceCostInput | None:
    """Check one service's figures (column name -> text as entered)."""
    figures = checker.row_figures(where, values, SERVICE_FIGURES)
    if figures is None:
        return None
    hours = figures["labour_hours"]
    if hours is None and (figures["materials_cost"] is not None or figures["hourly_rate"]):
        checker.error(
            where,
            _("required for service %(code)s (0 if it takes no labour)")
            % {"code": service.service_code},
            "labour_hours",
        )
        return None
    return ServiceCostInput(
        service.pk, hours, figures["materials_cost"] or Decimal(0), figures["hourly_rate"]
    )


def costs_csv_parse(data: bytes | str) -> CostChanges:
    """Read and check a costs CSV file; InvalidInput naming each bad row and column."""
    if isinstance(data, bytes):
        if len(data) > MAX_FILE_BYTES:
            raise InvalidInput({"file": [_("The file is larger than 1 MB.")]})
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise InvalidInput(
                {"file": [_("The file is not UTF-8 text (save it as CSV UTF-8).")]}
            ) from None
    else:
        text = data.removeprefix("\ufeff")
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [column.strip().lower() for column in next(reader)]
    except StopIteration:
        raise InvalidInput({"file": [_("The file is empty.")]}) from None
    except csv.Error as exc:
        raise InvalidInput({"file": [_("Not a CSV file: %(error)s") % {"error": exc}]}) from None
    unknown = [c for c in header if c not in COLUMNS]
    if unknown:
        raise InvalidInput(
            {
                "file": [
                    _("Unknown column %(column)r; the columns are: %(columns)s")
                    % {"column": unknown[0], "columns": ", ".join(COLUMNS)}
                ]
            }
        )
    missing = [c for c in ("kind", "code") if c not in header]
    if missing:
        raise InvalidInput(
            {"file": [_("The %(column)r column is missing.") % {"column": missing[0]}]}
        )
    if len(set(header)) != len(header):
        raise InvalidInput({"file": [_("A column appears twice in the header.")]})

    departments = {d.code.lower(): d for d in Department.objects.all()}
    services = {s.service_code.lower(): s for s in Service.objects.all()}
    checker = CostChecker()
    changes = CostChanges()
    seen: dict[tuple[str, str], int] = {}
    line = 1
    try:
        for line, cells in enumerate(reader, start=2):
            if not any(cell.strip() for cell in cells):
                continue
            where = _("row %(row)d") % {"row": line}
            if len(cells) != len(header):
                checker.error(
                    where,
                    _("%(found)d values for %(expected)d columns")
                    % {"found": len(cells), "expected": len(header)},
                )
                continue
            values = dict(zip(header, (cell.strip() for cell in cells), strict=True))
            kind, code = values["kind"].lower(), values["code"]
            key = (kind, code.lower())
            if key in seen:
                checker.error(
                    where,
                    _("%(kind)s %(code)s appears again (first on row %(row)d)")
                    % {"kind": kind, "code": code, "row": seen[key]},
                )
                continue
            seen[key] = line
            if kind == "department":
                department = departments.get(code.lower())
                if department is None:
                    checker.error(where, _("no department %(code)r") % {"code": code}, "code")
                    continue
                _figures_for_other_kind(checker, where, values, ("labour_hours", "materials_cost"))
                changes.department_add(checker, where, department, values)
            elif kind == "service":
                service = services.get(code.lower())
                if service is None:
                    checker.error(where, _("no service %(code)r") % {"code": code}, "code")
                    continue
                _figures_for_other_kind(checker, where, values, ("annual_fixed_cost",))
                changes.service_add(checker, where, service, values)
            else:
                checker.error(
                    where,
                    _("%(kind)r is neither 'department' nor 'service'") % {"kind": values["kind"]},
                    "kind",
                )
    except csv.Error as exc:
        checker.error(_("row %(row)d") % {"row": line + 1}, str(exc))
    if not seen and not checker.errors:
        raise InvalidInput({"file": [_("The file has a header but no rows.")]})
    checker.raise_if_any()
    return changes


def _figures_for_other_kind(
    checker: CostChecker, where: str, values: Mapping[str, str], names: Iterable[str]
) -> None:
    for name in names:
        if values.get(name):
            checker.error(
                where,
                _("leave it empty on a %(kind)s row") % {"kind": values["kind"].lower()},
                name,
            )


def costs_csv(
    *, department_costs: Iterable[DepartmentCost], service_costs: Iterable[ServiceCost]
) -> str:
    """The current unit costs as a costs CSV file (what ``costs_csv_parse`` reads back)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for dep in department_costs:
        writer.writerow(
            ["department", dep.department.code, dep.hourly_rate, dep.annual_fixed_cost, "", ""]
        )
    for srv in service_costs:
        writer.writerow(
            [
                "service",
                srv.service.service_code,
                "" if srv.hourly_rate is None else srv.hourly_rate,
                "",
                srv.labour_hours,
                srv.materials_cost,
            ]
        )
    return out.getvalue()


def costs_export() -> str:
    return costs_csv(
        department_costs=DepartmentCost.objects.select_related("department").order_by(
            "department__code"
        ),
        service_costs=ServiceCost.objects.select_related("service").order_by(
            "service__service_code"
        ),
    )


@transaction.atomic
def unit_costs_save(*, changes: CostChanges) -> CostsSaved:
    """Apply checked cost changes in one transaction: set, change or remove each row."""
    outcomes: Counter[str] = Counter()
    _cost_rows_save(
        DepartmentCost,
        "department_id",
        "hourly_rate",
        DEPARTMENT_FIGURES,
        changes.departments,
        outcomes,
    )
    _cost_rows_save(
        ServiceCost, "service_id", "labour_hours", SERVICE_FIGURES, changes.services, outcomes
    )
    saved = CostsSaved(
        created=outcomes["created"],
        updated=outcomes["updated"],
        removed=outcomes["removed"],
        unchanged=outcomes["unchanged"],
    )
    if saved.created or saved.updated or saved.removed:
        audit_record(
            "config.unit_costs",
            target=("unit costs", ""),
            details={"created": saved.created, "updated": saved.updated, "removed": saved.removed},
        )
    return saved


def _cost_rows_save(
    model: type[DepartmentCost] | type[ServiceCost],
    key: str,
    required: str,
    figures: tuple[str, ...],
    inputs: Sequence[DepartmentCostInput] | Sequence[ServiceCostInput],
    outcomes: Counter[str],
) -> None:
    """Set, change or remove the ``model`` row of each input (``key`` names the department or
    service in both; ``required`` None removes the row), counting each outcome."""
    existing: dict[int, DepartmentCost | ServiceCost] = {
        getattr(row, key): row
        for row in model.objects.select_for_update().filter(
            **{f"{key}__in": [getattr(i, key) for i in inputs]}
        )
    }
    for change in inputs:
        current = existing.get(getattr(change, key))
        if getattr(change, required) is None:
            if current is not None:
                current.delete()
                outcomes["removed"] += 1
            else:
                outcomes["unchanged"] += 1
            continue
        values = {name: getattr(change, name) for name in figures}
        if current is None:
            current = model(**{key: getattr(change, key)})
            outcomes["created"] += 1
        elif all(getattr(current, name) == value for name, value in values.items()):
            outcomes["unchanged"] += 1
            continue
        else:
            outcomes["updated"] += 1
        for name, value in values.items():
            setattr(current, name, value)
        current.full_clean()
        current.save()


def costs_load(data: bytes | str) -> CostsSaved:
    """Check a costs CSV file and, when every row is good, save it."""
    return unit_costs_save(changes=costs_csv_parse(data))
