"""An earthquake early warning as each district gets it, and boards (the simulator) showing it
alone; speakers are in test_eew_speaker."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.cap.eew import Quake, countdown_parameters, countdowns_of
from publisher.cap.model import Alert
from publisher.channels.base import DeliveryStatus, OutgoingMessage
from publisher.channels.eew_text import for_district
from publisher.channels.led import LedChannel
from publisher.sim.device_sim import DeviceSimConfig, DeviceSimulatorThread
from publisher.sim.eew_sender import build_eew_alert
from publisher.sim.led import LedBoardSimulator
from tests.channels.device_support import PlatformStub, platform
from tests.channels.test_led_channel import BOARDS
from tests.channels.test_led_channel import channel as led_channel
from tests.channels.test_led_channel import targets as board_targets
from tests.channels.test_led_channel import warning as board_warning
from tests.channels.test_speaker_channel import outgoing

__all__ = ["led_channel", "platform"]

QUAKE = Quake(40.3, 116.2, 6.1)
CHAOYANG = "110105"
# Chaoyang's centroid, as the center computes it from config/districts.toml.
CENTROIDS = {CHAOYANG: (39.93, 116.50), "110108": (40.02, 116.25)}


def early_warning(sequence: int = 7) -> Alert:
    """The center's message: the sender's content with every district's countdown."""
    alert = build_eew_alert(QUAKE, districts=(CHAOYANG, "110108"),
                            sent=datetime.now(UTC))
    alert = replace(alert, identifier=alert.identifier[:-4] + f"{sequence:04d}")
    return replace(alert, infos=tuple(
        replace(info, parameters=info.parameters + countdown_parameters(QUAKE, CENTROIDS))
        for info in alert.infos))


def in_chaoyang(alert: Alert, message_id: int) -> OutgoingMessage:
    return outgoing(for_district(alert, CHAOYANG), message_id)


def test_each_district_gets_its_own_countdown() -> None:
    alert = early_warning()
    seconds = countdowns_of(alert.infos[0].parameters)
    local = for_district(alert, CHAOYANG)
    assert local.infos[0].headline == f"破坏性地震预警：6.1级地震，约{seconds[CHAOYANG]}秒后到达"
    assert local.infos[1].headline == ("Earthquake early warning: magnitude 6.1, shaking in"
                                       f" about {seconds[CHAOYANG]} s")
    assert countdowns_of(local.infos[0].parameters) == {CHAOYANG: seconds[CHAOYANG]}
    assert seconds["110108"] < seconds[CHAOYANG]


@pytest.fixture
def boards(tmp_path: Path) -> Iterator[DeviceSimulatorThread[LedBoardSimulator]]:
    config = DeviceSimConfig(data_dir=tmp_path / "sim", ack_delay=0.0, seed=1)
    running = LedBoardSimulator(config, BOARDS[:2]).start_in_thread()
    yield running  # type: ignore[misc]
    running.stop()


def test_boards_show_the_warning_alone_until_it_leaves(
        led_channel: LedChannel, boards: DeviceSimulatorThread[LedBoardSimulator],
        platform: PlatformStub) -> None:
    rainstorm = board_warning()
    batch = board_targets(boards, devices=BOARDS[:2])
    assert {result.status for result in led_channel.send(rainstorm, batch)} == \
        {DeliveryStatus.SENT}
    quake = in_chaoyang(early_warning(), 2)
    led_channel.send(quake, board_targets(boards, 200, BOARDS[:2]))
    [push] = [received.body for received in boards.received()
              if received.body["identifier"] == quake.identifier][:1]
    assert push["priority"] == "interrupt"
    for board in BOARDS[:2]:
        state = boards.state(board.device_id)
        assert [shown["identifier"] for shown in state["showing"]] == [quake.identifier]
        assert "秒后到达" in "".join(row for page in state["showing"][0]["pages"]
                                  for row in page)
        assert [held["identifier"] for held in state["held"]] == [rainstorm.identifier]

