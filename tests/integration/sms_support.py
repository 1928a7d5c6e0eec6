"""The SMS channel's test bench: SMSC simulators, channels on them, subscribers, receipts.

Every test of the SMS channel runs it against real simulators on real
sockets and records what comes back through the receipt service.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, TypeVar

import pytest
from sqlalchemy import insert, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.registry import create_channel
from publisher.channels.smpp_bind import BindState
from publisher.channels.sms import SmsChannel
from publisher.services.sms_inbound import drain_receipts
from publisher.sim.smsc import SimulatorThread, SmscConfig, SmscSimulator
from publisher.sim.smsc_state import LoggedPart
from publisher.store.models import Delivery, DeliveryPart, Target

__all__ = ["StartSmsc", "smsc_factory"]

SYSTEM_ID = "publisher"
PASSWORD = "secret"  # the simulator's demo account
SOURCE_ADDR = "12379"
# Long enough for three UCS-2 parts with the rest of the rendered alert.
LONG_INSTRUCTION = ("请立即停止户外活动，远离河道、山洪沟和低洼地带，"
                    "地下空间人员尽快撤离到安全地点，驾车请绕行积水路段，不要涉水通行。"
                    "学校和幼儿园暂停户外课程，建筑工地停止露天作业，"
                    "注意防范城市内涝和山区地质灾害。")
DEADLINE = 30.0

T = TypeVar("T")
StartSmsc = Callable[..., SimulatorThread]


@pytest.fixture
def smsc_factory(tmp_path: Path) -> Iterator[StartSmsc]:
    """Starts simulators (``name`` keeps their data apart), all stopped at the end."""
    handles: list[SimulatorThread] = []

    def started(name: str = "smsc", **changes: Any) -> SimulatorThread:
        config = SmscConfig(data_dir=tmp_path / name, system_id=SYSTEM_ID, password=PASSWORD,
                            dlr_delay=0.05, receipt_response_timeout=1.0,
                            receipt_retry_interval=0.1)
        handle = SmscSimulator(replace(config, **changes)).start_in_thread()
        handles.append(handle)
        return handle

    yield started
    for handle in handles:
        handle.stop()


def route(name: str, priority: int, port: int, **options: Any) -> dict[str, Any]:
    """A table of ``channel_options.sms.routes`` for a simulator on ``port``."""
    return {"name": name, "priority": priority, "host": "127.0.0.1", "port": port,
            "system_id": SYSTEM_ID, "password": PASSWORD, "source_addr": SOURCE_ADDR,
            "message_id_base": 16, **options}


def sms_channel(options: Mapping[str, Any]) -> SmsChannel:
    created = create_channel("sms", options)
    assert isinstance(created, SmsChannel)
    return created


def single_route(port: int, **options: Any) -> dict[str, Any]:
    """The flat options of one SMSC: the route "primary"."""
    return {key: value for key, value in route("primary", 0, port, **options).items()
            if key not in ("name", "priority")}


def add_subscribers(session: Session, subscribers: Mapping[str, tuple[str, str]]) -> None:
    """SMS targets by E.164 number: (district code, language)."""
    session.execute(insert(Target), [
        {"channel": "sms", "address": address, "district_code": district, "language": language,
         "is_test": False, "active": True}
        for address, (district, language) in subscribers.items()])
    session.commit()


def eventually(check: Callable[[], T | None], what: str, timeout: float = DEADLINE) -> T:
    """The first true result of ``check``, polled until ``timeout``; fails naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.05)


def bound(channel: SmsChannel, route_name: str) -> bool:
    """Whether any bind of the route is bound now."""
    return any(bind.state is BindState.BOUND for bind in channel.start()
               if bind.settings.name.startswith(f"{route_name}-"))


def deliveries(factory: sessionmaker[Session], message_id: int) -> list[Delivery]:
    with factory() as session:
        return list(session.scalars(select(Delivery).where(Delivery.message_id == message_id)
                                    .order_by(Delivery.id)))


def parts_of(factory: sessionmaker[Session], delivery_id: int) -> list[DeliveryPart]:
    with factory() as session:
        return list(session.scalars(select(DeliveryPart)
                                    .where(DeliveryPart.delivery_id == delivery_id)
                                    .order_by(DeliveryPart.part_number)))


def await_final(factory: sessionmaker[Session], channel: SmsChannel,
                message_id: int) -> list[Delivery]:
    """Record receipts as they come until every delivery of the message is final."""
    def final() -> list[Delivery] | None:
        drain_receipts(channel, factory)
        found = deliveries(factory, message_id)
        return found if all(delivery.status.is_final for delivery in found) else None
    return eventually(final, f"every delivery of message {message_id} final")


def logged_by_destination(parts: list[LoggedPart]) -> dict[str, list[LoggedPart]]:
    """The parts an SMSC logged, by E.164 number."""
    found: dict[str, list[LoggedPart]] = {}
    for part in parts:
        found.setdefault(f"+{part.destination_addr}", []).append(part)
    return found
