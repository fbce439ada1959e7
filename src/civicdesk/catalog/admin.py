from django.contrib import admin

from .models import BusinessCalendar, Department, Holiday, Service, ServiceAttribute, Team


class TeamInline(admin.TabularInline):
    model = Team
    extra = 0


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("code", "name", "email", "phone", "active")
    search_fields = ("code", "name")
    inlines = [TeamInline]


class AttributeInline(admin.StackedInline):
    model = ServiceAttribute
    extra = 0
    fields = (
        ("code", "datatype", "order"),
        ("required", "variable"),
        "label",
        "help_text",
        "values",
        "translations",
    )


@admin.register(Service)
class ServiceAdmin(admin.ModelAdmin):
    list_display = (
        "service_code",
        "name",
        "group",
        "department",
        "sla_amount",
        "sla_unit",
        "active",
        "emergency",
    )
    list_filter = ("active", "group", "department", "emergency")
    search_fields = ("service_code", "name", "description")
    inlines = [AttributeInline]
    fieldsets = (
        (None, {"fields": ("service_code", "name", "group", "description", "keywords", "active")}),
        ("Who owns it", {"fields": ("department", "default_team")}),
        ("Service level", {"fields": ("sla_amount", "sla_unit", "calendar")}),
        (
            "What residents see",
            {
                "fields": (
                    "notice",
                    "emergency",
                    "contact_required",
                    "sensitive_location",
                    "translations",
                )
            },
        ),
        (
            "Duplicates and reopening",
            {"fields": ("duplicate_radius_m", "duplicate_window_hours", "reopen_window_days")},
        ),
    )


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 1


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    list_display = ("name", "timezone", "is_default")
    inlines = [HolidayInline]
