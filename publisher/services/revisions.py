"""Update and Cancel: new messages on a published alert, each referencing exactly
the messages it supersedes.

The live messages of an alert are those no later message of it references:
after an Alert and two Updates, only the second Update. An Update supersedes
the live messages; a Cancel must name exactly them, or it is refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.cap.model import Alert as CapAlert
from publisher.cap.model import MsgType, Reference, ResponseType
from publisher.cap.profiles import Profile
from publisher.cap.references import parse_references
from publisher.services import audit
from publisher.services.actors import Actor, require_role
from publisher.services.approval import refuse_expired, refuse_self_review, require_confirmation
from publisher.services.composition import apply_draft
from publisher.services.drafts import check_draft
from publisher.services.errors import Conflict, InvalidInput
from publisher.services.publishing import issue_message
from publisher.services.signer import CenterSigner
from publisher.services.states import Transition, claim
from publisher.store.models import Alert, Message, Role, utcnow

__all__ = ["cancel", "live_messages", "update"]


def _key(sender: str, identifier: str, sent: datetime) -> tuple[str, str, datetime]:
    return sender, identifier, sent.astimezone(UTC)


def live_messages(alert: Alert) -> list[Message]:
    superseded: set[tuple[str, str, datetime]] = set()
    for message in alert.messages:
        references, _ = parse_references(message.references or "")
        superseded.update(_key(ref.sender, ref.identifier, ref.sent) for ref in references)
    return [message for message in alert.messages
            if _key(message.sender, message.identifier, message.sent) not in superseded]


def update(session: Session, actor: Actor, alert_id: int, payload: Any, signer: CenterSigner,
           *, confirm_actual: bool = False, now: datetime | None = None,
           profile: Profile | None = None) -> Message:
    """Issue new content for a published alert as an Update of its live messages."""
    require_role(actor, Role.APPROVER, "updating an alert")
    draft = check_draft(payload, profile or signer.issuer.profile, MsgType.UPDATE)
    moment = now or utcnow()
    alert = claim(session, alert_id, Transition.UPDATE, moment)
    # New content goes out unreviewed, so its author may not be the one who wrote the alert.
    refuse_self_review(alert, actor, "an update")
    if str(draft.status) != alert.status:
        raise InvalidInput(f"an update keeps the alert's status {alert.status}; "
                           f"compose a new alert to issue {draft.status}", field="status")
    require_confirmation(alert, confirm_actual)
    superseded = live_messages(alert)
    apply_draft(alert, draft)
    refuse_expired(alert, moment)
    message = issue_message(session, actor, alert, signer, MsgType.UPDATE, now=moment,
                            supersedes=superseded)
    audit.record(session, actor, "update", alert_id=alert.id, message_id=message.id,
                 detail={"identifier": message.identifier, "references": message.references})
    return message


def _requested(text: str, index: int) -> Reference | str:
    """A "sender,identifier,sent" triple, or a bare identifier."""
    field = f"references[{index}]"
    if "," not in text:
        if not text.strip():
            raise InvalidInput("is empty", field=field)
        return text.strip()
    parsed, problems = parse_references(text)
    errors = [problem for problem in problems if problem.is_error]
    if errors or len(parsed) != 1:
        reason = errors[0].reason if errors else "must name one sender,identifier,sent triple"
        raise InvalidInput(reason, field=field)
    return parsed[0]


def _resolve(session: Session, requested: Reference | str, index: int) -> Message:
    field = f"references[{index}]"
    if isinstance(requested, str):
        condition = Message.identifier == requested
        shown = requested
    else:
        condition = (Message.sender == requested.sender) & (
            Message.identifier == requested.identifier) & (
            Message.sent == requested.sent.astimezone(UTC))
        shown = f"{requested.sender},{requested.identifier},{requested.sent.isoformat()}"
    found = session.scalars(select(Message).where(condition)).all()
    if len(found) != 1:
        what = "no message" if not found else "more than one message"
        raise Conflict(f"{shown} names {what} issued by the center", field=field)
    return found[0]


def _cancelled_messages(session: Session, alert: Alert,
                        references: Sequence[str] | None) -> list[Message]:
    live = live_messages(alert)
    if references is None:
        return live
    chosen = [_resolve(session, _requested(text, index), index)
              for index, text in enumerate(references)]
    for index, message in enumerate(chosen):
        if message.alert_id != alert.id:
            raise Conflict(f"{message.identifier} belongs to alert {message.alert_id}, "
                           f"not to alert {alert.id}", field=f"references[{index}]")
    named = {message.id for message in chosen}
    live_ids = {message.id for message in live}
    if named != live_ids:
        expected = ", ".join(message.identifier for message in live)
        raise Conflict(f"a Cancel names exactly the live messages of alert {alert.id}: "
                       f"{expected}", field="references")
    return live


def _all_clear(cap_alert: CapAlert) -> CapAlert:
    return replace(cap_alert, infos=tuple(
        replace(info, response_types=(ResponseType.ALL_CLEAR,)) for info in cap_alert.infos))


def cancel(session: Session, actor: Actor, alert_id: int, signer: CenterSigner, *,
           references: Sequence[str] | None = None, reason: str,
           now: datetime | None = None) -> Message:
    """Cancel a published alert with a Cancel message naming exactly its live messages.

    Any approver may cancel, the alert's author included: taking a wrong
    alert back must never wait for a second person.
    """
    require_role(actor, Role.APPROVER, "cancelling an alert")
    if not reason.strip():
        raise InvalidInput("say why the alert is cancelled", field="reason")
    moment = now or utcnow()
    alert = claim(session, alert_id, Transition.CANCEL, moment)
    superseded = _cancelled_messages(session, alert, references)
    message = issue_message(session, actor, alert, signer, MsgType.CANCEL, now=moment,
                            supersedes=superseded, note=reason.strip(), adapt=_all_clear)
    audit.record(session, actor, "cancel", alert_id=alert.id, message_id=message.id,
                 reason=reason.strip(),
                 detail={"identifier": message.identifier, "references": message.references})
    return message
