"""How far an alert's deliveries got: counts per channel and status, timings, the rows.

A row shows its parts as the provider took them (a concatenated SMS has
several, each with its provider id and its own status) and the receipts
correlated with it: how many, and the last one's time and status.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, union
from sqlalchemy.orm import Session

from publisher.channels.base import DeliveryStatus
from publisher.services.errors import InvalidInput, NotFound
from publisher.store.models import Alert, Delivery, DeliveryPart, Message, Receipt, Target

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


def _moment(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parts(session: Session, delivery_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The parts of the page's deliveries, in part order, by delivery id."""
    found: dict[int, list[dict[str, Any]]] = {}
    for part in session.scalars(select(DeliveryPart)
                                .where(DeliveryPart.delivery_id.in_(delivery_ids))
                                .order_by(DeliveryPart.delivery_id, DeliveryPart.part_number)):
        found.setdefault(part.delivery_id, []).append({
            "part_number": part.part_number, "provider_id": part.provider_id,
            "status": part.status.value, "detail": part.detail,
            "final_at": _moment(part.final_at)})
    return found


def _no_receipts() -> dict[str, Any]:
    return {"count": 0, "last_at": None, "last_status": None}


def _receipts(session: Session, delivery_ids: Sequence[int]) -> dict[int | None, dict[str, Any]]:
    """How many receipts each delivery of the page has, and the last one's time and status."""
    # Looked up by the provider ids the deliveries and their parts carry,
    # which receipts are indexed by.
    provider_ids = union(
        select(Delivery.provider_id).where(Delivery.id.in_(delivery_ids)),
        select(DeliveryPart.provider_id).where(DeliveryPart.delivery_id.in_(delivery_ids)),
    ).scalar_subquery()
    found: dict[int | None, dict[str, Any]] = {}
    for delivery_id, received_at, status in session.execute(
        select(Receipt.delivery_id, Receipt.received_at, Receipt.status)
        .where(Receipt.provider_id.in_(provider_ids), Receipt.delivery_id.in_(delivery_ids))
        .order_by(Receipt.id)
    ):
        counted = found.setdefault(delivery_id, _no_receipts())
        counted.update(count=counted["count"] + 1, last_at=_moment(received_at),
                       last_status=status)
    return found


def _row(delivery: Delivery, address: str, parts: list[dict[str, Any]],
         receipts: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": delivery.id, "message_id": delivery.message_id, "channel": delivery.channel,
        "target_id": delivery.target_id, "address": address, "status": delivery.status.value,
        "attempts": delivery.attempts, "provider_id": delivery.provider_id,
        "last_error": delivery.last_error, "duplicates": delivery.duplicates,
        "num_segments": delivery.num_segments,
        "created_at": _moment(delivery.created_at), "queued_at": _moment(delivery.queued_at),
        "sent_at": _moment(delivery.sent_at), "delivered_at": _moment(delivery.delivered_at),
        "failed_at": _moment(delivery.failed_at), "final_at": _moment(delivery.final_at),
        "parts": parts, "receipts": receipts,
    }


def list_deliveries(  # noqa: PLR0917 - the web layer passes its query parameters in order
        session: Session, alert_id: int, channel: str | None = None,
        status: str | None = None, page: int = 1, per_page: int = 50) -> dict[str, Any]:
    """One page of an alert's delivery rows, in id order, filtered by channel and status.

    Each row with its parts and a count of its receipts: one query for the
    parts of the page, one for its receipts.
    """
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
    delivery_ids = [delivery.id for delivery, _ in rows]
    parts = _parts(session, delivery_ids) if rows else {}
    receipts = _receipts(session, delivery_ids) if rows else {}
    return {"page": page, "per_page": per_page, "total": total,
            "items": [_row(delivery, address, parts.get(delivery.id, []),
                           receipts.get(delivery.id) or _no_receipts())
                      for delivery, address in rows]}
