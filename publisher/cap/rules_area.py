"""Rules of CAP 1.2 section 3.2.4 on <area>, with the WGS 84 note of section 3.3.1.

Self-intersecting rings are left to the geometry code: this module stays
free of a geometry library.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

from publisher.cap.clauses import AREA_CLAUSE, WGS84_CLAUSE
from publisher.cap.model import Area, Circle, Point, Polygon
from publisher.cap.problems import Problem, ProblemLevel
from publisher.cap.rules_common import blank_problems, indexed_problems, value_name_problems

__all__ = ["check_area"]

MINIMUM_POLYGON_POINTS = 4


def check_area(area: Area, path: str) -> list[Problem]:
    return [
        *blank_problems(path, "areaDesc", area.area_desc, AREA_CLAUSE),
        *indexed_problems(path, "polygon", area.polygons, _polygon_problems),
        *indexed_problems(path, "circle", area.circles, _circle_problems),
        *value_name_problems(path, "geocode", area.geocodes, AREA_CLAUSE),
        *_altitude_problems(area, path),
    ]


def _polygon_problems(polygon: Polygon, path: str) -> Iterator[Problem]:
    points = polygon.points
    if len(points) < MINIMUM_POLYGON_POINTS:
        yield Problem(
            path,
            f"has {len(points)} points; a polygon needs at least {MINIMUM_POLYGON_POINTS}",
            clause=AREA_CLAUSE,
        )
    if points and points[0] != points[-1]:
        yield Problem(
            path,
            f"ring is not closed: first point {_show(points[0])} differs from "
            f"last point {_show(points[-1])}",
            clause=AREA_CLAUSE,
        )
    yield from _coordinate_problems(points, path, "point")


def _circle_problems(circle: Circle, path: str) -> Iterator[Problem]:
    yield from _coordinate_problems((circle.center,), path, "centre")
    if not (circle.radius_km >= 0 and math.isfinite(circle.radius_km)):
        yield Problem(
            path, f"radius {circle.radius_km} km is not a non-negative number", clause=AREA_CLAUSE
        )


def _coordinate_problems(points: Sequence[Point], path: str, noun: str) -> Iterator[Problem]:
    """One finding per axis, naming the first point out of range and how many follow."""
    latitudes = [index for index, point in enumerate(points) if not -90 <= point.lat <= 90]
    longitudes = [index for index, point in enumerate(points) if not -180 <= point.lon <= 180]
    if latitudes:
        first = latitudes[0]
        swapped = all(-180 <= point.lat <= 180 and -90 <= point.lon <= 90 for point in points)
        yield Problem(
            path,
            f"{_label(noun, first, points)}latitude {points[first].lat} is outside [-90, 90]"
            f"{_more(latitudes)}{'; latitude and longitude look swapped' if swapped else ''}",
            # A ring whose every point fits only when read lon,lat is a known
            # publisher quirk; intake goes on, the finding stays visible.
            ProblemLevel.WARNING if swapped else ProblemLevel.ERROR,
            WGS84_CLAUSE,
        )
    if longitudes:
        first = longitudes[0]
        # Rings across the antimeridian are often written with longitudes just
        # beyond -180 or 180; they still name one place unambiguously.
        wraps = all(-360 < points[index].lon < 360 for index in longitudes)
        yield Problem(
            path,
            f"{_label(noun, first, points)}longitude {points[first].lon} is outside [-180, 180]"
            f"{_more(longitudes)}{'; read as crossing the antimeridian' if wraps else ''}",
            ProblemLevel.WARNING if wraps else ProblemLevel.ERROR,
            WGS84_CLAUSE,
        )


def _label(noun: str, index: int, points: Sequence[Point]) -> str:
    return f"{noun} {index} " if len(points) > 1 else f"{noun} "


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


def _show(point: Point) -> str:
    return f"{point.lat},{point.lon}"
