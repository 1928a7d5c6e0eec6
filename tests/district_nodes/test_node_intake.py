"""Intake at a district node: the district's agencies, the center's rules, the district's flow."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from district_nodes.config import NodeConfigError, load_node_config
from publisher.cap.model import Alert, MsgType, Status
from publisher.cap.reader import read_alert
from publisher.cap.signing import load_certificates, verify_alert_xml
from publisher.sim.agency_sender import agency_identity, agency_warning
from publisher.sim.device_sim import DeviceSimulatorThread
from publisher.sim.led import LedBoardSimulator
from tests.district_nodes.node_support import (
    Answer,
    FakeCenter,
    NodeProcess,
    eventually,
    http,
    showing,
)

OPERATOR = ("zhao.lei", "correct horse battery")
WATER = "flood@water.chaoyang.gov.cn"
POLICE = "alerts@police.chaoyang.gov.cn"
RAINSTORM = ("hazard", "rainstorm")


def _agency_entry(code: str, sender: str, *, channels: list[str], direct: bool,
                  districts: str = '"110105"') -> str:
    return f"""
[[agencies]]
code = "{code}"
name = "{code} of Chaoyang"
sender = "{sender}"
certificate = "agencies/{code}/cert.pem"
credential_file = "{code}.credential"
direct_publish = {str(direct).lower()}

