"""The LED channel against the board simulator on real sockets: what each board shows,
the acks that become receipts, updates, cancels, and what a failing board becomes."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.cap.model import Alert, MsgType, Reference, Status
from publisher.cap.references import format_references
from publisher.channels.base import (
    DeliveryStatus,
    OutgoingMessage,
    PermanentChannelError,
    TargetRef,
)
from publisher.channels.led import LedChannel
from publisher.channels.led_layout import LayoutError, text_width
from publisher.channels.registry import create_channel
from publisher.sample_alert import rainstorm_red_warning
from publisher.sim.device_fleet import SimulatedDevice, place_devices
from publisher.sim.device_sim import DeviceFault, DeviceSimConfig, DeviceSimulatorThread
from publisher.sim.led import LedBoardSimulator
from tests.channels.device_support import (
    PlatformRequest,
    PlatformStub,
    districts,
    platform,
)
from tests.integration.sms_support import eventually

__all__ = ["platform"]

BILINGUAL = {"rows": 2, "columns": 12, "languages": ["zh-CN", "en-US"]}
ENGLISH = {"rows": 3, "columns": 8, "languages": ["en-US"]}
SCROLLING = {"rows": 1, "columns": 16, "scrolls": True, "languages": ["zh-CN"]}
BOARDS = [
    *place_devices("led", 2, districts("110105"), capabilities=BILINGUAL, seed=1),
    replace(place_devices("led", 1, districts("110108"), capabilities=ENGLISH, seed=2)[0],
            language="en-US"),
    *place_devices("led", 1, districts("110101"), capabilities=SCROLLING, seed=3),
]


@pytest.fixture
def boards(tmp_path: Path) -> Iterator[DeviceSimulatorThread[LedBoardSimulator]]:
    config = DeviceSimConfig(data_dir=tmp_path / "sim", ack_delay=0.05, seed=1)
    running = LedBoardSimulator(config, BOARDS).start_in_thread()
    yield running  # type: ignore[misc]
    running.stop()


@pytest.fixture
def channel(platform: PlatformStub) -> Iterator[LedChannel]:
    led = create_channel("led", {"callback_url": platform.url, "timeout": 2,
                                 "concurrency": 3})
    assert isinstance(led, LedChannel)
    yield led
    led.close()


def warning(msg_type: MsgType = MsgType.ALERT, *, sequence: int = 1,
            references: tuple[Alert, ...] = (), **info: Any) -> OutgoingMessage:
    alert = rainstorm_red_warning(datetime.now(UTC) - timedelta(minutes=5), sequence,
                                  status=Status.EXERCISE)
    alert = replace(alert, msg_type=msg_type, references=format_references(
        Reference(earlier.sender, earlier.identifier, earlier.sent) for earlier in references)
        or None, infos=tuple(replace(block, **info) for block in alert.infos))
    return OutgoingMessage(sequence, alert, b"<alert/>", msg_type.value, "Exercise")


def targets(boards: DeviceSimulatorThread[LedBoardSimulator], first_delivery: int = 100,
            devices: list[SimulatedDevice] = BOARDS) -> list[TargetRef]:
    return [TargetRef(first_delivery + number, 500 + number,
                      boards.simulator.endpoint(device.device_id), device.language, True,
                      device.device_id, device.capabilities)
            for number, device in enumerate(devices)]


def acks_of(platform: PlatformStub, deliveries: list[str]) -> list[PlatformRequest] | None:
    """The acks of these deliveries once every one has come."""
    found = [ack for ack in platform.taken() if ack.body["delivery"] in deliveries]
    return found if len(found) == len(deliveries) else None


def on_board(boards: DeviceSimulatorThread[LedBoardSimulator],
             device: SimulatedDevice) -> list[Mapping[str, Any]]:
    return boards.state(device.device_id)["showing"]


def test_every_board_shows_the_alert_in_red_paged_to_its_size(
        boards: DeviceSimulatorThread[LedBoardSimulator], channel: LedChannel) -> None:
    message = warning()
    results = channel.send(message, targets(boards))
    assert [(result.delivery_id, result.provider_id, result.status) for result in results] == \
        [(100 + number, str(100 + number), DeliveryStatus.SENT) for number in range(4)]

    [chinese] = on_board(boards, BOARDS[0])
    assert chinese["identifier"] == message.identifier
    assert chinese["colour"] == "red"
    assert chinese["pages"][:2] == [["【演练】北京市气象台发布", "暴雨红色预警信号"],
                                    ["停止集会、停课、停业；远", "离低洼地带和地下空间。"]]
    assert chinese["pages"][3][0] == "EXERCISE - Beijing"  # then the English pages
    assert chinese["scroll"] is False
    assert datetime.fromisoformat(chinese["expires"]) == message.alert.infos[0].expires

    [english] = on_board(boards, BOARDS[2])
    assert english["pages"][0] == ["EXERCISE -", "Beijing", "Meteorological"]
    assert all(len(page) <= 3 and all(text_width(row) <= 16 for row in page)
               for page in english["pages"])
    assert not any("北京" in row for page in english["pages"] for row in page)

    [scrolling] = on_board(boards, BOARDS[3])
    assert scrolling["scroll"] is True
    assert scrolling["pages"][0][0].startswith("【演练】北京市气象台发布暴雨红色预警信号  停止集会")


def test_acks_come_back_and_read_as_delivered(
        boards: DeviceSimulatorThread[LedBoardSimulator], channel: LedChannel,
        platform: PlatformStub) -> None:
    results = channel.send(warning(), targets(boards))
    acks = eventually(lambda: acks_of(platform, [str(100 + number) for number in range(4)]),
                      "four acks")
    by_device = {device.device_id: device for device in BOARDS}
    receipts = []
    for ack in acks:
        assert ack.authorization == f"Bearer {by_device[ack.device_id].token}"
        receipts.append(channel.parse_receipt(ack.body))
    assert sorted(receipt.provider_id for receipt in receipts) == \
        sorted(str(result.provider_id) for result in results)
    assert {receipt.status for receipt in receipts} == {DeliveryStatus.DELIVERED}


def test_an_update_replaces_what_the_board_shows(
        boards: DeviceSimulatorThread[LedBoardSimulator], channel: LedChannel) -> None:
    first = warning()
    channel.send(first, targets(boards))
    update = warning(MsgType.UPDATE, sequence=2, references=(first.alert,),
                     instruction="停止户外作业。", severity=first.alert.infos[0].severity)
    results = channel.send(update, targets(boards, 200))
    assert {result.status for result in results} == {DeliveryStatus.SENT}
    [shown] = on_board(boards, BOARDS[0])
    assert shown["identifier"] == update.identifier
    assert shown["pages"][0][0].startswith("【演练】【更新】")
    assert shown["pages"][1] == ["停止户外作业。"]


def test_a_cancel_clears_every_board_that_showed_the_alert(
        boards: DeviceSimulatorThread[LedBoardSimulator], channel: LedChannel,
        platform: PlatformStub) -> None:
    first = warning()
    other = warning(sequence=7, headline="另一条预警")
    channel.send(first, targets(boards))
    channel.send(other, targets(boards, 300, BOARDS[:1]))
    cancel = warning(MsgType.CANCEL, sequence=3, references=(first.alert,))
    results = channel.cancel(cancel, targets(boards, 400))
    assert [(result.provider_id, result.status) for result in results] == \
        [(str(400 + number), DeliveryStatus.SENT) for number in range(4)]
    for device in BOARDS:
        assert first.identifier not in [shown["identifier"] for shown in on_board(boards, device)]
    assert [shown["identifier"] for shown in on_board(boards, BOARDS[0])] == [other.identifier]
    clears = [item.body for item in boards.received() if item.body["action"] == "clear"]
    assert {tuple(body["references"]) for body in clears} == {(first.identifier,)}
    acks = eventually(lambda: acks_of(platform, [str(400 + number) for number in range(4)]),
                      "the clears' acks")
    assert {channel.parse_receipt(ack.body).status for ack in acks} == \
        {DeliveryStatus.DELIVERED}
    assert {ack.body["state"] for ack in acks} == {"cleared"}


def test_a_cancel_that_names_nothing_is_refused(
        boards: DeviceSimulatorThread[LedBoardSimulator], channel: LedChannel) -> None:
    with pytest.raises(PermanentChannelError, match="references"):
        channel.cancel(warning(MsgType.CANCEL), targets(boards))
    assert boards.received() == []


def test_failing_boards_are_retried_later_and_refusing_ones_fail(
        boards: DeviceSimulatorThread[LedBoardSimulator], channel: LedChannel) -> None:
    boards.set_fault(DeviceFault.ERROR, [BOARDS[0].device_id])
    boards.set_fault(DeviceFault.DROP, [BOARDS[1].device_id])
    refs = targets(boards)
    # The platform thinks the English board has more rows than it has: it refuses the pages.
    refs[2] = replace(refs[2], capabilities={**ENGLISH, "rows": 4})
    results = {result.delivery_id: result for result in channel.send(warning(), refs)}
    assert results[100].status is DeliveryStatus.QUEUED
    assert "HTTP 500" in (results[100].error or "")
    assert results[101].status is DeliveryStatus.QUEUED
    assert results[102].status is DeliveryStatus.FAILED
    assert "HTTP 400: pages[0]: 4 rows; the board has 3" in (results[102].error or "")
    assert results[103].status is DeliveryStatus.SENT

    boards.set_fault(DeviceFault.NONE, [BOARDS[0].device_id, BOARDS[1].device_id])
    again = channel.send(warning(), refs[:2])
    assert {result.status for result in again} == {DeliveryStatus.SENT}


def test_an_offline_board_times_out_and_is_retried_later(
        boards: DeviceSimulatorThread[LedBoardSimulator], channel: LedChannel) -> None:
    boards.set_fault(DeviceFault.OFFLINE, [BOARDS[0].device_id])
    [result] = channel.send(warning(), targets(boards)[:1])
    assert result.status is DeliveryStatus.QUEUED
    assert "no answer" in (result.error or "")


def test_a_delivery_pushed_twice_is_shown_once(
        boards: DeviceSimulatorThread[LedBoardSimulator], channel: LedChannel) -> None:
    message = warning()
    refs = targets(boards)[:1]
    channel.send(message, refs)
    channel.send(message, refs)
    assert len(on_board(boards, BOARDS[0])) == 1
    assert len(boards.received()) == 2


def test_an_expired_alert_is_not_pushed(
        boards: DeviceSimulatorThread[LedBoardSimulator], channel: LedChannel) -> None:
    expired = warning(expires=datetime.now(UTC) - timedelta(seconds=1))
    results = channel.send(expired, targets(boards))
    assert {result.status for result in results} == {DeliveryStatus.EXPIRED}
    assert boards.received() == []


def test_a_target_that_is_no_board_fails_alone(
        boards: DeviceSimulatorThread[LedBoardSimulator], channel: LedChannel) -> None:
    refs = targets(boards)[:2]
    refs[0] = replace(refs[0], device_id=None)
    refs[1] = replace(refs[1], capabilities={"rows": 0})
    refs.append(targets(boards, 900)[2])
    results = {result.delivery_id: result for result in channel.send(warning(), refs)}
    assert results[100].status is DeliveryStatus.FAILED
    assert "no registered device" in (results[100].error or "")
    assert (results[101].status, results[101].error) == (
        DeliveryStatus.FAILED, "capabilities.rows: 0 is not a whole number above 0")
    assert results[902].status is DeliveryStatus.SENT


def test_render_lays_out_for_the_default_board(platform: PlatformStub) -> None:
    channel = LedChannel({"callback_url": platform.url, "rows": 1, "columns": 10})
    try:
        shown = channel.render(warning(), "zh-CN")
        assert all(len(page.rows) == 1 for page in shown.pages)
        assert shown.colour == "red"
        with pytest.raises(LayoutError):
            channel.render(warning(MsgType.CANCEL), "zh-CN")
    finally:
        channel.close()


@pytest.mark.parametrize(("options", "reason"), [
    ({}, "channel_options.led.callback_url: required"),
    ({"callback_url": "http://x", "rows": 0}, "channel_options.led.rows:"),
    ({"callback_url": "http://x", "scrolls": "no"}, "channel_options.led.scrolls:"),
])
def test_options_are_checked_when_the_channel_is_made(options: dict[str, Any],
                                                      reason: str) -> None:
    with pytest.raises(PermanentChannelError) as caught:
        create_channel("led", options)
    assert caught.value.reason.startswith(reason)
