"""Publish an earthquake early warning from an automatic sender, at once, with no approval.

``receive_eew`` judges the signed message (``eew_intake``), refuses one
published before (the same sender, identifier and sent: 409), holds the
sender's rate limit, and publishes: a new alert, authored by the sender's
machine account, is issued by the center as any approved alert is (built
from the sender's content with the standard words and one ``EEW_COUNTDOWN``
per district, signed by the center, stored with its outbox row). Every step
is in the audit log under ``eew:<sender>``: what was verified, what was
published and how long each took; a refusal is audited too, and logged at
WARNING for the duty officer. The published alert is like any other: an
approver updates or cancels it through the lifecycle services.

Refusals are returned, not raised, so that the caller commits their audit
entry before it answers.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.cap.districts import DistrictTable, is_gb_t_2260
from publisher.cap.eew import Quake, countdown_parameters
from publisher.cap.model import Alert as CapAlert
from publisher.cap.model import MsgType
from publisher.cap.views import alert_to_json
from publisher.channels.eew_text import eew_headline, eew_instruction
from publisher.services import audit
from publisher.services.actors import Actor
from publisher.services.composition import apply_draft
from publisher.services.drafts import ISSUED_FIELDS, check_draft
from publisher.services.eew_intake import AcceptedEew, EewRefusal, judge_eew
from publisher.services.eew_journal import JournalEntry
from publisher.services.eew_policy import EewRegister, EewSender
from publisher.services.errors import Conflict, ServiceError
from publisher.services.publishing import SignedMessage, sign_next, store_signed
from publisher.services.signer import CenterSigner
from publisher.store.models import Alert, AlertState, AuditEntry, Message, User, utcnow

__all__ = ["EEW_PUBLISH", "EEW_REFUSED", "EewOutcome", "IssueWatcher", "RateLimited",
           "journal_entry", "machine_user", "published_detail", "receive_eew"]

log = logging.getLogger("publisher.eew")

EEW_PUBLISH = "eew_publish"
EEW_REFUSED = "eew_refused"
EEW_VERIFIED = "eew_verified"
_DISTRICT_LEVEL = "district"


class RateLimited(ServiceError):
    kind = "rate_limited"

    def __init__(self, reason: str, retry_after: int) -> None:
        super().__init__(reason, field="rate_limit")
        self.retry_after = retry_after


@dataclass(frozen=True, slots=True)
class EewOutcome:
    message: Message | None = None
    refusal: ServiceError | None = None
    timings: dict[str, float] = field(default_factory=dict)


def machine_user(session: Session, actor_name: str, name: str) -> User:
    """The sender's account, locked until commit: one sender's messages are judged in turn."""
    username = actor_name[:64]
    query = select(User).where(User.username == username).with_for_update()
    user = session.scalars(query).one_or_none()
    if user is None:
        # No password can match "!": the account exists only to author the sender's alerts.
        session.add(User(username=username, display_name=name[:200],
                         password_hash="!", active=False, failed_logins=0))  # noqa: S106
        session.flush()
        user = session.scalars(query).one()
    return user


def _rate_refusal(session: Session, sender: EewSender, now: datetime) -> RateLimited | None:
    limit = sender.policy.rate_limit
    since = now - timedelta(seconds=limit.seconds)
    published = session.scalars(
        select(AuditEntry.at).where(AuditEntry.actor == sender.actor_name,
                                    AuditEntry.action == EEW_PUBLISH, AuditEntry.at > since)
        .order_by(AuditEntry.at)).all()
    if len(published) < limit.messages:
        return None
    retry_after = max(1, int((published[0] - since).total_seconds()) + 1)
    return RateLimited(f"{len(published)} early warnings in the last {limit.seconds} s; the"
                       f" sender may publish {limit.messages}", retry_after)


def _duplicate_refusal(session: Session, accepted: AcceptedEew) -> Conflict | None:
    """A message published before, by (sender, identifier, sent): a replay is never news."""
    origin = accepted.alert
    earlier = session.scalar(
        select(AuditEntry.id).where(
            AuditEntry.actor == accepted.sender.actor_name, AuditEntry.action == EEW_PUBLISH,
            AuditEntry.detail["origin"].as_string() == origin.identifier,
            AuditEntry.detail["origin_sent"].as_string() == origin.sent.isoformat())
        .limit(1))
    if earlier is None:
        return None
    return Conflict(f"message {origin.identifier} of {origin.sent.isoformat()} was published"
                    " already", field="identifier")


def _district_centroids(codes: set[str],
                        districts: DistrictTable | None) -> dict[str, tuple[float, float]]:
    """(lat, lon) of each district the codes name, a city or prefecture standing for its own."""
    if districts is None:
        return {}
    named = {}
    for district in districts:
        if district.level != _DISTRICT_LEVEL:
            continue
        if any(district.code == code or (code.endswith("0000") and district.code[:2] == code[:2])
               or (code.endswith("00") and district.code[:4] == code[:4]) for code in codes):
            centroid = district.geometry.centroid
            named[district.code] = (centroid.y, centroid.x)
    return named


def _content(alert: CapAlert, quake: Quake, districts: DistrictTable | None) -> dict[str, Any]:
    codes = {geocode.value.strip() for info in alert.infos for area in info.areas
             for geocode in area.geocodes if is_gb_t_2260(geocode.value_name)}
    countdowns = [{"valueName": parameter.value_name, "value": parameter.value}
                  for parameter in countdown_parameters(quake,
                                                        _district_centroids(codes, districts))]
    content = {name: value for name, value in alert_to_json(alert).items()
               if name not in (*ISSUED_FIELDS, "msgType", "references", "note")}
    content["info"] = [
        {**info, "headline": eew_headline(info["language"], quake, None),
         "instruction": eew_instruction(info["language"]),
         "parameter": [*info.get("parameter", []), *countdowns]}
        for info in content["info"]]
    return content


def _publish(session: Session, accepted: AcceptedEew, signer: CenterSigner,
             districts: DistrictTable | None, now: datetime, *,
             watcher: IssueWatcher | None) -> Message:
    """Issue the center's message; ``watcher`` has it before anything is written.

    The alert joins the session only once the message is signed: a refusal
    before that leaves nothing of it behind.
    """
    user = machine_user(session, accepted.sender.actor_name, accepted.sender.name)
    actor = Actor(user.id, accepted.sender.actor_name, frozenset())
    duplicate = _duplicate_refusal(session, accepted)
    if duplicate is not None:
        raise EewRefusal(duplicate, accepted.sender)
    rate = _rate_refusal(session, accepted.sender, now)
    if rate is not None:
        raise EewRefusal(rate, accepted.sender)
    draft = check_draft(_content(accepted.alert, accepted.quake, districts),
                        signer.issuer.profile, MsgType.ALERT)
    alert = Alert(state=AlertState.PUBLISHED, author_id=user.id)
    apply_draft(alert, draft)
    origin = accepted.alert
    signed = sign_next(session, alert, signer, MsgType.ALERT, now=now,
                       note=f"Automatic earthquake early warning {origin.identifier}"
                            f" from {origin.sender}")
    if watcher is not None:
        watcher.signed(signed, accepted)
    session.add(alert)
    return store_signed(session, actor, alert, signed)


def _refused(session: Session, refusal: EewRefusal) -> EewOutcome:
    error = refusal.error
    name = refusal.sender.actor_name if refusal.sender else "eew:unidentified"
    audit.record(session, Actor(None, name, frozenset()), EEW_REFUSED, reason=error.reason,
                 detail={"field": error.field, "error": error.kind,
                         "claimed_sender": refusal.claimed_sender
                         or (refusal.sender.sender if refusal.sender else None)})
    log.warning("early warning refused", extra={
        "eew_sender": name, "field": error.field, "reason": error.reason})
    return EewOutcome(refusal=error)


class IssueWatcher(Protocol):
    """Told of a message's progress through ``receive_eew``, inside its transaction.

    What it measured (``timings``, in ms) goes into the publication's audit entry.
    """

    timings: dict[str, float]

    def judged(self, accepted: AcceptedEew) -> None:
        """The sender's message is verified and inside the policy."""

    def signed(self, signed: SignedMessage, accepted: AcceptedEew) -> None:
        """The center's message is signed, and about to be written; no commit yet."""


