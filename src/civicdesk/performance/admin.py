"""Unit costs for budgeting in the admin. Saving and removing go through ``unit_costs_save``,
as the console's form and ``civicdesk costs load`` do, so every door checks the same way."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from .costs import CostChanges, DepartmentCostInput, ServiceCostInput, unit_costs_save
from .models import DepartmentCost, ServiceCost

_HELP = (
    "Unit costs turn request volumes into costs and budgets (staff console: Budget and "
    "forecast). Administrators can also edit them there or load a CSV file; see "
    "docs/budget-and-reports.md."
)


@admin.register(DepartmentCost)
class DepartmentCostAdmin(admin.ModelAdmin):
    list_display = ("department", "hourly_rate", "annual_fixed_cost", "updated_at")
    list_select_related = ("department",)
    search_fields = ("department__name", "department__code")
    fieldsets = (
        (
            None,
            {"fields": ("department", "hourly_rate", "annual_fixed_cost"), "description": _HELP},
        ),
    )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        unit_costs_save(
            changes=CostChanges(
                departments=[
                    DepartmentCostInput(obj.department_id, obj.hourly_rate, obj.annual_fixed_cost)
                ]
            )
        )
        obj.pk = DepartmentCost.objects.get(department_id=obj.department_id).pk
        obj.refresh_from_db()

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A cost belongs to its department: to move it, remove it and add another.
        return ("department", "updated_at") if obj is not None else ("updated_at",)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.delete_queryset(request, DepartmentCost.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        unit_costs_save(
            changes=CostChanges(
                departments=[
                    DepartmentCostInput(department_id, None, Decimal(0))
                    for department_id in queryset.values_list("department_id", flat=True)
                ]
            )
        )


@admin.register(ServiceCost)
class ServiceCostAdmin(admin.ModelAdmin):
    list_display = ("service", "labour_hours", "materials_cost", "hourly_rate", "updated_at")
    list_select_related = ("service",)
    list_filter = ("service__department",)
    search_fields = ("service__name", "service__service_code")
    fieldsets = (
        (
            None,
            {
                "fields": ("service", "labour_hours", "materials_cost", "hourly_rate"),
                "description": _HELP,
            },
        ),
    )

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        unit_costs_save(
            changes=CostChanges(
                services=[
                    ServiceCostInput(
                        obj.service_id, obj.labour_hours, obj.materials_cost, obj.hourly_rate
                    )
                ]
            )
        )
        obj.pk = ServiceCost.objects.get(service_id=obj.service_id).pk
        obj.refresh_from_db()

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ("service", "updated_at") if obj is not None else ("updated_at",)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        self.delete_queryset(request, ServiceCost.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        unit_costs_save(
            changes=CostChanges(
                services=[
                    ServiceCostInput(service_id, None, Decimal(0), None)
                    for service_id in queryset.values_list("service_id", flat=True)
                ]
            )
        )
