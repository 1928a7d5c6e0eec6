"""One alert as the staff pages show it: its content, its people, and who did what, when."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.services.queries import get_alert
from publisher.store.models import Alert, AuditEntry, User

__all__ = ["AlertRecord", "alert_record"]


@dataclass(frozen=True)
class AlertRecord:
    alert: Alert
    author: str
    approver: str | None
    history: list[AuditEntry]


def _username(session: Session, user_id: int | None) -> str | None:
    if user_id is None:
        return None
    return session.scalar(select(User.username).where(User.id == user_id))


def alert_record(session: Session, alert_id: int) -> AlertRecord:
    """The alert, its author's and approver's usernames, and its audit entries, oldest first."""
    alert = get_alert(session, alert_id)
    history = session.scalars(select(AuditEntry).where(AuditEntry.alert_id == alert_id)
                              .order_by(AuditEntry.id)).all()
    return AlertRecord(alert, _username(session, alert.author_id) or "",
                       _username(session, alert.approver_id), list(history))
