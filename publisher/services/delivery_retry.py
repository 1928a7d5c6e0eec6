"""Retry what failed: the failed deliveries of an alert's current message, back in the queue.

A delivery is failed when its channel refused it for good or its batch
ran out of retries. An approver (or an administrator) who has fixed the
cause (a bind restored, a board repaired) puts those rows back in the
queue: the same rows, one per (message, channel, target), never a second
one, so a retry asked twice, or a batch delivered twice, hands each target
the message at most once more. The caller enqueues the returned batches
after its commit (``FanoutTrigger.resend``); rows the broker refuses wait
queued for a worker's start (``delivery.resume_unfinished``).

Only the alert's current message is retried: the latest Alert or Update
while the alert is published and not past its expiry, the Cancel once it is
cancelled. A message that a later one superseded is never sent again, and
neither is anything of an alert that expired or was rejected.

The parts a failed SMS left (a segment delivered, another refused) are
removed with the retry: the text goes out whole again, with new parts.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from publisher.cap.model import MsgType
from publisher.channels.base import DeliveryStatus
from publisher.services import audit
from publisher.services.actors import Actor
from publisher.services.errors import Conflict, Forbidden, InvalidInput
from publisher.services.queries import get_alert
from publisher.store.models import Alert, AlertState, Delivery, DeliveryPart, Message, Role, utcnow

__all__ = ["RETRY_ROLES", "RetriedDeliveries", "retry_failed"]

log = logging.getLogger(__name__)

RETRY_ROLES = frozenset({Role.APPROVER, Role.ADMIN})
_AUDIT_ACTION = "retry_failed_deliveries"


@dataclass(frozen=True, slots=True)
class RetriedDeliveries:
    """What a retry put back in the queue, per channel, in delivery id order."""

    alert_id: int
    message_id: int
    by_channel: dict[str, list[int]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(ids) for ids in self.by_channel.values())


def _require_retry_role(actor: Actor) -> None:
    if not actor.roles & RETRY_ROLES:
        raise Forbidden(f"retrying failed deliveries needs the {Role.APPROVER} or {Role.ADMIN}"
                        f" role, which {actor.name} does not have", field="role")


def _current_message(alert: Alert, now: datetime) -> Message:
    latest = alert.latest_message
    if alert.state is AlertState.PUBLISHED and latest is not None \
            and latest.msg_type != MsgType.CANCEL.value \
            and (alert.expires_at is None or alert.expires_at > now):
        return latest
    if alert.state is AlertState.CANCELLED and latest is not None \
            and latest.msg_type == MsgType.CANCEL.value:
        return latest
    raise Conflict(f"alert {alert.id} is {alert.state.value}"
                   f"{' and past its expiry' if alert.state is AlertState.PUBLISHED else ''}:"
                   " only the current message of a published alert, or the Cancel of a"
                   " cancelled one, is retried", field="state")


def _channel(session: Session, message: Message, channel: str | None) -> str | None:
    if channel is None:
        return None
    if not channel.strip():
        raise InvalidInput("must be a channel name, or left out for every channel",
                           field="channel")
    used = list(session.scalars(select(Delivery.channel).distinct()
                                .where(Delivery.message_id == message.id)
                                .order_by(Delivery.channel)))
    if channel not in used:
        raise InvalidInput(f"the current message ({message.msg_type} {message.id}) has no"
                           f" deliveries on channel {channel!r}; it went out on:"
                           f" {', '.join(used) or 'none'}", field="channel")
    return channel


def retry_failed(session: Session, actor: Actor, alert_id: int, channel: str | None = None,
                 *, now: datetime | None = None) -> RetriedDeliveries:
    """Put the failed deliveries of the alert's current message (of ``channel``) back in the queue.

    Audited when anything moved; the caller commits, then enqueues.
    """
    _require_retry_role(actor)
    moment = now or utcnow()
    alert = get_alert(session, alert_id)
    message = _current_message(alert, moment)
    wanted = _channel(session, message, channel)
    # Each statement moves only what is still failed, so two retries at once
    # move each row once: the second finds it queued.
    conditions = [Delivery.message_id == message.id, Delivery.status == DeliveryStatus.FAILED]
    if wanted is not None:
        conditions.append(Delivery.channel == wanted)
    session.execute(delete(DeliveryPart).where(
        DeliveryPart.delivery_id.in_(select(Delivery.id).where(*conditions))))
    moved = session.execute(
        update(Delivery).where(*conditions)
        .values(status=DeliveryStatus.QUEUED, queued_at=moment, failed_at=None, final_at=None)
        .returning(Delivery.id, Delivery.channel)).all()
    result = RetriedDeliveries(alert.id, message.id)
    for delivery_id, channel_name in sorted(moved, key=lambda row: (row[1], row[0])):
        result.by_channel.setdefault(channel_name, []).append(delivery_id)
    if not moved:
        return result
    audit.record(session, actor, _AUDIT_ACTION, alert_id=alert.id, message_id=message.id,
                 detail={"channel": wanted, "retried": {name: len(ids) for name, ids
                                                        in result.by_channel.items()}})
    log.info("failed deliveries put back in the queue", extra={
        "alert_identifier": message.identifier, "channel": wanted,
        "retried": result.count})
    return result
