"""Receipts: one service for every kind (SMS delivery reports, device acks, node acks, webhooks).

Every receipt is stored as it arrived, with what it did. It moves its
delivery forward, never back: a receipt for a delivery that is already final
in another state is late, one that repeats the state is a duplicate, one
whose provider id matches nothing is unknown, one that cannot be parsed is
invalid. None of them is an error for the sender of the receipt.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from publisher.channels.base import Channel, DeliveryStatus, ParsedReceipt, ReceiptError
from publisher.store.models import Delivery, Receipt, ReceiptOutcome, utcnow

__all__ = ["record_receipt"]

log = logging.getLogger(__name__)


def _raw_text(raw: Mapping[str, Any]) -> str:
    return json.dumps(dict(raw), ensure_ascii=False, sort_keys=True, default=str)


def _values_for(parsed: ParsedReceipt) -> dict[str, Any]:
    now = utcnow()
    values: dict[str, Any] = {"status": parsed.status}
    if parsed.status is DeliveryStatus.DELIVERED:
        values["delivered_at"] = now
    if parsed.status is DeliveryStatus.FAILED:
        values["failed_at"] = now
    if parsed.status.is_final:
        values["final_at"] = now
    if parsed.status in (DeliveryStatus.FAILED, DeliveryStatus.EXPIRED) and parsed.detail:
        values["last_error"] = parsed.detail
    return values


def _apply(session: Session, delivery: Delivery, parsed: ParsedReceipt) -> ReceiptOutcome:
    current = delivery.status
    if current is parsed.status:
        return ReceiptOutcome.DUPLICATE
    if current.is_final or parsed.status.rank <= current.rank:
        return ReceiptOutcome.LATE
    # Conditional on the state read, so that two receipts racing for one
    # delivery cannot both apply and the loser is counted as late.
    moved = session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.status == current)
        .values(**_values_for(parsed))
        .execution_options(synchronize_session=False)
    )
    if not getattr(moved, "rowcount", 0):
        return ReceiptOutcome.LATE
    session.refresh(delivery)
    return ReceiptOutcome.APPLIED


def record_receipt(session: Session, channel: Channel[Any],
                   raw: Mapping[str, Any]) -> ReceiptOutcome:
    """Store a receipt of ``channel`` and move its delivery along; the caller commits."""
    receipt = Receipt(channel=channel.name, raw=_raw_text(raw), received_at=utcnow())
    try:
        parsed = channel.parse_receipt(raw)
    except ReceiptError as error:
        receipt.outcome = ReceiptOutcome.INVALID
        session.add(receipt)
        log.warning("receipt not understood", extra={"channel": channel.name,
                                                     "field": error.field, "reason": error.reason})
        return ReceiptOutcome.INVALID
    receipt.provider_id = parsed.provider_id
    receipt.status = parsed.status.value
    delivery = session.scalars(
        select(Delivery).where(Delivery.channel == channel.name,
                               Delivery.provider_id == parsed.provider_id)
        .order_by(Delivery.id).limit(1)
    ).first()
    if delivery is None:
        receipt.outcome = ReceiptOutcome.UNKNOWN
    else:
        receipt.delivery_id = delivery.id
        receipt.outcome = _apply(session, delivery, parsed)
    session.add(receipt)
    return receipt.outcome
