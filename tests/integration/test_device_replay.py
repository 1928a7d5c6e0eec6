"""Which deliveries a device that calls in gets again (``services.device_replay``), on each
database.

One board has a delivery of every kind that matters: of alerts on air, an
expired one and a cancelled one (with its Cancel), an Update's and the
message it replaced, and deliveries failed, tried and queued, fresh in the
queue, handed over, delivered, and tried too often. Whatever the heartbeat
says, the same rows come back to QUEUED, never new ones.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.model import MsgType
from publisher.channels.base import DeliveryStatus
from publisher.services.device_replay import REPLAY_LIMIT, requeue_missed
from publisher.store.models import (
    Alert,
    AlertState,
    Delivery,
    Device,
    DeviceKind,
    Message,
    Target,
    utcnow,
)
from tests.integration.fanout_support import publish, session_factory
from tests.services import postgres_url

__all__ = ["postgres_url", "session_factory"]

Factory = sessionmaker[Session]
GAVE_UP = "gave up: no answer from the board"
BEFORE = {
    "on_air": DeliveryStatus.FAILED, "replaced": DeliveryStatus.FAILED,
    "update": DeliveryStatus.FAILED, "cancelled": DeliveryStatus.FAILED,
    "cancel": DeliveryStatus.FAILED, "expired": DeliveryStatus.FAILED,
    "tried": DeliveryStatus.QUEUED, "fresh": DeliveryStatus.QUEUED,
    "handed_over": DeliveryStatus.SENT, "delivered": DeliveryStatus.DELIVERED,
    "too_often": DeliveryStatus.FAILED, "neighbour": DeliveryStatus.FAILED}
"""Each delivery of the board (and one of its neighbour) before the heartbeat."""
ATTEMPTS = {"fresh": 0, "too_often": REPLAY_LIMIT}


def _board(session: Session, device_id: str) -> Device:
    target = Target(channel="led", address=f"http://127.0.0.1:9/devices/{device_id}",
                    district_code="110105", language="zh-CN", is_test=True)
    session.add(target)
    session.flush()
    device = Device(device_id=device_id, kind=DeviceKind.LED, target_id=target.id)
    session.add(device)
    session.flush()
    return device


def _follow_up(session: Session, first: Message, msg_type: MsgType) -> Message:
    """An Update or Cancel of ``first``'s alert, referencing ``first``."""
    identifier = f"{first.identifier}-{msg_type.value.lower()}"
    message = Message(alert_id=first.alert_id, identifier=identifier, sender=first.sender,
                      sent=first.sent + timedelta(minutes=5), msg_type=msg_type.value,
                      status=first.status, xml=first.xml + identifier.encode(),
                      sha256=hashlib.sha256(identifier.encode()).hexdigest(),
                      references=f"{first.sender},{first.identifier},{first.sent.isoformat()}")
    session.add(message)
    session.flush()
    return message


def _deliver(session: Session, message: Message, device: Device, status: DeliveryStatus, *,
             error: str | None = GAVE_UP, attempts: int = 9) -> Delivery:
    delivery = Delivery(message_id=message.id, channel="led", target_id=device.target_id,
                        status=status, attempts=attempts, last_error=error,
                        failed_at=utcnow() if status is DeliveryStatus.FAILED else None,
                        final_at=utcnow() if status.is_final else None)
    session.add(delivery)
    session.flush()
    return delivery


@dataclass
class Board:
    device: Device
    messages: dict[str, Message]
    deliveries: dict[str, int]  # by the name of the case


def _alert(session: Session, **changes: Any) -> Message:
    message = publish(session)
    alert = session.get(Alert, message.alert_id)
    assert alert is not None
    alert.expires_at = utcnow() + timedelta(hours=1)
    for name, value in changes.items():
        setattr(alert, name, value)
    return message


@pytest.fixture
def board(session_factory: Factory) -> Iterator[Board]:
    with session_factory() as session:
        device, neighbour = _board(session, "led-110105-01"), _board(session, "led-110105-02")
        on_air = _alert(session)
        replaced = _alert(session)
        update = _follow_up(session, replaced, MsgType.UPDATE)
        cancelled = _alert(session, state=AlertState.CANCELLED)
        cancel = _follow_up(session, cancelled, MsgType.CANCEL)
        expired = _alert(session, expires_at=utcnow() - timedelta(minutes=1))
        messages = {"on_air": on_air, "replaced": replaced, "update": update,
                    "cancelled": cancelled, "cancel": cancel, "expired": expired,
                    **{name: _alert(session) for name in (
                        "tried", "fresh", "handed_over", "delivered", "too_often")}}
        deliveries = {name: _deliver(session, messages[name], device, status,
                                     error=None if name == "fresh" else GAVE_UP,
                                     attempts=ATTEMPTS.get(name, 9)).id
                      for name, status in BEFORE.items() if name != "neighbour"}
        deliveries["neighbour"] = _deliver(session, on_air, neighbour, DeliveryStatus.FAILED).id
        session.commit()
        yield Board(device, messages, deliveries)


def _statuses(factory: Factory, board: Board) -> dict[str, DeliveryStatus]:
    with factory() as session:
        return {name: session.get(Delivery, delivery_id).status  # type: ignore[union-attr]
                for name, delivery_id in board.deliveries.items()}


def _replay(factory: Factory, board: Board, showing: list[str], came_back: bool) -> list[int]:
    with factory() as session:
        device = session.get(Device, board.device.id)
        assert device is not None
        replay = requeue_missed(session, device, showing, came_back=came_back)
        session.commit()
    assert replay.channel == "led"
    return replay.delivery_ids


def _check(factory: Factory, board: Board, replayed: list[int], expected: set[str]) -> None:
    assert replayed == sorted(board.deliveries[name] for name in expected)
    after = _statuses(factory, board)
    assert after == {name: DeliveryStatus.QUEUED if name in expected else status
                     for name, status in BEFORE.items()}
    with factory() as session:
        for name in expected:
            row = session.get(Delivery, board.deliveries[name])
            assert row is not None
            assert (row.failed_at, row.final_at) == (None, None), name
            assert row.queued_at is not None and row.last_error, name
        # The same rows: one per message, channel and target.
        assert session.scalar(select(func.count()).select_from(Delivery)) == len(BEFORE)


def test_a_board_back_from_offline_gets_every_alert_on_air_it_missed(
        session_factory: Factory, board: Board) -> None:
    replayed = _replay(session_factory, board, showing=[], came_back=True)
    _check(session_factory, board, replayed, {"on_air", "update", "tried"})


def test_a_heartbeat_gets_what_the_board_does_not_show_and_the_cancel_of_what_it_still_shows(
        session_factory: Factory, board: Board) -> None:
    showing = [board.messages["on_air"].identifier, board.messages["cancelled"].identifier]
    replayed = _replay(session_factory, board, showing=showing, came_back=False)
    _check(session_factory, board, replayed, {"update", "tried", "cancel"})


def test_a_board_that_shows_everything_gets_nothing_again(
        session_factory: Factory, board: Board) -> None:
    showing = [board.messages[name].identifier for name in ("on_air", "update", "tried")]
    assert _replay(session_factory, board, showing=showing, came_back=False) == []
    _check(session_factory, board, [], set())
