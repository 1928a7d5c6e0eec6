"""The failed targets of an alert, a page at a time, each with the reason it failed."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from publisher.channels.base import DeliveryStatus
from publisher.services.errors import InvalidInput
from publisher.store.models import Delivery, Message, Target

__all__ = ["FAILED_PER_PAGE", "MAX_FAILED_PER_PAGE", "failed_targets"]

FAILED_PER_PAGE = 20
MAX_FAILED_PER_PAGE = 500


def failed_targets(session: Session, alert_id: int, *, channel: str | None = None,
                   page: int = 1, per_page: int = FAILED_PER_PAGE) -> dict[str, Any]:
    """Deliveries of the alert's messages that failed, newest failure first."""
    if page < 1:
        raise InvalidInput("must be at least 1", field="page")
    if not 1 <= per_page <= MAX_FAILED_PER_PAGE:
        raise InvalidInput(f"must be between 1 and {MAX_FAILED_PER_PAGE}", field="per_page")
    conditions = [Message.alert_id == alert_id, Delivery.status == DeliveryStatus.FAILED]
    if channel:
        conditions.append(Delivery.channel == channel)
    total = session.scalar(select(func.count()).select_from(Delivery)
                           .join(Message, Message.id == Delivery.message_id)
                           .where(*conditions)) or 0
    rows = session.execute(
        select(Delivery.id, Delivery.message_id, Message.msg_type, Delivery.channel,
               Target.address, Target.district_code, Delivery.last_error, Delivery.attempts,
               Delivery.failed_at)
        .join(Message, Message.id == Delivery.message_id)
        .join(Target, Target.id == Delivery.target_id)
        .where(*conditions)
        .order_by(Delivery.failed_at.desc().nulls_last(), Delivery.id.desc())
        .offset((page - 1) * per_page).limit(per_page)).all()
    return {"page": page, "per_page": per_page, "total": total, "items": [
        {"delivery_id": delivery_id, "message_id": message_id, "msg_type": msg_type,
         "channel": channel_name, "address": address, "district_code": district_code,
         "reason": reason, "attempts": attempts,
         "failed_at": failed_at.isoformat() if failed_at is not None else None}
        for (delivery_id, message_id, msg_type, channel_name, address, district_code, reason,
             attempts, failed_at) in rows]}
