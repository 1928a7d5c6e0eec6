"""District alerts: two people, inside the jurisdiction only, signed and reported to the center."""

from __future__ import annotations

from typing import Any

from publisher.cap.signing import load_certificates, verify_alert_xml
from publisher.sim.device_sim import DeviceSimulatorThread
from publisher.sim.led import LedBoardSimulator
from tests.district_nodes.node_support import (
    FakeCenter,
    NodeProcess,
    eventually,
    showing,
)

AUTHOR = ("zhao.lei", "correct horse battery")
APPROVER = ("sun.mei", "another long password")
INSIDE_CHAOYANG = [[39.95, 116.45], [40.00, 116.52], [39.93, 116.58], [39.95, 116.45]]
INTO_HAIDIAN = [[39.95, 116.45], [40.00, 116.52], [39.93, 116.20], [39.95, 116.45]]


def _draft(polygon: list[list[float]]) -> dict[str, Any]:
    return {"event": "大风", "headline": "朝阳区发布大风蓝色预警", "severity": "Moderate",
            "urgency": "Expected", "certainty": "Likely", "status": "Exercise",
            "description": "预计今天下午朝阳区有6级以上大风。",
            "areas": [{"area_desc": "朝阳区东部", "polygons": [polygon]}]}


def test_area_outside_the_jurisdiction_is_refused_naming_the_field(node: NodeProcess) -> None:
    node.add_user(*AUTHOR)
    node.start()

    refused = node.operator("POST", "/api/local/alerts", AUTHOR, _draft(INTO_HAIDIAN))

    assert refused.status == 400
    assert refused.body["field"] == "areas[0].polygons[0]"
    assert "110105" in refused.body["reason"]
    geocoded = _draft(INSIDE_CHAOYANG) | {
        "areas": [{"area_desc": "海淀区", "geocodes": ["110108"]}]}
    refused = node.operator("POST", "/api/local/alerts", AUTHOR, geocoded)
    assert refused.status == 400 and refused.body["field"] == "areas[0].geocodes[0]"
    assert node.operator("GET", "/api/local/alerts", AUTHOR).body["alerts"] == []


def test_second_user_approves_and_the_signed_alert_reaches_the_center(
        node: NodeProcess, center: FakeCenter,
        boards: tuple[DeviceSimulatorThread[LedBoardSimulator], object]) -> None:
    node.add_user(*AUTHOR)
    node.add_user(*APPROVER)
    node.start()
    whole_district = _draft(INSIDE_CHAOYANG) | {
        "areas": [{"area_desc": "朝阳区", "geocodes": ["110105"]}]}
    composed = node.operator("POST", "/api/local/alerts", AUTHOR, whole_district)
    assert composed.status == 201
    path = f"/api/local/alerts/{composed.body['id']}/approve"

    own = node.operator("POST", path, AUTHOR)
    assert own.status == 403 and own.body["field"] == "approver"
    assert center.alerts == []

    approved = node.operator("POST", path, APPROVER)
    assert approved.status == 200 and approved.body["state"] == "published"
    identifier = approved.body["identifier"]
    assert identifier.startswith("110105-")
    [reported] = eventually(lambda: center.alerts, "the district alert at the center")
    verdict = verify_alert_xml(reported, load_certificates([node.certificate]))
    assert verdict.valid, verdict.reason
    assert identifier.encode() in reported
    eventually(lambda: all(identifier in shown for shown in showing(boards[0]).values()),
               "the district alert on the district's boards")
    assert node.operator("POST", path, APPROVER).status == 409
