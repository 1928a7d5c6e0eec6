"""Store the early warnings the journal still holds: published, but never committed.

An entry is left in the journal (``eew_journal``) when the web process died,
or its transaction failed, after the terminals had the warning. Each is
stored as the request would have stored it: an alert authored by the
sender's account, the signed message exactly as published (so a terminal's
ack names a message the center holds), its outbox row (the ordinary fan-out
then reaches the other channels and publishes to the terminals again, which
act on an identifier once), and the audit entry of its publication, marked
``recovered``, which the sender's rate limit and duplicate check count.

An entry whose identifier the database holds already was committed after
all, and is only removed. One whose identifier another message took
meanwhile (the failed transaction had given it back) is issued again, under
a new identifier, and logged as an error for the duty officer: the
terminals acted on the old identifier, and the new message carries the
same warning to every channel.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.model import MsgType
from publisher.cap.reader import read_alert
from publisher.cap.views import alert_to_json
from publisher.services import audit
from publisher.services.actors import Actor
from publisher.services.composition import apply_draft
from publisher.services.drafts import ISSUED_FIELDS, check_draft
from publisher.services.eew import EEW_PUBLISH, machine_user, published_detail
from publisher.services.eew_journal import EewJournal, JournalEntry
from publisher.services.publishing import SignedMessage, issue_message, store_signed
from publisher.services.signer import CenterSigner
from publisher.store.db import session_scope
from publisher.store.models import Alert, AlertState, Message, utcnow

__all__ = ["RECOVERY_GRACE_SECONDS", "Recovered", "recover_journal", "store_journalled"]

log = logging.getLogger("publisher.eew")

RECOVERY_GRACE_SECONDS = 10.0
"""An entry younger than this may belong to another web process's open transaction."""
_LEFT_TO_THE_SIGNATURE = (*ISSUED_FIELDS, "msgType", "references", "note")


@dataclass(frozen=True, slots=True)
class Recovered:
    identifier: str
    outcome: str
    """``stored``, ``present`` (committed after all) or ``reissued`` (as ``message_id``)."""
    message_id: int


def store_journalled(session: Session, entry: JournalEntry, signer: CenterSigner) -> Recovered:
    """Store ``entry``'s message in ``session``'s transaction, unless it is there already."""
    present = session.scalars(
        select(Message).where(Message.identifier == entry.identifier)).one_or_none()
    if present is not None and present.sha256 == hashlib.sha256(entry.xml).hexdigest():
        return Recovered(entry.identifier, "present", present.id)
    issued = read_alert(entry.xml).alert
    if issued is None:
        raise ValueError(f"journal entry {entry.identifier}: its XML holds no readable alert")
    user = machine_user(session, entry.sender_actor, entry.sender_name)
    actor = Actor(user.id, entry.sender_actor, frozenset())
    content = {name: value for name, value in alert_to_json(issued).items()
               if name not in _LEFT_TO_THE_SIGNATURE}
    alert = Alert(state=AlertState.PUBLISHED, author_id=user.id)
    apply_draft(alert, check_draft(content, signer.issuer.profile, MsgType.ALERT))
    session.add(alert)
    session.flush()
    if present is None:
        message = store_signed(session, actor, alert, SignedMessage(issued, entry.xml))
        outcome = "stored"
    else:
        message = issue_message(session, actor, alert, signer, MsgType.ALERT, now=utcnow(),
                                note=issued.note)
        outcome = "reissued"
        log.error("early warning published to terminals as %s, whose identifier another"
                  " message took before it was stored: issued again as %s", entry.identifier,
                  message.identifier, extra={"alert_identifier": message.identifier})
    audit.record(session, actor, EEW_PUBLISH, alert_id=alert.id, message_id=message.id,
                 detail={**published_detail(message, entry), "recovered": outcome,
                         "published_as": entry.identifier})
    return Recovered(entry.identifier, outcome, message.id)


def recover_journal(sessions: sessionmaker[Session], journal: EewJournal, signer: CenterSigner,
                    *, older_than: float = RECOVERY_GRACE_SECONDS) -> list[Recovered]:
    """Store each entry old enough, each in a transaction of its own, and remove it."""
    recovered = []
    for entry in journal.entries(older_than=older_than):
        try:
            with session_scope(sessions) as session:
                done = store_journalled(session, entry, signer)
        except Exception:  # kept for the next round; the other entries go on
            log.exception("early warning in the journal not stored yet",
                          extra={"alert_identifier": entry.identifier})
            continue
        journal.remove(entry.identifier)
        if done.outcome != "present":
            log.warning("early warning stored from the journal", extra={
                "alert_identifier": entry.identifier, "outcome": done.outcome,
                "message_id": done.message_id})
        recovered.append(done)
    return recovered
