"""District alerts: composed by one district operator, approved by another, signed, reported up.

A draft names its areas by polygons ([lat, lon] points, as CAP writes them)
and by GB/T 2260 codes; every one must stay inside the node's jurisdiction,
or the draft is refused naming the area at fault. On approval by a second
operator the alert is written as CAP, signed with the district's key,
stored beside the center's messages, put on the node's own devices, and
queued for the center (``POST /api/nodes/{code}/alerts``).
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from district_nodes.config import NodeConfig
from district_nodes.messages import SignedMessage, canonical_sent
from district_nodes.store import (
    LocalAlert,
    LocalAlertState,
    MessageState,
    NodeUser,
    StoredMessage,
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
    Scope,
    Severity,
    Status,
    Urgency,
)
from publisher.cap.municipal import make_identifier
from publisher.cap.signing import sign_alert_xml
from publisher.cap.writer import write_alert

__all__ = ["AGENCY", "DraftError", "add_user", "approve", "authenticate", "compose",
           "describe", "listing", "parse_draft"]

AGENCY = "QXFZ"  # the district sub-center, in the identifier scheme's letters
MIN_PASSWORD_LENGTH = 8
_hasher = PasswordHasher()
_UNKNOWN_USER_HASH = _hasher.hash(secrets.token_urlsafe(16))
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
    session.add(NodeUser(username=username, password_hash=_hasher.hash(password)))


def authenticate(session: Session, username: str, password: str) -> bool:
    user = session.scalars(select(NodeUser).where(NodeUser.username == username)).first()
    try:
        # An unknown name costs as much as a wrong password: names cannot be probed by timing.
        return bool(_hasher.verify(user.password_hash if user else _UNKNOWN_USER_HASH,
                                   password)) and user is not None
    except (VerificationError, InvalidHashError):
        return False


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


def parse_draft(draft: Any, config: NodeConfig) -> dict[str, Any]:
    """Check a composed draft; the draft as stored. Raises DraftError naming the field."""
    if not isinstance(draft, dict):
        raise DraftError("body", "a JSON object is required")
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
    checked = parse_draft(draft, config)
    _choice(checked, "status", Status, "Exercise")
    local = LocalAlert(author=author, draft=json.dumps(checked, ensure_ascii=False),
                       state=LocalAlertState.PENDING.value)
    session.add(local)
    session.flush()
    return local


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
    draft = json.loads(local.draft)
    sent = datetime.now(UTC).replace(microsecond=0)
    alert = Alert(identifier=make_identifier(config.code, AGENCY, sent, local_id % 10_000),
                  sender=config.sender, sent=sent, status=_choice(draft, "status", Status,
                                                                  "Exercise"),
                  msg_type=MsgType.ALERT, scope=Scope.PUBLIC,
                  infos=(_info(draft, config, sent),))
    xml = sign_alert_xml(write_alert(alert), config.key_pem, config.certificate_pem)
    message = SignedMessage(alert, xml)
    stored = StoredMessage(sender=alert.sender, identifier=alert.identifier,
                           sent=canonical_sent(sent), msg_type=alert.msg_type.value,
                           origin="local", cursor=None, xml=xml,
                           state=MessageState.RELAYED.value, expires=message.expires)
    session.add(stored)
    session.flush()
    local.state, local.approver, local.message_id = (LocalAlertState.PUBLISHED.value, approver,
                                                     stored.id)
    return local, stored, message


def describe(local: LocalAlert, stored: StoredMessage | None) -> dict[str, Any]:
    return {"id": local.id, "author": local.author, "approver": local.approver,
            "state": local.state, "draft": json.loads(local.draft),
            "identifier": None if stored is None else stored.identifier}


def listing(session: Session) -> Sequence[dict[str, Any]]:
    rows = session.execute(select(LocalAlert, StoredMessage).outerjoin(
        StoredMessage, StoredMessage.id == LocalAlert.message_id).order_by(LocalAlert.id))
    return [describe(local, stored) for local, stored in rows]
