"""Receipts: one service for every kind (SMS delivery reports, device acks, node acks, webhooks).

Every receipt is stored as it arrived, with what it did. It moves its
delivery forward, never back: a receipt for a delivery that is already final
in another state is late, one that repeats the state is a duplicate, one
whose provider id matches nothing is unknown, one that cannot be parsed is
invalid. None of them is an error for the sender of the receipt.

A delivery handed over in parts (a concatenated SMS) has a row per part with
the part's provider id; a receipt then moves its part, by the same rules,
and the delivery follows its parts: FAILED as soon as a part failed, EXPIRED
as soon as one expired (and none failed), DELIVERED once every part was
delivered, else it stays where it is. A receipt whose provider id names no
part is matched against the deliveries' own provider ids, as for channels
that hand a message over whole. A receipt that came before the provider ids
it names were committed is unknown until ``rematch_receipts`` finds them;
whoever records receipts keeps the provider ids of the unknown ones for a
while to offer them again (``store_receipt`` gives the stored row).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection, Mapping, Sequence
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from publisher.channels.base import Channel, DeliveryStatus, ParsedReceipt, ReceiptError
from publisher.store.models import Delivery, DeliveryPart, Receipt, ReceiptOutcome, utcnow

__all__ = ["record_receipt", "rematch_receipts", "store_receipt"]

log = logging.getLogger(__name__)

# Provider ids offered again per query: an IN list well within every database's limit.
_REMATCH_CHUNK = 500


def _raw_text(raw: Mapping[str, Any]) -> str:
    return json.dumps(dict(raw), ensure_ascii=False, sort_keys=True, default=str)


def _delivery_values(status: DeliveryStatus, detail: str) -> dict[str, Any]:
    now = utcnow()
    values: dict[str, Any] = {"status": status}
    if status is DeliveryStatus.DELIVERED:
        values["delivered_at"] = now
    if status is DeliveryStatus.FAILED:
        values["failed_at"] = now
    if status.is_final:
        values["final_at"] = now
    if status in (DeliveryStatus.FAILED, DeliveryStatus.EXPIRED) and detail:
        values["last_error"] = detail
    return values


def _part_values(status: DeliveryStatus, detail: str) -> dict[str, Any]:
    values: dict[str, Any] = {"status": status, "detail": detail or None}
    if status.is_final:
        values["final_at"] = utcnow()
    return values


def _unless_forward(current: DeliveryStatus, status: DeliveryStatus) -> ReceiptOutcome | None:
    """What a receipt of ``status`` is for a row at ``current``; None when it moves it forward."""
    if current is status:
        return ReceiptOutcome.DUPLICATE
    if current.is_final or status.rank <= current.rank:
        return ReceiptOutcome.LATE
    return None


def _move(session: Session, row: Delivery | DeliveryPart, status: DeliveryStatus,
          values: dict[str, Any]) -> ReceiptOutcome:
    current = row.status
    outcome = _unless_forward(current, status)
    if outcome is not None:
        return outcome
    # Conditional on the state read, so that two receipts racing for one
    # row cannot both apply and the loser is counted as late.
    table = type(row)
    moved = session.execute(
        update(table)
        .where(table.id == row.id, table.status == current)
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if not getattr(moved, "rowcount", 0):
        return ReceiptOutcome.LATE
    session.refresh(row)
    return ReceiptOutcome.APPLIED


def _aggregate(parts: Sequence[DeliveryPart]) -> tuple[DeliveryStatus, str]:
    """The delivery's status from its parts' (in part order), with the reason of a failure."""
    for status in (DeliveryStatus.FAILED, DeliveryStatus.EXPIRED):
        first = next((part for part in parts if part.status is status), None)
        if first is not None:
            detail = first.detail or ""
            if len(parts) > 1:
                which = f"part {first.part_number} of {len(parts)}"
                detail = f"{which}: {detail}" if detail else which
            return status, detail
    if all(part.status is DeliveryStatus.DELIVERED for part in parts):
        return DeliveryStatus.DELIVERED, ""
    return DeliveryStatus.SENT, ""


def _apply_to_part(session: Session, part: DeliveryPart, parsed: ParsedReceipt
                   ) -> ReceiptOutcome:
    # Receipts of the parts of one delivery take turns: each one reads every
    # part after the others have committed, so the last part's receipt sees
    # them all and no aggregate is lost between two concurrent receipts.
    delivery = session.scalars(
        select(Delivery).where(Delivery.id == part.delivery_id).with_for_update()
        .execution_options(populate_existing=True)).one()
    session.refresh(part)
    outcome = _move(session, part, parsed.status, _part_values(parsed.status, parsed.detail))
    if outcome is not ReceiptOutcome.APPLIED:
        return outcome
    parts = list(session.scalars(
        select(DeliveryPart).where(DeliveryPart.delivery_id == delivery.id)
        .order_by(DeliveryPart.part_number)))
    status, detail = _aggregate(parts)
    if status is not DeliveryStatus.SENT:
        _move(session, delivery, status, _delivery_values(status, detail))
    return outcome


def _part(session: Session, channel: str, provider_id: str) -> DeliveryPart | None:
    return session.scalars(
        select(DeliveryPart).where(DeliveryPart.channel == channel,
                                   DeliveryPart.provider_id == provider_id)
        .order_by(DeliveryPart.id).limit(1)
    ).first()


def _delivery(session: Session, channel: str, provider_id: str) -> Delivery | None:
    return session.scalars(
        select(Delivery).where(Delivery.channel == channel, Delivery.provider_id == provider_id)
        .order_by(Delivery.id).limit(1)
    ).first()


def _correlate(session: Session, channel: str, parsed: ParsedReceipt
               ) -> tuple[int | None, ReceiptOutcome]:
    """The delivery a receipt is about, and what the receipt did to it."""
    part = _part(session, channel, parsed.provider_id)
    if part is not None:
        return part.delivery_id, _apply_to_part(session, part, parsed)
    delivery = _delivery(session, channel, parsed.provider_id)
    if delivery is not None:
        return delivery.id, _move(session, delivery, parsed.status,
                                  _delivery_values(parsed.status, parsed.detail))
    return None, ReceiptOutcome.UNKNOWN


def store_receipt(session: Session, channel: Channel[Any], raw: Mapping[str, Any]) -> Receipt:
    """Store a receipt of ``channel``, move its part and delivery along; the stored row.

    The caller commits.
    """
    receipt = Receipt(channel=channel.name, raw=_raw_text(raw), received_at=utcnow())
    try:
        parsed = channel.parse_receipt(raw)
    except ReceiptError as error:
        receipt.outcome = ReceiptOutcome.INVALID
        session.add(receipt)
        log.warning("receipt not understood", extra={"channel": channel.name,
                                                     "field": error.field, "reason": error.reason})
        return receipt
    receipt.provider_id = parsed.provider_id
    receipt.status = parsed.status.value
    receipt.delivery_id, receipt.outcome = _correlate(session, channel.name, parsed)
    session.add(receipt)
    return receipt


def record_receipt(session: Session, channel: Channel[Any],
                   raw: Mapping[str, Any]) -> ReceiptOutcome:
    """Store a receipt of ``channel`` and move its part and delivery along; the caller commits."""
    return store_receipt(session, channel, raw).outcome


def rematch_receipts(session: Session, channel: Channel[Any],
                     provider_ids: Collection[str]) -> set[str]:
    """Correlate again the receipts with these provider ids that matched nothing when they came.

    A receipt can overtake the hand-over it reports on: an SMSC sends a
    part's receipt while the other parts of the batch still wait for their
    answers, before the batch's provider ids are committed. Whoever recorded
    such a receipt offers its provider id here again a little later. Returns
    the provider ids whose receipts found their delivery; the caller commits.
    """
    offered = list(provider_ids)
    matched: set[str] = set()
    for start in range(0, len(offered), _REMATCH_CHUNK):
        unknown = session.scalars(
            select(Receipt).where(
                Receipt.channel == channel.name,
                Receipt.provider_id.in_(offered[start:start + _REMATCH_CHUNK]),
                Receipt.outcome == ReceiptOutcome.UNKNOWN)
            .order_by(Receipt.id)).all()
        for receipt in unknown:
            # It was read once already, so it reads again.
            parsed = channel.parse_receipt(json.loads(receipt.raw))
            delivery_id, outcome = _correlate(session, channel.name, parsed)
            if delivery_id is not None:
                receipt.delivery_id, receipt.outcome = delivery_id, outcome
                matched.add(parsed.provider_id)
    return matched
