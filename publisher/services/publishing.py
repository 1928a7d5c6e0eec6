"""Issue a message: build the CAP XML from the alert's draft, sign it, store it with
its outbox row. The caller's transaction holds all three, so either the message
exists and will be fanned out, or nothing happened."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Required, TypedDict, Unpack

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from publisher.cap.document import check_document
from publisher.cap.json_reader import alert_from_json
from publisher.cap.model import Alert as CapAlert
from publisher.cap.model import MsgType, Reference
from publisher.cap.reader import read_alert
from publisher.cap.references import format_references
from publisher.cap.writer import write_alert
from publisher.services.actors import Actor
from publisher.services.drafts import invalid_input
from publisher.services.errors import Conflict
from publisher.services.signer import CenterSigner
from publisher.store.models import Alert, Message, OutboxEntry

__all__ = ["IssueOptions", "SignedMessage", "issue_message", "reference_of", "sign_next",
           "store_signed"]

log = logging.getLogger("publisher.lifecycle")

_SEQUENCE_LIMIT = 9999
# Any constant shared by every publisher process: it names the one lock that
# serialises identifier allocation on PostgreSQL.
_IDENTIFIER_LOCK = 0x43415031


def reference_of(message: Message) -> Reference:
    """The message's "sender,identifier,sent" exactly as its XML writes them."""
    issued = read_alert(message.xml).alert
    sent = issued.sent if issued is not None else message.sent
    return Reference(message.sender, message.identifier, sent)


def _next_sequence(session: Session, prefix: str) -> int:
    if session.get_bind().dialect.name == "postgresql":
        # Held until commit: a second publisher in the same second waits and
        # then sees this one's identifier.
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _IDENTIFIER_LOCK})
    latest = session.scalar(
        select(func.max(Message.identifier)).where(Message.identifier.startswith(prefix))
    )
    sequence = 1 if latest is None else int(latest.rsplit("-", 1)[1]) + 1
    if sequence > _SEQUENCE_LIMIT:
        raise Conflict(f"{_SEQUENCE_LIMIT} messages were issued in this second already; retry",
                       field="identifier")
    return sequence


@dataclass(frozen=True, slots=True)
class SignedMessage:
    """The center's next message, built, checked and signed, not yet stored."""

    alert: CapAlert
    xml: bytes


class IssueOptions(TypedDict, total=False):
    """How a message is issued: when, what it supersedes, its note, a last change."""

    now: Required[datetime]
    supersedes: Sequence[Message]
    note: str | None
    adapt: Callable[[CapAlert], CapAlert] | None


def sign_next(session: Session, alert: Alert, signer: CenterSigner, msg_type: MsgType,
              **options: Unpack[IssueOptions]) -> SignedMessage:
    """``alert``'s draft as the center's next message: its identifier is held until commit."""
    now, supersedes = options["now"], options.get("supersedes", ())
    note, adapt = options.get("note"), options.get("adapt")
    issuer = signer.issuer
    sent = issuer.sent_time(now)
    identifier = issuer.identifier(sent, _next_sequence(session, issuer.identifier_prefix(sent)))
    fields: dict[str, Any] = {**alert.draft, "identifier": identifier, "sender": issuer.sender,
                              "sent": sent.isoformat(), "msgType": str(msg_type)}
    if supersedes:
        fields["references"] = format_references(reference_of(old) for old in supersedes)
    if note is not None:
        fields["note"] = note
    cap_alert, problems = alert_from_json(fields)
    if cap_alert is None:
        raise invalid_input(problems)
    if adapt is not None:
        cap_alert = adapt(cap_alert)
    unsigned = write_alert(cap_alert)
    report = check_document(unsigned, profile=issuer.profile)
    if not report.ok:
        raise invalid_input(report.errors)
    return SignedMessage(cap_alert, signer.sign(unsigned))


def issue_message(session: Session, actor: Actor, alert: Alert, signer: CenterSigner,
                  msg_type: MsgType, **options: Unpack[IssueOptions]) -> Message:
    return store_signed(session, actor, alert,
                        sign_next(session, alert, signer, msg_type, **options))


def store_signed(session: Session, actor: Actor, alert: Alert, signed: SignedMessage) -> Message:
    """Store ``signed`` as ``alert``'s message, with its outbox row."""
    cap_alert = signed.alert
    message = Message(
        alert=alert, identifier=cap_alert.identifier, sender=cap_alert.sender,
        sent=cap_alert.sent.astimezone(UTC), msg_type=str(cap_alert.msg_type),
        status=str(cap_alert.status), references=cap_alert.references,
        expires_at=alert.expires_at, xml=signed.xml,
        sha256=hashlib.sha256(signed.xml).hexdigest(),
        issued_by_id=actor.user_id,
    )
    session.add(message)
    session.flush()
    session.add(OutboxEntry(message_id=message.id, attempts=0))
    session.flush()
    log.info("issued %s %s", cap_alert.msg_type, cap_alert.identifier,
             extra={"alert_id": alert.id, "identifier": cap_alert.identifier,
                    "message_id": message.id, "msg_type": str(cap_alert.msg_type),
                    "actor": actor.name})
    return message
