"""The point selector (an STRtree of device points) and the located half of the target resolver."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime

import numpy as np
import pytest
import shapely
from shapely.geometry import Point as ShapelyPoint

from publisher.cap.areas import EARTH_RADIUS_KM, AreaIndex, area_geometry
from publisher.cap.districts import DistrictTable
from publisher.cap.model import Alert, Area, Circle, NamedValue, Point
from publisher.sample_alert import rainstorm_red_warning
from publisher.services.targets import AreaSelection
from tests.unit.test_areas import GEOCODE, _ring, table

__all__ = ["table"]

# Chaoyang's western edge runs along the meridian 116.445 from 39.81 to 39.975,
# with Dongcheng on the other side.
BORDER_LON = 116.445


def _alert(*areas: Area) -> Alert:
    alert = rainstorm_red_warning(datetime(2026, 7, 1, 3, 0, tzinfo=UTC))
    return replace(alert, infos=tuple(replace(info, areas=areas) for info in alert.infos))


def _east_km(lon: float, lat: float, km: float) -> float:
    return lon + math.degrees(km / (EARTH_RADIUS_KM * math.cos(math.radians(lat))))


SQUARE = _ring((39.90, 116.40), (39.90, 116.50), (40.00, 116.50), (40.00, 116.40))


def test_a_polygon_selects_the_points_inside_in_the_order_given() -> None:
    index = AreaIndex.from_arrays(["c", "out", "a", "b"], [116.45, 116.60, 116.41, 116.49],
                                  [39.95, 39.95, 39.99, 39.91])
    assert len(index) == 4
    assert index.within(area_geometry(Area("square", polygons=(SQUARE,)))) == ["c", "a", "b"]


def test_a_circle_is_measured_in_kilometres_at_beijing_latitude() -> None:
    # At 39.9 degrees north a degree of longitude is 85 km and one of latitude 111 km:
    # a circle drawn in degrees would miss the first point or take the second.
    centre_lon, centre_lat = 116.3975, 39.9087
    east_9_km = _east_km(centre_lon, centre_lat, 9.0)
    north_11_km = centre_lat + math.degrees(11.0 / EARTH_RADIUS_KM)
    index = AreaIndex.from_arrays(["east 9 km", "north 11 km"], [east_9_km, centre_lon],
                                  [centre_lat, north_11_km])
    circle = Area("10 km", circles=(Circle(Point(lat=centre_lat, lon=centre_lon), 10.0),))
    assert index.within(area_geometry(circle)) == ["east 9 km"]


def test_a_point_on_the_boundary_is_inside_for_intersects_and_not_for_contains() -> None:
    index = AreaIndex.from_arrays([1, 2, 3], [116.40, 116.45, 116.45], [39.95, 39.95, 39.90])
    square = area_geometry(Area("square", polygons=(SQUARE,)))
    assert index.within(square) == [1, 2, 3]
    assert index.within(square, "intersects") == [1, 2, 3]
    assert index.within(square, "contains") == [2]


def test_nothing_inside_and_an_empty_area_select_nobody() -> None:
    index = AreaIndex.from_arrays([1, 2], [116.0, 116.1], [39.0, 39.1])
    assert index.within(area_geometry(Area("square", polygons=(SQUARE,)))) == []
    assert index.within(area_geometry(Area("geocodes only"))) == []
    assert AreaIndex.from_arrays([], [], []).within(area_geometry(
        Area("square", polygons=(SQUARE,)))) == []


def test_arrays_of_different_lengths_are_refused() -> None:
    with pytest.raises(ValueError, match="2 identifiers, 3 longitudes and 2 latitudes"):
        AreaIndex.from_arrays([1, 2], [116.0, 116.1, 116.2], [39.0, 39.1])


def test_the_selector_agrees_with_a_point_by_point_scan() -> None:
    generator = np.random.default_rng(2260)
    longitudes = generator.uniform(116.0, 117.0, 20_000)
    latitudes = generator.uniform(39.6, 40.3, 20_000)
    angles = np.linspace(0, 2 * math.pi, 200, endpoint=False)
    radii = 0.25 * (1 + 0.4 * np.sin(7 * angles))
    star = shapely.Polygon(zip(116.45 + radii * np.cos(angles),
                               39.95 + 0.8 * radii * np.sin(angles), strict=True))
    index = AreaIndex.from_arrays(list(range(20_000)), longitudes, latitudes)
    expected = [number for number, (lon, lat) in enumerate(zip(longitudes, latitudes,
                                                                strict=True))
                if star.intersects(ShapelyPoint(lon, lat))]
    assert 1000 < len(expected) < 19_000
    assert index.within(star) == expected


# --- AreaSelection: which located targets a message reaches ---


def test_an_area_across_district_borders_reaches_the_located_targets_of_both(
        table: DistrictTable) -> None:
    # Straddles Dongcheng (west of 116.445) and Chaoyang (east of it).
    across = Area("across", polygons=(_ring((39.90, 116.42), (39.90, 116.47), (39.93, 116.47),
                                              (39.93, 116.42)),))
    selection = AreaSelection.of_alert(_alert(across), table)
    reached = selection.reached_by_location(
        [1, 2, 3, 4], ["110101", "110105", "110105", None], [116.43, 116.46, 116.55, 116.44],
        [39.91, 39.92, 39.92, 39.92])
    assert reached == [1, 2, 4]
    assert [getattr(table.containing(lon, lat), "code", None)
            for lon, lat in ((116.43, 39.91), (116.46, 39.92))] == ["110101", "110105"]


def test_a_geocode_reaches_only_uncoded_targets_inside_its_boundary(table: DistrictTable) -> None:
    chaoyang = Area("朝阳区", geocodes=(NamedValue(GEOCODE, "110105"),))
    selection = AreaSelection.of_alert(_alert(chaoyang), table)
    # A coded target is reached by its code in SQL, never by the boundary:
    # a Haidian board standing in Chaoyang's outline stays a Haidian board.
    reached = selection.reached_by_location(
        [1, 2, 3], [None, "110108", None], [116.50, 116.50, 116.30], [39.95, 39.95, 39.95])
    assert reached == [1]


def test_a_target_exactly_on_a_drawn_border_is_reached(table: DistrictTable) -> None:
    west_half = Area("west of the edge", polygons=(_ring(
        (39.85, 116.40), (39.85, BORDER_LON), (39.95, BORDER_LON), (39.95, 116.40)),))
    selection = AreaSelection.of_alert(_alert(west_half), table)
    assert selection.reached_by_location([7, 8], ["110105", "110105"],
                                         [BORDER_LON, BORDER_LON + 1e-6], [39.90, 39.90]) == [7]
