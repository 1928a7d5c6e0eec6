"""The early-warning timings of an alert an automatic sender published, for its dashboard.

From the audit log: how long the request took to verify and publish it,
and to start publishing to the MQTT terminals (``eew_publish``), and when
the lane handed each channel on (``eew_fanout``); from the deliveries: each
channel's first ack (``delivered_at``), counted from the moment the message
was published. None for any other alert.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from publisher.services.eew import EEW_PUBLISH
from publisher.store.models import AuditEntry, Delivery, Message

__all__ = ["eew_timings"]

_REQUEST_TIMINGS = ("verify_ms", "judge_ms", "publish_ms", "terminals_started_ms")


def _milliseconds(seconds: float) -> float:
    return round(seconds * 1000, 1)


def eew_timings(session: Session, alert_id: int) -> dict[str, Any] | None:
    published = session.scalars(
        select(AuditEntry).where(AuditEntry.alert_id == alert_id,
                                 AuditEntry.action == EEW_PUBLISH)).first()
    if published is None or published.message_id is None:
        return None
    message = session.get(Message, published.message_id)
    assert message is not None
    fanout = session.scalars(
        select(AuditEntry).where(AuditEntry.message_id == message.id,
                                 AuditEntry.action == "eew_fanout")).first()
    first_acks = session.execute(
        select(Delivery.channel, func.min(Delivery.delivered_at))
        .where(Delivery.message_id == message.id, Delivery.delivered_at.is_not(None))
        .group_by(Delivery.channel).order_by(Delivery.channel)).all()
    detail = published.detail
    return {
        "sender": published.actor, "origin": detail.get("origin"),
        "magnitude": detail.get("magnitude"), "epicentre": detail.get("epicentre"),
        **{name: detail.get(name) for name in _REQUEST_TIMINGS},
        "handed_on_ms": fanout.detail.get("handed_on_ms", {}) if fanout else {},
        "first_ack_ms": {channel: _milliseconds((moment - message.created_at).total_seconds())
                         for channel, moment in first_acks},
    }
