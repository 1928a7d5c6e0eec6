"""Deliveries handed over and awaiting receipts, and receipts recorded one transaction each."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.base import Channel
from publisher.services.receipts import record_receipt
from publisher.store.models import Delivery, ReceiptOutcome
from tests.integration.fanout_support import add_targets, deliver_in_process, publish

__all__ = ["delivery_row", "handed_over", "received"]

Factory = sessionmaker[Session]


def handed_over(factory: Factory, channel: Channel[Any], count: int) -> list[int]:
    """The ids of ``count`` deliveries of an exercise, handed to ``channel``."""
    with factory() as session:
        add_targets(session, count, is_test=True)
        message = publish(session)
    deliver_in_process(factory, message.id, channel)
    with factory() as session:
        return list(session.scalars(select(Delivery.id).where(
            Delivery.message_id == message.id).order_by(Delivery.id)))


def received(factory: Factory, channel: Channel[Any], raw: Mapping[str, Any]) -> ReceiptOutcome:
    """Records one receipt in a transaction of its own."""
    with factory() as session:
        outcome = record_receipt(session, channel, raw)
        session.commit()
    return outcome


def delivery_row(factory: Factory, delivery_id: int) -> Delivery:
    with factory() as session:
        found = session.get(Delivery, delivery_id)
        assert found is not None
        return found
