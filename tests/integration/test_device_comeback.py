"""A board that was offline gets the alert it missed when it comes back, the whole way round.

The platform's web app on a real socket, a Celery worker in this process (a
SQLite database and broker) and the LED board simulator. Two Chaoyang
boards; one is offline (it answers nothing and sends no heartbeat) while
two alerts go out. The other shows both and acks; the offline one's
deliveries are given up (FAILED, as when a batch's retries run out). One
alert then expires, and the board comes back: its first heartbeat
puts the delivery of the alert still on air back in the queue, the worker
pushes it, the board shows it and acks. The expired alert is not replayed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from publisher import tasks
from publisher.cap.districts import load_districts
from publisher.celery_app import PublisherCelery, make_celery
from publisher.channels.base import DeliveryStatus
from publisher.config import Settings, load_settings
from publisher.services.device_import import import_device_list
from publisher.services.district_names import DistrictNames
from publisher.services.lifecycle import expire_due
from publisher.services.outbox import relay_outbox
from publisher.sim.device_fleet import place_devices
from publisher.sim.device_sim import DeviceFault, DeviceSimConfig, DeviceSimulatorThread
from publisher.sim.led import LED_CAPABILITIES, LedBoardSimulator
from publisher.store.db import make_engine, make_session_factory, upgrade_database
from publisher.store.models import Alert, Delivery, Device, Message, utcnow
from publisher.web.app import create_app
from tests.channels.device_support import CONFIG_DISTRICTS, districts, served
from tests.integration.fanout_support import publish
from tests.integration.sms_support import eventually

Factory = sessionmaker[Session]
WAIT_SECONDS = 90.0
PUSH_TIMEOUT = 1.0
HEARTBEAT_SECONDS = 0.5
COMEBACK, STAYING = place_devices("led", 2, districts("110105"),
                                  capabilities=dict(LED_CAPABILITIES), seed=5)


@dataclass
class Platform:
    sessions: Factory
    celery: PublisherCelery
    boards: DeviceSimulatorThread[LedBoardSimulator]


def _settings(tmp_path: Path, callback_url: str) -> Settings:
    settings = load_settings({"PUBLISHER_CHANNELS": "led",
                              "PUBLISHER_BROKER_URL": f"sqla+sqlite:///{tmp_path / 'broker.db'}"},
                             data_dir=tmp_path)
    options = {"callback_url": callback_url, "timeout": PUSH_TIMEOUT}
    return replace(settings, channel_options={**settings.channel_options, "led": options})


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[Platform]:
    # The web process only parses acks; the worker pushes, with the web app's address.
    web_settings = _settings(tmp_path, "http://127.0.0.1:1")
    upgrade_database(web_settings.database_url)
    engine = make_engine(web_settings.database_url)
    with served(create_app(web_settings)) as url:
        celery = make_celery(_settings(tmp_path, url))
        # A batch gives up at its first failure, as after its last retry: no retry is
        # pending when the board comes back, so only the replay can bring it the alert.
        celery.tasks[tasks.send_batch.name].max_retries = 0
        config = DeviceSimConfig(data_dir=tmp_path / "sim", ack_delay=0.05,
                                 heartbeat_interval=HEARTBEAT_SECONDS, platform_url=url)
        boards = LedBoardSimulator(config, [COMEBACK, STAYING]).start_in_thread()
        try:
            with start_worker(celery, pool="solo", perform_ping_check=False,
                              shutdown_timeout=10, queues=["fanout", "channel.led"]):
                yield Platform(make_session_factory(engine), celery, boards)  # type: ignore[arg-type]
        finally:
            boards.stop()
            celery.close()
    engine.dispose()


def _register(platform: Platform) -> None:
    entries = [{**device.entry(platform.boards.base_url), "is_test": True,
                "heartbeat_interval": 5} for device in (COMEBACK, STAYING)]
    names = DistrictNames(load_districts(CONFIG_DISTRICTS))
    with platform.sessions() as session:
        report = import_device_list(session, entries, names)
        assert report.ok and report.created == 2, report.errors
        # Silent for an hour: its next heartbeat is a comeback.
        session.execute(update(Device).where(Device.device_id == COMEBACK.device_id)
                        .values(last_seen_at=utcnow() - timedelta(hours=1)))
        session.commit()


def _publish(platform: Platform) -> list[Message]:
    with platform.sessions() as session:
        messages = [publish(session, sent=datetime.now(UTC) - timedelta(minutes=1))
                    for _ in range(2)]
        session.execute(update(Alert).values(expires_at=utcnow() + timedelta(hours=1)))
        assert relay_outbox(session, platform.celery.fanout_enqueuer(retry=False)) == 2
        session.commit()
    return messages


def _deliveries(platform: Platform, device_id: str) -> dict[int, Delivery]:
    """The deliveries to one board, by message id."""
    with platform.sessions() as session:
        rows = session.scalars(select(Delivery).join(Device, Device.target_id ==
                                                     Delivery.target_id)
                               .where(Device.device_id == device_id)).all()
        return {row.message_id: row for row in rows}


def _all(platform: Platform, device_id: str,
         check: Callable[[Delivery], object]) -> dict[int, Delivery] | None:
    rows = _deliveries(platform, device_id)
    return rows if len(rows) == 2 and all(check(row) for row in rows.values()) else None


def _delivered(platform: Platform, message_id: int) -> Delivery | None:
    row = _deliveries(platform, COMEBACK.device_id)[message_id]
    return row if row.status is DeliveryStatus.DELIVERED else None


def test_a_board_back_from_offline_shows_the_alert_still_on_air_and_not_the_expired_one(
        platform: Platform) -> None:
    platform.boards.set_fault(DeviceFault.OFFLINE, [COMEBACK.device_id])
    _register(platform)
    on_air, expiring = _publish(platform)

    eventually(lambda: _all(platform, STAYING.device_id,
                            lambda row: row.status is DeliveryStatus.DELIVERED),
               "the board that stayed online shows both alerts", WAIT_SECONDS)
    eventually(lambda: _all(platform, COMEBACK.device_id,
                            lambda row: row.status is DeliveryStatus.FAILED),
               "the offline board's deliveries given up", WAIT_SECONDS)
    with platform.sessions() as session:
        session.execute(update(Alert).where(Alert.id == expiring.alert_id)
                        .values(expires_at=utcnow() - timedelta(seconds=1)))
        assert expire_due(session, utcnow()) == [expiring.alert_id]
        session.commit()
    assert platform.boards.state(COMEBACK.device_id)["showing"] == []

    platform.boards.set_fault(DeviceFault.NONE, [COMEBACK.device_id])
    replayed = eventually(lambda: _delivered(platform, on_air.id),
                          "the board back online acks the alert still on air", WAIT_SECONDS)

    [shown] = platform.boards.state(COMEBACK.device_id)["showing"]
    assert (shown["identifier"], shown["delivery"], shown["colour"]) == \
        (on_air.identifier, str(replayed.id), "red")
    assert shown["pages"] and replayed.provider_id == str(replayed.id)
    rows = _deliveries(platform, COMEBACK.device_id)
    assert rows[expiring.id].status is DeliveryStatus.FAILED
    assert (rows[expiring.id].last_error or "").startswith("gave up: TransientChannelError")
    assert (COMEBACK.device_id, 200) in platform.boards.call(
        lambda: list(platform.boards.simulator.heartbeats))
    with platform.sessions() as session:
        # Still one delivery per message and board: the replay took the same row.
        assert session.scalar(select(func.count()).select_from(Delivery)) == 4
