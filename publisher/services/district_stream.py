"""What the center owes each node and what the node reports back.

The catch-up stream of a node is every message whose delivery on the
``district`` channel was planned for the node's target, in cursor order.
The cursor is the message id: messages are numbered as they are issued,
planning follows issuing, and a node that applies them in that order
applies an Update after its Alert and a Cancel after both. The stream
shows what was planned, whatever became of the push (a node that missed a
push finds it here); it never shows what was not planned for that node.

A node's aggregated receipt names a message by (sender, identifier, sent)
and counts its local devices per local channel. It is stored as a receipt
of the district channel (``store_receipt``), which moves the node's
delivery from SENT to DELIVERED, and its counts are kept per local channel
for the API. A receipt of a message whose push never got through (the node
caught it up from the stream) marks the delivery handed over first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from publisher.channels.base import Channel, DeliveryStatus, ReceiptError
from publisher.services.district_nodes import DISTRICT_CHANNEL
from publisher.services.errors import InvalidInput, NotFound
from publisher.services.receipts import StoredReceipt, store_receipt
from publisher.store.models import Delivery, DistrictNode, DistrictNodeCount, Message, utcnow

__all__ = [
    "COUNT_NAMES",
    "DEFAULT_PAGE",
    "MAX_PAGE",
    "NodeDelivery",
    "StreamPage",
    "latest_cursor",
    "node_deliveries",
    "recent_messages",
    "record_node_receipt",
    "stream_page",
]

DEFAULT_PAGE = 100
MAX_PAGE = 500
COUNT_NAMES = ("delivered", "failed", "pending")


@dataclass(frozen=True, slots=True)
class StreamPage:
    messages: list[tuple[int, bytes]]
    """(cursor, signed XML) in cursor order."""
    next_cursor: int | None
    """The cursor to ask after for the next page; None when this page is the last."""


def _planned_for(node: DistrictNode) -> Any:
    return select(Delivery.message_id).where(Delivery.channel == DISTRICT_CHANNEL,
                                             Delivery.target_id == node.target_id)


def stream_page(session: Session, node: DistrictNode, after: int, limit: int) -> StreamPage:
    """The messages planned for ``node`` after cursor ``after``, ``limit`` at most."""
    if after < 0:
        raise InvalidInput(f"must be a cursor of 0 or more, not {after}", field="after")
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidInput(f"must be from 1 to {MAX_PAGE}, not {limit}", field="limit")
    rows = session.execute(
        select(Message.id, Message.xml)
        .where(Message.id.in_(_planned_for(node)), Message.id > after)
        .order_by(Message.id).limit(limit + 1)).all()
    page = [(row.id, row.xml) for row in rows[:limit]]
    return StreamPage(page, page[-1][0] if len(rows) > limit else None)


def recent_messages(session: Session, node: DistrictNode, count: int) -> list[Message]:
    """The last ``count`` messages of the node's stream, oldest first."""
    newest = session.scalars(select(Message).where(Message.id.in_(_planned_for(node)))
                             .order_by(Message.id.desc()).limit(count)).all()
    return list(reversed(newest))


def latest_cursor(session: Session, node: DistrictNode) -> int:
    return session.scalar(select(func.max(Message.id)).where(
        Message.id.in_(_planned_for(node)))) or 0


