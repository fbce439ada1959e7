"""The demo city of Prairie Falls: its departments, services, business calendar, boundaries,
routing rules, staff and unit costs. Loading is idempotent (an existing record is updated in
place)."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.db import transaction

from civicdesk.accounts.mfa import DEMO_TOTP_SECRET, totp_enroll
from civicdesk.accounts.models import Role, User
from civicdesk.catalog.attributes import attribute_definition_check
from civicdesk.catalog.models import (
    BusinessCalendar,
    Department,
    Holiday,
    Service,
    ServiceAttribute,
    Team,
)
from civicdesk.console.demo import knowledge_articles_load
from civicdesk.geo.models import LayerRole, RoutingRule, Zone
from civicdesk.geo.services import layer_load
from civicdesk.performance.costs import costs_load

DEMO_DIR = Path(__file__).resolve().parent / "demo"
DEMO_PASSWORD = "prairiefalls-demo"  # noqa: S105 - printed on purpose for the local demo

LAYERS = [
    ("city-limits", "City limits", LayerRole.JURISDICTION, "city_limits.geojson"),
    (
        "council-districts",
        "Council districts",
        LayerRole.COUNCIL_DISTRICT,
        "council_districts.geojson",
    ),
    ("wards", "Wards", LayerRole.WARD, "wards.geojson"),
    (
        "sanitation-zones",
        "Sanitation collection zones",
        LayerRole.SERVICE_ZONE,
        "sanitation_zones.geojson",
    ),
]

# (username, first, last, role, department code, team code)
STAFF = [
    ("admin", "Alex", "Admin", Role.ADMINISTRATOR, None, None),
    ("calltaker", "Carmen", "Ruiz", Role.CALL_TAKER, None, None),
    ("analyst", "Ana", "Lyst", Role.ANALYST, None, None),
    ("pw.supervisor", "Pat", "Walker", Role.SUPERVISOR, "PW", None),
    ("pw.crew", "Sam", "Ortiz", Role.DEPARTMENT_STAFF, "PW", "streets"),
    ("san.supervisor", "Dana", "Lee", Role.SUPERVISOR, "SAN", None),
    ("san.crew", "Jo", "Brown", Role.DEPARTMENT_STAFF, "SAN", "collection"),
    ("dot.supervisor", "Morgan", "Diaz", Role.SUPERVISOR, "DOT", None),
    ("prk.supervisor", "Riley", "Chen", Role.SUPERVISOR, "PRK", None),
    ("ce.supervisor", "Casey", "Nguyen", Role.SUPERVISOR, "CE", None),
    ("pd.supervisor", "Jordan", "Smith", Role.SUPERVISOR, "PD", None),
    ("ans.supervisor", "Taylor", "Kim", Role.SUPERVISOR, "ANS", None),
    ("wtr.supervisor", "Avery", "Patel", Role.SUPERVISOR, "WTR", None),
]


def catalog_data() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((DEMO_DIR / "catalog.json").read_text(encoding="utf-8"))
    return data


def _observed(day: dt.date) -> dt.date:
    if day.weekday() == 5:
        return day - dt.timedelta(days=1)
    if day.weekday() == 6:
        return day + dt.timedelta(days=1)
    return day


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    first = dt.date(year, month, 1)
    offset = (weekday - first.weekday()) % 7
    if n > 0:
        return first + dt.timedelta(days=offset + 7 * (n - 1))
    # n = -1: the last such weekday of the month
    next_month = dt.date(year + month // 12, month % 12 + 1, 1)
    last = next_month - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def city_holidays(year: int) -> list[tuple[dt.date, str]]:
    """The city's paid holidays: the US federal ones it observes, moved off weekends."""
    return [
        (_observed(dt.date(year, 1, 1)), "New Year's Day"),
        (_nth_weekday(year, 1, 0, 3), "Martin Luther King Jr. Day"),
        (_nth_weekday(year, 5, 0, -1), "Memorial Day"),
        (_observed(dt.date(year, 6, 19)), "Juneteenth"),
        (_observed(dt.date(year, 7, 4)), "Independence Day"),
        (_nth_weekday(year, 9, 0, 1), "Labor Day"),
        (_observed(dt.date(year, 11, 11)), "Veterans Day"),
        (_nth_weekday(year, 11, 3, 4), "Thanksgiving Day"),
        (_nth_weekday(year, 11, 3, 4) + dt.timedelta(days=1), "Day after Thanksgiving"),
        (_observed(dt.date(year, 12, 25)), "Christmas Day"),
    ]


