"""The node's local SMS group, through the platform's SMS channel and the real SMPP simulator."""

from __future__ import annotations

import json
from pathlib import Path

from publisher.sim.device_sim import DeviceSimulatorThread
from publisher.sim.led import LedBoardSimulator
from tests.district_nodes.node_support import (
    FakeCenter,
    NodeProcess,
    cancel_of,
    eventually,
    rainstorm,
)
from tests.integration.sms_support import PASSWORD, StartSmsc, single_route, smsc_factory

__all__ = ["smsc_factory"]

GROUP = {"+8613800110105": "zh-CN", "+8613900110105": "en"}


def _sms_node(tmp_path: Path, center: FakeCenter, devices_file: Path, port: int) -> NodeProcess:
    directory = tmp_path / "sms-node"
    directory.mkdir()
    (directory / "group.json").write_text(json.dumps(
        [{"msisdn": msisdn, "language": language} for msisdn, language in GROUP.items()]))
    (directory / "smsc_password").write_text(PASSWORD)
    options = {key: value for key, value in single_route(port).items() if key != "password"}
    table = "\n".join(f"{key} = {json.dumps(value)}" for key, value in options.items())
    return NodeProcess(directory, center, devices_file, extra_config=f"""
[channels.sms]
{table}
password_file = "smsc_password"
group_file = "group.json"
""")


def test_the_group_gets_the_alert_and_the_all_clear_and_the_counts_go_up(
        tmp_path: Path, center: FakeCenter, smsc_factory: StartSmsc,
        boards: tuple[DeviceSimulatorThread[LedBoardSimulator], Path]) -> None:
    smsc = smsc_factory()
    node = _sms_node(tmp_path, center, boards[1], smsc.port)
    try:
        node.start()
        alert = rainstorm(1)
        assert node.push(center.sign(alert)).body["ack"] == "accepted"

        receipt = eventually(
            lambda: (found := center.last_receipt(alert.identifier))
            and found["counts"].get("sms", {}).get("delivered") == len(GROUP) and found,
            "both members' delivery reports counted in the receipt")
        assert receipt["counts"]["sms"] == {"delivered": 2, "failed": 0, "pending": 0}
        log = smsc.part_log()
        sent = {message.destination_addr: message.text for message in
                log.reassembled_messages()}
        assert set(sent) == {msisdn.lstrip("+") for msisdn in GROUP} or set(sent) == set(GROUP)
        assert all(text and "暴雨" in text for address, text in sent.items()
                   if address.endswith("8613800110105"))

        cancel = cancel_of(alert, 1)
        assert node.push(center.sign(cancel)).body["ack"] == "accepted"
        eventually(lambda: len(log.reassembled_messages()) == 2 * len(GROUP),
                   "the all-clear SMS to both members")
        eventually(lambda: (found := center.last_receipt(cancel.identifier))
                   and found["counts"].get("sms", {}).get("delivered") == len(GROUP),
                   "the Cancel's SMS counted as delivered")
    finally:
        node.stop()
