"""What became of deliveries being handed over, written a batch at a time.

A batch of a thousand SMS comes back from its channel as a thousand results.
Written one UPDATE each, the worker spends more time waiting on the database
than the SMSC takes to accept the parts; here the deliveries that reached the
same status with the same error move, each with its provider id, in one
statement, and their parts are inserted by one more (``store.bulk``).

Only a delivery still SENDING moves: one that somebody else moved meanwhile
(a retaken batch, an operator) keeps what it has, and is not counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session

from publisher.channels.base import DeliveryStatus, SendResult
from publisher.store.bulk import among, insert_rows, update_rows
from publisher.store.models import Delivery, DeliveryPart, utcnow

__all__ = ["record_moves", "record_parts"]

_DELIVERIES = cast(Table, Delivery.__table__)
_PARTS = cast(Table, DeliveryPart.__table__)


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
                 provider_ids: Mapping[int, str | None], *, error: str | None = None,
                 num_segments: int | None = None) -> set[int]:
    """Move these SENDING deliveries to ``status``; the ids of those that moved.

    ``provider_ids`` maps each delivery id to the provider's id for it, or
    to None to keep the one it has. The provider id, and the SMS segments
    when known, are written by the same statement as the status: one new
    version of each row, not two.
    """
    values = _status_values(status, error)
    if num_segments is not None:
        values["num_segments"] = num_segments
    sending = [Delivery.status == DeliveryStatus.SENDING]
    named = [{"id": delivery_id, "provider_id": provider_id}
             for delivery_id, provider_id in sorted(provider_ids.items())
             if provider_id is not None]
    unnamed = [{"id": delivery_id} for delivery_id, provider_id in sorted(provider_ids.items())
               if provider_id is None]
    return {*update_rows(session, _DELIVERIES, named, where=sending, values=values),
            *update_rows(session, _DELIVERIES, unnamed, where=sending, values=values)}


def record_parts(session: Session, results: Sequence[SendResult]) -> None:
    """The parts of recorded results, each with its provider id, and the duplicates counted."""
    with_parts = [result for result in results if result.parts]
    if with_parts:
        # A batch is of one channel.
        channel = session.scalar(select(Delivery.channel)
                                 .where(Delivery.id == with_parts[0].delivery_id))
        insert_rows(session, _PARTS, [
            {"delivery_id": result.delivery_id, "part_number": number, "channel": channel,
             "provider_id": provider_id, "status": DeliveryStatus.SENT}
            for result in with_parts
            for number, provider_id in enumerate(result.parts, start=1)])
    by_count: dict[int, list[int]] = {}
    for result in results:
        if result.duplicates:
            by_count.setdefault(result.duplicates, []).append(result.delivery_id)
    for count, delivery_ids in by_count.items():
        for chosen in among(session, Delivery.id, delivery_ids):
            session.execute(update(_DELIVERIES).where(chosen)
                            .values(duplicates=Delivery.duplicates + count))
