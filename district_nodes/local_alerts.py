"""District alerts: composed by one district operator, approved by another, signed, reported up.

A draft names its areas by polygons ([lat, lon] points, as CAP writes them)
and by GB/T 2260 codes; every one must stay inside the node's jurisdiction,
or the draft is refused naming the area at fault. On approval by a second
operator the alert is written as CAP, signed with the district's key,
stored beside the center's messages, put on the node's own devices, and
queued for the center (``POST /api/nodes/{code}/alerts``).

An Update or a Cancel (``msg_type``) names by ``references`` the one
district message in force it replaces; a message of the center, or one
already replaced, cancelled or expired, is refused naming ``references``.
An Update carries new content, a Cancel only a ``note`` saying why: it
repeats the content it withdraws, with the response ``AllClear``. Both are
approved by a second operator like an alert.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from district_nodes.config import NodeConfig
from district_nodes.intake import INTAKE_DRAFT, intake_alert
from district_nodes.messages import SignedMessage, canonical_sent
from district_nodes.store import (
    LocalAlert,
    LocalAlertState,
    MessageState,
    NodeUser,
    StoredMessage,
    end_referenced,
)
from publisher.cap.areas import area_geometry
from publisher.cap.districts import GB_T_2260
from publisher.cap.model import (
    Alert,
    Area,
    Category,
    Certainty,
    Info,
    MsgType,
    NamedValue,
    Point,
    Polygon,
    Reference,
    ResponseType,
    Scope,
    Severity,
    Status,
    Urgency,
)
from publisher.cap.municipal import make_identifier
from publisher.cap.reader import read_alert
from publisher.cap.references import format_references
from publisher.cap.signing import sign_alert_xml
from publisher.cap.writer import write_alert
from publisher.services.passwords import hash_password, password_matches

__all__ = ["AGENCY", "REVISIONS", "DraftError", "add_user", "approve", "authenticate",
           "compose", "describe", "listing", "parse_draft", "revisable"]

AGENCY = "QXFZ"  # the district sub-center, in the identifier scheme's letters
MIN_PASSWORD_LENGTH = 8
REVISIONS = (MsgType.UPDATE.value, MsgType.CANCEL.value)
# A polygon drawn along the district's edge may stray by rounding, never further.
_EDGE_TOLERANCE_DEGREES = 1e-6


class DraftError(ValueError):
    """A draft or an approval that cannot be taken; ``field`` names the part at fault."""

    def __init__(self, field: str, reason: str, status: int = 400) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason
        self.status = status


def add_user(session: Session, username: str, password: str) -> None:
    if not username.strip() or len(username) > 64:
        raise DraftError("username", "1 to 64 characters are required")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise DraftError("password", f"at least {MIN_PASSWORD_LENGTH} characters are required")
    if session.scalars(select(NodeUser).where(NodeUser.username == username)).first():
        raise DraftError("username", f"{username!r} exists already", status=409)
    session.add(NodeUser(username=username, password_hash=hash_password(password)))


def authenticate(session: Session, username: str, password: str) -> bool:
    user = session.scalars(select(NodeUser).where(NodeUser.username == username)).first()
    return password_matches(user.password_hash if user else None, password)


def _choice(draft: Mapping[str, Any], field: str, kind: Any, default: str | None = None) -> Any:
    value = draft.get(field, default)
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(member.value for member in kind)
        raise DraftError(field, f"{value!r} is not one of {known}") from None


def _text(draft: Mapping[str, Any], field: str, required: bool = True) -> str | None:
    value = draft.get(field)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise DraftError(field, "text is required")
    return value.strip()


def _polygon(value: Any, where: str) -> Polygon:
    if not isinstance(value, list) or len(value) < 4:
        raise DraftError(where, "a closed ring of at least 4 [lat, lon] points is required")
    try:
        points = [Point(float(lat), float(lon)) for lat, lon in value]
    except (TypeError, ValueError):
        raise DraftError(where, "every point must be a [lat, lon] pair of numbers") from None
    if points[0] != points[-1]:
        raise DraftError(where, "the first point must be repeated at the end")
    return Polygon(points)


def _area(value: Any, where: str, config: NodeConfig) -> Area:
    if not isinstance(value, dict):
        raise DraftError(where, "an object is required")
    description = _text(value, "area_desc") or ""
    polygons = tuple(_polygon(ring, f"{where}.polygons[{index}]")
                     for index, ring in enumerate(value.get("polygons", [])))
    codes = value.get("geocodes", [])
    if not isinstance(codes, list) or not all(isinstance(code, str) for code in codes):
        raise DraftError(f"{where}.geocodes", "a list of GB/T 2260 codes is required")
    if not polygons and not codes:
        raise DraftError(where, "name the area by a polygon or a GB/T 2260 geocode")
    area = Area(description, polygons=polygons,
                geocodes=tuple(NamedValue(GB_T_2260, code) for code in codes))
    _inside_jurisdiction(area, where, config)
    return area


def _inside_jurisdiction(area: Area, where: str, config: NodeConfig) -> None:
    district = config.district
    named = f"district {district.code} ({district.name_en})"
    for index, geocode in enumerate(area.geocodes):
        if geocode.value != district.code:
            raise DraftError(f"{where}.geocodes[{index}]",
                             f"{geocode.value} is outside the jurisdiction of {named}")
    allowed = district.geometry.buffer(_EDGE_TOLERANCE_DEGREES)
    for index, polygon in enumerate(area.polygons):
        if not allowed.covers(area_geometry(Area("", polygons=(polygon,)))):
            raise DraftError(f"{where}.polygons[{index}]",
                             f"the polygon leaves the jurisdiction of {named}")


def _msg_type(draft: Mapping[str, Any]) -> MsgType:
    msg_type = _choice(draft, "msg_type", MsgType, MsgType.ALERT.value)
    if msg_type is not MsgType.ALERT and msg_type.value not in REVISIONS:
        raise DraftError("msg_type", f"{msg_type.value!r} is not Alert, Update or Cancel")
    return msg_type  # type: ignore[no-any-return]


def _referenced(session: Session, draft: Mapping[str, Any], config: NodeConfig
                ) -> StoredMessage:
    """The district's own message in force that an Update or a Cancel replaces."""
    identifier = draft.get("references")
    if not isinstance(identifier, str) or not identifier.strip():
        raise DraftError("references", "the identifier of the district alert it replaces"
                                       " is required")
    held = session.scalars(select(StoredMessage).where(
        StoredMessage.identifier == identifier.strip())).first()
    if held is None:
        raise DraftError("references", f"{identifier} names no message this node holds",
                         status=404)
    if held.origin != "local" or held.sender != config.sender:
        raise DraftError("references", f"{identifier} is a message of {held.sender}, not of"
                                       f" district {config.code}: a district updates or"
                                       " cancels only its own alerts", status=403)
    if held.state != MessageState.RELAYED.value or held.msg_type == MsgType.CANCEL.value:
        what = "a Cancel" if held.msg_type == MsgType.CANCEL.value else held.state
        raise DraftError("references", f"{identifier} is {what}: only a district alert in"
                                       " force is updated or cancelled", status=409)
    return held


