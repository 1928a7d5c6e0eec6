"""Where an alert applies: CAP areas as geometry, and who lies inside them.

CAP writes points "lat,lon"; shapely wants (x=lon, y=lat), and every
geometry here is in that order, in WGS 84 degrees. Circles become 64-sided
polygons drawn on the sphere. Geocodes have no geometry of their own: they
count through the boundary of the district they name, when a district table
is given.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Hashable, Iterable, Sequence
from typing import Generic, Literal, TypeVar

import shapely
from shapely.geometry import GeometryCollection
from shapely.geometry import Point as ShapelyPoint
from shapely.geometry import Polygon as ShapelyPolygon
from shapely.geometry.base import BaseGeometry

from publisher.cap.districts import District, DistrictTable, is_gb_t_2260
from publisher.cap.model import Area, Circle, Polygon

__all__ = [
    "CIRCLE_SEGMENTS",
    "EARTH_RADIUS_KM",
    "AreaIndex",
    "PointPredicate",
    "area_covers",
    "area_geometry",
    "area_intersects_district",
    "circle_geometry",
    "districts_of_area",
    "polygon_geometry",
    "targeted_geometry",
]

EARTH_RADIUS_KM = 6371.0088
CIRCLE_SEGMENTS = 64
_LINEAR_RING_MINIMUM = 4

Identifier = TypeVar("Identifier", bound=Hashable)
PointPredicate = Literal["intersects", "contains"]


def polygon_geometry(polygon: Polygon) -> BaseGeometry:
    coordinates = [(point.lon, point.lat) for point in polygon.points]
    if len(coordinates) < _LINEAR_RING_MINIMUM:
        return GeometryCollection()
    geometry = ShapelyPolygon(coordinates)
    if geometry.is_valid:
        return geometry
    # Real senders draw bow-ties and rings that touch themselves. The sender
    # still meant the area inside, so it is repaired, never refused: an
    # alert must reach the people under it even when its polygon is sloppy.
    return shapely.make_valid(geometry)


def circle_geometry(circle: Circle, segments: int = CIRCLE_SEGMENTS) -> BaseGeometry:
    """The circle as a polygon whose vertices lie ``radius_km`` from the centre on the sphere."""
    center = ShapelyPoint(circle.center.lon, circle.center.lat)
    if circle.radius_km <= 0:
        return center
    latitude = math.radians(circle.center.lat)
    longitude = math.radians(circle.center.lon)
    angular = circle.radius_km / EARTH_RADIUS_KM
    ring = []
    for step in range(segments):
        bearing = 2 * math.pi * step / segments
        destination_latitude = math.asin(
            math.sin(latitude) * math.cos(angular)
            + math.cos(latitude) * math.sin(angular) * math.cos(bearing)
        )
        destination_longitude = longitude + math.atan2(
            math.sin(bearing) * math.sin(angular) * math.cos(latitude),
            math.cos(angular) - math.sin(latitude) * math.sin(destination_latitude),
        )
        ring.append((math.degrees(destination_longitude), math.degrees(destination_latitude)))
    return ShapelyPolygon(ring)


def area_geometry(area: Area) -> BaseGeometry:
    """The union of the area's polygons and circles; empty when it has only geocodes."""
    parts = [polygon_geometry(polygon) for polygon in area.polygons]
    parts += [circle_geometry(circle) for circle in area.circles]
    if not parts:
        return GeometryCollection()
    return shapely.union_all(parts)


def _geocoded_districts(area: Area, districts: DistrictTable) -> list[District]:
    found = (districts.resolve_geocode(code.value_name, code.value) for code in area.geocodes)
    return [district for district in found if district is not None]


def targeted_geometry(area: Area, districts: DistrictTable | None = None) -> BaseGeometry:
    """The area's own geometry together with the boundaries of the districts its geocodes name."""
    geometry = area_geometry(area)
    if districts is None:
        return geometry
    named = [district.geometry for district in _geocoded_districts(area, districts)]
    return shapely.union_all([geometry, *named]) if named else geometry


def area_covers(area: Area, lon: float, lat: float, districts: DistrictTable | None = None) -> bool:
    return bool(targeted_geometry(area, districts).covers(ShapelyPoint(lon, lat)))


def _geocode_names(value: str, code: str) -> bool:
    # GB/T 2260 codes nest: 110000 is the whole municipality, 1101xx its
    # districts; a geocode for a larger unit names every unit within it.
    value = value.strip()
    if value.endswith("0000"):
        return code[:2] == value[:2]
    if value.endswith("00"):
        return code[:4] == value[:4]
    return code == value


def area_intersects_district(area: Area, district: District) -> bool:
    """True when a geocode names the district or the area's geometry overlaps its boundary.

    An area that only touches the district along its border does not count.
    """
    if any(
        is_gb_t_2260(geocode.value_name) and _geocode_names(geocode.value, district.code)
        for geocode in area.geocodes
    ):
        return True
    geometry = area_geometry(area)
    if geometry.is_empty:
        return False
    return bool(geometry.intersects(district.geometry) and not geometry.touches(district.geometry))


def districts_of_area(area: Area, table: DistrictTable) -> list[District]:
    return [district for district in table if area_intersects_district(area, district)]


class AreaIndex(Generic[Identifier]):
    """Many located things (devices, subscribers) indexed for "who is inside this area".

    The index is an STRtree of their points, built once; each query visits
    only the points whose box meets the area's, and decides those in C.
    Answers keep the order in which the points were given.
    """

    def __init__(self, points: Iterable[tuple[Identifier, float, float]]) -> None:
        identifiers: list[Identifier] = []
        longitudes: list[float] = []
        latitudes: list[float] = []
        for identifier, lon, lat in points:
            identifiers.append(identifier)
            longitudes.append(lon)
            latitudes.append(lat)
        self._build(identifiers, longitudes, latitudes)

    @classmethod
    def from_arrays(cls, identifiers: Sequence[Identifier], longitudes: Collection[float],
                    latitudes: Collection[float]) -> AreaIndex[Identifier]:
        """The index of ``identifiers[i]`` at (``longitudes[i]``, ``latitudes[i]``)."""
        index = cls.__new__(cls)
        index._build(identifiers, longitudes, latitudes)
        return index

    def _build(self, identifiers: Sequence[Identifier], longitudes: Collection[float],
               latitudes: Collection[float]) -> None:
        if not len(identifiers) == len(longitudes) == len(latitudes):
            raise ValueError(f"{len(identifiers)} identifiers, {len(longitudes)} longitudes and"
                             f" {len(latitudes)} latitudes: one of each per point")
        self._identifiers = list(identifiers)
        self._tree = shapely.STRtree(shapely.points(longitudes, latitudes))

    def __len__(self) -> int:
        return len(self._identifiers)

    def within(self, geometry: BaseGeometry,
               predicate: PointPredicate = "intersects") -> list[Identifier]:
        """Identifiers of the points ``geometry`` reaches.

        ``intersects`` counts a point on the boundary as inside (a device on
        the border of a warned district is warned); ``contains`` only the
        points strictly inside.
        """
        if geometry.is_empty:
            return []
        indices = self._tree.query(geometry, predicate=predicate)
        return [self._identifiers[index] for index in sorted(indices.tolist())]

    def inside(self, area: Area, districts: DistrictTable | None = None) -> list[Identifier]:
        """Identifiers of the points the area covers, its geocoded districts included."""
        return self.within(targeted_geometry(area, districts))
