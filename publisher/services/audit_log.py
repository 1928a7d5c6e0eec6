"""Reading the audit log: a page of entries, newest first, filtered by alert, user and action.

Reading is all there is: the log is append-only, and nothing here or in
the web layer changes or removes an entry.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from publisher.services.actors import Actor
from publisher.services.errors import Forbidden, InvalidInput
from publisher.store.models import AuditEntry, Role

__all__ = [
    "AUDIT_PER_PAGE",
    "AUDIT_READERS",
    "AuditFilter",
    "AuditPage",
    "audit_actions",
    "audit_page",
    "require_audit_reader",
]

AUDIT_READERS = (Role.ADMIN, Role.APPROVER, Role.VIEWER)
AUDIT_PER_PAGE = 50


@dataclass(frozen=True, slots=True)
class AuditFilter:
    alert_id: int | None = None
    user: str | None = None
    action: str | None = None


@dataclass(frozen=True, slots=True)
class AuditPage:
    entries: list[AuditEntry]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))


def require_audit_reader(actor: Actor) -> None:
    if not any(actor.has_role(role) for role in AUDIT_READERS):
        raise Forbidden(f"reading the audit log needs one of the roles"
                        f" {', '.join(AUDIT_READERS)}, which {actor.name} does not have",
                        field="role")


def audit_page(session: Session, actor: Actor, wanted: AuditFilter, page: int = 1,
               per_page: int = AUDIT_PER_PAGE) -> AuditPage:
    require_audit_reader(actor)
    if page < 1:
        raise InvalidInput("must be at least 1", field="page")
    conditions = []
    if wanted.alert_id is not None:
        conditions.append(AuditEntry.alert_id == wanted.alert_id)
    if wanted.user:
        conditions.append(AuditEntry.actor == wanted.user)
    if wanted.action:
        conditions.append(AuditEntry.action == wanted.action)
    total = session.scalar(select(func.count()).select_from(AuditEntry).where(*conditions)) or 0
    entries = session.scalars(select(AuditEntry).where(*conditions)
                              .order_by(AuditEntry.id.desc())
                              .offset((page - 1) * per_page).limit(per_page)).all()
    return AuditPage(list(entries), page, per_page, total)


def audit_actions(session: Session) -> list[str]:
    """The actions the log holds, for choosing one to filter by."""
    return list(session.scalars(select(AuditEntry.action).distinct().order_by(AuditEntry.action)))
