"""Forms of the console's budget pages: the period to cost, the unit-cost table and the costs
file upload. Values are checked by ``performance.costs`` (the same rules as the command)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from civicdesk.catalog.models import Department, Service
from civicdesk.performance.costs import (
    DEPARTMENT_FIGURES,
    MAX_FILE_BYTES,
    SERVICE_FIGURES,
    CostChanges,
    CostChecker,
)
from civicdesk.performance.models import DepartmentCost, ServiceCost

COLUMN_LABELS: dict[str, Any] = {
    "hourly_rate": _("Hourly rate"),
    "annual_fixed_cost": _("Annual fixed costs"),
    "labour_hours": _("Labour hours per request"),
    "materials_cost": _("Materials per request"),
}
SERVICE_RATE_LABEL = _("Own hourly rate (optional)")
MAX_YEARS = 20
EARLIEST_YEAR = 1900


def last_whole_month(today: dt.date) -> tuple[dt.date, dt.date]:
    end = today.replace(day=1) - dt.timedelta(days=1)
    return end.replace(day=1), end


class DateInput(forms.DateInput):
    input_type = "date"


class BudgetPeriodForm(forms.Form):
    start = forms.DateField(label=_("From"), widget=DateInput)
    end = forms.DateField(label=_("To"), widget=DateInput)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start"), data.get("end")
        for name, day in (("start", start), ("end", end)):
            if day and day.year < EARLIEST_YEAR:
                self.add_error(
                    name, gettext("Choose a date in %(year)d or later.") % {"year": EARLIEST_YEAR}
                )
                return data
        if start and end:
            if end < start:
                self.add_error("end", gettext("The end date is before the start date."))
            elif (end - start).days > 366 * MAX_YEARS:
                self.add_error(
                    "end",
                    gettext("Choose a period of at most %(years)d years.") % {"years": MAX_YEARS},
                )
        return data


def _amount(value: Decimal | None) -> str:
    return "" if value is None else f"{value.normalize():f}"


class UnitCostsForm(forms.Form):
    """One text box per figure of every department and active service. An emptied row
    removes that department's or service's costs (it becomes "not costed")."""

    def __init__(
        self,
        data: Any = None,
        *,
        departments: Sequence[Department],
        services: Sequence[Service],
        language: str,
    ) -> None:
        super().__init__(data)
        self.departments = list(departments)
        self.services = list(services)
        self.language = language
        self.changes = CostChanges()
        department_costs = {c.department_id: c for c in DepartmentCost.objects.all()}
        service_costs = {c.service_id: c for c in ServiceCost.objects.all()}
        for department in self.departments:
            cost = department_costs.get(department.pk)
            name = department.localized("name", language)
            for column in DEPARTMENT_FIGURES:
                self.fields[self.field_name("department", department.code, column)] = self._field(
                    f"{name}: {COLUMN_LABELS[column]}",
                    _amount(getattr(cost, column)) if cost else "",
                )
        for service in self.services:
            service_cost = service_costs.get(service.pk)
            name = service.localized("name", language)
            for column in SERVICE_FIGURES:
                label = SERVICE_RATE_LABEL if column == "hourly_rate" else COLUMN_LABELS[column]
                self.fields[self.field_name("service", service.service_code, column)] = self._field(
                    f"{name}: {label}",
                    _amount(getattr(service_cost, column)) if service_cost else "",
                )

    @staticmethod
    def field_name(kind: str, code: str, column: str) -> str:
        return f"{kind}-{code}-{column}"

    @staticmethod
    def _field(label: str, initial: str) -> forms.CharField:
        return forms.CharField(
            label=label,
            initial=initial,
            required=False,
            max_length=20,
            widget=forms.TextInput(
                attrs={"inputmode": "decimal", "size": 9, "autocomplete": "off"}
            ),
        )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if self.errors:
            return data
        checker = CostChecker()
        changes = CostChanges()
        for department in self.departments:
            where = f"department-{department.code}"
            values = {c: data.get(f"{where}-{c}") for c in DEPARTMENT_FIGURES}
            changes.department_add(checker, where, department, values)
        for service in self.services:
            where = f"service-{service.service_code}"
            values = {c: data.get(f"{where}-{c}") for c in SERVICE_FIGURES}
            changes.service_add(checker, where, service, values)
        for where, column, message in checker.errors:
            name = f"{where}-{column}"
            self.add_error(name if name in self.fields else None, message)
        self.changes = changes
        return data

    def department_rows(self) -> list[tuple[Department, str, list[forms.BoundField]]]:
        return [
            (
                d,
                d.localized("name", self.language),
                [self[self.field_name("department", d.code, c)] for c in DEPARTMENT_FIGURES],
            )
            for d in self.departments
        ]

    def service_rows(self) -> list[tuple[Service, str, list[forms.BoundField]]]:
        return [
            (
                s,
                s.localized("name", self.language),
                [self[self.field_name("service", s.service_code, c)] for c in SERVICE_FIGURES],
            )
            for s in self.services
        ]


class CostsUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Costs file (CSV)"),
        help_text=_(
            "Columns: kind, code, hourly_rate, annual_fixed_cost, labour_hours, "
            "materials_cost. Download the current costs below for an example."
        ),
    )

    def clean_file(self) -> Any:
        upload = self.cleaned_data["file"]
        if upload.size > MAX_FILE_BYTES:
            raise forms.ValidationError(gettext("The file is larger than 1 MB."))
        return upload
