"""LED boards through the delivery service: registered boards get the alert laid out for
their own capabilities, and their acks move the delivery rows to delivered."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.districts import load_districts
from publisher.channels.base import DeliveryStatus
from publisher.channels.led import LedChannel
from publisher.services.delivery import record_receipt
from publisher.sim.device_fleet import SimulatedDevice, place_devices
from publisher.sim.device_sim import DeviceSimConfig, DeviceSimulatorThread
from publisher.sim.led import LedBoardSimulator
from publisher.store.models import Delivery, Device, DeviceKind, Target
from tests.channels.device_support import (
    CONFIG_DISTRICTS,
    PlatformStub,
    districts,
    platform,
)
from tests.integration.fanout_support import deliver_in_process, publish, session_factory
from tests.integration.sms_support import eventually
from tests.services import postgres_url

__all__ = ["platform", "postgres_url", "session_factory"]

Factory = sessionmaker[Session]
ENGLISH_NARROW = {"rows": 3, "columns": 8, "languages": ["en-US"]}
_BILINGUAL, _NARROW = place_devices(
    "led", 2, districts("110105"),
    capabilities={"rows": 2, "columns": 12, "languages": ["zh-CN", "en-US"]}, seed=1)
CHAOYANG_BOARDS = [_BILINGUAL, replace(_NARROW, capabilities=ENGLISH_NARROW, language="en-US")]
HAIDIAN_BOARD = place_devices("led", 1, districts("110108"), seed=3)[0]
BOARDS = [*CHAOYANG_BOARDS, HAIDIAN_BOARD]


@pytest.fixture
def boards(tmp_path: Path) -> Iterator[DeviceSimulatorThread[LedBoardSimulator]]:
    config = DeviceSimConfig(data_dir=tmp_path / "sim", ack_delay=0.05)
    running = LedBoardSimulator(config, BOARDS).start_in_thread()
    yield running  # type: ignore[misc]
    running.stop()


@pytest.fixture
def channel(platform: PlatformStub) -> Iterator[LedChannel]:
    led = LedChannel({"callback_url": platform.url, "timeout": 5})
    yield led
    led.close()


def register(session: Session, endpoint: str, device: SimulatedDevice) -> None:
    target = Target(channel="led", address=endpoint, district_code=device.district_code,
                    lon=device.lon, lat=device.lat, language=device.language, is_test=True)
    session.add(target)
    session.flush()
    session.add(Device(device_id=device.device_id, kind=DeviceKind.LED, target_id=target.id,
                       capabilities=dict(device.capabilities)))


def deliveries(factory: Factory, message_id: int) -> dict[str, Delivery]:
    with factory() as session:
        rows = session.execute(
            select(Delivery, Device.device_id).join(Target, Target.id == Delivery.target_id)
            .outerjoin(Device, Device.target_id == Target.id)
            .where(Delivery.message_id == message_id)).all()
        return {device_id or "": delivery for delivery, device_id in rows}


def test_chaoyang_boards_show_it_for_their_size_and_their_acks_deliver_it(
        session_factory: Factory, boards: DeviceSimulatorThread[LedBoardSimulator],
        channel: LedChannel, platform: PlatformStub) -> None:
    with session_factory() as session:
        for device in BOARDS:
            register(session, boards.simulator.endpoint(device.device_id), device)
        session.commit()
        message = publish(session, sent=datetime.now(UTC) - timedelta(minutes=1))
    deliver_in_process(session_factory, message.id, channel,
                       districts=load_districts(CONFIG_DISTRICTS))

    rows = deliveries(session_factory, message.id)
    assert sorted(rows) == sorted(device.device_id for device in CHAOYANG_BOARDS)
    assert {(row.status, row.provider_id) for row in rows.values()} == \
        {(DeliveryStatus.SENT, str(row.id)) for row in rows.values()}
    assert boards.state(HAIDIAN_BOARD.device_id)["showing"] == []
    [narrow] = boards.state(CHAOYANG_BOARDS[1].device_id)["showing"]
    assert narrow["colour"] == "red"
    assert narrow["pages"][0] == ["EXERCISE -", "Beijing", "Meteorological"]
    [wide] = boards.state(CHAOYANG_BOARDS[0].device_id)["showing"]
    assert wide["pages"][0] == ["【演练】北京市气象台发布", "暴雨红色预警信号"]

    acks = eventually(lambda: platform.taken() if len(platform.taken()) == 2 else None,
                      "two acks")
    with session_factory() as session:
        for ack in acks:
            record_receipt(session, channel, ack.body)
        session.commit()
    assert {row.status for row in deliveries(session_factory, message.id).values()} == \
        {DeliveryStatus.DELIVERED}


def test_a_led_target_without_a_registered_board_fails_with_the_reason(
        session_factory: Factory, channel: LedChannel) -> None:
    with session_factory() as session:
        session.add(Target(channel="led", address="http://127.0.0.1:9/devices/stray",
                           district_code="110105", language="zh-CN", is_test=True))
        session.commit()
        message = publish(session, sent=datetime.now(UTC) - timedelta(minutes=1))
    deliver_in_process(session_factory, message.id, channel)
    [row] = deliveries(session_factory, message.id).values()
    assert row.status is DeliveryStatus.FAILED
    assert "no registered device" in (row.last_error or "")
