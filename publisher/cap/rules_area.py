"""Rules of CAP 1.2 section 3.2.4 on <area>, with the WGS 84 note of section 3.3.1.

Self-intersecting rings are left to the geometry code: this module stays
free of a geometry library.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

from publisher.cap.clauses import AREA_CLAUSE, WGS84_CLAUSE
from publisher.cap.model import Area, Circle, Polygon
from publisher.cap.problems import Problem, ProblemLevel
from publisher.cap.rules_common import blank_problems, indexed_problems, value_name_problems

__all__ = ["check_area"]

MINIMUM_POLYGON_POINTS = 4


def check_area(area: Area, path: str) -> list[Problem]:
    # Intake checks thousands of areas per second, most of them a description
    # and a geocode: a check that cannot find anything is not started.
    problems = list(blank_problems(path, "areaDesc", area.area_desc, AREA_CLAUSE))
    if area.polygons:
        problems += indexed_problems(path, "polygon", area.polygons, _polygon_problems)
    if area.circles:
        problems += indexed_problems(path, "circle", area.circles, _circle_problems)
    if area.geocodes:
        problems += value_name_problems(path, "geocode", area.geocodes, AREA_CLAUSE)
    if area.ceiling is not None:
        problems += _altitude_problems(area, path)
    return problems


def _polygon_problems(polygon: Polygon, path: str) -> Iterator[Problem]:
    coordinates = polygon.coordinates
    count = len(coordinates) // 2
    if count < MINIMUM_POLYGON_POINTS:
        yield Problem(
            path,
            f"has {count} points; a polygon needs at least {MINIMUM_POLYGON_POINTS}",
            clause=AREA_CLAUSE,
        )
    if coordinates and coordinates[:2] != coordinates[-2:]:
        yield Problem(
            path,
            f"ring is not closed: first point {_show(coordinates[:2])} differs from "
            f"last point {_show(coordinates[-2:])}",
            clause=AREA_CLAUSE,
        )
    yield from _coordinate_problems(polygon.latitudes, polygon.longitudes, path, "point")


def _circle_problems(circle: Circle, path: str) -> Iterator[Problem]:
    center = circle.center
    yield from _coordinate_problems((center.lat,), (center.lon,), path, "centre")
    if not (circle.radius_km >= 0 and math.isfinite(circle.radius_km)):
        yield Problem(
            path, f"radius {circle.radius_km} km is not a non-negative number", clause=AREA_CLAUSE
        )


def _within(values: Sequence[float], bound: float) -> bool:
    """Every value is in [-bound, bound]; min and max settle it without a loop in
    Python, and the sum is NaN when a NaN that min and max can miss is present."""
    return not values or (-bound <= min(values) and max(values) <= bound
                          and not math.isnan(sum(values)))


def _coordinate_problems(latitudes: Sequence[float], longitudes: Sequence[float], path: str,
                         noun: str) -> Iterator[Problem]:
    """One finding per axis, naming the first point out of range and how many follow."""
    if _within(latitudes, 90) and _within(longitudes, 180):
        return
    outside_latitudes = [index for index, lat in enumerate(latitudes) if not -90 <= lat <= 90]
    outside_longitudes = [index for index, lon in enumerate(longitudes) if not -180 <= lon <= 180]
    if outside_latitudes:
        first = outside_latitudes[0]
        swapped = _within(latitudes, 180) and _within(longitudes, 90)
        yield Problem(
            path,
            f"{_label(noun, first, latitudes)}latitude {latitudes[first]} is outside [-90, 90]"
            f"{_more(outside_latitudes)}"
            f"{'; latitude and longitude look swapped' if swapped else ''}",
            # A ring whose every point fits only when read lon,lat is a known
            # publisher quirk; intake goes on, the finding stays visible.
            ProblemLevel.WARNING if swapped else ProblemLevel.ERROR,
            WGS84_CLAUSE,
        )
    if outside_longitudes:
        first = outside_longitudes[0]
        # Rings across the antimeridian are often written with longitudes just
        # beyond -180 or 180; they still name one place unambiguously.
        wraps = all(-360 < longitudes[index] < 360 for index in outside_longitudes)
        yield Problem(
            path,
            f"{_label(noun, first, latitudes)}longitude {longitudes[first]} is outside [-180, 180]"
            f"{_more(outside_longitudes)}{'; read as crossing the antimeridian' if wraps else ''}",
            ProblemLevel.WARNING if wraps else ProblemLevel.ERROR,
            WGS84_CLAUSE,
        )


def _label(noun: str, index: int, values: Sequence[float]) -> str:
    return f"{noun} {index} " if len(values) > 1 else f"{noun} "


def _more(indices: list[int]) -> str:
    return f" (and {len(indices) - 1} more points)" if len(indices) > 1 else ""


def _altitude_problems(area: Area, path: str) -> Iterator[Problem]:
    if area.ceiling is None:
        return
    if area.altitude is None:
        yield Problem(f"{path}/ceiling", "ceiling is given without altitude", clause=AREA_CLAUSE)
    elif area.ceiling < area.altitude:
        yield Problem(
            f"{path}/ceiling",
            f"ceiling {area.ceiling} is below altitude {area.altitude}",
            clause=AREA_CLAUSE,
        )


def _show(point: Sequence[float]) -> str:
    return f"{point[0]},{point[1]}"
