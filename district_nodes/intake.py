"""Intake at a district node: a signed CAP alert from an agency registered with the district.

The rules are the center's (``publisher.services.intake_rules``): the
message is read, its signature must come from the agency's certificate, its
sender be the agency's, it must be an Alert, not one already submitted (by
(sender, identifier, sent), in the node's ``intake_records``), and inside
the agency's permission matrix, whose districts all lie in this district.
A refusal names the field, the rule and the reason.

An accepted message becomes a district draft (``local_alerts``) authored by
``agency:<code>``. A district user approves it as any draft (its author
being the agency, every district user may), or, for an agency whose policy
says so, it is published at once. Either way the district writes it anew,
its content as the agency wrote it, under the district's sender and a
district identifier, signs it with the district's key, relays it on the
district's devices the agency may use, and reports it upward like its own
alerts. The agency's original signed message is kept.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from district_nodes.agencies import NodeAgency
from district_nodes.config import NodeConfig
from district_nodes.messages import canonical_sent
from district_nodes.store import LocalAlert, LocalAlertState, NodeIntake
from publisher.cap.districts import DistrictTable
from publisher.cap.model import Alert
from publisher.cap.reader import read_alert
from publisher.cap.writer import format_datetime
from publisher.services.errors import Conflict
from publisher.services.intake_rules import (
    Refusal,
    check_permissions,
    check_submitter,
    read_submission,
)

__all__ = ["INTAKE_DRAFT", "POLICY_APPROVER", "intake_alert", "intake_channels",
           "intake_json", "take_intake"]

INTAKE_DRAFT = "intake"
"""The key of a district draft that an agency's submission became: its intake record's id."""
POLICY_APPROVER = "policy:{code}"
"""Who approves a direct-publish agency's alert: the pre-agreed policy, not a person."""


def _check_new(session: Session, alert: Alert) -> None:
    seen = session.scalars(select(NodeIntake.id).where(
        NodeIntake.sender == alert.sender, NodeIntake.identifier == alert.identifier,
        NodeIntake.sent == canonical_sent(alert.sent))).first()
    if seen is not None:
        raise Refusal(Conflict(f"message {alert.identifier} of {format_datetime(alert.sent)}"
                               f" was submitted already as intake {seen}",
                               field="identifier"), "duplicate")


def take_intake(session: Session, agency: NodeAgency, xml: bytes, config: NodeConfig,
                now: datetime) -> tuple[NodeIntake, LocalAlert]:
    """Judge the submission (raises ``Refusal``) and make it a district draft."""
    alert = read_submission(xml)
    check_submitter(xml, alert, agency.submitter, now)
    _check_new(session, alert)
    check_permissions(alert, agency.permissions, DistrictTable([config.district]))
    local = LocalAlert(author=f"agency:{agency.code}", state=LocalAlertState.PENDING.value,
                       draft="{}")
    session.add(local)
    session.flush()
    record = NodeIntake(agency=agency.code, sender=alert.sender, identifier=alert.identifier,
                        sent=canonical_sent(alert.sent), original_xml=xml,
                        local_alert_id=local.id, received_at=now)
    session.add(record)
    session.flush()
    first = alert.infos[0]
    # What the district's pages and ``GET /api/local/alerts`` show of the draft.
    local.draft = json.dumps({INTAKE_DRAFT: record.id, "agency": agency.code,
                              "msg_type": alert.msg_type.value, "status": alert.status.value,
                              "event": first.event, "headline": first.headline or first.event},
                             ensure_ascii=False)
    return record, local


def _original(session: Session, draft: dict[str, Any]) -> tuple[NodeIntake, Alert]:
    record = session.get(NodeIntake, draft[INTAKE_DRAFT])
    assert record is not None, "a draft names the intake it was made from"
    origin = read_alert(record.original_xml).alert
    assert origin is not None, "an accepted submission is readable"
    return record, origin


def intake_alert(session: Session, draft: dict[str, Any], identifier: str, sent: datetime,
                 config: NodeConfig) -> Alert:
    """The district's own Alert of an agency's submission: its content as the agency wrote
    it, the district's identifier, sender and time, and a note naming the original."""
    record, origin = _original(session, draft)
    return replace(origin, identifier=identifier, sender=config.sender, sent=sent,
                   note=f"Published for agency {record.agency}: {origin.identifier} from"
                        f" {origin.sender}, sent {record.sent}")


def intake_channels(session: Session, local_id: int, config: NodeConfig) -> frozenset[str] | None:
    """The channels the district relays a draft on: its agency's, or None for all of them."""
    record = session.scalars(select(NodeIntake).where(
        NodeIntake.local_alert_id == local_id)).first()
    if record is None:
        return None
    agency = next((agency for agency in config.agencies if agency.code == record.agency), None)
    # An agency since removed from the configuration has no channel left to use.
    return frozenset() if agency is None else agency.permissions.channels


def intake_json(record: NodeIntake) -> dict[str, Any]:
    return {"id": record.id, "agency": record.agency, "sender": record.sender,
            "identifier": record.identifier, "sent": record.sent}
