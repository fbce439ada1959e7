"""Point-in-zone lookup. Zones are kept as prepared shapely geometries in an STRtree per
process, rebuilt when any layer changes (checked with one cheap query per lookup)."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import shapely
from django.db.models import Count, Max
from shapely.geometry import shape
from shapely.strtree import STRtree

from .models import BoundaryLayer, LayerRole, Zone


@dataclass(frozen=True)
class Placement:
    """Where a point falls: inside the jurisdiction or not, and the zones that hold it."""

    inside_jurisdiction: bool
    district_id: int | None = None
    ward_id: int | None = None
    zone_ids: tuple[int, ...] = ()


@dataclass
class ZoneIndex:
    stamp: tuple[Any, ...]
    zone_ids: list[int] = field(default_factory=list)
    roles: list[str] = field(default_factory=list)
    geometries: list[Any] = field(default_factory=list)
    tree: STRtree | None = None
    has_jurisdiction: bool = False

    @classmethod
    def build(cls, stamp: tuple[Any, ...]) -> ZoneIndex:
        index = cls(stamp=stamp)
        # Zones known only by their code (an imported city's districts) have no boundary.
        mapped = Zone.objects.filter(geometry__isnull=False)
        for zone_id, role, geometry in mapped.values_list("id", "layer__role", "geometry"):
            geom = shape(geometry or {})
            shapely.prepare(geom)
            index.zone_ids.append(zone_id)
            index.roles.append(role)
            index.geometries.append(geom)
            index.has_jurisdiction |= role == LayerRole.JURISDICTION
        if index.geometries:
            index.tree = STRtree(index.geometries)
        return index

    def place(self, lat: float, long: float) -> Placement:
        hits: list[int] = []
        if self.tree is not None:
            point = shapely.Point(long, lat)
            hits = sorted(int(i) for i in self.tree.query(point, predicate="intersects"))
        inside = not self.has_jurisdiction
        district = ward = None
        zone_ids = []
        for i in hits:
            role = self.roles[i]
            zone_ids.append(self.zone_ids[i])
            if role == LayerRole.JURISDICTION:
                inside = True
            elif role == LayerRole.COUNCIL_DISTRICT and district is None:
                district = self.zone_ids[i]
            elif role == LayerRole.WARD and ward is None:
                ward = self.zone_ids[i]
        return Placement(inside, district, ward, tuple(zone_ids))

    def place_many(self, lats: np.ndarray, longs: np.ndarray, role: str) -> np.ndarray:
        """The zone id of ``role`` holding each point (0 where none): vectorised, for bulk loads."""
        result = np.zeros(len(lats), dtype=np.int64)
        for zone_id, zone_role, geom in zip(
            self.zone_ids, self.roles, self.geometries, strict=True
        ):
            if zone_role != role:
                continue
            # intersects, as in place(): a point on a boundary line belongs to the first zone.
            mask = shapely.intersects_xy(geom, longs, lats) & (result == 0)
            result[mask] = zone_id
        return result

    def inside_many(self, lats: np.ndarray, longs: np.ndarray) -> np.ndarray:
        if not self.has_jurisdiction:
            return np.ones(len(lats), dtype=bool)
        return self.place_many(lats, longs, LayerRole.JURISDICTION) != 0


_lock = threading.Lock()
_index: ZoneIndex | None = None


def _stamp() -> tuple[Any, ...]:
    agg = BoundaryLayer.objects.aggregate(n=Count("id"), last=Max("updated_at"))
    return (agg["n"], agg["last"])


def zone_index() -> ZoneIndex:
    """The current index of every zone; rebuilt only after a layer was loaded or changed."""
    global _index
    stamp = _stamp()
    with _lock:
        if _index is None or _index.stamp != stamp:
            _index = ZoneIndex.build(stamp)
        return _index


def place(lat: float, long: float) -> Placement:
    return zone_index().place(lat, long)
