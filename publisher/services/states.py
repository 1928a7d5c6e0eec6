"""The alert state machine, written once.

Every transition is claimed by one UPDATE guarded by the states it may start
from. That statement is also the lock: on PostgreSQL it locks the row, on
SQLite it takes the write lock, and a concurrent second claim then finds the
state already moved and is refused. So two approvals cannot both publish.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import cast

from sqlalchemy import CursorResult, update
from sqlalchemy.orm import Session

from publisher.services.errors import Conflict, NotFound
from publisher.store.models import Alert, AlertState

__all__ = ["Transition", "claim"]


class Transition(enum.StrEnum):
    EDIT = "edit"
    SUBMIT = "submit"
    APPROVE = "approve"
    REJECT = "reject"
    UPDATE = "update"
    CANCEL = "cancel"
    EXPIRE = "expire"


_MOVES: dict[Transition, tuple[frozenset[AlertState], AlertState]] = {
    Transition.EDIT: (frozenset({AlertState.DRAFT, AlertState.REJECTED}), AlertState.DRAFT),
    Transition.SUBMIT: (frozenset({AlertState.DRAFT}), AlertState.SUBMITTED),
    Transition.APPROVE: (frozenset({AlertState.SUBMITTED}), AlertState.PUBLISHED),
    Transition.REJECT: (frozenset({AlertState.SUBMITTED}), AlertState.REJECTED),
    Transition.UPDATE: (frozenset({AlertState.PUBLISHED}), AlertState.PUBLISHED),
    # Cancelled is final: a cancelled alert is never published again.
    Transition.CANCEL: (frozenset({AlertState.PUBLISHED}), AlertState.CANCELLED),
    Transition.EXPIRE: (frozenset({AlertState.PUBLISHED}), AlertState.EXPIRED),
}


def claim(session: Session, alert_id: int, transition: Transition, now: datetime) -> Alert:
    """Move the alert along ``transition`` and return it, or raise NotFound or Conflict."""
    sources, target = _MOVES[transition]
    result = cast(CursorResult[tuple[()]], session.execute(
        update(Alert)
        .where(Alert.id == alert_id, Alert.state.in_(sources))
        .values(state=target, updated_at=now)
        .execution_options(synchronize_session=False)
    ))
    alert = session.get(Alert, alert_id, populate_existing=True)
    if alert is None:
        raise NotFound(f"no alert {alert_id}", field="alert_id")
    if result.rowcount != 1:
        allowed = " or ".join(sorted(sources))
        raise Conflict(f"alert {alert_id} is {alert.state}; {transition} needs it {allowed}",
                       field="state")
    return alert
