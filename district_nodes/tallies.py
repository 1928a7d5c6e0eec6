"""Per message and channel, how many deliveries are delivered, failed and pending.

A receipt to the center carries these counts, and a node with fifty boards
reports again after every burst of their acks: recounting the message's
deliveries each time would cost more than the acks themselves. So every
change of a delivery's status goes through ``move_status``, which moves
one delivery from one count to the other in the same transaction, and a
receipt reads the tally. A skipped delivery counts nowhere.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from district_nodes.store import Delivery, DeliveryTally
from publisher.channels.base import DeliveryStatus

__all__ = ["COUNT_KEYS", "count_deliveries", "delivery_counts", "move_status",
           "recount_tallies"]

COUNT_KEYS = ("delivered", "failed", "pending")
_FAILED = frozenset({DeliveryStatus.FAILED, DeliveryStatus.EXPIRED})


def _count_key(status: DeliveryStatus) -> str | None:
    if status is DeliveryStatus.DELIVERED:
        return "delivered"
    if status in _FAILED:
        return "failed"
    return None if status is DeliveryStatus.SKIPPED else "pending"


def _tally(session: Session, message_id: int, channel: str) -> DeliveryTally:
    tally = session.get(DeliveryTally, (message_id, channel))
    if tally is None:
        tally = DeliveryTally(message_id=message_id, channel=channel, delivered=0, failed=0,
                              pending=0)
        session.add(tally)
        # Flushed at once: ``session.get`` finds only rows flushed, and the batch asks again.
        session.flush()
    return tally


def _shift(tally: DeliveryTally, key: str | None, step: int) -> None:
    if key is not None:
        setattr(tally, key, getattr(tally, key) + step)


def count_deliveries(session: Session, deliveries: Iterable[Delivery]) -> None:
    """Count new deliveries (added to ``session``) in their messages' tallies."""
    for delivery in deliveries:
        tally = _tally(session, delivery.message_id, delivery.channel)
        _shift(tally, _count_key(DeliveryStatus(delivery.status)), 1)


def move_status(session: Session, delivery: Delivery, status: DeliveryStatus,
                detail: str | None = None) -> bool:
    """Give ``delivery`` its new status (and detail, when given); True when a count moved."""
    before = _count_key(DeliveryStatus(delivery.status))
    after = _count_key(status)
    delivery.status = status.value
    if detail is not None:
        delivery.detail = detail
    if before == after:
        return False
    tally = _tally(session, delivery.message_id, delivery.channel)
    _shift(tally, before, -1)
    _shift(tally, after, 1)
    return True


def delivery_counts(session: Session, message_id: int) -> dict[str, dict[str, int]]:
    """Per channel: how many of the message's local deliveries are delivered, failed, pending."""
    return {tally.channel: {"delivered": tally.delivered, "failed": tally.failed,
                            "pending": tally.pending}
            for tally in session.scalars(select(DeliveryTally).where(
                DeliveryTally.message_id == message_id).order_by(DeliveryTally.channel))}


def recount_tallies(session: Session) -> None:
    """Count every message's deliveries afresh, once at start-up: a store kept by an earlier
    version of the node has deliveries but no tallies."""
    counted: dict[tuple[int, str], collections.Counter[str]] = collections.defaultdict(
        collections.Counter)
    for message_id, channel, status, deliveries in session.execute(
            select(Delivery.message_id, Delivery.channel, Delivery.status, func.count())
            .group_by(Delivery.message_id, Delivery.channel, Delivery.status)):
        key = _count_key(DeliveryStatus(status))
        counted[(message_id, channel)][key or "skipped"] += deliveries
    session.execute(delete(DeliveryTally))
    session.add_all(DeliveryTally(message_id=message_id, channel=channel,
                                  **{key: counts[key] for key in COUNT_KEYS})
                    for (message_id, channel), counts in counted.items())
