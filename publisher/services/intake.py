"""Take in a signed CAP message from an agency: check it, then queue or publish it.

The rules are those of ``intake_rules``, shared with the district nodes'
intake: the message is read, the agency's signature and sender checked, an
Alert required; the same (sender, identifier, sent) twice is a conflict;
then the permission matrix (``sender_permissions``). A refusal
names the field, the rule and the reason, is counted for the agency's report
and audited. It is returned, not raised, so the caller commits it.

An accepted message becomes a center alert authored by the agency's account,
its content (``senderName`` and all) as the agency wrote it. It waits in the
approval queue, or, for an agency whose policy says so, is issued at once:
the center signs what it publishes, and the agency's original signed message
is kept beside it (``IntakeRecord.original_xml``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from publisher.cap.districts import DistrictTable
from publisher.cap.model import Alert as CapAlert
from publisher.cap.model import MsgType
from publisher.cap.views import alert_to_json
from publisher.services import audit
from publisher.services.actors import Actor
from publisher.services.agencies import agency_certificates, agency_permissions
from publisher.services.composition import apply_draft
from publisher.services.drafts import ISSUED_FIELDS, check_draft
from publisher.services.errors import Conflict, NotFound, ServiceError
from publisher.services.intake_notifications import queue_state_changes
from publisher.services.intake_rules import (
    Refusal,
    Submitter,
    check_permissions,
    check_submitter,
    read_submission,
)
from publisher.services.publishing import issue_message
from publisher.services.signer import CenterSigner
from publisher.store.models import (
    Agency,
    Alert,
    AlertState,
    IntakeRecord,
    IntakeRefusal,
    utcnow,
)

__all__ = ["INTAKE_ACCEPTED", "INTAKE_REFUSED", "IntakeOutcome", "Refusal", "intake_record",
           "receive_intake"]

INTAKE_ACCEPTED = "intake_accepted"
INTAKE_REFUSED = "intake_refused"


@dataclass(frozen=True, slots=True)
class IntakeOutcome:
    record: IntakeRecord | None = None
    refusal: Refusal | None = None


def agency_actor(agency: Agency) -> Actor:
    return Actor(agency.user_id, f"agency:{agency.code}", frozenset())


def _check_new(session: Session, alert: CapAlert) -> None:
    seen = session.scalars(select(IntakeRecord.id).where(
        IntakeRecord.sender == alert.sender, IntakeRecord.identifier == alert.identifier,
        IntakeRecord.sent == alert.sent)).first()
    if seen is not None:
        raise Refusal(Conflict(f"message {alert.identifier} of {alert.sent.isoformat()} was"
                               f" submitted already as intake {seen}", field="identifier"),
                      "duplicate")


def _judge(session: Session, xml: bytes, agency: Agency, districts: DistrictTable | None,
           now: datetime) -> CapAlert:
    submitter = Submitter(agency.code, agency.sender, agency_certificates(agency),
                          agency_permissions(agency))
    alert = read_submission(xml)
    check_submitter(xml, alert, submitter, now)
    _check_new(session, alert)
    check_permissions(alert, submitter.permissions, districts)
    return alert


def _accept(session: Session, xml: bytes, origin: CapAlert, agency: Agency, *,
            signer: CenterSigner, now: datetime) -> IntakeRecord:
    content = {name: value for name, value in alert_to_json(origin).items()
               if name not in (*ISSUED_FIELDS, "msgType", "references")}
    draft = check_draft(content, signer.issuer.profile, MsgType.ALERT)
    state = AlertState.PUBLISHED if agency.direct_publish else AlertState.SUBMITTED
    alert = Alert(state=state, author_id=agency.user_id)
    apply_draft(alert, draft)
    session.add(alert)
    session.flush()
    record = IntakeRecord(agency_id=agency.id, sender=origin.sender,
                          identifier=origin.identifier, sent=origin.sent, original_xml=xml,
                          alert=alert, received_at=now)
    session.add(record)
    session.flush()
    actor = agency_actor(agency)
    if agency.direct_publish:
        issue_message(session, actor, alert, signer, MsgType.ALERT, now=now,
                      note=f"Published under the pre-agreed policy of {agency.name}:"
                           f" {origin.identifier} from {origin.sender}")
    audit.record(session, actor, INTAKE_ACCEPTED, alert_id=alert.id, detail={
        "agency": agency.code, "intake": record.id, "identifier": origin.identifier,
        "sender": origin.sender, "direct_publish": agency.direct_publish})
    return record


def _refused(session: Session, agency: Agency, refusal: Refusal, now: datetime) -> IntakeOutcome:
    error = refusal.error
    session.add(IntakeRefusal(agency_id=agency.id, field=error.field or "", rule=refusal.rule,
                              reason=error.reason, received_at=now))
    audit.record(session, agency_actor(agency), INTAKE_REFUSED, reason=error.reason,
                 detail={"agency": agency.code, "field": error.field, "rule": refusal.rule})
    return IntakeOutcome(refusal=refusal)


def receive_intake(session: Session, agency: Agency, xml: bytes, signer: CenterSigner,
                   districts: DistrictTable | None, *,
                   now: datetime | None = None) -> IntakeOutcome:
    """Queue or publish the message, or count and audit why not; the caller commits."""
    moment = now or utcnow()
    try:
        origin = _judge(session, xml, agency, districts, moment)
        # A problem met while making the alert leaves nothing of it behind.
        with session.begin_nested():
            record = _accept(session, xml, origin, agency, signer=signer, now=moment)
    except IntegrityError:
        # The same message, submitted at the same moment, was committed first.
        return _refused(session, agency, Refusal(Conflict(
            "the message was submitted already", field="identifier"), "duplicate"), moment)
    except Refusal as refusal:
        return _refused(session, agency, refusal, moment)
    except ServiceError as error:
        return _refused(session, agency, Refusal(error, "cap"), moment)
    queue_state_changes(session, moment, record.id)
    return IntakeOutcome(record=record)


def intake_record(session: Session, agency: Agency, intake_id: int) -> IntakeRecord:
    """The agency's own record; another agency's is as absent as one that does not exist."""
    record = session.get(IntakeRecord, intake_id)
    if record is None or record.agency_id != agency.id:
        raise NotFound(f"no intake {intake_id} of agency {agency.code}", field="id")
    return record
