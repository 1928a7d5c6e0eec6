"""Alerts end by themselves when every info block has expired."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.services import audit
from publisher.services.actors import Actor
from publisher.services.errors import Conflict
from publisher.services.states import Transition, claim
from publisher.store.models import Alert, AlertState

__all__ = ["EXPIRY_ACTOR", "expire_due"]

EXPIRY_ACTOR = Actor.system("expiry")


def expire_due(session: Session, now: datetime) -> list[int]:
    """Mark published alerts whose expiry has passed as expired; their ids."""
    due = session.scalars(
        select(Alert.id).where(Alert.state == AlertState.PUBLISHED, Alert.expires_at <= now)
        .order_by(Alert.id)
    ).all()
    expired: list[int] = []
    for alert_id in due:
        try:
            alert = claim(session, alert_id, Transition.EXPIRE, now)
        except Conflict:
            continue  # cancelled or expired by someone else since the query
        audit.record(session, EXPIRY_ACTOR, "expire", alert_id=alert.id,
                     reason=f"expires {alert.expires_at.isoformat() if alert.expires_at else ''}")
        expired.append(alert.id)
    return expired
