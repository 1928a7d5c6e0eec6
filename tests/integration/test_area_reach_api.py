"""``POST /api/areas/reach``: the answer's shape, and refusals that name the field."""

from __future__ import annotations

from typing import Any

import pytest

from publisher.store.models import DeviceKind
from tests.integration.api_client import Api

pytestmark = pytest.mark.asyncio

RING = [{"lat": 39.90, "lon": 116.55}, {"lat": 39.90, "lon": 116.60},
        {"lat": 39.95, "lon": 116.60}, {"lat": 39.90, "lon": 116.55}]


@pytest.mark.parametrize("user", ["author", "approver"])
async def test_the_reach_names_the_districts_in_both_languages(api: Api, user: str) -> None:
    reply = await api.call("POST", "/api/areas/reach", user=user, json_body={
        "districts": ["110105", "110108"], "polygons": [RING],
        "circles": [{"center": {"lat": 40.32, "lon": 116.63}, "radiusKm": 2}]})

    assert reply.status == 200, reply.body
    assert reply.body == {
        "districts": [
            {"code": "110105", "name": {"zh-CN": "朝阳区", "en-US": "Chaoyang"}},
            {"code": "110108", "name": {"zh-CN": "海淀区", "en-US": "Haidian"}},
            {"code": "110116", "name": {"zh-CN": "怀柔区", "en-US": "Huairou"}},
        ],
        "devices": {kind.value: 0 for kind in DeviceKind}, "subscribers": 0, "nodes": []}


@pytest.mark.parametrize(("body", "field", "reason"), [
    ({"districts": ["110105", "110199"]}, "districts[1]", "unknown district code '110199'"),
    ({"districts": [110105]}, "districts[0]", "110105 is not a district code"),
    ({"districts": "110105"}, "districts", "must be a list"),
    ({}, "districts", "name a district, or draw a polygon or a circle"),
    ({"polygons": [RING[:3]]}, "polygons[0]", "has 3 points; a polygon needs at least 4"),
    ({"polygons": [[*RING[:3], RING[1]]]}, "polygons[0]", "ring is not closed"),
    ({"polygons": [[{"lat": "39.9", "lon": 116.5}]]}, "polygons[0][0].lat",
     "'39.9' is not a finite number"),
    ({"circles": [{"center": {"lat": 39.9, "lon": 116.4}}]}, "circles[0]",
     'must be {"center": {"lat", "lon"}, "radiusKm": number}'),
    ({"circles": [{"center": {"lat": 99, "lon": 116.4}, "radiusKm": 1}]}, "circles[0]",
     "centre latitude 99.0 is outside [-90, 90]"),
    ({"districts": ["110105"], "status": "Draft"}, "status",
     "'Draft' is not one of Actual, Exercise, Test"),
    ({"districts": ["110105"], "area": []}, "area", "unknown field"),
])
async def test_a_wrong_area_is_refused_naming_the_field(api: Api, body: dict[str, Any],
                                                        field: str, reason: str) -> None:
    reply = await api.call("POST", "/api/areas/reach", user="author", json_body=body)
    assert (reply.status, reply.body["error"], reply.body["field"]) == (400, "invalid", field)
    assert reply.body["reason"].startswith(reason)


@pytest.mark.parametrize(("user", "status", "field"), [
    ("viewer", 403, "role"),
    (None, 401, "Authorization"),
])
async def test_only_authors_and_approvers_measure_a_reach(api: Api, user: str | None,
                                                          status: int, field: str) -> None:
    reply = await api.call("POST", "/api/areas/reach", user=user,
                           json_body={"districts": ["110105"]})
    assert (reply.status, reply.body["field"]) == (status, field)


async def test_the_map_script_is_served_by_the_app(api: Api) -> None:
    reply = await api.call("GET", "/static/district_map.js")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/javascript")
    assert b'querySelectorAll("path[data-code]")' in reply.body