def parse_draft(session: Session, draft: Any, config: NodeConfig) -> dict[str, Any]:
    """Check a composed draft; the draft as stored. Raises DraftError naming the field."""
    if not isinstance(draft, dict):
        raise DraftError("body", "a JSON object is required")
    msg_type = _msg_type(draft)
    if msg_type is MsgType.ALERT:
        if draft.get("references") is not None:
            raise DraftError("references", "only an Update or a Cancel references a message")
    else:
        status = _cap_of(_referenced(session, draft, config)).status
        if draft.get("status", status.value) != status.value:
            raise DraftError("status", f"an Update or a Cancel keeps the status {status.value}"
                                       " of the alert it replaces")
    if msg_type is MsgType.CANCEL:
        _text(draft, "note")
        return draft
    areas = draft.get("areas")
    if not isinstance(areas, list) or not areas:
        raise DraftError("areas", "at least one area is required")
    for index, area in enumerate(areas):
        _area(area, f"areas[{index}]", config)
    _info(draft, config, datetime.now(UTC))
    return draft


def _info(draft: Mapping[str, Any], config: NodeConfig, sent: datetime) -> Info:
    hours = draft.get("expires_in_hours", 6)
    if isinstance(hours, bool) or not isinstance(hours, int | float) or not 0 < hours <= 72:
        raise DraftError("expires_in_hours", f"{hours!r} is not a number of hours from 0 to 72")
    return Info(
        language=_text(draft, "language", required=False) or "zh-CN",
        categories=(_choice(draft, "category", Category, "Met"),),
        event=_text(draft, "event") or "",
        urgency=_choice(draft, "urgency", Urgency, "Expected"),
        severity=_choice(draft, "severity", Severity, "Moderate"),
        certainty=_choice(draft, "certainty", Certainty, "Likely"),
        effective=sent, expires=sent + timedelta(hours=float(hours)),
        sender_name=config.sender_name,
        headline=_text(draft, "headline"),
        description=_text(draft, "description", required=False),
        instruction=_text(draft, "instruction", required=False),
        areas=tuple(_area(area, f"areas[{index}]", config)
                    for index, area in enumerate(draft["areas"])))


