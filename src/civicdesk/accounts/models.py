"""Users and their roles. A role is one of a fixed set with least privilege in mind; a staff
user belongs to one department (and optionally a team) whose queue they work."""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils.translation import gettext_lazy as _


class Role(models.TextChoices):
    RESIDENT = "resident", _("Resident")
    CALL_TAKER = "call_taker", _("Call taker")
    DEPARTMENT_STAFF = "department_staff", _("Department staff")
    SUPERVISOR = "supervisor", _("Supervisor")
    ANALYST = "analyst", _("Analyst")
    ADMINISTRATOR = "administrator", _("Administrator")


STAFF_ROLES = frozenset(
    {Role.CALL_TAKER, Role.DEPARTMENT_STAFF, Role.SUPERVISOR, Role.ANALYST, Role.ADMINISTRATOR}
)
# Roles that work requests and so may see a reporter's contact details.
CONTACT_VIEWING_ROLES = frozenset(
    {Role.CALL_TAKER, Role.DEPARTMENT_STAFF, Role.SUPERVISOR, Role.ADMINISTRATOR}
)


class User(AbstractUser):
    role = models.CharField(max_length=32, choices=Role.choices, default=Role.RESIDENT)
    department = models.ForeignKey(
        "catalog.Department",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="staff",
    )
    team = models.ForeignKey(
        "catalog.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="members"
    )
    phone = models.CharField(max_length=32, blank=True)
    preferred_language = models.CharField(max_length=8, default="en")

    @property
    def is_city_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def can_view_contacts(self) -> bool:
        return self.role in CONTACT_VIEWING_ROLES

    def __str__(self) -> str:
        return self.get_full_name() or self.username
