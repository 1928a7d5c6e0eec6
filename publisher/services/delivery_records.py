"""What became of deliveries being handed over, written a batch at a time.

A batch of a thousand SMS comes back from its channel as a thousand results.
Written one UPDATE each, the worker spends more time waiting on the database
than the SMSC takes to accept the parts; here the deliveries that reached the
same status with the same error move in one statement per few hundred, and
their provider ids and parts are written by statements compiled once and
executed for every row in one round trip.

Only a delivery still SENDING moves: one that somebody else moved meanwhile
(a retaken batch, an operator) keeps what it has, and is not counted.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, update
from sqlalchemy.orm import Session

from publisher.channels.base import DeliveryStatus, SendResult
from publisher.store.models import Delivery, DeliveryPart, utcnow

__all__ = ["record_moves", "record_parts"]

_DELIVERIES = cast(Table, Delivery.__table__)
_PARTS = cast(Table, DeliveryPart.__table__)
# Deliveries per IN list: well within every database's limit on bound parameters.
_CHUNK = 500


def _chunks(values: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(values), _CHUNK):
        yield values[start:start + _CHUNK]


def _status_values(status: DeliveryStatus, error: str | None) -> dict[str, Any]:
    now = utcnow()
    values: dict[str, Any] = {"status": status, "last_error": error}
    if status is DeliveryStatus.SENT or status is DeliveryStatus.DELIVERED:
        values["sent_at"] = now
    if status is DeliveryStatus.DELIVERED:
        values["delivered_at"] = now
    if status is DeliveryStatus.FAILED:
        values["failed_at"] = now
    if status.is_final:
        values["final_at"] = now
    return values


def record_moves(session: Session, status: DeliveryStatus,
                 provider_ids: Mapping[int, str | None], *, error: str | None = None
                 ) -> set[int]:
    """Move these SENDING deliveries to ``status``; the ids of those that moved.

    ``provider_ids`` maps each delivery id to the provider's id for it, or
    to None to keep the one it has.
    """
    moved: set[int] = set()
    for chunk in _chunks(sorted(provider_ids)):
        moved.update(session.scalars(
            update(_DELIVERIES)
            .where(Delivery.id.in_(chunk), Delivery.status == DeliveryStatus.SENDING)
            .values(**_status_values(status, error))
            .returning(Delivery.id)))
    named = [{"row_id": delivery_id, "provider_id": provider_ids[delivery_id]}
             for delivery_id in sorted(moved) if provider_ids[delivery_id] is not None]
    if named:
        # One statement, compiled once, executed for every row in one round
        # trip: cheaper than one statement that names every id in a CASE.
        session.execute(update(_DELIVERIES).where(Delivery.id == bindparam("row_id"))
                        .values(provider_id=bindparam("provider_id")), named)
    return moved


def record_parts(session: Session, results: Sequence[SendResult]) -> None:
    """The parts of recorded results, each with its provider id, and the duplicates counted."""
    with_parts = [result for result in results if result.parts]
    if with_parts:
        # A batch is of one channel.
        channel = session.scalar(select(Delivery.channel)
                                 .where(Delivery.id == with_parts[0].delivery_id))
        rows = [{"delivery_id": result.delivery_id, "part_number": number, "channel": channel,
                 "provider_id": provider_id, "status": DeliveryStatus.SENT}
                for result in with_parts
                for number, provider_id in enumerate(result.parts, start=1)]
        # An executemany of one compiled statement: a statement of many
        # VALUES rows would be compiled again for every batch.
        session.execute(insert(_PARTS), rows)
    by_count: dict[int, list[int]] = {}
    for result in results:
        if result.duplicates:
            by_count.setdefault(result.duplicates, []).append(result.delivery_id)
    for count, delivery_ids in by_count.items():
        session.execute(update(Delivery).where(Delivery.id.in_(delivery_ids))
                        .values(duplicates=Delivery.duplicates + count)
                        .execution_options(synchronize_session=False))
