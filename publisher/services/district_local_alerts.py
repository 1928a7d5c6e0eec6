"""A district's own alerts, reported upward by its node and republished by the center.

A node signs its local alert with the district's key. The center:

- verifies the signature against the certificate the node was registered
  with (``publisher.cap.signature_verify``): anything else is refused;
- refuses an area that leaves the district (field ``area``): every area
  must name the district by its GB/T 2260 geocode (or a unit inside it),
  and its polygons and circles must lie inside the district's boundary;
- records the district's message as it came (``DistrictLocalAlert``;
  the same (sender, identifier, sent) twice is a Conflict);
- republishes it as a published alert of its own, signed by the center,
  with the district as ``senderName``, authored by the node's service
  user, and puts it on the public feeds and page: its deliveries are
  planned on the ``feed`` channel only (the district relays it on its own
  boards and speakers, and the city's other channels are the center's
  operators' to use), and returned for the caller to enqueue after the
  commit;
- takes a district's Update or Cancel of its own alert: its references
  must name exactly the live messages the district reported for one alert
  (field ``references``: 403 for a message the district did not report,
  409 for any other set). The center issues it on the alert it
  republished, as an Update (the feed entry is replaced) or a Cancel (the
  feed entry is marked cancelled), again on the ``feed`` channel only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC

from shapely.geometry.base import BaseGeometry
from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.cap.areas import area_geometry
from publisher.cap.certificates import load_pem_certificates
from publisher.cap.districts import District, DistrictTable, is_gb_t_2260
from publisher.cap.model import Alert as CapAlert
from publisher.cap.model import Area, MsgType
from publisher.cap.problems import CapError, errors_of
from publisher.cap.reader import read_alert
from publisher.cap.references import parse_references
from publisher.cap.signature_verify import verify_alert_xml
from publisher.cap.views import alert_to_json
from publisher.services import audit
from publisher.services.actors import Actor
from publisher.services.composition import apply_draft
from publisher.services.delivery import plan_fanout
from publisher.services.drafts import check_draft
from publisher.services.errors import Conflict, Forbidden, InvalidInput
from publisher.services.public_alerts import FEED_CHANNEL
from publisher.services.publishing import issue_message
from publisher.services.revisions import live_messages
from publisher.services.signer import CenterSigner
from publisher.services.states import Transition, claim
from publisher.store.models import (
    Alert,
    AlertState,
    DistrictLocalAlert,
    DistrictNode,
    Message,
    OutboxEntry,
    utcnow,
)

__all__ = ["BOUNDARY_TOLERANCE_DEGREES", "ReportedAlert", "local_alerts_of",
           "receive_local_alert"]

BOUNDARY_TOLERANCE_DEGREES = 0.005
"""About 500 m: the district boundaries are simplified, so a shape on the border may stick out."""

_TRANSITIONS = {MsgType.UPDATE: Transition.UPDATE, MsgType.CANCEL: Transition.CANCEL}
_AUDIT_ACTIONS = {MsgType.ALERT: "republish_district_alert",
                  MsgType.UPDATE: "republish_district_update",
                  MsgType.CANCEL: "republish_district_cancel"}


@dataclass(frozen=True, slots=True)
class ReportedAlert:
    local: DistrictLocalAlert
    alert: Alert
    feed_batches: list[list[int]]
    """Deliveries on the feed channel, committed QUEUED by the caller, then enqueued."""


def _verified(node: DistrictNode, xml: bytes) -> CapAlert:
    try:
        verification = verify_alert_xml(xml, load_pem_certificates(node.certificate_pem.encode()))
    except CapError as error:
        raise InvalidInput(str(error), field="document") from None
    if not verification.valid:
        raise Forbidden(f"not signed with the registered key of district {node.code}:"
                        f" {verification.outcome}: {verification.reason}", field="signature")
    alert = read_alert(xml).alert
    if alert is None:
        raise InvalidInput("holds no readable CAP alert", field="document")
    if alert.msg_type not in _AUDIT_ACTIONS:
        raise InvalidInput(f"a district's {alert.msg_type} is not taken: report an Alert,"
                           " an Update or a Cancel", field="msgType")
    return alert


def _inside_code(code: str, district: District) -> bool:
    return code == district.code or (len(code) > len(district.code)
                                     and code.startswith(district.code))


def _check_area(area: Area, where: str, district: District, boundary: BaseGeometry) -> None:
    codes = [geocode.value.strip() for geocode in area.geocodes
             if is_gb_t_2260(geocode.value_name)]
    outside = [code for code in codes if not _inside_code(code, district)]
    if outside:
        raise InvalidInput(f"{where}: geocode {outside[0]} is outside {district.name_en}"
                           f" ({district.code})", field="area")
    drawn = area_geometry(area)
    if not drawn.is_empty and not boundary.covers(drawn):
        raise InvalidInput(f"{where}: its polygon or circle leaves {district.name_en}"
                           f" ({district.code})", field="area")
    if not codes and drawn.is_empty:
        raise InvalidInput(f"{where}: names no GB/T 2260 geocode and draws no shape, so it"
                           f" cannot be shown to lie in {district.code}", field="area")


def _check_areas(alert: CapAlert, district: District) -> None:
    boundary = district.geometry.buffer(BOUNDARY_TOLERANCE_DEGREES)
    areas = [(f"info[{index}]/area[{number}]", area) for index, info in enumerate(alert.infos)
             for number, area in enumerate(info.areas)]
    if not areas:
        raise InvalidInput("the alert names no area", field="area")
    for where, area in areas:
        _check_area(area, where, district, boundary)


def _named_by(district: District) -> Callable[[CapAlert], CapAlert]:
    def adapt(alert: CapAlert) -> CapAlert:
        return replace(alert, infos=tuple(
            replace(info, sender_name=district.name_zh if info.language.lower().startswith("zh")
                    else district.name_en) for info in alert.infos))
    return adapt


def _reported_messages(session: Session, node: DistrictNode, cap_alert: CapAlert
                       ) -> list[Message]:
    """The center's messages carrying what a district's Update or Cancel references."""
    references, problems = parse_references(cap_alert.references or "")
    errors = errors_of(problems)
    if errors or not references:
        reason = errors[0].reason if errors else "name the district message it replaces"
        raise InvalidInput(f"a district's {cap_alert.msg_type}: {reason}", field="references")
    messages = []
    for index, reference in enumerate(references):
        local = session.scalars(select(DistrictLocalAlert).where(
            DistrictLocalAlert.node_id == node.id,
            DistrictLocalAlert.sender == reference.sender,
            DistrictLocalAlert.identifier == reference.identifier,
            DistrictLocalAlert.sent == reference.sent.astimezone(UTC))).one_or_none()
        if local is None:
            raise Forbidden(f"{reference.sender},{reference.identifier} is no alert district"
                            f" {node.code} reported: a district updates or cancels only its"
                            " own", field=f"references[{index}]")
        message = session.get(Message, local.message_id)
        assert message is not None, "a reported alert keeps the message carrying it"
        messages.append(message)
    return messages


def _revised_alert(session: Session, node: DistrictNode, cap_alert: CapAlert
                   ) -> tuple[Alert, list[Message]]:
    """The republished alert a district's Update or Cancel revises, and its live messages."""
    named = _reported_messages(session, node, cap_alert)
    alert_ids = {message.alert_id for message in named}
    if len(alert_ids) != 1:
        raise Conflict("the references name messages of more than one alert",
                       field="references")
    alert = claim(session, alert_ids.pop(), _TRANSITIONS[cap_alert.msg_type], utcnow())
    live = live_messages(alert)
    if {message.id for message in named} != {message.id for message in live}:
        raise Conflict(f"a district's {cap_alert.msg_type} names exactly the messages in force"
                       f" of its alert; the center holds {len(live)} of them and the"
                       f" references name {len(named)}", field="references")
    return alert, live


