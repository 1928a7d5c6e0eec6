"""Reading alerts: one by id, or a page of them by state."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from publisher.services.errors import InvalidInput, NotFound
from publisher.store.models import Alert, AlertState

__all__ = ["MAX_PER_PAGE", "AlertPage", "get_alert", "list_alerts"]

MAX_PER_PAGE = 200


@dataclass(frozen=True)
class AlertPage:
    items: list[Alert]
    page: int
    per_page: int
    total: int


def get_alert(session: Session, alert_id: int) -> Alert:
    alert = session.get(Alert, alert_id)
    if alert is None:
        raise NotFound(f"no alert {alert_id}", field="alert_id")
    return alert


def _state(state: str) -> AlertState:
    try:
        return AlertState(state)
    except ValueError:
        known = ", ".join(member.value for member in AlertState)
        raise InvalidInput(f"{state!r} is not a state (known: {known})", field="state") from None


def list_alerts(session: Session, state: str | None, page: int,
                per_page: int = 50) -> AlertPage:
    """Newest first; ``page`` counts from 1."""
    if page < 1:
        raise InvalidInput("pages count from 1", field="page")
    if not 1 <= per_page <= MAX_PER_PAGE:
        raise InvalidInput(f"must be between 1 and {MAX_PER_PAGE}", field="per_page")
    query = select(Alert)
    if state:
        query = query.where(Alert.state == _state(state))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    items = session.scalars(
        query.order_by(Alert.id.desc()).offset((page - 1) * per_page).limit(per_page)
    ).all()
    return AlertPage(list(items), page, per_page, total)
