"""The audit log in the admin: readable by administrators, never editable from here."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from .models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    list_display = (
        "sequence",
        "at",
        "actor",
        "actor_role",
        "action",
        "target_type",
        "target_id",
        "ip",
    )
    list_filter = ("action", "actor_role")
    search_fields = ("actor", "action", "target_id", "ip")
    date_hierarchy = "at"
    ordering = ("-sequence",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
