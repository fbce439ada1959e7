from django.contrib import admin

from .models import BoundaryLayer, RoutingRule, Zone


class ZoneInline(admin.TabularInline):
    model = Zone
    fields = ("code", "name")
    readonly_fields = ("code", "name")
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False  # zones come from GeoJSON: `civicdesk boundaries load`


@admin.register(BoundaryLayer)
class BoundaryLayerAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "role", "updated_at")
    readonly_fields = ("slug", "role", "source", "updated_at")
    inlines = [ZoneInline]


@admin.register(RoutingRule)
class RoutingRuleAdmin(admin.ModelAdmin):
    list_display = ("service", "zone", "department", "team", "active")
    list_filter = ("department", "active")
    autocomplete_fields = ("service",)