def _republish(session: Session, node: DistrictNode, cap_alert: CapAlert, district: District,
               *, signer: CenterSigner, batch_size: int) -> tuple[Alert, int, list[list[int]]]:
    actor = Actor(node.user_id, f"node:{node.code}", frozenset())
    msg_type = cap_alert.msg_type
    content = {name: value for name, value in alert_to_json(cap_alert).items()
               if name != "references"}
    draft = check_draft(content, signer.issuer.profile, msg_type)
    superseded: list[Message] = []
    if msg_type is MsgType.ALERT:
        alert = Alert(state=AlertState.PUBLISHED, author_id=node.user_id)
        session.add(alert)
    else:
        alert, superseded = _revised_alert(session, node, cap_alert)
    apply_draft(alert, draft)
    session.flush()
    now = utcnow()
    message = issue_message(session, actor, alert, signer, msg_type, now=now,
                            supersedes=superseded, adapt=_named_by(district))
    # Planned here, for the feed alone: the outbox row is the fan-out to every channel.
    entry = session.scalars(select(OutboxEntry).where(
        OutboxEntry.message_id == message.id)).one()
    entry.dispatched_at = now
    batches = [ids for _, ids in plan_fanout(session, message.id, batch_size,
                                             channels=(FEED_CHANNEL,))]
    audit.record(session, actor, _AUDIT_ACTIONS[msg_type], alert_id=alert.id,
                 message_id=message.id, detail={
                     "district": node.code, "identifier": cap_alert.identifier,
                     "sender": cap_alert.sender, "sent": cap_alert.sent.isoformat(),
                     "references": cap_alert.references})
    return alert, message.id, batches


def receive_local_alert(session: Session, node: DistrictNode, xml: bytes, *,
                        districts: DistrictTable, signer: CenterSigner,
                        batch_size: int) -> ReportedAlert:
    """Verify, check, record and republish a local alert, Update or Cancel of ``node``;
    the caller commits."""
    cap_alert = _verified(node, xml)
    district = districts.get(node.code)
    _check_areas(cap_alert, district)
    duplicate = session.scalar(select(DistrictLocalAlert.id).where(
        DistrictLocalAlert.sender == cap_alert.sender,
        DistrictLocalAlert.identifier == cap_alert.identifier,
        DistrictLocalAlert.sent == cap_alert.sent))
    if duplicate is not None:
        raise Conflict(f"{cap_alert.sender},{cap_alert.identifier} was reported already",
                       field="identifier")
    alert, message_id, batches = _republish(session, node, cap_alert, district,
                                            signer=signer, batch_size=batch_size)
    local = DistrictLocalAlert(node_id=node.id, sender=cap_alert.sender,
                               identifier=cap_alert.identifier, sent=cap_alert.sent, xml=xml,
                               message_id=message_id, received_at=utcnow())
    session.add(local)
    session.flush()
    return ReportedAlert(local, alert, batches)


def local_alerts_of(session: Session, node: DistrictNode, limit: int
                    ) -> Sequence[DistrictLocalAlert]:
    """The node's latest reported alerts, newest first."""
    return session.scalars(select(DistrictLocalAlert).where(
        DistrictLocalAlert.node_id == node.id).order_by(DistrictLocalAlert.id.desc())
        .limit(limit)).all()
