"""JSON and GeoJSON views: names, types and the [lon, lat] order of GeoJSON."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime

from publisher.cap import model
from publisher.cap.views import CIRCLE_VERTICES, alert_to_json, areas_to_geojson

# Shenzhen civic centre: latitude 22.54 N, longitude 114.06 E.
CENTRE = model.Point(lat=22.54, lon=114.06)
CORNERS = ((22.5, 114.0), (22.6, 114.0), (22.6, 114.2), (22.5, 114.0))
SQUARE = model.Polygon(tuple(model.Point(lat, lon) for lat, lon in CORNERS))


def info(language: str, *areas: model.Area) -> model.Info:
    return model.Info(
        language=language,
        categories=(model.Category.MET,),
        event="Rainstorm",
        urgency=model.Urgency.IMMEDIATE,
        severity=model.Severity.SEVERE,
        certainty=model.Certainty.OBSERVED,
        expires=datetime(2024, 5, 1, 12, 0, tzinfo=UTC),
        areas=areas,
    )


def alert(*infos: model.Info) -> model.Alert:
    return model.Alert(
        identifier="A-1",
        sender="warning@city.example",
        sent=datetime(2024, 5, 1, 8, 0, tzinfo=UTC),
        status=model.Status.ACTUAL,
        msg_type=model.MsgType.ALERT,
        scope=model.Scope.PUBLIC,
        infos=infos,
    )


def test_alert_to_json_uses_cap_names_strings_and_lists() -> None:
    area = model.Area("Futian", polygons=(SQUARE,),
                      geocodes=(model.NamedValue("GB2260", "440304"),), altitude=10.0)
    data = alert_to_json(alert(info("en-US", area)))
    json.dumps(data)
    assert data["msgType"] == "Alert"
    assert data["sent"] == "2024-05-01T08:00:00+00:00"
    assert "source" not in data
    first = data["info"][0]
    assert first["category"] == ["Met"]
    assert first["certainty"] == "Observed"
    assert first["expires"] == "2024-05-01T12:00:00+00:00"
    assert first["area"][0]["geocode"] == [{"valueName": "GB2260", "value": "440304"}]
    assert first["area"][0]["polygon"][0][0] == {"lat": 22.5, "lon": 114.0}
    assert first["area"][0]["altitude"] == 10.0


def test_geojson_positions_are_lon_then_lat() -> None:
    collection = areas_to_geojson(alert(info("en-US", model.Area("Futian", polygons=(SQUARE,)))))
    geometry = collection["features"][0]["geometry"]
    assert geometry["type"] == "MultiPolygon"
    assert geometry["coordinates"][0][0][0] == [114.0, 22.5]
    assert geometry["coordinates"][0][0][2] == [114.2, 22.6]


def distance_km(lon: float, lat: float, centre: model.Point) -> float:
    phi1, phi2 = math.radians(centre.lat), math.radians(lat)
    delta_phi = phi2 - phi1
    delta_lambda = math.radians(lon - centre.lon)
    a = math.sin(delta_phi / 2) ** 2 + \
        math.cos(phi1) * math.cos(phi2) * math.sin(delta_lambda / 2) ** 2
    return 2 * 6371.0088 * math.asin(math.sqrt(a))


def test_circle_becomes_a_closed_ring_around_its_centre_and_a_property() -> None:
    area = model.Area("Civic centre", circles=(model.Circle(CENTRE, 5.0),))
    feature = areas_to_geojson(alert(info("en-US", area)))["features"][0]
    ring = feature["geometry"]["coordinates"][0][0]
    assert len(ring) == CIRCLE_VERTICES + 1
    assert ring[0] == ring[-1]
    for lon, lat in ring:
        assert math.isclose(distance_km(lon, lat, CENTRE), 5.0, rel_tol=1e-6)
    # the vertex due north is at the centre's longitude: [lon, lat], not [lat, lon]
    assert math.isclose(ring[0][0], 114.06)
    assert ring[0][1] > 22.54
    assert feature["properties"]["circles"] == [
        {"center": {"lat": 22.54, "lon": 114.06}, "radiusKm": 5.0}
    ]


def test_one_feature_per_area_of_every_info_with_its_properties() -> None:
    geocoded = model.Area("Nanshan", geocodes=(model.NamedValue("GB2260", "440305"),),
                          ceiling=500.0)
    collection = areas_to_geojson(alert(
        info("zh-CN", model.Area("Futian", polygons=(SQUARE,)), geocoded),
        info("en-US", geocoded),
    ))
    assert collection["type"] == "FeatureCollection"
    features = collection["features"]
    assert [feature["properties"]["language"] for feature in features] == [
        "zh-CN", "zh-CN", "en-US"
    ]
    only_geocodes = features[1]
    assert only_geocodes["geometry"] is None
    assert only_geocodes["properties"] == {
        "areaDesc": "Nanshan",
        "geocodes": [{"valueName": "GB2260", "value": "440305"}],
        "language": "zh-CN",
        "event": "Rainstorm",
        "severity": "Severe",
        "ceiling": 500.0,
    }
    json.dumps(collection)