[agencies.permissions]
event_codes = ["hazard=rainstorm"]
districts = [{districts}]
statuses = ["Exercise"]
channels = {channels!r}
""".replace("'", '"')


class Agencies:
    """The water authority (its alerts approved by a district user, on the boards) and the
    police (published at once, on the speakers only), as the node is configured with them."""

    def __init__(self, directory: Path) -> None:
        self.water = agency_identity(directory, "water", "water")
        self.police = agency_identity(directory, "police", "police")
        for code in ("water", "police"):
            (directory / f"{code}.credential").write_text(f"{code}-credential-0123456789")

    @staticmethod
    def config() -> str:
        return (_agency_entry("water", WATER, channels=["led"], direct=False)
                + _agency_entry("police", POLICE, channels=["speaker"], direct=True))


@pytest.fixture
def agency_node(tmp_path: Path, center: FakeCenter,
                boards: tuple[DeviceSimulatorThread[LedBoardSimulator], Path]
                ) -> Iterator[tuple[NodeProcess, Agencies]]:
    directory = tmp_path / "agency-node"
    directory.mkdir()
    agencies = Agencies(directory)
    process = NodeProcess(directory, center, boards[1], extra_config=Agencies.config())
    try:
        yield process, agencies
    finally:
        process.stop()


def _warning(sender: str, sequence: int, **changes: Any) -> Alert:
    warning = agency_warning(sender, datetime.now(UTC).replace(microsecond=0),
                             event_code=RAINSTORM, channels=changes.pop("channels", ("led",)),
                             sequence=sequence)
    return replace(warning, **changes)


def _submit(node: NodeProcess, code: str, xml: bytes, credential: str | None = None) -> Answer:
    return http("POST", f"{node.url}/api/intake", data=xml, headers={
        "Authorization": f"Bearer {credential or f'{code}-credential-0123456789'}",
        "Content-Type": "application/cap+xml"})


def _reported(center: FakeCenter, identifier: str) -> bytes:
    return eventually(lambda: next((xml for xml in center.alerts
                                    if identifier.encode() in xml), None),
                      f"{identifier} reported to the center")


def test_an_agency_alert_approved_by_a_district_user_is_resigned_relayed_and_reported(
        agency_node: tuple[NodeProcess, Agencies], center: FakeCenter,
        boards: tuple[DeviceSimulatorThread[LedBoardSimulator], Path]) -> None:
    node, agencies = agency_node
    node.add_user(*OPERATOR)
    node.start()
    original = _warning(WATER, 11)
    xml = agencies.water.sign(original)

    taken = _submit(node, "water", xml)

    assert taken.status == 201, taken.body
    assert (taken.body["agency"], taken.body["identifier"]) == ("water", original.identifier)
    draft = taken.body["local_alert"]
    assert (draft["author"], draft["state"]) == ("agency:water", "pending")
    assert center.alerts == []
    again = _submit(node, "water", xml)
    assert again.status == 409 and again.body["rule"] == "duplicate"

    approved = node.operator("POST", f"/api/local/alerts/{draft['id']}/approve", OPERATOR)

    assert approved.status == 200, approved.body
    identifier = approved.body["identifier"]
    assert identifier.startswith("110105-") and identifier != original.identifier
    reported = _reported(center, identifier)
    assert verify_alert_xml(reported, load_certificates([node.certificate])).valid
    district_alert = read_alert(reported).alert
    assert district_alert is not None
    assert district_alert.sender == "district-110105@alerts.beijing.gov.cn"
    assert district_alert.infos == original.infos
    assert original.identifier in (district_alert.note or "")
    eventually(lambda: all(identifier in shown for shown in showing(boards[0]).values()),
               "the agency's alert on the district's boards")


def test_a_direct_publish_agency_is_published_at_once_on_its_channels_only(
        agency_node: tuple[NodeProcess, Agencies], center: FakeCenter) -> None:
    node, agencies = agency_node
    node.add_user(*OPERATOR)
    node.start()

    taken = _submit(node, "police", agencies.police.sign(_warning(POLICE, 12,
                                                                  channels=("speaker",))))

    assert taken.status == 201, taken.body
    draft = taken.body["local_alert"]
    assert (draft["state"], draft["approver"]) == ("published", "policy:police")
    _reported(center, draft["identifier"])
    [held] = [message for message in node.messages(OPERATOR)
              if message["identifier"] == draft["identifier"]]
    # The district has boards and no speaker: an agency permitted only the speakers
    # reaches none of them.
    assert held["counts"] == {}


def _refusal(node: NodeProcess, agencies: Agencies, case: str) -> Answer:
    water = agencies.water
    cases = {
        # The water authority's warning, signed with the police's key.
        "signature": lambda: _submit(node, "water", agencies.police.sign(_warning(WATER, 21))),
        "sender": lambda: _submit(node, "water", water.sign(_warning(POLICE, 22))),
        "msg_type": lambda: _submit(node, "water", water.sign(
            _warning(WATER, 23, msg_type=MsgType.UPDATE,
                     references=f"{WATER},earlier,2026-07-01T08:00:00+08:00"))),
        "statuses": lambda: _submit(node, "water", water.sign(
            _warning(WATER, 24, status=Status.ACTUAL))),
        "event_codes": lambda: _submit(node, "water", water.sign(
            agency_warning(WATER, datetime.now(UTC), event_code=("hazard", "heat"),
                           channels=("led",), sequence=25))),
        "channels": lambda: _submit(node, "water", water.sign(
            _warning(WATER, 26, channels=("led", "sms")))),
        "cap": lambda: _submit(node, "water", b"<alert>not CAP</alert>"),
    }
    return cases[case]()


@pytest.mark.parametrize(("rule", "status", "field"), [
    ("signature", 403, "signature"), ("sender", 403, "sender"), ("msg_type", 400, "msgType"),
    ("statuses", 403, "status"), ("event_codes", 403, "info[0].eventCode"),
    ("channels", 403, "info[0].parameter"), ("cap", 400, "alert"),
])
def test_refusals_name_the_rule_and_leave_nothing_behind(
        agency_node: tuple[NodeProcess, Agencies], center: FakeCenter, rule: str,
        status: int, field: str) -> None:
    node, agencies = agency_node
    node.add_user(*OPERATOR)
    node.start()

    refused = _refusal(node, agencies, rule)

    assert refused.status == status, refused.body
    assert (refused.body["rule"], refused.body["field"]) == (rule, field)
    assert refused.body["reason"]
    assert node.operator("GET", "/api/local/alerts", OPERATOR).body["alerts"] == []


def test_only_a_registered_agency_may_submit(agency_node: tuple[NodeProcess, Agencies]) -> None:
    node, agencies = agency_node
    node.start()
    xml = agencies.water.sign(_warning(WATER, 31))

    for credential in ("no-such-agency", node.center.token):
        refused = _submit(node, "water", xml, credential=credential)
        assert refused.status == 401 and refused.body["field"] == "Authorization"
    wrong_type = http("POST", f"{node.url}/api/intake", data=xml, headers={
        "Authorization": "Bearer water-credential-0123456789",
        "Content-Type": "application/json"})
    assert wrong_type.status == 415 and wrong_type.body["field"] == "Content-Type"


def test_an_agency_of_another_district_is_not_taken(tmp_path: Path, center: FakeCenter,
                                                    boards: tuple[object, Path]) -> None:
    Agencies(tmp_path)
    node = NodeProcess(tmp_path, center, boards[1], extra_config=_agency_entry(
        "water", WATER, channels=["led"], direct=False, districts='"110105", "110108"'))
    with pytest.raises(NodeConfigError, match=r"agencies\[0\]\.permissions\.districts: 110108"):
        load_node_config(node.config)
