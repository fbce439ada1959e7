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
    list_filter = ("active", "department", "zone__layer")
    list_editable = ("active",)
    list_select_related = ("service", "zone__layer", "department", "team__department")
    search_fields = ("service__name", "service__service_code", "zone__name", "department__name")
    autocomplete_fields = ("service",)
    fieldsets = (
        (
            None,
            {
                "fields": ("service", "zone", "department", "team", "active"),
                "description": "Send new requests for a service to another department or team. "
                "With a zone, the rule applies to requests located in that zone; without one, "
                "everywhere. The most specific active rule wins; without any rule a request goes "
                "to the service's own department and default team. Existing requests are not "
                "moved.",
            },
        ),
    )
