"""The service catalogue as a 311 manager edits it: departments and their teams, services
with their questions and service levels, and the business calendar with its holidays."""

from django.contrib import admin

from .models import BusinessCalendar, Department, Holiday, Service, ServiceAttribute, Team

TRANSLATIONS_HELP = (
    'Other languages, as JSON: {"es": {"name": "...", "description": "..."}}. '
    "A text left out is shown in English."
)


class TeamInline(admin.TabularInline):
    model = Team
    extra = 0
    verbose_name = "team"
    verbose_name_plural = "Teams (crews or units that requests can be assigned to)"


@admin.register(Department)
class DepartmentAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "email", "phone", "active")
    list_filter = ("active",)
    search_fields = ("code", "name")
    inlines = [TeamInline]
    fieldsets = (
        (None, {"fields": ("name", "code", "active")}),
        (
            "Contact",
            {
                "fields": ("email", "phone"),
                "description": "How other departments and the 311 center reach this department.",
            },
        ),
        ("Other languages", {"fields": ("translations",), "description": TRANSLATIONS_HELP}),
    )


class AttributeInline(admin.StackedInline):
    model = ServiceAttribute
    extra = 0
    verbose_name = "question"
    verbose_name_plural = "Questions asked when this service is requested"
    fields = (
        ("code", "datatype", "order"),
        ("required", "variable"),
        "label",
        "help_text",
        "values",
        "translations",
    )

    def get_formset(self, request, obj=None, **kwargs):  # type: ignore[no-untyped-def]
        kwargs.setdefault(
            "help_texts",
            {
                "code": "A short name used by apps (Open311 attribute code); do not change it "
                "once requests use it.",
                "order": "Questions are asked in this order.",
                "variable": "Untick for an information text that asks nothing.",
                "values": 'For "one choice" and "several choices": '
                '[{"key": "small", "name": "Smaller than a plate", "translations": '
                '{"es": "Más pequeño que un plato"}}].',
                "translations": 'Other languages: {"es": {"label": "...", "help_text": "..."}}.',
            },
        )
        return super().get_formset(request, obj, **kwargs)


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
    list_select_related = ("department",)
    search_fields = ("service_code", "name", "description")
    inlines = [AttributeInline]
    fieldsets = (
        (
            None,
            {
                "fields": ("service_code", "name", "group", "description", "keywords", "active"),
                "description": "A service is one kind of problem residents can report. Untick "
                "Active to stop taking new requests for it; existing requests are kept.",
            },
        ),
        (
            "Who owns it",
            {
                "fields": ("department", "default_team"),
                "description": "New requests go to this department and team unless a routing "
                "rule (Boundaries and routing) sends them elsewhere.",
            },
        ),
        (
            "Service level",
            {
                "fields": ("sla_amount", "sla_unit", "calendar"),
                "description": "The target time to close a request, e.g. 3 business days. "
                "Business time counts only the calendar's working hours, without holidays.",
            },
        ),
        (
            "What residents see",
            {
                "fields": (
                    "notice",
                    "emergency",
                    "contact_required",
                    "sensitive_location",
                    "translations",
                ),
                "description": TRANSLATIONS_HELP,
            },
        ),
        (
            "Duplicates and reopening",
            {
                "fields": ("duplicate_radius_m", "duplicate_window_hours", "reopen_window_days"),
                "description": "Leave empty to use the city-wide defaults: requests within 75 m "
                "and 72 hours are suggested as duplicates; residents may reopen within 14 days.",
                "classes": ("collapse",),
            },
        ),
    )


class HolidayInline(admin.TabularInline):
    model = Holiday
    extra = 1
    verbose_name_plural = "Holidays (no business time is counted on these days)"


@admin.register(BusinessCalendar)
class BusinessCalendarAdmin(admin.ModelAdmin):
    list_display = ("name", "timezone", "is_default")
    inlines = [HolidayInline]
    fieldsets = (
        (
            None,
            {
                "fields": ("name", "timezone", "is_default"),
                "description": "Service levels in business hours or days are counted on a "
                "calendar: the default one, unless a service names another.",
            },
        ),
        (
            "Working hours",
            {
                "fields": ("working_hours",),
                "description": 'Per weekday (0 = Monday ... 6 = Sunday), as JSON: {"0": '
                '[["08:00", "17:00"]], "1": [["08:00", "12:00"], ["13:00", "17:00"]]}. '
                "A day left out is not a working day.",
            },
        ),
    )
