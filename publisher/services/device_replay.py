"""Replay on comeback: a board or speaker that missed an alert gets it when it calls in again.

A device that could not be reached when an alert went out has a delivery
that did not reach DELIVERED: back in the queue after a push that got no
answer (its batch retried with backoff), or FAILED once the retries ran
out or the device acked ``failed``. When the device sends a heartbeat
(``device_receipts.record_heartbeat``), those deliveries are put back in
the queue: the same rows, one per message, channel and target, never a
second one. The caller enqueues them after its commit.

- The current message of an alert still on air (published, not past its
  expiry) is replayed when the device comes back after being offline, or
  when its heartbeat does not name that message among what it shows.
- The Cancel of a cancelled alert is replayed while the device still shows
  a message it cancels: a board that missed the Cancel is cleared.

An expired or cancelled alert is never shown again. A delivery in a
worker's hands (SENDING), handed over and awaiting its ack (SENT), or
planned and not tried yet is left alone: its batch is on its way. After
``REPLAY_LIMIT`` hand-overs a delivery stays as it is, for an operator: a
device that refuses a message will refuse it again.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Row, func, or_, select, update
from sqlalchemy.orm import Session, aliased

from publisher.cap.model import MsgType
from publisher.cap.references import parse_references
from publisher.channels.base import DeliveryStatus
from publisher.store.models import Alert, AlertState, Delivery, Device, Message, utcnow

__all__ = ["REPLAY_LIMIT", "Replay", "requeue_missed"]

log = logging.getLogger(__name__)

REPLAY_LIMIT = 20
"""Hand-overs of one delivery after which it is no longer replayed."""


@dataclass(frozen=True, slots=True)
class Replay:
    """Deliveries of one device put back in the queue, for its channel's next batch."""

    channel: str
    delivery_ids: list[int] = field(default_factory=list)


def _missed() -> ColumnElement[bool]:
    """Deliveries that did not get through: failed, or back in the queue after a try."""
    return or_(Delivery.status == DeliveryStatus.FAILED,
               Delivery.status.in_((DeliveryStatus.PENDING, DeliveryStatus.QUEUED))
               & Delivery.last_error.is_not(None))


def _cancelled(references: str | None) -> set[str]:
    parsed, _ = parse_references(references or "")
    return {reference.identifier for reference in parsed}


def _on_record() -> ColumnElement[bool]:
    """The current message of an alert is a show while it is published, its Cancel after."""
    cancel = Message.msg_type == MsgType.CANCEL.value
    return or_((Alert.state == AlertState.PUBLISHED) & ~cancel,
               (Alert.state == AlertState.CANCELLED) & cancel)


def _wanted(msg_type: str, identifier: str, references: str | None,
            showing: Collection[str], came_back: bool) -> bool:
    if msg_type == MsgType.CANCEL.value:
        return bool(_cancelled(references) & set(showing))
    return came_back or identifier not in showing


def _current_messages(session: Session,
                      moment: datetime) -> Sequence[Row[int, str, str, str | None]]:
    """The current message of every alert on record and not past its expiry: a few."""
    later = aliased(Message)
    current = (select(func.max(later.id)).where(later.alert_id == Message.alert_id)
               .scalar_subquery())
    return session.execute(
        select(Message.id, Message.identifier, Message.msg_type, Message.references)
        .join(Alert, Alert.id == Message.alert_id)
        .where(Alert.state.in_((AlertState.PUBLISHED, AlertState.CANCELLED)),
               or_(Alert.expires_at.is_(None), Alert.expires_at > moment),
               Message.id == current, _on_record())).all()


def requeue_missed(session: Session, device: Device, showing: Collection[str], *,
                   came_back: bool, now: datetime | None = None) -> Replay:
    """Put back in the queue what ``device`` missed (see the module); the caller commits.

    ``showing`` is what its heartbeat says it has on air, ``came_back``
    whether it had been offline until that heartbeat. Every heartbeat asks:
    the alerts on record are looked up first, and the device's deliveries
    only among their messages (by the deliveries' message index).
    """
    moment = now or utcnow()
    wanted = {message_id: identifier for message_id, identifier, msg_type, references
              in _current_messages(session, moment)
              if _wanted(msg_type, identifier, references, showing, came_back)}
    if not wanted:
        return Replay(device.kind.channel)
    missed = (Delivery.message_id.in_(list(wanted)), Delivery.channel == device.kind.channel,
              Delivery.target_id == device.target_id, Delivery.attempts < REPLAY_LIMIT,
              _missed())
    # The UPDATE checks the status itself: a row a worker took meanwhile is left to it.
    requeued = session.execute(
        update(Delivery).where(*missed)
        .values(status=DeliveryStatus.QUEUED, queued_at=moment, failed_at=None, final_at=None)
        .returning(Delivery.id, Delivery.message_id)).all()
    for delivery_id, message_id in requeued:
        log.info("delivery replayed to a device that called in", extra={
            "alert_identifier": wanted[message_id], "delivery_id": delivery_id,
            "device_id": device.device_id, "came_back": came_back})
    return Replay(device.kind.channel, sorted(delivery_id for delivery_id, _ in requeued))
