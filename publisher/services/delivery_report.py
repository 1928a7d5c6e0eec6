"""How far an alert's deliveries got: counts per channel and status, timings, the rows."""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from publisher.channels.base import DeliveryStatus
from publisher.services.errors import InvalidInput, NotFound
from publisher.store.models import Alert, Delivery, Message, Target

__all__ = ["DELIVERED_SHARES", "delivery_summary", "list_deliveries"]

DELIVERED_SHARES = (0.5, 0.9, 0.99)
MAX_PER_PAGE = 500


def _alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"no alert with id {alert_id}", field="alert_id")
    return alert


def _seconds_to_share(session: Session, message: Message, channel: str, total: int,
                      share: float) -> float | None:
    """Seconds from publishing until ``share`` of the channel's deliveries were delivered."""
    rank = math.ceil(share * total)
    reached: datetime | None = session.scalar(
        select(Delivery.delivered_at)
        .where(Delivery.message_id == message.id, Delivery.channel == channel,
               Delivery.delivered_at.is_not(None))
        .order_by(Delivery.delivered_at).offset(rank - 1).limit(1)
    )
    if reached is None:
        return None
    return round((reached - message.created_at).total_seconds(), 3)


def _message_summary(session: Session, message: Message) -> dict[str, Any]:
    counts: dict[str, dict[str, int]] = {}
    for channel, status, number in session.execute(
        select(Delivery.channel, Delivery.status, func.count())
        .where(Delivery.message_id == message.id)
        .group_by(Delivery.channel, Delivery.status)
    ):
        counts.setdefault(channel, {})[DeliveryStatus(status).value] = number
    channels = {}
    for channel, by_status in sorted(counts.items()):
        total = sum(by_status.values())
        channels[channel] = {
            "total": total,
            "by_status": {status.value: by_status.get(status.value, 0)
                          for status in DeliveryStatus},
            "seconds_to_delivered": {
                f"p{round(share * 100)}": _seconds_to_share(session, message, channel,
                                                            total, share)
                for share in DELIVERED_SHARES
            },
        }
    return {"message_id": message.id, "identifier": message.identifier,
            "msg_type": message.msg_type, "status": message.status,
            "published_at": message.created_at.isoformat(), "channels": channels}


def delivery_summary(session: Session, alert_id: int) -> dict[str, Any]:
    """Per message of the alert: per channel, deliveries by status and time to 50/90/99 %.

    A share not (yet) reached is None.
    """
    alert = _alert(session, alert_id)
    return {"alert_id": alert.id,
            "messages": [_message_summary(session, message) for message in alert.messages]}


def _status(value: str | None) -> DeliveryStatus | None:
    if value is None or value == "":
        return None
    try:
        return DeliveryStatus(value)
    except ValueError:
        known = ", ".join(status.value for status in DeliveryStatus)
        raise InvalidInput(f"unknown status {value!r}; one of {known}", field="status") from None


def _row(delivery: Delivery, address: str) -> dict[str, Any]:
    def moment(value: datetime | None) -> str | None:
        return value.isoformat() if value is not None else None

    return {
        "id": delivery.id, "message_id": delivery.message_id, "channel": delivery.channel,
        "target_id": delivery.target_id, "address": address, "status": delivery.status.value,
        "attempts": delivery.attempts, "provider_id": delivery.provider_id,
        "last_error": delivery.last_error, "created_at": moment(delivery.created_at),
        "queued_at": moment(delivery.queued_at), "sent_at": moment(delivery.sent_at),
        "delivered_at": moment(delivery.delivered_at), "failed_at": moment(delivery.failed_at),
        "final_at": moment(delivery.final_at),
    }


def list_deliveries(  # noqa: PLR0917 - the web layer passes its query parameters in order
        session: Session, alert_id: int, channel: str | None = None,
        status: str | None = None, page: int = 1, per_page: int = 50) -> dict[str, Any]:
    """One page of an alert's delivery rows, in id order, filtered by channel and status."""
    _alert(session, alert_id)
    if page < 1:
        raise InvalidInput("must be at least 1", field="page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"must be between 1 and {MAX_PER_PAGE}", field="per_page")
    conditions = [Message.alert_id == alert_id]
    if channel:
        conditions.append(Delivery.channel == channel)
    wanted = _status(status)
    if wanted is not None:
        conditions.append(Delivery.status == wanted)
    base = select(Delivery).join(Message, Message.id == Delivery.message_id).where(*conditions)
    total = session.scalar(select(func.count()).select_from(base.subquery())) or 0
    rows = session.execute(
        base.add_columns(Target.address).join(Target, Target.id == Delivery.target_id)
        .order_by(Delivery.id).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return {"page": page, "per_page": per_page, "total": total,
            "items": [_row(delivery, address) for delivery, address in rows]}
