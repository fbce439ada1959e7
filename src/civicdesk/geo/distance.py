"""Distances on the earth's surface, for duplicate detection and radius searches."""

from __future__ import annotations

import math

from django.utils.translation import gettext as _

EARTH_RADIUS_M = 6_371_008.8


def distance_m(lat1: float, long1: float, lat2: float, long2: float) -> float:
    """Great-circle (haversine) distance in metres."""
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi = phi2 - phi1
    dlambda = math.radians(long2 - long1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def bounding_box(lat: float, long: float, radius_m: float) -> tuple[float, float, float, float]:
    """(min_lat, min_long, max_lat, max_long) enclosing a circle: a cheap SQL prefilter."""
    dlat = math.degrees(radius_m / EARTH_RADIUS_M)
    coslat = max(math.cos(math.radians(lat)), 1e-6)
    dlong = math.degrees(radius_m / (EARTH_RADIUS_M * coslat))
    return lat - dlat, long - dlong, lat + dlat, long + dlong


def coordinates_check(lat: object, long: object) -> tuple[float, float]:
    """Parse a latitude and longitude; ``ValueError`` names the bad one."""
    values = []
    for name, raw, limit in (("lat", lat, 90.0), ("long", long, 180.0)):
        try:
            value = float(str(raw).strip())
        except ValueError:
            raise ValueError(
                f"{name}: " + _("%(value)r is not a number") % {"value": raw}
            ) from None
        if not math.isfinite(value) or abs(value) > limit:
            raise ValueError(
                f"{name}: "
                + _("%(value)r is outside -%(limit)s..%(limit)s")
                % {"value": raw, "limit": f"{limit:g}"}
            )
        values.append(value)
    return values[0], values[1]
