"""Receipts to their parts and deliveries, a whole drain of them at a time.

A worker records receipts in drains of hundreds: reading and writing each
one's part and delivery on its own costs about ten statements a receipt,
which the database cannot keep up with at an SMSC's rate. A ``Correlation``
reads every row a set of receipts names in a few statements, moves them in
memory in the receipts' order by the rules of ``publisher.services.receipts``,
and writes what moved, a statement per table and set of changed columns
(``store.bulk``).

The deliveries are locked (``FOR UPDATE``, in id order, so two drains never
wait on each other in a circle) before their parts are read: receipts of
the parts of one delivery recorded by two workers at once take turns, and
the second sees what the first wrote, so no aggregate is lost between them.
A part never moves to another delivery, so parts are found by provider id
before the lock. SQLite has one lock for the whole database, taken before
anything is read (``lock_for_writing``).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, select
from sqlalchemy.orm import InstrumentedAttribute, Session

from publisher.channels.base import DeliveryStatus, ParsedReceipt
from publisher.store.bulk import among, update_rows
from publisher.store.db import lock_for_writing
from publisher.store.models import Delivery, DeliveryPart, ReceiptOutcome, utcnow

__all__ = ["Correlation"]

@dataclass(slots=True)
class _Row:
    """A delivery or a part as read under the lock, and what moving it changed."""

    id: int
    status: DeliveryStatus
    changes: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Part(_Row):
    delivery_id: int = 0
    part_number: int = 0
    detail: str | None = None


def _unless_forward(current: DeliveryStatus, status: DeliveryStatus) -> ReceiptOutcome | None:
    """What a receipt of ``status`` is for a row at ``current``; None when it moves it forward."""
    if current is status:
        return ReceiptOutcome.DUPLICATE
    if current.is_final or status.rank <= current.rank:
        return ReceiptOutcome.LATE
    return None


def _delivery_changes(status: DeliveryStatus, detail: str, now: datetime) -> dict[str, Any]:
    changes: dict[str, Any] = {"status": status}
    if status is DeliveryStatus.DELIVERED:
        changes["delivered_at"] = now
    if status is DeliveryStatus.FAILED:
        changes["failed_at"] = now
    if status.is_final:
        changes["final_at"] = now
    if status in (DeliveryStatus.FAILED, DeliveryStatus.EXPIRED) and detail:
        changes["last_error"] = detail
    return changes


def _part_changes(status: DeliveryStatus, detail: str, now: datetime) -> dict[str, Any]:
    changes: dict[str, Any] = {"status": status, "detail": detail or None}
    if status.is_final:
        changes["final_at"] = now
    return changes


def _move(row: _Row, status: DeliveryStatus, changes: dict[str, Any]) -> ReceiptOutcome:
    outcome = _unless_forward(row.status, status)
    if outcome is not None:
        return outcome
    row.status = status
    row.changes.update(changes)
    return ReceiptOutcome.APPLIED


def _aggregate(parts: Sequence[_Part]) -> tuple[DeliveryStatus, str]:
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


def _first_by_provider(session: Session, columns: Sequence[InstrumentedAttribute[int]],
                       provider_column: InstrumentedAttribute[str | None],
                       where: ColumnElement[bool], provider_ids: Sequence[str]
                       ) -> dict[str, tuple[int, ...]]:
    """Provider id to ``columns`` of the row with the lowest first column that carries it."""
    found: dict[str, tuple[int, ...]] = {}
    for chosen in among(session, provider_column, provider_ids):
        rows = session.execute(select(provider_column, *columns)
                               .where(where, chosen).order_by(columns[0]))
        for provider_id, *values in rows:
            if provider_id is not None:
                found.setdefault(provider_id, tuple(values))
    return found


class Correlation:
    """The parts and deliveries that a set of provider ids names, read and locked at once."""

    def __init__(self, session: Session, channel: str, provider_ids: Collection[str]) -> None:
        self._session = session
        # Every row moved by these receipts gets the same time: written
        # together, rows that moved alike are one statement's parameters.
        self._now = utcnow()
        lock_for_writing(session)
        wanted = sorted(set(provider_ids))
        parts = _first_by_provider(session, (DeliveryPart.id, DeliveryPart.delivery_id),
                                   DeliveryPart.provider_id, DeliveryPart.channel == channel,
                                   wanted)
        whole = [provider_id for provider_id in wanted if provider_id not in parts]
        self._whole = {provider_id: delivery_id for provider_id, (delivery_id,)
                       in _first_by_provider(session, (Delivery.id,), Delivery.provider_id,
                                             Delivery.channel == channel, whole).items()}
        with_parts = {delivery_id for _, delivery_id in parts.values()}
        self._deliveries = self._lock(sorted(with_parts | set(self._whole.values())))
        self._parts: dict[int, list[_Part]] = {}
        self._part_by_provider: dict[str, _Part] = {}
        self._read_parts(sorted(with_parts), {provider_id: part_id for provider_id, (part_id, _)
                                              in parts.items()})

    def _lock(self, delivery_ids: Sequence[int]) -> dict[int, _Row]:
        locked: dict[int, _Row] = {}
        for chosen in among(self._session, Delivery.id, delivery_ids):
            rows = self._session.execute(
                select(Delivery.id, Delivery.status).where(chosen)
                .order_by(Delivery.id).with_for_update())
            locked.update((row_id, _Row(row_id, status)) for row_id, status in rows)
        return locked

    def _read_parts(self, delivery_ids: Sequence[int], part_ids: dict[str, int]) -> None:
        by_id: dict[int, _Part] = {}
        for chosen in among(self._session, DeliveryPart.delivery_id, delivery_ids):
            rows = self._session.execute(
                select(DeliveryPart.id, DeliveryPart.status, DeliveryPart.delivery_id,
                       DeliveryPart.part_number, DeliveryPart.detail)
                .where(chosen)
                .order_by(DeliveryPart.delivery_id, DeliveryPart.part_number))
            for part_id, status, delivery_id, number, detail in rows:
                part = _Part(part_id, status, delivery_id=delivery_id, part_number=number,
                             detail=detail)
                by_id[part_id] = part
                self._parts.setdefault(delivery_id, []).append(part)
        self._part_by_provider = {provider_id: by_id[part_id]
                                  for provider_id, part_id in part_ids.items()}

    def apply(self, parsed: ParsedReceipt) -> tuple[int | None, ReceiptOutcome]:
        """The delivery a receipt is about, and what the receipt did to it (in memory)."""
        part = self._part_by_provider.get(parsed.provider_id)
        if part is not None:
            outcome = _move(part, parsed.status,
                            _part_changes(parsed.status, parsed.detail, self._now))
            if outcome is ReceiptOutcome.APPLIED:
                part.detail = parsed.detail or None
                status, detail = _aggregate(self._parts[part.delivery_id])
                if status is not DeliveryStatus.SENT:
                    _move(self._deliveries[part.delivery_id], status,
                          _delivery_changes(status, detail, self._now))
            return part.delivery_id, outcome
        delivery_id = self._whole.get(parsed.provider_id)
        if delivery_id is None:
            return None, ReceiptOutcome.UNKNOWN
        return delivery_id, _move(self._deliveries[delivery_id], parsed.status,
                                  _delivery_changes(parsed.status, parsed.detail, self._now))

    def write(self) -> None:
        """Write every row that moved: one statement per table and set of changed columns."""
        parts = (part for delivery_parts in self._parts.values() for part in delivery_parts)
        self._write(DeliveryPart, parts)
        self._write(Delivery, self._deliveries.values())

    def _write(self, table: type[Delivery] | type[DeliveryPart], rows: Iterable[_Row]) -> None:
        groups: dict[tuple[str, ...], list[dict[str, Any]]] = {}
        for row in rows:
            if row.changes:
                groups.setdefault(tuple(sorted(row.changes)), []).append(
                    {"id": row.id, **row.changes})
                row.changes = {}
        for values in groups.values():
            update_rows(self._session, cast(Table, table.__table__), values)
