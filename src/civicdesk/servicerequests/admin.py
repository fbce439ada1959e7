"""Read-only views of requests for administrators. Requests change only through the service
functions (console, API, command line), never by editing rows here."""

from django.contrib import admin

from .models import RequestEvent, ServiceRequest


class EventInline(admin.TabularInline):
    model = RequestEvent
    fields = (
        "created_at",
        "kind",
        "from_status",
        "to_status",
        "public",
        "note",
        "actor",
        "actor_label",
    )
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(ServiceRequest)
class ServiceRequestAdmin(admin.ModelAdmin):
    list_display = (
        "public_id",
        "service",
        "status",
        "department",
        "requested_at",
        "due_at",
        "closed_at",
    )
    list_filter = ("status", "channel", "department", "service")
    search_fields = ("public_id", "address", "description")
    date_hierarchy = "requested_at"
    list_select_related = ("service", "department")
    exclude = ("reporter",)
    inlines = [EventInline]
    show_full_result_count = False

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
