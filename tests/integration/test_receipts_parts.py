"""Receipts of deliveries handed over in parts: each part moves, and the delivery follows them."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.base import DeliveryStatus, OutgoingMessage, SendResult, TargetRef
from publisher.channels.memory import MemoryChannel
from publisher.services.delivery import fan_out, send_batch
from publisher.services.delivery_report import list_deliveries
from publisher.services.device_receipts import EarlyAcks
from publisher.services.receipts import record_receipt, rematch_receipts
from publisher.store.models import Delivery, DeliveryPart, Message, Receipt, ReceiptOutcome
from tests.integration.fanout_support import add_targets, publish
from tests.integration.receipt_support import delivery_row, handed_over, received
from tests.integration.sms_support import eventually

Factory = sessionmaker[Session]
S = DeliveryStatus
R = ReceiptOutcome
PARTS = 3


class _PartsProvider(MemoryChannel):
    """Takes each message in three parts with ids of their own; the first part went out twice."""

    def send(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        return [replace(result, provider_id=part_id(result.delivery_id, 1),
                        parts=tuple(part_id(result.delivery_id, number)
                                    for number in range(1, PARTS + 1)),
                        duplicates=1)
                for result in super().send(message, targets)]


def part_id(delivery_id: int, number: int) -> str:
    return f"memory-{delivery_id}.{number}"


CHANNEL = _PartsProvider({"acknowledge": False})


@pytest.fixture
def sent(session_factory: Factory) -> list[int]:
    """Two deliveries handed over in three parts each, awaiting their receipts."""
    return handed_over(session_factory, CHANNEL, 2)


def _receive(factory: Factory, raw: dict[str, Any]) -> ReceiptOutcome:
    return received(factory, CHANNEL, raw)


def _receipt(delivery_id: int, number: int, status: str) -> dict[str, Any]:
    return {"provider_id": part_id(delivery_id, number), "status": status,
            "detail": f"{status} {number}"}


def _part_statuses(factory: Factory, delivery_id: int) -> list[DeliveryStatus]:
    with factory() as session:
        return list(session.scalars(select(DeliveryPart.status)
                                    .where(DeliveryPart.delivery_id == delivery_id)
                                    .order_by(DeliveryPart.part_number)))


def test_the_hand_over_stores_every_part_and_the_duplicates(session_factory: Factory,
                                                            sent: list[int]) -> None:
    with session_factory() as session:
        rows = session.execute(select(DeliveryPart.delivery_id, DeliveryPart.part_number,
                                      DeliveryPart.channel, DeliveryPart.provider_id,
                                      DeliveryPart.status)
                               .order_by(DeliveryPart.delivery_id, DeliveryPart.part_number))
        assert [tuple(row) for row in rows] == [
            (delivery_id, number, "memory", part_id(delivery_id, number), S.SENT)
            for delivery_id in sent for number in range(1, PARTS + 1)]
    for delivery_id in sent:
        delivery = delivery_row(session_factory, delivery_id)
        assert (delivery.status, delivery.provider_id, delivery.duplicates) == (
            S.SENT, part_id(delivery_id, 1), 1)


@pytest.mark.parametrize(("receipts", "outcomes", "final", "reason"), [
    ([(1, "delivered"), (2, "delivered")], [R.APPLIED] * 2, S.SENT, None),
    ([(1, "delivered"), (3, "delivered"), (2, "delivered")], [R.APPLIED] * 3, S.DELIVERED,
     None),
    ([(1, "delivered"), (2, "failed")], [R.APPLIED] * 2, S.FAILED, "part 2 of 3: failed 2"),
    ([(3, "expired")], [R.APPLIED], S.EXPIRED, "part 3 of 3: expired 3"),
    ([(2, "expired"), (1, "failed")], [R.APPLIED] * 2, S.EXPIRED, "part 2 of 3: expired 2"),
    ([(1, "failed"), (2, "delivered"), (3, "delivered")], [R.APPLIED] * 3, S.FAILED,
     "part 1 of 3: failed 1"),
    ([(1, "delivered"), (1, "delivered"), (1, "failed"), (1, "sent")],
     [R.APPLIED, R.DUPLICATE, R.LATE, R.LATE], S.SENT, None),
    ([(2, "sent")], [R.DUPLICATE], S.SENT, None),
])
def test_the_delivery_follows_its_parts(session_factory: Factory, sent: list[int],
                                        receipts: list[tuple[int, str]],
                                        outcomes: list[ReceiptOutcome], final: DeliveryStatus,
                                        reason: str | None) -> None:
    got = [_receive(session_factory, _receipt(sent[0], number, status))
           for number, status in receipts]

    assert got == outcomes
    delivery = delivery_row(session_factory, sent[0])
    assert (delivery.status, delivery.last_error) == (final, reason)
    assert (delivery.final_at is not None) is final.is_final
    assert delivery_row(session_factory, sent[1]).status is S.SENT
    with session_factory() as session:
        assert set(session.scalars(select(Receipt.delivery_id))) == {sent[0]}


def test_each_part_moves_forward_only_and_keeps_its_detail(session_factory: Factory,
                                                           sent: list[int]) -> None:
    for number, status in [(1, "delivered"), (2, "expired"), (2, "delivered"), (3, "sent")]:
        _receive(session_factory, _receipt(sent[0], number, status))

    assert _part_statuses(session_factory, sent[0]) == [S.DELIVERED, S.EXPIRED, S.SENT]
    with session_factory() as session:
        details = session.execute(select(DeliveryPart.detail, DeliveryPart.final_at)
                                  .where(DeliveryPart.delivery_id == sent[0])
                                  .order_by(DeliveryPart.part_number)).all()
    assert [detail for detail, _ in details] == ["delivered 1", "expired 2", None]
    assert [final_at is not None for _, final_at in details] == [True, True, False]


def test_a_receipt_naming_no_part_is_unknown(session_factory: Factory, sent: list[int]) -> None:
    assert _receive(session_factory, _receipt(sent[0], PARTS + 1, "delivered")) is R.UNKNOWN
    assert delivery_row(session_factory, sent[0]).status is S.SENT


def test_a_receipt_that_overtook_its_hand_over_lands_with_it(session_factory: Factory) -> None:
    with session_factory() as session:
        add_targets(session, 1, is_test=True)
        message_id = publish(session).id
    batches: list[list[int]] = []
    fan_out(session_factory, message_id, 1000, lambda _channel, ids: batches.append(ids),
            channels=(CHANNEL.name,))
    [[delivery_id]] = batches
    assert _receive(session_factory, _receipt(delivery_id, 1, "delivered")) is R.UNKNOWN
    send_batch(session_factory, CHANNEL, [delivery_id])

    with session_factory() as session:
        stored = session.execute(select(Receipt.delivery_id, Receipt.outcome)).all()
    assert [tuple(row) for row in stored] == [(delivery_id, R.APPLIED)]
    assert _part_statuses(session_factory, delivery_id) == [S.DELIVERED, S.SENT, S.SENT]
    # Offered again later, as whoever recorded it does: nothing moves twice; the one
    # the hand-over matched waits no more, and a provider id that no hand-over named
    # still matches nothing and waits on.
    assert _receive(session_factory, _receipt(delivery_id, PARTS + 1, "delivered")) is R.UNKNOWN
    offered = [part_id(delivery_id, 1), part_id(delivery_id, PARTS + 1)]
    with session_factory() as session:
        assert rematch_receipts(session, CHANNEL, offered) == {part_id(delivery_id, 1)}
        session.commit()
    # Whoever kept them stops offering the one matched, and only that one.
    early = EarlyAcks()
    for provider_id in offered:
        early.keep(CHANNEL.name, provider_id, time.monotonic())
    assert early.rematch(session_factory, lambda _name: CHANNEL, time.monotonic()) == 1
    assert len(early) == 1
    assert _part_statuses(session_factory, delivery_id) == [S.DELIVERED, S.SENT, S.SENT]


def _waiting_for_a_lock(factory: Factory) -> bool:
    with factory() as session:
        waiting = session.scalar(select(func.count()).select_from(text("pg_stat_activity"))
                                 .where(text("wait_event_type = 'Lock'"),
                                        text("datname = current_database()")))
    return bool(waiting)


@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_receipts_of_two_parts_at_once_take_turns_and_the_last_one_delivers(
        session_factory: Factory, sent: list[int]) -> None:
    _receive(session_factory, _receipt(sent[0], 1, "delivered"))
    with session_factory() as first:
        assert record_receipt(first, CHANNEL, _receipt(sent[0], 2, "delivered")) is R.APPLIED
        with ThreadPoolExecutor(1) as pool:
            second = pool.submit(_receive, session_factory, _receipt(sent[0], 3, "delivered"))
            # Had it not waited, it would not see part 2 delivered, and neither
            # receipt would find every part delivered.
            eventually(lambda: _waiting_for_a_lock(session_factory),
                       "the second receipt waits for the first one's transaction")
            assert delivery_row(session_factory, sent[0]).status is S.SENT
            first.commit()
            assert second.result(timeout=30) is R.APPLIED

    assert delivery_row(session_factory, sent[0]).status is S.DELIVERED
    assert _part_statuses(session_factory, sent[0]) == [S.DELIVERED] * PARTS


@contextmanager
def _statements(session: Session) -> Iterator[list[str]]:
    """The SQL statements the session runs meanwhile."""
    ran: list[str] = []

    def count(*arguments: Any) -> None:
        ran.append(arguments[2])

    engine = session.get_bind()
    event.listen(engine, "before_cursor_execute", count)
    try:
        yield ran
    finally:
        event.remove(engine, "before_cursor_execute", count)


def test_the_listing_shows_each_delivery_with_its_parts_and_receipts(
        session_factory: Factory, sent: list[int]) -> None:
    for number, status in [(1, "delivered"), (2, "expired"), (2, "expired")]:
        _receive(session_factory, _receipt(sent[0], number, status))
    _receive(session_factory, _receipt(sent[0], PARTS + 1, "delivered"))  # of no part

    with session_factory() as session:
        alert_id = session.scalar(select(Message.alert_id).join(
            Delivery, Delivery.message_id == Message.id).where(Delivery.id == sent[0]))
    assert alert_id is not None
    with session_factory() as session, _statements(session) as one_a_page:
        list_deliveries(session, alert_id, per_page=1)
    with session_factory() as session, _statements(session) as two_a_page:
        listed = list_deliveries(session, alert_id)

    # The parts and the receipts of a page take a query each, however long the page.
    assert len(two_a_page) == len(one_a_page)
    first, second = listed["items"]
    assert (first["id"], first["status"], first["duplicates"]) == (sent[0], "expired", 1)
    assert [(part["part_number"], part["provider_id"], part["status"], part["detail"],
             part["final_at"] is not None) for part in first["parts"]] == [
        (1, part_id(sent[0], 1), "delivered", "delivered 1", True),
        (2, part_id(sent[0], 2), "expired", "expired 2", True),
        (3, part_id(sent[0], 3), "sent", None, False)]
    with session_factory() as session:
        last = session.scalars(select(Receipt).where(Receipt.delivery_id == sent[0])
                               .order_by(Receipt.id.desc())).first()
    assert last is not None
    assert first["receipts"] == {"count": 3, "last_at": last.received_at.isoformat(),
                                 "last_status": "expired"}
    assert [part["status"] for part in second["parts"]] == ["sent"] * PARTS
    assert second["receipts"] == {"count": 0, "last_at": None, "last_status": None}
