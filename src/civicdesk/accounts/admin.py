"""Staff accounts for a 311 manager: who works in which department, with which role. A
role decides what a person may do in the console; Django's groups are not used."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group

from .models import User

ROLES_HELP = (
    "Call taker: takes phone calls, sees and works every department's requests. "
    "Department staff: works their department's queue. Supervisor: as staff, and writes "
    "knowledge-base articles; receives overdue escalations. Analyst: reads everything, "
    "changes nothing, never sees residents' contact details. Administrator: everything, "
    "including this administration site. Resident: the public; cannot use the staff console."
)


@admin.register(User)
class UserAdmin(BaseUserAdmin):
    list_display = (
        "username",
        "first_name",
        "last_name",
        "email",
        "role",
        "department",
        "team",
        "is_active",
        "last_login",
    )
    list_filter = ("role", "department", "is_active")
    list_select_related = ("department", "team")
    search_fields = ("username", "first_name", "last_name", "email")
    ordering = ("role", "department__name", "last_name", "username")
    fieldsets = (
        (None, {"fields": ("username", "password")}),
        ("Person", {"fields": ("first_name", "last_name", "email", "phone", "preferred_language")}),
        (
            "Role in the 311 program",
            {"fields": ("role", "department", "team"), "description": ROLES_HELP},
        ),
        (
            "Access",
            {
                "fields": ("is_active", "is_staff", "is_superuser"),
                "description": (
                    "Untick Active when someone leaves: their name stays on the requests they "
                    "worked. Staff status opens this administration site; give it to "
                    "administrators only."
                ),
            },
        ),
        ("Dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": ("username", "password1", "password2"),
            },
        ),
        (
            "Role in the 311 program",
            {
                "fields": ("first_name", "last_name", "email", "role", "department", "team"),
                "description": ROLES_HELP,
            },
        ),
    )
    readonly_fields = ("last_login", "date_joined")


# Roles (above) decide what a person may do; Django's permission groups would be a second,
# conflicting way, so they are not offered.
admin.site.unregister(Group)