@dataclass
class DemoSummary:
    departments: int
    services: int
    zones: int
    staff: int


@transaction.atomic
def demo_city_load(*, today: dt.date | None = None) -> DemoSummary:
    today = today or dt.date.today()
    data = catalog_data()

    calendar, _ = BusinessCalendar.objects.update_or_create(
        name="City business hours",
        defaults={
            "timezone": "America/Chicago",
            "is_default": True,
            "working_hours": {str(d): [["08:00", "17:00"]] for d in range(5)},
        },
    )
    for year in range(today.year - 2, today.year + 2):
        for day, name in city_holidays(year):
            Holiday.objects.update_or_create(calendar=calendar, date=day, defaults={"name": name})

    departments: dict[str, Department] = {}
    teams: dict[tuple[str, str], Team] = {}
    for dep in data["departments"]:
        department, _ = Department.objects.update_or_create(
            code=dep["code"],
            defaults={
                "name": dep["name"],
                "translations": dep.get("translations", {}),
                "email": dep.get("email", ""),
                "phone": dep.get("phone", ""),
            },
        )
        departments[dep["code"]] = department
        for team in dep.get("teams", []):
            teams[(dep["code"], team["code"])], _ = Team.objects.update_or_create(
                department=department, code=team["code"], defaults={"name": team["name"]}
            )

    for spec in data["services"]:
        sla = spec.get("sla") or {}
        service, _ = Service.objects.update_or_create(
            service_code=spec["service_code"],
            defaults={
                "name": spec["name"],
                "description": spec.get("description", ""),
                "group": spec.get("group", ""),
                "keywords": spec.get("keywords", []),
                "translations": spec.get("translations", {}),
                "department": departments[spec["department"]],
                "default_team": teams.get((spec["department"], spec.get("team") or "")),
                "notice": spec.get("notice", ""),
                "emergency": spec.get("emergency", False),
                "contact_required": spec.get("contact_required", False),
                "sensitive_location": spec.get("sensitive_location", False),
                "sla_amount": sla.get("amount"),
                "sla_unit": sla.get("unit", ""),
                "calendar": calendar,
                "active": True,
            },
        )
        for attr in spec.get("attributes", []):
            attribute_definition_check(
                datatype=attr["datatype"],
                values=attr.get("values", []),
                variable=attr.get("variable", True),
            )
            ServiceAttribute.objects.update_or_create(
                service=service,
                code=attr["code"],
                defaults={
                    "datatype": attr["datatype"],
                    "label": attr["label"],
                    "help_text": attr.get("help_text", ""),
                    "required": attr.get("required", False),
                    "variable": attr.get("variable", True),
                    "order": attr.get("order", 1),
                    "values": attr.get("values", []),
                    "translations": attr.get("translations", {}),
                },
            )

    for slug, name, role, filename in LAYERS:
        layer_load(source=DEMO_DIR / "boundaries" / filename, slug=slug, name=name, role=role)

    # Downtown graffiti goes to Code Enforcement's property team (a zone rule); abandoned
    # vehicles go to Transportation's parking team everywhere (a service-wide rule).
    downtown = Zone.objects.get(layer__slug="council-districts", code="1")
    RoutingRule.objects.update_or_create(
        service=Service.objects.get(service_code="graffiti"),
        zone=downtown,
        defaults={"department": departments["CE"], "team": teams[("CE", "property")]},
    )
    RoutingRule.objects.update_or_create(
        service=Service.objects.get(service_code="abandoned-vehicle"),
        zone=None,
        defaults={"department": departments["DOT"], "team": teams[("DOT", "parking")]},
    )

    for username, first, last, staff_role, dep_code, team_code in STAFF:
        user, created = User.objects.get_or_create(
            username=username,
            defaults={
                "first_name": first,
                "last_name": last,
                "role": staff_role,
                "email": f"{username}@prairiefalls.example",
                "department": departments.get(dep_code or ""),
                "team": teams.get((dep_code or "", team_code or "")),
                "is_staff": staff_role == Role.ADMINISTRATOR,  # opens the admin site
                "is_superuser": staff_role == Role.ADMINISTRATOR,
            },
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.save(update_fields=["password"])
            totp_enroll(user, DEMO_TOTP_SECRET)

    knowledge_articles_load()
    # Unit costs for budgeting, in the same CSV format `civicdesk costs load` reads.
    costs_load((DEMO_DIR / "costs.csv").read_text(encoding="utf-8"))
    return DemoSummary(
        departments=len(departments),
        services=len(data["services"]),
        zones=Zone.objects.count(),
        staff=len(STAFF),
    )
