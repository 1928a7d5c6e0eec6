"""record_receipt: every receipt stored, deliveries moved forward only, nothing ever a crash."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.base import DeliveryStatus
from publisher.channels.memory import MemoryChannel
from publisher.store.models import Receipt, ReceiptOutcome
from tests.integration.fanout_support import session_factory
from tests.integration.receipt_support import delivery_row, handed_over, received
from tests.services import postgres_url

__all__ = ["postgres_url", "session_factory"]

Factory = sessionmaker[Session]
S = DeliveryStatus
R = ReceiptOutcome
CHANNEL = MemoryChannel({"acknowledge": False})


@pytest.fixture
def sent(session_factory: Factory) -> list[int]:
    """Three deliveries handed over and awaiting their receipts."""
    return handed_over(session_factory, CHANNEL, 3)


def _receive(factory: Factory, raw: dict[str, Any]) -> ReceiptOutcome:
    return received(factory, CHANNEL, raw)


def _receipt(delivery_id: int, status: str, **extra: Any) -> dict[str, Any]:
    return {"provider_id": f"memory-{delivery_id}", "status": status, **extra}


@pytest.mark.parametrize(("sequence", "outcomes", "final"), [
    (["delivered"], [R.APPLIED], S.DELIVERED),
    (["delivered", "delivered"], [R.APPLIED, R.DUPLICATE], S.DELIVERED),
    (["delivered", "failed"], [R.APPLIED, R.LATE], S.DELIVERED),
    (["failed", "delivered"], [R.APPLIED, R.LATE], S.FAILED),
    (["expired", "sent"], [R.APPLIED, R.LATE], S.EXPIRED),
    (["sent", "delivered"], [R.DUPLICATE, R.APPLIED], S.DELIVERED),
    (["delivered", "sent"], [R.APPLIED, R.LATE], S.DELIVERED),
])
def test_a_delivery_only_moves_forward(session_factory: Factory, sent: list[int],
                                       sequence: list[str], outcomes: list[ReceiptOutcome],
                                       final: DeliveryStatus) -> None:
    got = [_receive(session_factory, _receipt(sent[0], status)) for status in sequence]
    assert got == outcomes
    assert delivery_row(session_factory, sent[0]).status is final
    assert delivery_row(session_factory, sent[1]).status is S.SENT


def test_a_failure_keeps_its_detail_and_times(session_factory: Factory, sent: list[int]) -> None:
    _receive(session_factory, _receipt(sent[0], "failed", detail="UNDELIV 001"))
    delivery = delivery_row(session_factory, sent[0])
    assert delivery.last_error == "UNDELIV 001"
    assert delivery.failed_at is not None and delivery.final_at is not None


def test_duplicate_receipts_change_nothing(session_factory: Factory, sent: list[int]) -> None:
    raw = _receipt(sent[0], "delivered")
    _receive(session_factory, raw)
    before = delivery_row(session_factory, sent[0])
    for _ in range(3):
        assert _receive(session_factory, raw) is R.DUPLICATE
    after = delivery_row(session_factory, sent[0])
    assert (after.status, after.delivered_at, after.final_at, after.last_error) == (
        before.status, before.delivered_at, before.final_at, before.last_error)
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Receipt)) == 4


@pytest.mark.parametrize(("raw", "outcome"), [
    ({"provider_id": "memory-999999", "status": "delivered"}, R.UNKNOWN),
    ({"provider_id": "memory-1"}, R.INVALID),
    ({"status": "delivered"}, R.INVALID),
    ({"provider_id": ["memory-1"], "status": "delivered", "extra": {"nested": True}}, R.INVALID),
    ({}, R.INVALID),
])
def test_unknown_and_malformed_receipts_are_stored_never_raised(
        session_factory: Factory, sent: list[int], raw: dict[str, Any],
        outcome: ReceiptOutcome) -> None:
    assert _receive(session_factory, raw) is outcome
    with session_factory() as session:
        [stored] = session.scalars(select(Receipt)).all()
        assert (stored.outcome, stored.delivery_id) == (outcome, None)
        assert json.loads(stored.raw) == raw
    assert {delivery_row(session_factory, delivery_id).status for delivery_id in sent} == {S.SENT}


def test_every_receipt_is_stored_with_what_it_did(session_factory: Factory,
                                                  sent: list[int]) -> None:
    for raw in (_receipt(sent[0], "delivered"), _receipt(sent[0], "delivered"),
                _receipt(sent[0], "failed"), _receipt(sent[1], "expired"), {"junk": 1},
                {"provider_id": "memory-0", "status": "sent"}):
        _receive(session_factory, raw)
    with session_factory() as session:
        rows = session.execute(select(Receipt.outcome, Receipt.delivery_id, Receipt.status)
                               .order_by(Receipt.id)).all()
    assert [tuple(row) for row in rows] == [
        (R.APPLIED, sent[0], "delivered"), (R.DUPLICATE, sent[0], "delivered"),
        (R.LATE, sent[0], "failed"), (R.APPLIED, sent[1], "expired"),
        (R.INVALID, None, None), (R.UNKNOWN, None, "sent")]
