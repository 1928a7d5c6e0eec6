"""What the public sees of alerts: the feed, the public page and the timeline read this.

An alert is public once one of its messages has a delivery on the ``feed``
channel: the public feed is a target like any other, so an Exercise reaches
it only where the feed is a test target, and what the page shows is what
the feed carries. An alert shows its latest public message; a Cancel marks
it cancelled. It stays while it is in force: until it expires, and a
cancelled one for ``CANCELLED_KEPT`` after its Cancel at most, so that people
who saw the warning also see it withdrawn.

One card builder serves the page, the timeline and the feed entries.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Row, func, or_, select
from sqlalchemy.orm import Session

from publisher.cap.districts import is_gb_t_2260
from publisher.cap.model import Alert as CapAlert
from publisher.cap.model import Info, MsgType, Severity
from publisher.cap.reader import read_alert
from publisher.channels.base import DeliveryStatus
from publisher.channels.led_text import warning_colour
from publisher.services.errors import InvalidInput, NotFound
from publisher.services.languages import DEFAULT_LANGUAGE
from publisher.store.models import Alert, AlertState, Delivery, Message

__all__ = [
    "CANCELLED_KEPT",
    "FEED_CHANNEL",
    "AlertFilter",
    "Card",
    "PublicAlert",
    "active_alerts",
    "card_of",
    "cards_in_force",
    "public_alert",
]

FEED_CHANNEL = "feed"
CANCELLED_KEPT = timedelta(hours=24)
PARSED_KEPT = 512
_NOT_PUBLIC = (DeliveryStatus.FAILED, DeliveryStatus.SKIPPED)
_SHOWN_STATES = (AlertState.PUBLISHED, AlertState.CANCELLED)
_CODE_LENGTH = 6


@dataclass(frozen=True, slots=True)
class PublicAlert:
    """An alert as the public knows it: its latest public message, parsed."""

    alert_id: int
    message_id: int
    cap: CapAlert
    published: datetime
    """When its first public message was sent."""
    updated: datetime
    """When its latest public message was sent."""
    leaves_at: datetime | None
    """When it leaves the feed: its expiry, or the end of a Cancel's showing."""
    expired: bool = False

    @property
    def cancelled(self) -> bool:
        return self.cap.msg_type is MsgType.CANCEL

    def info(self, language: str) -> Info:
        """The info block in ``language``, else the first one: nobody misses a warning."""
        return self.cap.info_for(language) or self.cap.infos[0]

    def district_codes(self) -> set[str]:
        return {geocode.value.strip() for info in self.cap.infos for area in info.areas
                for geocode in area.geocodes
                if is_gb_t_2260(geocode.value_name) and len(geocode.value.strip()) == _CODE_LENGTH}


def _unit_prefix(code: str) -> str:
    # GB/T 2260 codes nest: 110000 is the municipality, 1101xx its districts.
    if code.endswith("0000"):
        return code[:2]
    if code.endswith("00"):
        return code[:4]
    return code


@dataclass(frozen=True, slots=True)
class AlertFilter:
    """``?district=&severity=``: a district code (an alert for the whole city concerns each
    district, and the city's code every district's alert) and a CAP severity."""

    district: str | None = None
    severity: Severity | None = None

    @classmethod
    def read(cls, district: str | None, severity: str | None) -> AlertFilter:
        district = (district or "").strip() or None
        if district is not None and (len(district) != _CODE_LENGTH or not district.isdigit()):
            raise InvalidInput(f"{district!r} is not a six-digit GB/T 2260 code", field="district")
        chosen: Severity | None = None
        if severity and severity.strip():
            by_name = {member.value.casefold(): member for member in Severity}
            chosen = by_name.get(severity.strip().casefold())
            if chosen is None:
                raise InvalidInput(f"{severity!r} is not a CAP severity"
                                   f" ({', '.join(member.value for member in Severity)})",
                                   field="severity")
        return cls(district, chosen)

    @property
    def is_empty(self) -> bool:
        return self.district is None and self.severity is None

    def matches(self, alert: PublicAlert) -> bool:
        if self.severity is not None and all(info.severity is not self.severity
                                             for info in alert.cap.infos):
            return False
        if self.district is None:
            return True
        wanted = self.district
        return any(wanted.startswith(_unit_prefix(code)) or code.startswith(_unit_prefix(wanted))
                   for code in alert.district_codes())


