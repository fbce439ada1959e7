"""Writes and decisions for boundaries and routing."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import shapely
from django.db import transaction
from django.db.models import Q
from shapely.geometry import mapping, shape
from shapely.validation import explain_validity

from civicdesk.catalog.models import Service
from civicdesk.errors import InvalidInput

from .models import BoundaryLayer, LayerRole, RoutingRule, Zone

_FIXED_ROLES = (LayerRole.JURISDICTION, LayerRole.COUNCIL_DISTRICT, LayerRole.WARD)
_SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def _geojson_features(data: Any) -> list[dict[str, Any]]:
    if not isinstance(data, dict):
        raise InvalidInput("the file is not a GeoJSON object")
    if data.get("type") == "FeatureCollection":
        features = data.get("features")
        if not isinstance(features, list):
            raise InvalidInput("the FeatureCollection has no list of features")
        return features
    if data.get("type") == "Feature":
        return [data]
    raise InvalidInput(f"expected a GeoJSON FeatureCollection, got type {data.get('type')!r}")


def layer_load(
    *,
    source: str | Path | dict[str, Any],
    slug: str,
    name: str | None = None,
    role: str = LayerRole.OTHER,
    code_property: str = "code",
    name_property: str = "name",
) -> BoundaryLayer:
    """Load (or replace) a boundary layer from GeoJSON; all features or nothing.

    Each feature needs a Polygon or MultiPolygon in WGS84 and a unique code in its
    properties; a bad feature is named by its position in the file.
    """
    if not _SLUG_RE.match(slug or ""):
        raise InvalidInput({"layer": [f"{slug!r} is not a slug (lowercase letters, digits, -)"]})
    if role not in LayerRole.values:
        raise InvalidInput({"role": [f"{role!r} is not one of {', '.join(LayerRole.values)}"]})
    if role in _FIXED_ROLES:
        other = BoundaryLayer.objects.filter(role=role).exclude(slug=slug).first()
        if other is not None:
            raise InvalidInput(
                {
                    "layer": [
                        f"layer {other.slug!r} already holds the {LayerRole(role).label.lower()}; "
                        f"load into --layer {other.slug} to replace it"
                    ]
                }
            )
    label = str(source) if not isinstance(source, dict) else "(data)"
    if isinstance(source, dict):
        data = source
    else:
        try:
            data = json.loads(Path(source).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise InvalidInput({"file": [f"{source}: no such file"]}) from None
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InvalidInput({"file": [f"{source}: not valid GeoJSON ({exc})"]}) from None

    zones: list[Zone] = []
    seen: set[str] = set()
    for number, feature in enumerate(_geojson_features(data), start=1):
        where = f"feature {number}"
        if not isinstance(feature, dict):
            raise InvalidInput({where: ["is not a GeoJSON Feature object"]})
        props = feature.get("properties") or {}
        if not isinstance(props, dict):
            raise InvalidInput({where: ["its properties are not an object"]})
        code = str(props.get(code_property) or "").strip()
        if not code:
            raise InvalidInput({where: [f"has no {code_property!r} property"]})
        if code in seen:
            raise InvalidInput({where: [f"code {code!r} appears twice in the layer"]})
        seen.add(code)
        try:
            geom = shape(feature.get("geometry") or {})
        except Exception as exc:  # shapely raises several types for malformed GeoJSON
            raise InvalidInput({where: [f"geometry is not valid GeoJSON ({exc})"]}) from None
        if geom.geom_type not in ("Polygon", "MultiPolygon"):
            raise InvalidInput(
                {where: [f"expected a Polygon or MultiPolygon, got {geom.geom_type}"]}
            )
        if geom.is_empty:  # explain_validity() would call it "Valid Geometry"
            raise InvalidInput({where: ["geometry is empty"]})
        if not geom.is_valid:
            raise InvalidInput({where: [f"geometry is invalid: {explain_validity(geom)}"]})
        min_long, min_lat, max_long, max_lat = geom.bounds
        if not (-180 <= min_long <= max_long <= 180 and -90 <= min_lat <= max_lat <= 90):
            raise InvalidInput({where: ["coordinates are not WGS84 longitude/latitude"]})
        zones.append(
            Zone(
                code=code,
                name=str(props.get(name_property) or code),
                geometry=mapping(shapely.set_precision(geom, 1e-7)),
                min_long=min_long,
                min_lat=min_lat,
                max_long=max_long,
                max_lat=max_lat,
            )
        )
    if not zones:
        raise InvalidInput({"file": ["the layer has no features"]})

    with transaction.atomic():
        layer, _ = BoundaryLayer.objects.update_or_create(
            slug=slug,
            defaults={
                "name": name or slug.replace("-", " ").title(),
                "role": role,
                "source": label[:500],
            },
        )
        existing = {z.code: z for z in layer.zones.all()}
        for zone in zones:
            old = existing.pop(zone.code, None)
            if old is not None:
                # Keep the zone's id so routing rules and requests that point at it survive.
                for attr in ("name", "geometry", "min_long", "min_lat", "max_long", "max_lat"):
                    setattr(old, attr, getattr(zone, attr))
                old.save()
            else:
                zone.layer = layer
                zone.save()
        Zone.objects.filter(id__in=[z.id for z in existing.values()]).delete()
        layer.save(update_fields=["updated_at"])
    return layer


@dataclass(frozen=True)
class Route:
    department_id: int
    team_id: int | None


def route_resolve(*, service: Service, zone_ids: tuple[int, ...]) -> Route:
    """Which department and team own a request for ``service`` at a place in ``zone_ids``."""
    rules = list(
        RoutingRule.objects.filter(service=service, active=True)
        .filter(Q(zone__isnull=True) | Q(zone_id__in=zone_ids))
        .values("zone_id", "department_id", "team_id")
    )
    in_zone = [r for r in rules if r["zone_id"] is not None]
    anywhere = [r for r in rules if r["zone_id"] is None]
    # Several zone rules can match (a ward and a service zone): the first in the point's zone
    # order wins, which is deterministic (zones are ordered by id).
    for zone_id in zone_ids:
        for rule in in_zone:
            if rule["zone_id"] == zone_id:
                return Route(rule["department_id"], rule["team_id"])
    if anywhere:
        return Route(anywhere[0]["department_id"], anywhere[0]["team_id"])
    return Route(service.department_id, service.default_team_id)