def compose(session: Session, author: str, draft: Any, config: NodeConfig) -> LocalAlert:
    checked = parse_draft(session, draft, config)
    if _msg_type(checked) is MsgType.ALERT:
        _choice(checked, "status", Status, "Exercise")
    local = LocalAlert(author=author, draft=json.dumps(checked, ensure_ascii=False),
                       state=LocalAlertState.PENDING.value)
    session.add(local)
    session.flush()
    return local


def _cap_of(stored: StoredMessage) -> Alert:
    alert = read_alert(stored.xml).alert
    assert alert is not None, "the node reads its own messages"
    return alert


def _all_clear(alert: Alert, sent: datetime) -> tuple[Info, ...]:
    return tuple(replace(info, response_types=(ResponseType.ALL_CLEAR,), effective=sent)
                 for info in alert.infos)


def _signed(draft: Mapping[str, Any], local_id: int, session: Session,
            config: NodeConfig) -> SignedMessage:
    msg_type = _msg_type(draft)
    sent = datetime.now(UTC).replace(microsecond=0)
    identifier = make_identifier(config.code, AGENCY, sent, local_id % 10_000)
    if INTAKE_DRAFT in draft:
        alert = intake_alert(session, dict(draft), identifier, sent, config)
    elif msg_type is MsgType.ALERT:
        alert = Alert(identifier=identifier, sender=config.sender, sent=sent,
                      status=_choice(draft, "status", Status, "Exercise"),
                      msg_type=msg_type, scope=Scope.PUBLIC,
                      infos=(_info(draft, config, sent),))
    else:
        replaced = _referenced(session, draft, config)
        earlier = _cap_of(replaced)
        infos = (_all_clear(earlier, sent) if msg_type is MsgType.CANCEL
                 else (_info(draft, config, sent),))
        alert = Alert(identifier=identifier, sender=config.sender, sent=sent,
                      status=earlier.status, msg_type=msg_type, scope=Scope.PUBLIC,
                      note=draft.get("note"), references=format_references([Reference(
                          earlier.sender, earlier.identifier, earlier.sent)]),
                      infos=infos)
    xml = sign_alert_xml(write_alert(alert), config.key_pem, config.certificate_pem)
    return SignedMessage(alert, xml)


def approve(session: Session, local_id: int, approver: str,
            config: NodeConfig) -> tuple[LocalAlert, StoredMessage, SignedMessage]:
    """Sign and store the draft; the stored message, to be relayed and reported by the caller."""
    local = session.get(LocalAlert, local_id)
    if local is None:
        raise DraftError("alert_id", f"no district alert {local_id}", status=404)
    if local.state != LocalAlertState.PENDING.value:
        raise DraftError("state", f"district alert {local_id} is {local.state} already",
                         status=409)
    if local.author == approver:
        raise DraftError("approver", "the author cannot approve their own alert: a second"
                                     " district user must", status=403)
    message = _signed(json.loads(local.draft), local_id, session, config)
    alert = message.alert
    stored = StoredMessage(sender=alert.sender, identifier=alert.identifier,
                           sent=canonical_sent(alert.sent), msg_type=alert.msg_type.value,
                           origin="local", cursor=None, xml=message.xml,
                           state=MessageState.RELAYED.value, expires=message.expires)
    end_referenced(session, message.references, message.is_cancel)
    session.add(stored)
    session.flush()
    local.state, local.approver, local.message_id = (LocalAlertState.PUBLISHED.value, approver,
                                                     stored.id)
    return local, stored, message


def revisable(session: Session, config: NodeConfig) -> list[StoredMessage]:
    """The district's own messages in force: what an Update or a Cancel may replace."""
    return list(session.scalars(select(StoredMessage).where(
        StoredMessage.origin == "local", StoredMessage.sender == config.sender,
        StoredMessage.state == MessageState.RELAYED.value,
        StoredMessage.msg_type != MsgType.CANCEL.value).order_by(StoredMessage.id)))


def describe(local: LocalAlert, stored: StoredMessage | None) -> dict[str, Any]:
    return {"id": local.id, "author": local.author, "approver": local.approver,
            "state": local.state, "draft": json.loads(local.draft),
            "identifier": None if stored is None else stored.identifier,
            "message_state": None if stored is None else stored.state}


def listing(session: Session) -> Sequence[dict[str, Any]]:
    rows = session.execute(select(LocalAlert, StoredMessage).outerjoin(
        StoredMessage, StoredMessage.id == LocalAlert.message_id).order_by(LocalAlert.id))
    return [describe(local, stored) for local, stored in rows]