def _counts(body: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    counts = body.get("counts")
    if not isinstance(counts, Mapping):
        raise InvalidInput("must be an object: local channel -> {delivered, failed, pending}",
                           field="counts")
    checked: dict[str, dict[str, int]] = {}
    for channel, tally in counts.items():
        where = f"counts.{channel}"
        if not isinstance(tally, Mapping) or set(tally) - set(COUNT_NAMES):
            raise InvalidInput(f"must be an object of {', '.join(COUNT_NAMES)}", field=where)
        for name in COUNT_NAMES:
            value = tally.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise InvalidInput(f"must be a whole number of 0 or more, not {value!r}",
                                   field=f"{where}.{name}")
        checked[str(channel)[:32]] = {name: tally.get(name, 0) for name in COUNT_NAMES}
    return checked


def _sent(body: Mapping[str, Any]) -> datetime:
    value = body.get("sent")
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.tzinfo is None:
        raise InvalidInput(f"must be the CAP sent time with its offset, not {value!r}",
                           field="sent")
    return moment


def _node_delivery(session: Session, node: DistrictNode, body: Mapping[str, Any]) -> Delivery:
    sender, identifier = body.get("sender"), body.get("identifier")
    for name, value in (("sender", sender), ("identifier", identifier)):
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput("required: a non-empty string", field=name)
    delivery = session.scalars(
        select(Delivery).join(Message, Message.id == Delivery.message_id)
        .where(Message.sender == sender, Message.identifier == identifier,
               Message.sent == _sent(body), Delivery.channel == DISTRICT_CHANNEL,
               Delivery.target_id == node.target_id)
        # Locked, so that a receipt that overtakes its push's answer waits for that
        # answer's transaction, or that transaction (whose rematch finds the receipt)
        # waits for this one: found unlocked, both could miss the other.
        .with_for_update(of=Delivery)).one_or_none()
    if delivery is None:
        raise NotFound(f"no message {sender},{identifier},{body.get('sent')} was sent to"
                       f" node {node.code}", field="identifier")
    return delivery


def _handed_over_by_catch_up(session: Session, delivery: Delivery, provider_id: str) -> None:
    """A node reports only what it holds, so a delivery whose push never got through was
    handed over all the same, by the node's catch-up: it becomes SENT under the push's
    provider id, for the receipt to move it on.

    That is a delivery still queued between push retries, or one failed when
    the retries ran out during a long outage (minutes): without this its
    receipt would match nothing and the center would count a node that
    shows the alert as failed. A push still in flight (SENDING) records
    its own answer, and the receipt waits for it.
    """
    # One statement, conditional on the row as it is now: a push retry that
    # claims the row meanwhile keeps it, and records its own answer.
    session.execute(
        update(Delivery)
        .where(Delivery.id == delivery.id, Delivery.provider_id.is_(None),
               Delivery.status.in_((DeliveryStatus.QUEUED, DeliveryStatus.FAILED)))
        .values(status=DeliveryStatus.SENT, provider_id=provider_id, last_error=None,
                sent_at=utcnow(), failed_at=None, final_at=None)
        .execution_options(synchronize_session="fetch"))


def record_node_receipt(session: Session, node: DistrictNode, channel: Channel[Any],
                        body: Mapping[str, Any]) -> StoredReceipt:
    """Record ``node``'s aggregated receipt of one message: its delivery moves, counts kept."""
    counts = _counts(body)
    delivery = _node_delivery(session, node, body)
    raw = {**body, "node": node.code}
    try:
        parsed = channel.parse_receipt(raw)
    except ReceiptError as error:
        raise InvalidInput(error.reason, field=error.field) from None
    _handed_over_by_catch_up(session, delivery, parsed.provider_id)
    stored = store_receipt(session, channel, raw)
    now = utcnow()
    session.execute(delete(DistrictNodeCount).where(
        DistrictNodeCount.delivery_id == delivery.id))
    session.add_all(DistrictNodeCount(delivery_id=delivery.id, local_channel=name,
                                      received_at=now, **tally)
                    for name, tally in counts.items())
    session.flush()
    return stored


@dataclass(frozen=True, slots=True)
class NodeDelivery:
    """One message as one node has it: the push's state and the local counts."""

    cursor: int
    identifier: str
    sent: datetime
    msg_type: str
    status: str
    counts: dict[str, dict[str, int]]


def node_deliveries(session: Session, node: DistrictNode, limit: int) -> list[NodeDelivery]:
    """The node's latest ``limit`` deliveries, newest first, with their local counts."""
    rows = session.execute(
        select(Delivery.id, Message.id, Message.identifier, Message.sent, Message.msg_type,
               Delivery.status)
        .join(Message, Message.id == Delivery.message_id)
        .where(Delivery.channel == DISTRICT_CHANNEL, Delivery.target_id == node.target_id)
        .order_by(Message.id.desc()).limit(limit)).all()
    counts: dict[int, dict[str, dict[str, int]]] = {}
    for row in session.scalars(select(DistrictNodeCount).where(
            DistrictNodeCount.delivery_id.in_([row[0] for row in rows]))):
        counts.setdefault(row.delivery_id, {})[row.local_channel] = {
            name: getattr(row, name) for name in COUNT_NAMES}
    return [NodeDelivery(message_id, identifier, sent, msg_type, status.value,
                         counts.get(delivery_id, {}))
            for delivery_id, message_id, identifier, sent, msg_type, status in rows]
