"""Boundaries and routing: where a point falls in the city, who owns a request there, and how
boundary layers are loaded and replaced."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from civicdesk.catalog.models import Department, Service, Team
from civicdesk.errors import InvalidInput, OutsideJurisdiction
from civicdesk.geo.distance import bounding_box, coordinates_check, distance_m
from civicdesk.geo.models import BoundaryLayer, LayerRole, RoutingRule, Zone
from civicdesk.geo.services import layer_load, route_resolve
from civicdesk.geo.zones import place, zone_index
from civicdesk.ops.demo import DEMO_DIR
from civicdesk.servicerequests.models import (
    Contact,
    PublicIdSequence,
    RequestEvent,
    ServiceRequest,
)
from civicdesk.servicerequests.services import ContactInput
from tests.conftest import DOWNTOWN, EAST_SIDE, OUTSIDE, make_request

BOUNDARIES = DEMO_DIR / "boundaries"


def zone(slug: str, code: str) -> Zone:
    return Zone.objects.get(layer__slug=slug, code=code)


def codes(zone_ids: tuple[int, ...]) -> set[tuple[str, str]]:
    return {
        (slug, code)
        for slug, code in Zone.objects.filter(id__in=zone_ids).values_list("layer__slug", "code")
    }


def square(long: float, lat: float, size: float = 0.01) -> dict[str, Any]:
    return {
        "type": "Polygon",
        "coordinates": [
            [
                [long, lat],
                [long + size, lat],
                [long + size, lat + size],
                [long, lat + size],
                [long, lat],
            ]
        ],
    }


def feature(code: Any, geometry: Any, **props: Any) -> dict[str, Any]:
    return {"type": "Feature", "properties": {"code": code, **props}, "geometry": geometry}


def collection(*features: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": list(features)}


def boundaries_snapshot() -> list[tuple[Any, ...]]:
    layers = list(BoundaryLayer.objects.order_by("id").values_list("id", "slug", "name", "role"))
    zones = list(
        Zone.objects.order_by("id").values_list("id", "layer_id", "code", "name", "geometry")
    )
    return [*layers, *zones]


# --------------------------------------------------------------------------------------
# Where a point falls

# An inside point of every ward, with the council district and sanitation zone around it.
WARD_POINTS = [
    ("W01", (40.03291, -89.07446), "1", "MON"),
    ("W02", (40.04267, -89.04872), "1", "MON"),
    ("W03", (40.01346, -89.06441), "1", "THU"),
    ("W04", (40.04101, -89.00410), "2", "MON"),
    ("W05", (40.01535, -89.01847), "2", "MON"),
    ("W06", (40.01120, -88.98622), "2", "TUE"),
    ("W07", (40.04261, -88.95808), "3", "TUE"),
    ("W08", (40.04047, -88.93081), "3", "TUE"),
    ("W09", (40.01156, -88.94227), "3", "TUE"),
    ("W10", (39.99685, -89.05974), "4", "THU"),
    ("W11", (39.96313, -89.07564), "4", "THU"),
    ("W12", (39.95829, -89.04485), "4", "THU"),
    ("W13", (39.98651, -89.01384), "5", "THU"),
    ("W14", (39.98233, -88.98169), "5", "WED"),
    ("W15", (39.95594, -89.01678), "5", "THU"),
    ("W16", (39.99432, -88.94102), "6", "WED"),
    ("W17", (39.95781, -88.95485), "6", "WED"),
    ("W18", (39.96929, -88.92678), "6", "WED"),
]


@pytest.mark.parametrize(("ward", "point", "district", "sanitation"), WARD_POINTS)
def test_a_point_in_each_ward_gets_its_ward_and_district(
    city: None, ward: str, point: tuple[float, float], district: str, sanitation: str
) -> None:
    placement = place(*point)
    assert placement.inside_jurisdiction is True
    assert placement.district_id == zone("council-districts", district).id
    assert placement.ward_id == zone("wards", ward).id
    assert codes(placement.zone_ids) == {
        ("city-limits", "PF"),
        ("council-districts", district),
        ("wards", ward),
        ("sanitation-zones", sanitation),
    }


def test_every_district_and_ward_is_reached_by_the_test_points() -> None:
    # A guard on the table above: all six districts and eighteen wards are exercised.
    assert {d for _, _, d, _ in WARD_POINTS} == {"1", "2", "3", "4", "5", "6"}
    assert [w for w, _, _, _ in WARD_POINTS] == [f"W{n:02d}" for n in range(1, 19)]


def test_a_point_outside_the_city_is_in_no_zone(city: None) -> None:
    placement = place(*OUTSIDE)
    assert placement.inside_jurisdiction is False
    assert placement.district_id is None
    assert placement.ward_id is None
    assert placement.zone_ids == ()


@pytest.mark.parametrize(
    "point",
    [
        pytest.param((40.001799, -89.06), id="edge-between-districts-1-and-4"),
        pytest.param((40.001799, -89.088117), id="vertex-shared-by-districts-1-and-4"),
        pytest.param((39.947842, -89.030489), id="vertex-of-the-city-limits"),
    ],
)
def test_a_point_on_a_boundary_is_placed_alike_one_by_one_and_in_bulk(
    city: None, point: tuple[float, float]
) -> None:
    # The seed and bulk imports place points in bulk; intake places them one at a time. A
    # point on a line must land in the same zones either way (and inside the city).
    placement = place(*point)
    assert placement.inside_jurisdiction is True
    assert placement.district_id is not None
    index = zone_index()
    lats, longs = np.array([point[0]]), np.array([point[1]])
    assert bool(index.inside_many(lats, longs)[0]) is True
    bulk = index.place_many(lats, longs, LayerRole.COUNCIL_DISTRICT)
    assert int(bulk[0]) == placement.district_id
    assert int(index.place_many(lats, longs, LayerRole.WARD)[0]) == placement.ward_id


def test_a_request_records_its_district_and_ward(city: None) -> None:
    downtown = make_request(at=DOWNTOWN)
    east = make_request(at=EAST_SIDE)
    assert (downtown.district.code, downtown.ward.code) == ("1", "W03")  # type: ignore[union-attr]
    assert (east.district.code, east.ward.code) == ("3", "W09")  # type: ignore[union-attr]


def test_a_request_outside_the_city_is_refused_and_writes_nothing(city: None) -> None:
    counts = (
        ServiceRequest.objects.count(),
        RequestEvent.objects.count(),
        Contact.objects.count(),
        list(PublicIdSequence.objects.values_list("prefix", "value")),
    )
    with pytest.raises(OutsideJurisdiction) as exc:
        make_request(at=OUTSIDE, contact=ContactInput(name="Farmer Joe", email="joe@example.net"))
    assert exc.value.code == "outside_jurisdiction"
    assert list(exc.value.field_errors) == ["location"]
    message = exc.value.field_errors["location"][0]
    assert message.startswith("(40.200000, -89.500000) is outside ")
    assert message.endswith("this city can only take requests within its limits")
    assert (
        ServiceRequest.objects.count(),
        RequestEvent.objects.count(),
        Contact.objects.count(),
        list(PublicIdSequence.objects.values_list("prefix", "value")),
    ) == counts


def test_without_city_limits_every_point_is_inside(city: None) -> None:
    BoundaryLayer.objects.filter(role=LayerRole.JURISDICTION).delete()
    placement = place(*OUTSIDE)
    assert placement.inside_jurisdiction is True
    request = make_request(at=OUTSIDE)
    assert request.district is None and request.ward is None


# --------------------------------------------------------------------------------------
# Routing


def owner(request: ServiceRequest) -> tuple[str, str | None]:
    return request.department.code, request.team.code if request.team else None


def test_graffiti_downtown_goes_to_code_enforcement(city: None) -> None:
    assert owner(make_request("graffiti", at=DOWNTOWN)) == ("CE", "property")


def test_graffiti_elsewhere_goes_to_public_works(city: None) -> None:
    assert owner(make_request("graffiti", at=EAST_SIDE)) == ("PW", "graffiti")


@pytest.mark.parametrize("at", [DOWNTOWN, EAST_SIDE], ids=["downtown", "east-side"])
def test_abandoned_vehicles_go_to_transportation_everywhere(
    city: None, at: tuple[float, float]
) -> None:
    # The service belongs to the police; the city-wide rule sends it to parking enforcement.
    assert Service.objects.get(service_code="abandoned-vehicle").department.code == "PD"
    assert owner(make_request("abandoned-vehicle", at=at)) == ("DOT", "parking")


def test_without_a_rule_the_service_department_and_team_own_the_request(city: None) -> None:
    assert owner(make_request("pothole", at=DOWNTOWN)) == ("PW", "streets")
    assert owner(make_request("pothole", at=EAST_SIDE)) == ("PW", "streets")


def test_an_inactive_zone_rule_is_ignored(city: None) -> None:
    RoutingRule.objects.filter(service__service_code="graffiti").update(active=False)
    assert owner(make_request("graffiti", at=DOWNTOWN)) == ("PW", "graffiti")


def test_an_inactive_citywide_rule_is_ignored(city: None) -> None:
    RoutingRule.objects.filter(service__service_code="abandoned-vehicle").update(active=False)
    assert owner(make_request("abandoned-vehicle", at=DOWNTOWN)) == ("PD", "vehicles")


def test_a_zone_rule_beats_a_citywide_rule(city: None) -> None:
    graffiti = Service.objects.get(service_code="graffiti")
    RoutingRule.objects.create(
        service=graffiti,
        zone=None,
        department=Department.objects.get(code="PRK"),
        team=Team.objects.get(department__code="PRK", code="maint"),
    )
    assert owner(make_request("graffiti", at=DOWNTOWN)) == ("CE", "property")
    assert owner(make_request("graffiti", at=EAST_SIDE)) == ("PRK", "maint")


def test_a_ward_or_service_zone_rule_applies_inside_it_only(city: None) -> None:
    pothole = Service.objects.get(service_code="pothole")
    water = Department.objects.get(code="WTR")
    RoutingRule.objects.create(service=pothole, zone=zone("wards", "W09"), department=water)
    assert owner(make_request("pothole", at=EAST_SIDE)) == ("WTR", None)
    assert owner(make_request("pothole", at=DOWNTOWN)) == ("PW", "streets")


def test_route_resolve_answers_for_the_zones_given(city: None) -> None:
    graffiti = Service.objects.get(service_code="graffiti")
    district_1 = zone("council-districts", "1")
    district_3 = zone("council-districts", "3")
    ce = Department.objects.get(code="CE")
    pw = Department.objects.get(code="PW")
    route = route_resolve(service=graffiti, zone_ids=(district_1.id,))
    assert route.department_id == ce.id
    assert route.team_id == Team.objects.get(department=ce, code="property").id
    route = route_resolve(service=graffiti, zone_ids=(district_3.id,))
    assert route.department_id == pw.id
    assert route.team_id == graffiti.default_team_id
    route = route_resolve(service=graffiti, zone_ids=())
    assert route.department_id == pw.id


# --------------------------------------------------------------------------------------
# Loading layers: errors


def write(tmp_path: Path, name: str, content: str | bytes | dict[str, Any]) -> Path:
    path = tmp_path / name
    if isinstance(content, dict):
        path.write_text(json.dumps(content), encoding="utf-8")
    elif isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


SELF_INTERSECTING = {
    "type": "Polygon",
    "coordinates": [[[-89.0, 40.0], [-88.9, 40.1], [-88.9, 40.0], [-89.0, 40.1], [-89.0, 40.0]]],
}
# Illinois East state-plane feet: a common export mistake.
STATE_PLANE = {
    "type": "Polygon",
    "coordinates": [
        [
            [1045000.0, 1150000.0],
            [1046000.0, 1150000.0],
            [1046000.0, 1151000.0],
            [1045000.0, 1150000.0],
        ]
    ],
}

BAD_LAYERS = [
    pytest.param(
        collection(
            feature("A", square(-89.0, 40.0)), {"type": "Feature", "properties": {}, "geometry": {}}
        ),
        {"feature 2": ["has no 'code' property"]},
        id="feature-without-code",
    ),
    pytest.param(
        collection(
            feature("A", square(-89.0, 40.0)),
            {"type": "Feature", "properties": None, "geometry": square(-89.0, 40.0)},
        ),
        {"feature 2": ["has no 'code' property"]},
        id="feature-without-properties",
    ),
    pytest.param(
        collection(feature("  ", square(-89.0, 40.0))),
        {"feature 1": ["has no 'code' property"]},
        id="blank-code",
    ),
    pytest.param(
        collection(
            feature("A", square(-89.0, 40.0)),
            feature("B", square(-88.98, 40.0)),
            feature("A", square(-88.96, 40.0)),
        ),
        {"feature 3": ["code 'A' appears twice in the layer"]},
        id="duplicated-code",
    ),
    pytest.param(
        collection(feature("A", {"type": "Point", "coordinates": [-89.0, 40.0]})),
        {"feature 1": ["expected a Polygon or MultiPolygon, got Point"]},
        id="point",
    ),
    pytest.param(
        collection(
            feature("A", {"type": "LineString", "coordinates": [[-89.0, 40.0], [-88.9, 40.1]]})
        ),
        {"feature 1": ["expected a Polygon or MultiPolygon, got LineString"]},
        id="line",
    ),
    pytest.param(
        collection(feature("A", STATE_PLANE)),
        {"feature 1": ["coordinates are not WGS84 longitude/latitude"]},
        id="not-wgs84",
    ),
    pytest.param(
        collection(feature("A", {"type": "Polygon", "coordinates": []})),
        {"feature 1": ["geometry is empty"]},
        id="empty-polygon",
    ),
    pytest.param(
        collection(),
        {"file": ["the layer has no features"]},
        id="empty-layer",
    ),
    pytest.param(
        {"type": "GeometryCollection", "geometries": []},
        {"__all__": ["expected a GeoJSON FeatureCollection, got type 'GeometryCollection'"]},
        id="not-a-feature-collection",
    ),
    pytest.param(
        {"type": "FeatureCollection", "features": {"A": 1}},
        {"__all__": ["the FeatureCollection has no list of features"]},
        id="features-not-a-list",
    ),
]


@pytest.mark.parametrize(("data", "errors"), BAD_LAYERS)
def test_a_bad_layer_is_refused_and_changes_nothing(
    city: None, tmp_path: Path, data: dict[str, Any], errors: dict[str, list[str]]
) -> None:
    before = boundaries_snapshot()
    path = write(tmp_path, "layer.geojson", data)
    # Into a new layer and over an existing one.
    for slug in ("test-zones", "sanitation-zones"):
        with pytest.raises(InvalidInput) as exc:
            layer_load(source=path, slug=slug, role=LayerRole.SERVICE_ZONE)
        assert exc.value.field_errors == errors
    assert boundaries_snapshot() == before


def test_a_self_intersecting_polygon_is_refused(city: None) -> None:
    before = boundaries_snapshot()
    with pytest.raises(InvalidInput) as exc:
        layer_load(
            source=collection(feature("A", square(-89.0, 40.0)), feature("B", SELF_INTERSECTING)),
            slug="wards",
            role=LayerRole.WARD,
        )
    assert list(exc.value.field_errors) == ["feature 2"]
    [message] = exc.value.field_errors["feature 2"]
    assert message.startswith("geometry is invalid: Self-intersection[")
    assert boundaries_snapshot() == before


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        pytest.param("oops", "is not a GeoJSON Feature object", id="feature-is-text"),
        pytest.param(["-89.0", "40.0"], "is not a GeoJSON Feature object", id="feature-is-a-list"),
        pytest.param(None, "is not a GeoJSON Feature object", id="feature-is-null"),
        pytest.param(
            {"type": "Feature", "properties": "A", "geometry": None},
            "its properties are not an object",
            id="props-text",
        ),
    ],
)
def test_a_feature_that_is_not_an_object_is_named_not_a_crash(
    city: None, bad: Any, message: str
) -> None:
    before = boundaries_snapshot()
    with pytest.raises(InvalidInput) as exc:
        layer_load(
            source=collection(feature("A", square(-89.0, 40.0)), bad),
            slug="test-zones",
        )
    assert exc.value.field_errors == {"feature 2": [message]}
    assert boundaries_snapshot() == before


def test_a_feature_without_geometry_is_named(city: None) -> None:
    with pytest.raises(InvalidInput) as exc:
        layer_load(source=collection(feature("A", None)), slug="test-zones")
    [message] = exc.value.field_errors["feature 1"]
    assert message.startswith("geometry is not valid GeoJSON (")


def test_a_missing_file_is_refused(city: None, tmp_path: Path) -> None:
    path = tmp_path / "nowhere.geojson"
    with pytest.raises(InvalidInput) as exc:
        layer_load(source=path, slug="test-zones")
    assert exc.value.field_errors == {"file": [f"{path}: no such file"]}
    assert not BoundaryLayer.objects.filter(slug="test-zones").exists()


@pytest.mark.parametrize(
    "content",
    [
        pytest.param("this is not json {", id="text"),
        pytest.param('{"type": "FeatureCollection", "features": [', id="truncated"),
        pytest.param(b"\xff\xfe\x00garbage", id="binary"),
    ],
)
def test_a_file_that_is_not_json_is_refused(
    city: None, tmp_path: Path, content: str | bytes
) -> None:
    before = boundaries_snapshot()
    path = write(tmp_path, "wards.geojson", content)
    with pytest.raises(InvalidInput) as exc:
        layer_load(source=path, slug="wards", role=LayerRole.WARD)
    [message] = exc.value.field_errors["file"]
    assert message.startswith(f"{path}: not valid GeoJSON (")
    assert boundaries_snapshot() == before


def test_a_json_file_that_is_not_an_object_is_refused(city: None, tmp_path: Path) -> None:
    path = write(tmp_path, "list.geojson", "[1, 2, 3]")
    with pytest.raises(InvalidInput) as exc:
        layer_load(source=path, slug="test-zones")
    assert exc.value.field_errors == {"__all__": ["the file is not a GeoJSON object"]}


@pytest.mark.parametrize("slug", ["Council Districts", "", "-wards", "wards!", "x" * 65])
def test_a_bad_layer_slug_is_refused(city: None, slug: str) -> None:
    before = boundaries_snapshot()
    with pytest.raises(InvalidInput) as exc:
        layer_load(source=collection(feature("A", square(-89.0, 40.0))), slug=slug)
    assert exc.value.field_errors == {
        "layer": [f"{slug!r} is not a slug (lowercase letters, digits, -)"]
    }
    assert boundaries_snapshot() == before


def test_an_unknown_role_is_refused(city: None) -> None:
    with pytest.raises(InvalidInput) as exc:
        layer_load(
            source=collection(feature("A", square(-89.0, 40.0))), slug="test-zones", role="county"
        )
    assert exc.value.field_errors == {
        "role": ["'county' is not one of jurisdiction, council_district, ward, service_zone, other"]
    }


@pytest.mark.parametrize(
    ("role", "holder", "label"),
    [
        (LayerRole.COUNCIL_DISTRICT, "council-districts", "council districts"),
        (LayerRole.WARD, "wards", "wards"),
        (LayerRole.JURISDICTION, "city-limits", "jurisdiction (city limits)"),
    ],
)
def test_a_second_layer_of_a_fixed_role_is_refused(
    city: None, role: str, holder: str, label: str
) -> None:
    before = boundaries_snapshot()
    with pytest.raises(InvalidInput) as exc:
        layer_load(
            source=BOUNDARIES / "council_districts.geojson", slug="districts-2027", role=role
        )
    assert exc.value.field_errors == {
        "layer": [
            f"layer {holder!r} already holds the {label}; load into --layer {holder} to replace it"
        ]
    }
    assert boundaries_snapshot() == before


def test_several_service_zone_layers_may_coexist(city: None) -> None:
    layer = layer_load(
        source=collection(feature("A", square(-89.07, 40.01))),
        slug="street-sweeping",
        role=LayerRole.SERVICE_ZONE,
    )
    assert layer.name == "Street Sweeping"
    assert BoundaryLayer.objects.filter(role=LayerRole.SERVICE_ZONE).count() == 2


# --------------------------------------------------------------------------------------
# Reloading


def test_reloading_a_layer_keeps_unchanged_codes_and_removes_vanished_zones(city: None) -> None:
    layer_load(
        source=collection(
            feature("A", square(-89.07, 40.01), name="Alpha"),
            feature("B", square(-89.05, 40.01), name="Bravo"),
        ),
        slug="test-zones",
        name="Test zones",
        role=LayerRole.SERVICE_ZONE,
    )
    a, b = zone("test-zones", "A"), zone("test-zones", "B")
    pothole = Service.objects.get(service_code="pothole")
    water = Department.objects.get(code="WTR")
    rule_a = RoutingRule.objects.create(service=pothole, zone=a, department=water)
    rule_b = RoutingRule.objects.create(service=pothole, zone=b, department=water)

    layer = layer_load(
        source=collection(
            feature("A", square(-89.03, 40.02, 0.02), name="Alpha (enlarged)"),
            feature("C", square(-89.01, 40.01), name="Charlie"),
        ),
        slug="test-zones",
        name="Test zones",
        role=LayerRole.SERVICE_ZONE,
    )
    assert sorted(layer.zones.values_list("code", flat=True)) == ["A", "C"]
    a_again = zone("test-zones", "A")
    assert a_again.id == a.id
    assert a_again.name == "Alpha (enlarged)"
    assert (a_again.min_long, a_again.min_lat) == pytest.approx((-89.03, 40.02))
    assert (a_again.max_long, a_again.max_lat) == pytest.approx((-89.01, 40.04))
    assert not Zone.objects.filter(id=b.id).exists()
    # The rule on the zone that stayed still applies; the rule on the vanished zone is gone.
    assert RoutingRule.objects.filter(id=rule_a.id, zone_id=a.id).exists()
    assert not RoutingRule.objects.filter(id=rule_b.id).exists()


def test_reloading_the_demo_wards_keeps_every_id_and_the_requests(city: None) -> None:
    request = make_request(at=EAST_SIDE)
    ids = dict(Zone.objects.filter(layer__slug="wards").values_list("code", "id"))
    call_command(
        "boundaries",
        "load",
        str(BOUNDARIES / "wards.geojson"),
        "--layer",
        "wards",
        "--role",
        "ward",
        stdout=StringIO(),
    )
    assert dict(Zone.objects.filter(layer__slug="wards").values_list("code", "id")) == ids
    request.refresh_from_db()
    assert request.ward_id == ids["W09"]


def test_a_ward_that_vanishes_leaves_its_requests_without_a_ward(city: None) -> None:
    request = make_request(at=EAST_SIDE)
    source = json.loads((BOUNDARIES / "wards.geojson").read_text(encoding="utf-8"))
    source["features"] = [f for f in source["features"] if f["properties"]["code"] != "W09"]
    layer_load(source=source, slug="wards", role=LayerRole.WARD)
    request.refresh_from_db()
    assert request.ward_id is None
    assert request.district is not None and request.district.code == "3"
    assert place(*EAST_SIDE).ward_id is None


def test_the_zone_index_notices_a_reload(city: None) -> None:
    here = DOWNTOWN  # inside the square below
    layer_load(
        source=collection(feature("A", square(-89.07, 40.01))),
        slug="test-zones",
        role=LayerRole.SERVICE_ZONE,
    )
    a = zone("test-zones", "A")
    assert a.id in place(*here).zone_ids
    index = zone_index()

    # Move zone A away: the same id, a new shape; the point is no longer in it.
    layer_load(
        source=collection(feature("A", square(-88.95, 40.01))),
        slug="test-zones",
        role=LayerRole.SERVICE_ZONE,
    )
    assert zone_index() is not index
    assert a.id not in place(*here).zone_ids
    assert a.id in place(40.015, -88.945).zone_ids


def test_the_zone_index_notices_a_new_layer_and_a_removed_one(city: None) -> None:
    here = DOWNTOWN
    assert codes(place(*here).zone_ids) == {
        ("city-limits", "PF"),
        ("council-districts", "1"),
        ("wards", "W03"),
        ("sanitation-zones", "THU"),
    }
    layer_load(source=collection(feature("Z", square(-89.07, 40.01))), slug="test-zones")
    assert ("test-zones", "Z") in codes(place(*here).zone_ids)
    BoundaryLayer.objects.filter(slug="test-zones").delete()
    assert ("test-zones", "Z") not in codes(place(*here).zone_ids)


def test_a_layer_can_use_other_property_names(city: None) -> None:
    layer = layer_load(
        source=collection(
            {
                "type": "Feature",
                "properties": {"DIST_ID": 7, "LABEL": "Precinct 7"},
                "geometry": square(-89.07, 40.01),
            }
        ),
        slug="precincts",
        code_property="DIST_ID",
        name_property="LABEL",
    )
    [only] = layer.zones.all()
    assert (only.code, only.name) == ("7", "Precinct 7")


def test_a_multipolygon_zone_holds_both_parts(city: None) -> None:
    multi = {
        "type": "MultiPolygon",
        "coordinates": [
            square(-89.07, 40.01)["coordinates"],
            square(-88.95, 40.01)["coordinates"],
        ],
    }
    layer_load(source=collection(feature("M", multi)), slug="test-zones")
    m = zone("test-zones", "M")
    assert m.id in place(40.015, -89.065).zone_ids
    assert m.id in place(40.015, -88.945).zone_ids
    assert m.id not in place(40.015, -89.0).zone_ids


# --------------------------------------------------------------------------------------
# The command


def test_boundaries_list_shows_each_layer(city: None) -> None:
    out = StringIO()
    call_command("boundaries", "list", stdout=out)
    lines = {line.split()[0]: line.split() for line in out.getvalue().splitlines()}
    assert set(lines) == {"city-limits", "council-districts", "wards", "sanitation-zones"}
    assert lines["city-limits"][1:4] == ["jurisdiction", "1", "zones"]
    assert lines["council-districts"][1:4] == ["council_district", "6", "zones"]
    assert lines["wards"][1:4] == ["ward", "18", "zones"]
    assert lines["sanitation-zones"][1:4] == ["service_zone", "4", "zones"]


def test_boundaries_load_from_a_file(city: None, tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "snow.geojson",
        collection(
            feature("N", square(-89.07, 40.01), name="North routes"),
            feature("S", square(-89.07, 39.97), name="South routes"),
        ),
    )
    out = StringIO()
    call_command(
        "boundaries",
        "load",
        str(path),
        "--layer",
        "snow-routes",
        "--name",
        "Snow routes",
        "--role",
        "service_zone",
        stdout=out,
    )
    assert out.getvalue().strip() == "Loaded 2 zones into snow-routes (service_zone)."
    layer = BoundaryLayer.objects.get(slug="snow-routes")
    assert (layer.name, layer.role, layer.source) == ("Snow routes", "service_zone", str(path))
    assert dict(layer.zones.values_list("code", "name")) == {
        "N": "North routes",
        "S": "South routes",
    }
    listing = StringIO()
    call_command("boundaries", "list", stdout=listing)
    assert "snow-routes" in listing.getvalue()


def test_boundaries_load_with_a_bad_file_is_a_command_error(city: None, tmp_path: Path) -> None:
    before = boundaries_snapshot()
    path = write(tmp_path, "bad.geojson", collection(feature("A", STATE_PLANE)))
    with pytest.raises(CommandError) as exc:
        call_command("boundaries", "load", str(path), "--layer", "wards", "--role", "ward")
    assert str(exc.value) == (f"{path}: feature 1: coordinates are not WGS84 longitude/latitude")
    missing = tmp_path / "missing.geojson"
    with pytest.raises(CommandError) as exc:
        call_command("boundaries", "load", str(missing), "--layer", "wards", "--role", "ward")
    assert str(exc.value) == f"{missing}: file: {missing}: no such file"
    assert boundaries_snapshot() == before


def test_boundaries_load_refuses_an_unknown_role(city: None) -> None:
    with pytest.raises(CommandError, match="invalid choice: 'county'"):
        call_command(
            "boundaries",
            "load",
            str(BOUNDARIES / "wards.geojson"),
            "--layer",
            "wards",
            "--role",
            "county",
        )


# --------------------------------------------------------------------------------------
# Distances


def test_distance_between_two_known_points() -> None:
    # One degree of latitude is about 111.2 km anywhere.
    assert distance_m(40.0, -89.0, 41.0, -89.0) == pytest.approx(111_195, rel=1e-3)
    # Downtown to the east side of Prairie Falls: about 10.4 km.
    assert distance_m(*DOWNTOWN, *EAST_SIDE) == pytest.approx(10_405, rel=5e-3)
    assert distance_m(*DOWNTOWN, *DOWNTOWN) == 0.0
    assert distance_m(*DOWNTOWN, *EAST_SIDE) == pytest.approx(distance_m(*EAST_SIDE, *DOWNTOWN))


def test_bounding_box_encloses_the_circle() -> None:
    min_lat, min_long, max_lat, max_long = bounding_box(*DOWNTOWN, 100)
    for lat, long in [
        (min_lat, DOWNTOWN[1]),
        (max_lat, DOWNTOWN[1]),
        (DOWNTOWN[0], min_long),
        (DOWNTOWN[0], max_long),
    ]:
        assert distance_m(*DOWNTOWN, lat, long) == pytest.approx(100, rel=1e-3)


@pytest.mark.parametrize(
    ("lat", "long", "message"),
    [
        ("north", "-89", "lat: 'north' is not a number"),
        ("40", "", "long: '' is not a number"),
        ("91", "-89", "lat: '91' is outside -90..90"),
        ("40", "-180.5", "long: '-180.5' is outside -180..180"),
        ("nan", "-89", "lat: 'nan' is outside -90..90"),
        ("40", "inf", "long: 'inf' is outside -180..180"),
    ],
)
def test_coordinates_check_names_the_bad_one(lat: str, long: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        coordinates_check(lat, long)
    assert str(exc.value) == message


def test_coordinates_check_parses_text() -> None:
    assert coordinates_check(" 40.01346 ", "-89.06441") == DOWNTOWN