def journal_entry(identifier: str, xml: bytes, accepted: AcceptedEew) -> JournalEntry:
    """What the journal keeps of the center's message until its transaction has committed."""
    origin, quake = accepted.alert, accepted.quake
    return JournalEntry(identifier, xml, accepted.sender.actor_name,
                        accepted.sender.name, origin.identifier, origin.sent.isoformat(),
                        quake.magnitude, (quake.lat, quake.lon))


def published_detail(message: Message, entry: JournalEntry) -> dict[str, Any]:
    """The detail of a publication's audit entry: what the rate limit and duplicates read."""
    return {"identifier": message.identifier, "status": message.status,
            "origin": entry.origin, "origin_sent": entry.origin_sent,
            "magnitude": entry.magnitude, "epicentre": list(entry.epicentre)}


def receive_eew(session: Session, xml: bytes, register: EewRegister, signer: CenterSigner,
                districts: DistrictTable | None, *, now: datetime | None = None,
                watcher: IssueWatcher | None = None) -> EewOutcome:
    """Publish the message, or audit why not; the caller commits either way.

    ``watcher`` hears of the message once judged, and of the center's message
    as soon as it is signed, before it is written: the terminals' fast path
    plans from the first, and journals and publishes from the second, while
    this transaction goes on to its commit.
    """
    started = time.perf_counter()
    moment = now or utcnow()
    verified: dict[str, Any] | None = None
    judged_by = ""
    try:
        accepted = judge_eew(xml, register, districts)
        judged = time.perf_counter()
        verified = {"identifier": accepted.alert.identifier,
                    "verify_ms": round(accepted.verify_seconds * 1000, 2),
                    "judge_ms": round((judged - started) * 1000, 2)}
        judged_by = accepted.sender.actor_name
        if watcher is not None:
            watcher.judged(accepted)
        message = _publish(session, accepted, signer, districts, moment, watcher=watcher)
    except EewRefusal as refusal:
        if verified is not None:
            _verified(session, judged_by, verified)
        return _refused(session, refusal)
    except ServiceError as error:
        if verified is not None:
            _verified(session, judged_by, verified)
        return _refused(session, EewRefusal(error, claimed_sender=None))
    timings = {"verify_ms": verified["verify_ms"], "judge_ms": verified["judge_ms"],
               "publish_ms": round((time.perf_counter() - judged) * 1000, 2),
               **(watcher.timings if watcher is not None else {})}
    # Audited after the publication, not between judging and issuing: each entry is a
    # write, and the terminals are not kept waiting for one.
    _verified(session, accepted.sender.actor_name, verified)
    audit.record(session, Actor(message.issued_by_id, accepted.sender.actor_name, frozenset()),
                 EEW_PUBLISH, alert_id=message.alert_id, message_id=message.id,
                 detail={**published_detail(message, journal_entry(
                     message.identifier, message.xml, accepted)), **timings})
    log.info("early warning published", extra={
        "alert_identifier": message.identifier, "eew_sender": accepted.sender.sender,
        **timings})
    return EewOutcome(message=message, timings=timings)


def _verified(session: Session, actor_name: str, detail: dict[str, Any]) -> None:
    audit.record(session, Actor(None, actor_name, frozenset()), EEW_VERIFIED, detail=detail)
