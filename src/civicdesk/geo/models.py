"""Boundary layers and their zones (GeoJSON geometries in WGS84) and routing rules."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class LayerRole(models.TextChoices):
    JURISDICTION = "jurisdiction", _("Jurisdiction (city limits)")
    COUNCIL_DISTRICT = "council_district", _("Council districts")
    WARD = "ward", _("Wards")
    SERVICE_ZONE = "service_zone", _("Service zones")
    OTHER = "other", _("Other")


class BoundaryLayer(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    role = models.CharField(max_length=32, choices=LayerRole.choices, default=LayerRole.OTHER)
    source = models.CharField(max_length=500, blank=True, help_text="File or URL it came from.")
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["role", "name"]
        constraints = [
            # A request records one council district and one ward: one layer of each role.
            models.UniqueConstraint(
                fields=["role"],
                condition=models.Q(role__in=["jurisdiction", "council_district", "ward"]),
                name="one_layer_per_fixed_role",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Zone(models.Model):
    layer = models.ForeignKey(BoundaryLayer, on_delete=models.CASCADE, related_name="zones")
    code = models.CharField(max_length=64)
    name = models.CharField(max_length=200)
    # A zone known only by its code (a district named in an imported city's history, whose
    # boundary was never loaded) has no geometry: reports group by it, point lookups skip it.
    geometry = models.JSONField(
        null=True, blank=True, help_text="GeoJSON Polygon or MultiPolygon, WGS84."
    )
    min_long = models.FloatField(null=True, blank=True)
    min_lat = models.FloatField(null=True, blank=True)
    max_long = models.FloatField(null=True, blank=True)
    max_lat = models.FloatField(null=True, blank=True)

    class Meta:
        ordering = ["layer", "code"]
        constraints = [
            models.UniqueConstraint(fields=["layer", "code"], name="zone_code_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.layer.name}: {self.name}"


class RoutingRule(models.Model):
    """Requests for ``service`` located in ``zone`` go to ``department`` (and ``team``).

    A rule without a zone applies anywhere; the most specific active rule wins, and without
    any rule a request goes to the service's own department and default team.
    """

    service = models.ForeignKey(
        "catalog.Service", on_delete=models.CASCADE, related_name="routing_rules"
    )
    zone = models.ForeignKey(
        Zone, null=True, blank=True, on_delete=models.CASCADE, related_name="routing_rules"
    )
    department = models.ForeignKey("catalog.Department", on_delete=models.CASCADE)
    team = models.ForeignKey("catalog.Team", null=True, blank=True, on_delete=models.SET_NULL)
    active = models.BooleanField(default=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["service", "zone"],
                condition=models.Q(zone__isnull=False),
                name="routing_rule_unique_in_zone",
            ),
            models.UniqueConstraint(
                fields=["service"],
                condition=models.Q(zone__isnull=True),
                name="routing_rule_unique_anywhere",
            ),
        ]

    def __str__(self) -> str:
        where = self.zone or "anywhere"
        return f"{self.service.service_code} in {where} -> {self.department.code}"
