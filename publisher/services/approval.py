"""The two-person rule: an author submits, another person approves or rejects.

Approval publishes: the first message of the alert is built, signed, stored
and put in the outbox inside the caller's one transaction.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from publisher.cap.model import MsgType, Status
from publisher.services import audit
from publisher.services.actors import Actor, require_role
from publisher.services.errors import Forbidden, InvalidInput
from publisher.services.publishing import issue_message
from publisher.services.signer import CenterSigner
from publisher.services.states import Transition, claim
from publisher.store.models import Alert, Message, Role, utcnow

__all__ = [
    "approve",
    "refuse_expired",
    "refuse_self_review",
    "reject",
    "require_confirmation",
    "submit",
]


def refuse_self_review(alert: Alert, actor: Actor, action: str) -> None:
    if alert.author_id == actor.user_id:
        raise Forbidden(f"{actor.name} wrote alert {alert.id}; {action} needs another person",
                        field="approver")


def require_confirmation(alert: Alert, confirm_actual: bool) -> None:
    if alert.status == Status.ACTUAL and not confirm_actual:
        raise InvalidInput("this is an Actual alert that goes to the public: confirm it "
                           "explicitly with confirm_actual", field="confirm_actual")


def refuse_expired(alert: Alert, moment: datetime) -> None:
    if alert.expires_at is not None and alert.expires_at <= moment:
        raise InvalidInput(f"the alert expired at {alert.expires_at.isoformat()}; "
                           "edit its expires before it is published", field="info/expires")


def submit(session: Session, actor: Actor, alert_id: int, *,
           now: datetime | None = None) -> Alert:
    require_role(actor, Role.AUTHOR, "submitting an alert")
    alert = claim(session, alert_id, Transition.SUBMIT, now or utcnow())
    if alert.author_id != actor.user_id:
        raise Forbidden("only the author submits a draft", field="author")
    audit.record(session, actor, "submit", alert_id=alert.id)
    return alert


def approve(session: Session, actor: Actor, alert_id: int, signer: CenterSigner, *,
            confirm_actual: bool = False, now: datetime | None = None) -> Message:
    """Publish a submitted alert: approver role, not its author, Actual confirmed."""
    require_role(actor, Role.APPROVER, "approving an alert")
    moment = now or utcnow()
    alert = claim(session, alert_id, Transition.APPROVE, moment)
    refuse_self_review(alert, actor, "approval")
    require_confirmation(alert, confirm_actual)
    refuse_expired(alert, moment)
    alert.approver_id = actor.user_id
    message = issue_message(session, actor, alert, signer, MsgType.ALERT, now=moment)
    audit.record(session, actor, "approve", alert_id=alert.id, message_id=message.id,
                 detail={"identifier": message.identifier, "confirm_actual": confirm_actual})
    return message


def reject(session: Session, actor: Actor, alert_id: int, reason: str, *,
           now: datetime | None = None) -> Alert:
    require_role(actor, Role.APPROVER, "rejecting an alert")
    if not reason.strip():
        raise InvalidInput("say why the alert is rejected", field="reason")
    alert = claim(session, alert_id, Transition.REJECT, now or utcnow())
    refuse_self_review(alert, actor, "review")
    alert.rejection_reason = reason.strip()
    audit.record(session, actor, "reject", alert_id=alert.id, reason=alert.rejection_reason)
    return alert
