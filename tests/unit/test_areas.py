"""CAP areas as geometry: polygons, circles, geocoded districts, and the point index."""

from __future__ import annotations

import math
import random
from pathlib import Path

import pytest
import shapely
from shapely.geometry import Point as ShapelyPoint

from publisher.cap.areas import (
    CIRCLE_SEGMENTS,
    EARTH_RADIUS_KM,
    AreaIndex,
    area_covers,
    area_geometry,
    area_intersects_district,
    circle_geometry,
    districts_of_area,
    targeted_geometry,
)
from publisher.cap.districts import DistrictTable, load_districts
from publisher.cap.model import Area, Circle, NamedValue, Point, Polygon

DISTRICTS_FILE = Path(__file__).resolve().parents[2] / "config" / "districts.toml"
WEST, EAST, SOUTH, NORTH = 115.42, 117.51, 39.44, 41.06


@pytest.fixture(scope="module")
def table() -> DistrictTable:
    return load_districts(DISTRICTS_FILE)


def _ring(*pairs: tuple[float, float]) -> Polygon:
    """A CAP polygon from (lat, lon) pairs, closed."""
    points = tuple(Point(lat=lat, lon=lon) for lat, lon in pairs)
    return Polygon(points + points[:1])


def _haversine_km(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlambda = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlambda / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


GEOCODE = "GB/T 2260"
HAIDIAN_SQUARE = _ring((39.95, 116.25), (39.95, 116.30), (40.00, 116.30), (40.00, 116.25))


def test_cap_lat_lon_becomes_shapely_lon_lat() -> None:
    geometry = area_geometry(Area("square", polygons=(HAIDIAN_SQUARE,)))
    assert geometry.bounds == (116.25, 39.95, 116.30, 40.00)
    assert area_covers(Area("square", polygons=(HAIDIAN_SQUARE,)), 116.27, 39.97)
    assert not area_covers(Area("square", polygons=(HAIDIAN_SQUARE,)), 39.97, 116.27)


@pytest.mark.parametrize("lat, radius_km", [(39.9, 10.0), (0.0, 50.0), (60.0, 2.5)])
def test_circle_vertices_lie_at_the_radius(lat: float, radius_km: float) -> None:
    circle = Circle(center=Point(lat=lat, lon=116.4), radius_km=radius_km)
    ring = list(circle_geometry(circle).exterior.coords)
    assert len(ring) == CIRCLE_SEGMENTS + 1
    for lon, vertex_lat in ring:
        distance = _haversine_km(116.4, lat, lon, vertex_lat)
        assert distance == pytest.approx(radius_km, rel=1e-6)


def test_circle_covers_its_centre_and_not_beyond() -> None:
    area = Area("Tiananmen 5 km", circles=(Circle(Point(lat=39.9087, lon=116.3975), 5.0),))
    assert area_covers(area, 116.3975, 39.9087)
    east_4_km = 116.3975 + math.degrees(4 / (EARTH_RADIUS_KM * math.cos(math.radians(39.9087))))
    east_6_km = 116.3975 + math.degrees(6 / (EARTH_RADIUS_KM * math.cos(math.radians(39.9087))))
    assert area_covers(area, east_4_km, 39.9087)
    assert not area_covers(area, east_6_km, 39.9087)


def test_a_zero_radius_circle_is_its_centre() -> None:
    area = Area("point", circles=(Circle(Point(lat=55.3, lon=-134.9), 0.0),))
    assert area_covers(area, -134.9, 55.3)
    assert not area_covers(area, -134.9001, 55.3)


def test_polygons_and_circles_are_united() -> None:
    circle = Circle(Point(lat=40.5, lon=117.0), 3.0)
    area = Area("both", polygons=(HAIDIAN_SQUARE,), circles=(circle,))
    assert area_covers(area, 116.27, 39.97)
    assert area_covers(area, 117.0, 40.5)
    assert not area_covers(area, 116.7, 40.2)


def test_a_self_intersecting_polygon_is_repaired_not_refused() -> None:
    bow_tie = _ring((39.0, 116.0), (39.1, 116.1), (39.0, 116.1), (39.1, 116.0))
    geometry = area_geometry(Area("bow tie", polygons=(bow_tie,)))
    assert geometry.is_valid
    assert geometry.area == pytest.approx(0.005)
    area = Area("bow tie", polygons=(bow_tie,))
    assert area_covers(area, 116.02, 39.05)
    assert area_covers(area, 116.08, 39.05)
    assert not area_covers(area, 116.05, 39.02)


def test_a_geocode_only_area_has_no_geometry_but_covers_through_the_table(
    table: DistrictTable,
) -> None:
    area = Area("海淀区", geocodes=(NamedValue(GEOCODE, "110108"),))
    assert area_geometry(area).is_empty
    assert not area_covers(area, 116.273, 39.999)
    assert area_covers(area, 116.273, 39.999, table)
    assert not area_covers(area, 116.4, 39.9, table)


def test_districts_named_or_overlapped(table: DistrictTable) -> None:
    chaoyang = Area("朝阳区", geocodes=(NamedValue(GEOCODE, "110105"),))
    assert area_intersects_district(chaoyang, table.get("110105"))
    assert not area_intersects_district(chaoyang, table.get("110108"))
    square = Area("square", polygons=(HAIDIAN_SQUARE,))
    assert [each.name_en for each in districts_of_area(square, table)] == ["Beijing", "Haidian"]
    whole_city = Area("北京市", geocodes=(NamedValue(GEOCODE, "110000"),))
    assert len(districts_of_area(whole_city, table)) == 17
    other_scheme = Area("elsewhere", geocodes=(NamedValue("FIPS6", "110105"),))
    assert districts_of_area(other_scheme, table) == []


def test_an_area_that_only_touches_a_border_does_not_target_the_neighbour(
    table: DistrictTable,
) -> None:
    # Shijingshan's eastern edge is the meridian 116.24 between 39.88 and 39.99.
    east_of_edge = Area(
        "Haidian strip",
        polygons=(_ring((39.90, 116.24), (39.90, 116.26), (39.95, 116.26), (39.95, 116.24)),),
    )
    names = {each.name_en for each in districts_of_area(east_of_edge, table)}
    assert names == {"Beijing", "Haidian"}


def _random_points(count: int, seed: int) -> list[tuple[int, float, float]]:
    generator = random.Random(seed)
    return [
        (number, generator.uniform(WEST, EAST), generator.uniform(SOUTH, NORTH))
        for number in range(count)
    ]


@pytest.mark.parametrize(
    "area",
    [
        Area("circle", circles=(Circle(Point(lat=40.0, lon=116.4), 25.0),)),
        Area(
            "polygon", polygons=(_ring((39.6, 115.8), (40.6, 116.2), (40.1, 117.3), (39.5, 116.9)),)
        ),
        Area(
            "Miyun and Pinggu",
            geocodes=(NamedValue(GEOCODE, "110118"), NamedValue(GEOCODE, "110117")),
        ),
    ],
    ids=lambda area: area.area_desc,
)
def test_index_agrees_with_brute_force(area: Area, table: DistrictTable) -> None:
    points = _random_points(12_000, seed=2260)
    index = AreaIndex(points)
    found = index.inside(area, table)
    assert found
    geometry = targeted_geometry(area, table)
    expected = [number for number, lon, lat in points if geometry.covers(ShapelyPoint(lon, lat))]
    assert found == expected


def test_index_of_a_hundred_thousand_points_finds_exactly_those_inside(
        table: DistrictTable) -> None:
    points = _random_points(100_000, seed=7)
    index = AreaIndex(points)
    area = Area("Chaoyang", geocodes=(NamedValue(GEOCODE, "110105"),))
    found = set(index.inside(area, table))
    assert len(index) == 100_000
    chaoyang = table.get("110105").geometry
    sample = random.Random(1).sample(points, 500)
    for number, lon, lat in sample:
        assert (number in found) == chaoyang.covers(ShapelyPoint(lon, lat))


def test_an_empty_area_finds_nobody() -> None:
    index = AreaIndex([("a", 116.4, 39.9)])
    assert index.inside(Area("nothing")) == []
    assert shapely.is_empty(area_geometry(Area("nothing")))
