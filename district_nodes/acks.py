"""The devices' acks, recorded a burst at a time.

The boards a push reached ack it within milliseconds of each other. Each
ack request is queued, and one writer task records everything queued in
one transaction: the deliveries' statuses (a delivery never moves to a
lower rank, so a late or repeated ack changes nothing), their messages'
tallies, and the newest receipt owed for each message whose counts moved.
A request is answered only once the transaction holding its ack is
committed, so an ack answered 200 is in the store whatever happens to the
node after.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from district_nodes.receipts import owe_receipt
from district_nodes.store import Delivery
from district_nodes.tallies import move_status
from publisher.channels.base import DeliveryStatus, ParsedReceipt
from publisher.store.db import session_scope

__all__ = ["AckNotRecorded", "AckWriter"]

log = logging.getLogger(__name__)

# Long enough for the acks of one push to gather, short against a device's patience.
GATHER_SECONDS = 0.005
MOST_AT_ONCE = 500
_LONGEST_ID = 18  # digits: beyond, no SQLite integer


class AckNotRecorded(Exception):
    """The store did not take the ack (or the node is stopping); the device should try again."""


@dataclass(frozen=True, slots=True)
class _Ack:
    device_id: str
    receipt: ParsedReceipt
    answer: asyncio.Future[int | None]


def _delivery_id(provider_id: str) -> int | None:
    if provider_id.isascii() and provider_id.isdigit() and len(provider_id) <= _LONGEST_ID:
        return int(provider_id)
    return None


def _record(session: Session, acks: Sequence[_Ack]) -> tuple[list[int | None], bool]:
    """Each ack's message id (None: no delivery of its device has that id), and whether a
    receipt is owed now."""
    wanted = {found for ack in acks if (found := _delivery_id(ack.receipt.provider_id)) is not None}
    deliveries = {delivery.id: delivery for delivery in session.scalars(
        select(Delivery).where(Delivery.id.in_(wanted)))}
    messages: list[int | None] = []
    moved: set[int] = set()
    for ack in acks:
        delivery_id = _delivery_id(ack.receipt.provider_id)
        delivery = None if delivery_id is None else deliveries.get(delivery_id)
        if delivery is None or delivery.device_id != ack.device_id:
            messages.append(None)
            continue
        status = ack.receipt.status
        if DeliveryStatus(delivery.status).rank <= status.rank and move_status(
                session, delivery, status, ack.receipt.detail):
            moved.add(delivery.message_id)
        messages.append(delivery.message_id)
    owed = [owe_receipt(session, message_id) for message_id in sorted(moved)]
    return messages, any(owed)


class AckWriter:
    """Queues the devices' acks and records them in batches; ``wake`` is called when a batch
    owes the center a receipt."""

    def __init__(self, sessions: sessionmaker[Session], wake: Callable[[], None]) -> None:
        self._sessions = sessions
        self._wake = wake
        self._queue: asyncio.Queue[_Ack] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def stop(self) -> None:
        """Record what is queued, then take no more."""
        self._closed = True
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
        self._write(self._take_queued())

    async def record(self, device_id: str, receipt: ParsedReceipt) -> int | None:
        """Record a device's ack once it is committed; the message it concerns, or None when
        it is not this device's delivery. Raises AckNotRecorded."""
        if self._closed:
            raise AckNotRecorded("the node is stopping")
        answer: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait(_Ack(device_id, receipt, answer))
        return await answer

    async def _run(self) -> None:
        while True:
            first = await self._queue.get()
            try:
                await asyncio.sleep(GATHER_SECONDS)
            finally:
                self._write([first, *self._take_queued(MOST_AT_ONCE - 1)])

    def _take_queued(self, most: int | None = None) -> list[_Ack]:
        taken: list[_Ack] = []
        while not self._queue.empty() and (most is None or len(taken) < most):
            taken.append(self._queue.get_nowait())
        return taken

    def _write(self, acks: Sequence[_Ack]) -> None:
        if not acks:
            return
        try:
            with session_scope(self._sessions) as session:
                messages, owed = _record(session, acks)
        except Exception as error:  # any: every ack waiting on the batch must be answered
            log.exception("device acks not recorded", extra={"acks": len(acks)})
            for ack in acks:
                if not ack.answer.done():
                    ack.answer.set_exception(AckNotRecorded(f"{error.__class__.__name__}:"
                                                            f" {error}"))
            return
        for ack, message_id in zip(acks, messages, strict=True):
            if not ack.answer.done():  # a request whose device hung up is done already
                ack.answer.set_result(message_id)
        if owed:
            self._wake()
