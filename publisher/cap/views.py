"""JSON and GeoJSON views of an Alert, for APIs, maps and the public pages.

CAP writes coordinates "lat,lon"; GeoJSON (RFC 7946) writes positions
[lon, lat]. Everything that leaves this module as GeoJSON is in that order.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from publisher.cap.model import Alert, Area, Circle, Info, NamedValue, Point, Resource

__all__ = ["CIRCLE_VERTICES", "alert_to_json", "areas_to_geojson", "circle_ring"]

CIRCLE_VERTICES = 64
EARTH_RADIUS_KM = 6371.0088  # mean radius (IUGG)


def _present(fields: dict[str, Any]) -> dict[str, Any]:
    """Drop absent values: None and empty lists, as CAP omits empty optional elements."""
    return {name: value for name, value in fields.items() if value is not None and value != []}


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _named_values(pairs: tuple[NamedValue, ...]) -> list[dict[str, str]]:
    return [{"valueName": pair.value_name, "value": pair.value} for pair in pairs]


def _point(point: Point) -> dict[str, float]:
    return {"lat": point.lat, "lon": point.lon}


def _circle(circle: Circle) -> dict[str, Any]:
    return {"center": _point(circle.center), "radiusKm": circle.radius_km}


def _resource(resource: Resource) -> dict[str, Any]:
    return _present({
        "resourceDesc": resource.resource_desc,
        "mimeType": resource.mime_type,
        "size": resource.size,
        "uri": resource.uri,
        "derefUri": resource.deref_uri,
        "digest": resource.digest,
    })


def _area(area: Area) -> dict[str, Any]:
    return _present({
        "areaDesc": area.area_desc,
        "polygon": [[_point(point) for point in polygon.points] for polygon in area.polygons],
        "circle": [_circle(circle) for circle in area.circles],
        "geocode": _named_values(area.geocodes),
        "altitude": area.altitude,
        "ceiling": area.ceiling,
    })


def _info(info: Info) -> dict[str, Any]:
    return _present({
        "language": info.language,
        "category": [str(category) for category in info.categories],
        "event": info.event,
        "responseType": [str(response) for response in info.response_types],
        "urgency": str(info.urgency),
        "severity": str(info.severity),
        "certainty": str(info.certainty),
        "audience": info.audience,
        "eventCode": _named_values(info.event_codes),
        "effective": _time(info.effective),
        "onset": _time(info.onset),
        "expires": _time(info.expires),
        "senderName": info.sender_name,
        "headline": info.headline,
        "description": info.description,
        "instruction": info.instruction,
        "web": info.web,
        "contact": info.contact,
        "parameter": _named_values(info.parameters),
        "resource": [_resource(resource) for resource in info.resources],
        "area": [_area(area) for area in info.areas],
    })


def alert_to_json(alert: Alert) -> dict[str, Any]:
    """The alert as JSON-ready data, keyed by CAP element names; repeated
    elements are lists and absent optional elements are left out."""
    return _present({
        "identifier": alert.identifier,
        "sender": alert.sender,
        "sent": _time(alert.sent),
        "status": str(alert.status),
        "msgType": str(alert.msg_type),
        "source": alert.source,
        "scope": str(alert.scope),
        "restriction": alert.restriction,
        "addresses": alert.addresses,
        "code": list(alert.codes),
        "note": alert.note,
        "references": alert.references,
        "incidents": alert.incidents,
        "info": [_info(info) for info in alert.infos],
    })


def _position(point: Point) -> list[float]:
    return [point.lon, point.lat]


def circle_ring(circle: Circle, vertices: int = CIRCLE_VERTICES) -> list[list[float]]:
    """A closed GeoJSON ring of ``vertices`` points on the circle, by the
    spherical destination formula (good away from the poles)."""
    lat = math.radians(circle.center.lat)
    lon = math.radians(circle.center.lon)
    angular = circle.radius_km / EARTH_RADIUS_KM
    ring: list[list[float]] = []
    for step in range(vertices):
        bearing = 2 * math.pi * step / vertices
        vertex_lat = math.asin(math.sin(lat) * math.cos(angular)
                               + math.cos(lat) * math.sin(angular) * math.cos(bearing))
        vertex_lon = lon + math.atan2(math.sin(bearing) * math.sin(angular) * math.cos(lat),
                                      math.cos(angular) - math.sin(lat) * math.sin(vertex_lat))
        ring.append([math.degrees(vertex_lon), math.degrees(vertex_lat)])
    ring.append(ring[0])
    return ring


def _feature(info: Info, area: Area) -> dict[str, Any]:
    polygons = [[[_position(point) for point in polygon.points]] for polygon in area.polygons]
    polygons.extend([circle_ring(circle)] for circle in area.circles)
    properties = _present({
        "areaDesc": area.area_desc,
        "geocodes": _named_values(area.geocodes),
        "circles": [_circle(circle) for circle in area.circles],
        "language": info.language,
        "event": info.event,
        "severity": str(info.severity),
        "altitude": area.altitude,
        "ceiling": area.ceiling,
    })
    geometry = {"type": "MultiPolygon", "coordinates": polygons} if polygons else None
    return {"type": "Feature", "geometry": geometry, "properties": properties}


def areas_to_geojson(alert: Alert) -> dict[str, Any]:
    """A FeatureCollection with one Feature per area of every info.

    The geometry is a MultiPolygon of the area's polygons and of 64-vertex
    rings approximating its circles (the exact circles are in the
    ``circles`` property); an area described only by geocodes has a null
    geometry, as RFC 7946 allows.
    """
    return {
        "type": "FeatureCollection",
        "features": [_feature(info, area) for info in alert.infos for area in info.areas],
    }
