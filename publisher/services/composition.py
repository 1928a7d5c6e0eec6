"""Compose drafts: from JSON, from an imported CAP document, and edit them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from publisher.cap.document import check_document
from publisher.cap.model import MsgType
from publisher.cap.profiles import Profile
from publisher.cap.views import alert_to_json
from publisher.cap.xmlsafe import XmlLimits
from publisher.services import audit
from publisher.services.actors import Actor, require_role
from publisher.services.drafts import CheckedDraft, check_draft, invalid_input
from publisher.services.errors import Forbidden, InvalidInput, TooLarge
from publisher.services.issuer import default_profile
from publisher.services.states import Transition, claim
from publisher.store.models import Alert, AlertState, Role, utcnow

__all__ = ["apply_draft", "compose", "compose_from_cap", "edit"]


def apply_draft(alert: Alert, draft: CheckedDraft) -> None:
    alert.draft = draft.content
    alert.expires_at = draft.expires_at
    for name, value in draft.summary().items():
        setattr(alert, name, value)


def compose(session: Session, actor: Actor, payload: Any, *, profile: Profile | None = None,
            detail: dict[str, Any] | None = None) -> Alert:
    """A new draft from JSON in the alert_to_json shape."""
    require_role(actor, Role.AUTHOR, "composing an alert")
    if actor.user_id is None:
        raise Forbidden("only a person can author an alert", field="actor")
    draft = check_draft(payload, profile or default_profile(), MsgType.ALERT)
    alert = Alert(state=AlertState.DRAFT, author_id=actor.user_id)
    apply_draft(alert, draft)
    session.add(alert)
    session.flush()
    audit.record(session, actor, "compose", alert_id=alert.id, detail=detail)
    return alert


def compose_from_cap(session: Session, actor: Actor, data: bytes, *,
                     profile: Profile | None = None, limits: XmlLimits = XmlLimits()) -> Alert:
    """A new draft from an imported CAP document; a hostile or malformed one stores nothing."""
    require_role(actor, Role.AUTHOR, "importing an alert")
    if len(data) > limits.max_bytes:
        raise TooLarge(f"the document is {len(data)} bytes, over the limit of "
                       f"{limits.max_bytes}", field="document")
    report = check_document(data, limits=limits)
    if report.kind != "alert":
        reason = report.errors[0].reason if report.errors else \
            f"a {report.kind} of alerts; import one alert at a time"
        raise InvalidInput(reason, field="document")
    imported = report.alert
    if imported is None or not report.ok:
        raise invalid_input(report.errors)
    if imported.msg_type is not MsgType.ALERT:
        # An imported Update or Cancel must never become a new alert of its own.
        raise InvalidInput(f"a {imported.msg_type} message cannot be imported as a new alert",
                           field="msgType")
    return compose(session, actor, alert_to_json(imported), profile=profile,
                   detail={"imported": {"identifier": imported.identifier,
                                        "sender": imported.sender,
                                        "sent": imported.sent.isoformat()}})


def edit(session: Session, actor: Actor, alert_id: int, payload: Any, *,
         profile: Profile | None = None, now: datetime | None = None) -> Alert:
    """Replace the content of a draft or a rejected alert; it becomes a draft again."""
    require_role(actor, Role.AUTHOR, "editing an alert")
    draft = check_draft(payload, profile or default_profile(), MsgType.ALERT)
    alert = claim(session, alert_id, Transition.EDIT, now or utcnow())
    if alert.author_id != actor.user_id:
        raise Forbidden("only the author edits a draft", field="author")
    apply_draft(alert, draft)
    alert.rejection_reason = None
    audit.record(session, actor, "edit", alert_id=alert.id)
    return alert