class _ParsedMessages:
    """Parsed CAP messages by their SHA-256: a signed message never changes."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._alerts: OrderedDict[str, CapAlert] = OrderedDict()

    def get(self, session: Session, rows: Sequence[Row[Any]]) -> dict[str, CapAlert]:
        missing = [row.message_id for row in rows if row.sha256 not in self._alerts]
        if missing:
            for sha256, xml in session.execute(select(Message.sha256, Message.xml)
                                               .where(Message.id.in_(missing))):
                parsed = read_alert(xml).alert
                if parsed is None or not parsed.infos:
                    raise ValueError(f"message {sha256}: its stored XML holds no alert to show")
                self._alerts[sha256] = parsed
        found = {}
        for row in rows:
            self._alerts.move_to_end(row.sha256)
            found[row.sha256] = self._alerts[row.sha256]
        while len(self._alerts) > self._size:
            self._alerts.popitem(last=False)
        return found


_parsed = _ParsedMessages(PARSED_KEPT)


def _public_messages() -> Any:
    """Per alert: its latest and first public message."""
    return (select(Message.alert_id, func.max(Message.id).label("latest_id"),
                   func.min(Message.sent).label("first_sent"))
            .join(Delivery, (Delivery.message_id == Message.id)
                  & (Delivery.channel == FEED_CHANNEL) & Delivery.status.notin_(_NOT_PUBLIC))
            .group_by(Message.alert_id).subquery())


def _rows(session: Session, *conditions: Any) -> Sequence[Row[Any]]:
    public = _public_messages()
    return session.execute(
        select(Alert.id.label("alert_id"), Alert.state, Alert.expires_at,
               Message.id.label("message_id"), Message.sha256, Message.sent,
               Message.msg_type, public.c.first_sent)
        .join(public, public.c.alert_id == Alert.id)
        .join(Message, Message.id == public.c.latest_id)
        .where(*conditions)
        .order_by(Message.sent.desc(), Message.id.desc())).all()


def _leaves_at(row: Row[Any]) -> datetime | None:
    expires_at: datetime | None = row.expires_at
    if row.msg_type != MsgType.CANCEL.value:
        return expires_at
    withdrawn: datetime = row.sent + CANCELLED_KEPT
    return withdrawn if expires_at is None else min(withdrawn, expires_at)


def _public(rows: Sequence[Row[Any]], parsed: dict[str, CapAlert],
            now: datetime) -> list[PublicAlert]:
    alerts = []
    for row in rows:
        leaves_at = _leaves_at(row)
        alerts.append(PublicAlert(row.alert_id, row.message_id, parsed[row.sha256],
                                  row.first_sent, row.sent, leaves_at,
                                  expired=leaves_at is not None and leaves_at <= now))
    return alerts


def active_alerts(session: Session, now: datetime) -> list[PublicAlert]:
    """Every alert on the public channels now, the latest change first."""
    rows = _rows(session, Alert.state.in_(_SHOWN_STATES),
                 or_(Alert.expires_at.is_(None), Alert.expires_at > now),
                 or_(Message.msg_type != MsgType.CANCEL.value,
                     Message.sent > now - CANCELLED_KEPT))
    return _public(rows, _parsed.get(session, rows), now)


def public_alert(session: Session, alert_id: int, now: datetime) -> PublicAlert:
    """One public alert, also once it has left the feed (a link to it keeps working)."""
    rows = _rows(session, Alert.id == alert_id)
    if not rows:
        raise NotFound(f"alert {alert_id} is not public", field="alert_id")
    return _public(rows, _parsed.get(session, rows), now)[0]


@dataclass(frozen=True, slots=True)
class Card:
    """One alert as a card in one language: the page, the timeline and the feed show this."""

    alert_id: int
    identifier: str
    language: str
    level: str
    event: str
    headline: str
    area: str
    districts: tuple[str, ...]
    description: str
    instruction: str
    severity: str
    urgency: str
    status: str
    msg_type: str
    sender_name: str
    published: datetime
    updated: datetime
    effective: datetime | None
    expires: datetime | None
    cancelled: bool
    expired: bool
    note: str

    @property
    def page_path(self) -> str:
        return f"/alerts/{self.alert_id}"

    @property
    def cap_path(self) -> str:
        return f"/alerts/{self.alert_id}.cap"

    def as_json(self) -> dict[str, Any]:
        def moment(value: datetime | None) -> str | None:
            return value.isoformat() if value is not None else None

        return {
            "id": self.alert_id, "identifier": self.identifier, "language": self.language,
            "level": self.level, "event": self.event, "headline": self.headline,
            "area": self.area, "districts": list(self.districts),
            "description": self.description,
            "instruction": self.instruction, "severity": self.severity,
            "urgency": self.urgency, "status": self.status, "msg_type": self.msg_type,
            "sender_name": self.sender_name, "published": moment(self.published),
            "updated": moment(self.updated), "effective": moment(self.effective),
            "expires": moment(self.expires), "cancelled": self.cancelled,
            "expired": self.expired, "note": self.note,
            "page_url": self.page_path, "cap_url": self.cap_path,
        }


def card_of(alert: PublicAlert, language: str = DEFAULT_LANGUAGE) -> Card:
    info = alert.info(language)
    return Card(
        alert_id=alert.alert_id, identifier=alert.cap.identifier, language=info.language,
        level=warning_colour(info), event=info.event, headline=info.headline or info.event,
        area="; ".join(area.area_desc for area in info.areas),
        districts=tuple(sorted(alert.district_codes())), description=info.description or "",
        instruction=info.instruction or "", severity=info.severity.value,
        urgency=info.urgency.value, status=alert.cap.status.value,
        msg_type=alert.cap.msg_type.value, sender_name=info.sender_name or alert.cap.sender,
        published=alert.published, updated=alert.updated,
        effective=info.effective or alert.cap.sent, expires=info.expires,
        cancelled=alert.cancelled, expired=alert.expired, note=alert.cap.note or "")


def cards_in_force(session: Session, now: datetime, chosen: AlertFilter,
                   language: str) -> list[Card]:
    """The cards of the alerts in force that ``chosen`` lets through, newest change first."""
    return [card_of(alert, language) for alert in active_alerts(session, now)
            if chosen.matches(alert)]
