"""The audit log: one append-only row per transition, saying who, what, when and why."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from publisher.services.actors import Actor
from publisher.store.models import AuditEntry

__all__ = ["record"]


def record(session: Session, actor: Actor, action: str, *, alert_id: int | None = None,
           message_id: int | None = None, reason: str | None = None,
           detail: dict[str, Any] | None = None) -> AuditEntry:
    entry = AuditEntry(actor=actor.name, action=action, alert_id=alert_id,
                       message_id=message_id, reason=reason,
                       detail={"user_id": actor.user_id, **(detail or {})})
    session.add(entry)
    return entry
