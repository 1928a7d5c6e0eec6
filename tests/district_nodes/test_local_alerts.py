"""District alerts: two people, inside the jurisdiction only, signed and reported to the center."""

from __future__ import annotations

from typing import Any

from publisher.cap.model import MsgType, ResponseType
from publisher.cap.reader import read_alert
from publisher.cap.references import parse_references
from publisher.cap.signing import load_certificates, verify_alert_xml
from publisher.sim.device_sim import DeviceSimulatorThread
from publisher.sim.led import LedBoardSimulator
from tests.district_nodes.node_support import (
    FakeCenter,
    NodeProcess,
    eventually,
    rainstorm,
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


def _published(node: NodeProcess, draft: dict[str, Any]) -> dict[str, Any]:
    composed = node.operator("POST", "/api/local/alerts", AUTHOR, draft)
    assert composed.status == 201, composed.body
    approved = node.operator("POST", f"/api/local/alerts/{composed.body['id']}/approve",
                             APPROVER)
    assert approved.status == 200, approved.body
    return dict(approved.body)


def test_the_district_updates_then_cancels_its_own_alert_and_the_boards_clear(
        node: NodeProcess, center: FakeCenter,
        boards: tuple[DeviceSimulatorThread[LedBoardSimulator], object]) -> None:
    node.add_user(*AUTHOR)
    node.add_user(*APPROVER)
    node.start()
    whole = {"areas": [{"area_desc": "朝阳区", "geocodes": ["110105"]}]}
    first = _published(node, _draft(INSIDE_CHAOYANG) | whole)
    update = _published(node, _draft(INSIDE_CHAOYANG) | whole | {
        "msg_type": "Update", "references": first["identifier"],
        "headline": "朝阳区大风蓝色预警更新"})
    eventually(lambda: all(shown == [update["identifier"]]
                           for shown in showing(boards[0]).values()),
               "the Update replacing the alert on the boards")

    stale = node.operator("POST", "/api/local/alerts", AUTHOR, {
        "msg_type": "Cancel", "references": first["identifier"], "note": "误报"})
    assert (stale.status, stale.body["field"]) == (409, "references")
    assert "superseded" in stale.body["reason"]
    cancel = _published(node, {"msg_type": "Cancel", "references": update["identifier"],
                               "note": "大风已减弱"})

    eventually(lambda: all(shown == [] for shown in showing(boards[0]).values()),
               "the Cancel clearing the district's boards")
    reported = eventually(lambda: center.alerts if len(center.alerts) == 3 else None,
                          "the alert, its Update and its Cancel at the center")
    cancel_cap = read_alert(reported[2]).alert
    assert cancel_cap is not None and cancel_cap.msg_type is MsgType.CANCEL
    assert cancel_cap.identifier == cancel["identifier"]
    assert [reference.identifier for reference in parse_references(
        cancel_cap.references or "")[0]] == [update["identifier"]]
    assert all(ResponseType.ALL_CLEAR in info.response_types for info in cancel_cap.infos)
    assert verify_alert_xml(reported[2], load_certificates([node.certificate])).valid
    states = {each["identifier"]: each["state"] for each in node.messages(AUTHOR)}
    assert states == {first["identifier"]: "superseded", update["identifier"]: "cancelled",
                      cancel["identifier"]: "relayed"}


def test_an_update_of_a_city_message_is_refused_naming_the_references(
        node: NodeProcess, center: FakeCenter) -> None:
    node.add_user(*AUTHOR)
    node.start()
    city = rainstorm(1)
    assert node.push(center.sign(city)).body["ack"] == "accepted"

    refused = node.operator("POST", "/api/local/alerts", AUTHOR, _draft(INSIDE_CHAOYANG) | {
        "msg_type": "Update", "references": city.identifier})
    assert (refused.status, refused.body["field"]) == (403, "references")
    assert "110105" in refused.body["reason"]
    unknown = node.operator("POST", "/api/local/alerts", AUTHOR, {
        "msg_type": "Cancel", "references": "110105-QXFZ-20260101000000-0001", "note": "x"})
    assert (unknown.status, unknown.body["field"]) == (404, "references")
    assert node.operator("GET", "/api/local/alerts", AUTHOR).body["alerts"] == []
