"""What each app is handed: events in cursor order, their payload, and their acks.

A message handed to an app becomes an event (``AppEvent``) whose id is the
app's cursor on the stream. Ids are given out from a one-row sequence,
locked until the appending transaction commits, so events are committed in
id order: a reader that has seen event N will never find a new event below
N later, which is what lets a client resume "after N" with nothing missed
and nothing repeated. (District nodes resume by message id instead, and
drop what they already have; an app must not have to.)

The payload of an event is the signed CAP and one card per language, the
card of the public page (``public_alerts.card_of``). A message's payload is
built once and kept (``MessagePayloads``): a signed message never changes.

The app's filters are applied when a message is handed over: its statuses
always, its severities to Alerts only (an Update or a Cancel of something
the app has must reach it, whatever its new severity), its districts by
fan-out itself. A connection's own ``?district=`` sees a drawn area as naming
the districts it overlaps, as the fan-out does. Languages never hold a
message back: they choose the cards.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, cast

from sqlalchemy import Table, func, insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.districts import DistrictTable
from publisher.cap.model import MsgType
from publisher.cap.reader import read_alert
from publisher.channels.app_push import PreparedPush
from publisher.channels.base import Channel, OutgoingMessage, TargetRef
from publisher.channels.device_push import provider_id
from publisher.services.apps import AppFilters
from publisher.services.drawn_area_followers import with_overlapped_districts
from publisher.services.languages import LANGUAGES
from publisher.services.public_alerts import AlertFilter, PublicAlert, card_of
from publisher.services.receipts import store_receipts
from publisher.store.db import session_scope
from publisher.store.models import (
    App,
    AppDeliveryMode,
    AppEvent,
    AppEventSequence,
    Message,
    ReceiptOutcome,
)

__all__ = [
    "AckOutcome",
    "AppHandOver",
    "EventRow",
    "MessagePayload",
    "MessagePayloads",
    "StreamFilter",
    "append_events",
    "events_after",
    "latest_event_id",
    "record_acks",
    "refusal",
]

_SEQUENCE_ROW = 1
_EVENTS = cast(Table, AppEvent.__table__)
PAYLOADS_KEPT = 256


@dataclass(frozen=True, slots=True)
class MessagePayload:
    """A message as apps get it, less the event id and the choice of languages."""

    public: PublicAlert
    xml: str
    cards: Mapping[str, dict[str, Any]]
    filtered: PublicAlert
    """The alert as a connection's ``?district=`` sees it: its drawn areas naming the
    districts they overlap, as the fan-out reaches apps (``drawn_area_followers``)."""

    @property
    def status(self) -> str:
        return self.public.cap.status.value

    @property
    def severities(self) -> frozenset[str]:
        return frozenset(info.severity.value for info in self.public.cap.infos)

    def document(self, event_id: int, app: str, languages: Sequence[str]) -> dict[str, Any]:
        cap = self.public.cap
        chosen = [language for language in LANGUAGES if language in languages] or LANGUAGES
        return {"event": event_id, "app": app, "identifier": cap.identifier,
                "sender": cap.sender, "sent": cap.sent.isoformat(),
                "msg_type": cap.msg_type.value, "status": cap.status.value,
                "references": cap.references, "cap": self.xml,
                "cards": {language: self.cards[language] for language in chosen}}


class MessagePayloads:
    """Payloads by message id, the latest ``size`` kept; safe to share between threads."""

    def __init__(self, size: int = PAYLOADS_KEPT,
                 districts: DistrictTable | None = None) -> None:
        self._size = size
        self._districts = districts
        self._kept: OrderedDict[int, MessagePayload] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, session: Session, message_ids: Iterable[int]) -> dict[int, MessagePayload]:
        wanted = set(message_ids)
        with self._lock:
            found = {message_id: self._kept[message_id]
                     for message_id in wanted if message_id in self._kept}
        missing = wanted - set(found)
        if missing:
            found |= _payloads(session, missing, self._districts)
        with self._lock:
            for message_id, payload in found.items():
                self._kept[message_id] = payload
                self._kept.move_to_end(message_id)
            while len(self._kept) > self._size:
                self._kept.popitem(last=False)
        return found


def _payloads(session: Session, message_ids: set[int],
              districts: DistrictTable | None) -> dict[int, MessagePayload]:
    first_sent = (select(Message.alert_id, func.min(Message.sent).label("published"))
                  .group_by(Message.alert_id).subquery())
    rows = session.execute(
        select(Message.id, Message.alert_id, Message.xml, Message.sent, Message.expires_at,
               first_sent.c.published)
        .join(first_sent, first_sent.c.alert_id == Message.alert_id)
        .where(Message.id.in_(message_ids))).all()
    payloads = {}
    for row in rows:
        cap = read_alert(row.xml).alert
        if cap is None or not cap.infos:
            raise ValueError(f"message {row.id}: its stored XML holds no alert to hand over")
        public = PublicAlert(row.alert_id, row.id, cap, row.published, row.sent,
                             row.expires_at)
        filtered = public if districts is None else replace(
            public, cap=with_overlapped_districts(cap, districts))
        payloads[row.id] = MessagePayload(
            public, row.xml.decode("utf-8"),
            {language: card_of(public, language).as_json() for language in LANGUAGES},
            filtered)
    return payloads


def refusal(filters: AppFilters, payload: MessagePayload) -> str | None:
    """Why the app's filters keep this message from it; None when they let it through."""
    if payload.status not in filters.statuses:
        return (f"outside the app's filters: status {payload.status} is not one of"
                f" {', '.join(filters.statuses)}")
    if filters.severities and payload.public.cap.msg_type is MsgType.ALERT \
            and not payload.severities & set(filters.severities):
        return (f"outside the app's filters: severity {', '.join(sorted(payload.severities))}"
                f" is not one of {', '.join(filters.severities)}")
    return None


@dataclass(frozen=True, slots=True)
class StreamFilter:
    """What one connection asks for on top of its app's filters (``?district=&language=...``)."""

    alerts: AlertFilter
    language: str | None
    status: str | None

    @classmethod
    def read(cls, query: Mapping[str, str]) -> StreamFilter:
        fields: dict[str, Any] = {"languages": query.get("language") or [],
                  "statuses": query.get("status") or []}
        read = AppFilters.read(fields)
        return cls(AlertFilter.read(query.get("district"), query.get("severity")),
                   read.languages[0] if read.languages else None,
                   read.statuses[0] if query.get("status") else None)

    def admits(self, payload: MessagePayload) -> bool:
        if self.status is not None and payload.status != self.status:
            return False
        return self.alerts.matches(payload.filtered)

    def languages(self, app_languages: Sequence[str]) -> tuple[str, ...]:
        if self.language is None:
            return tuple(app_languages)
        return (self.language,)


def append_events(session: Session, handed: Sequence[tuple[int, int, int]]) -> dict[int, int]:
    """Events for (app id, delivery id, message id), once per delivery; delivery id -> event id.

    The caller commits; the sequence row stays locked until then.
    """
    last = session.scalars(select(AppEventSequence.last_id)
                           .where(AppEventSequence.id == _SEQUENCE_ROW).with_for_update()).one()
    events: dict[int, int] = {delivery_id: event_id for delivery_id, event_id in session.execute(
        select(AppEvent.delivery_id, AppEvent.id)
        .where(AppEvent.delivery_id.in_([delivery_id for _, delivery_id, _ in handed])))}
    new = [row for row in handed if row[1] not in events]
    if new:
        session.execute(update(AppEventSequence).where(AppEventSequence.id == _SEQUENCE_ROW)
                        .values(last_id=last + len(new)))
        rows = [{"id": last + number, "app_id": app_id, "delivery_id": delivery_id,
                 "message_id": message_id}
                for number, (app_id, delivery_id, message_id) in enumerate(new, start=1)]
        session.execute(insert(_EVENTS), rows)
        events |= {row["delivery_id"]: row["id"] for row in rows}
    return events


@dataclass(frozen=True, slots=True)
class EventRow:
    event_id: int
    app_id: int
    app: str
    message_id: int


def events_after(session: Session, after: int, limit: int,
                 app_id: int | None = None) -> list[EventRow]:
    """Events after cursor ``after``, of one app or of all, in cursor order."""
    query = (select(AppEvent.id, AppEvent.app_id, App.name, AppEvent.message_id)
             .join(App, App.id == AppEvent.app_id).where(AppEvent.id > after))
    if app_id is not None:
        query = query.where(AppEvent.app_id == app_id)
    return [EventRow(*row) for row in session.execute(query.order_by(AppEvent.id).limit(limit))]


def latest_event_id(session: Session) -> int:
    return session.scalar(select(func.max(AppEvent.id))) or 0


class AppHandOver:
    """What the ``app`` channel is given: the apps of a batch, filtered, their events appended.

    The channel itself never touches the database; this is its one door to
    it, as the feed rebuilder is the feed channel's.
    """

    def __init__(self, sessions: sessionmaker[Session],
                 payloads: MessagePayloads | None = None) -> None:
        self._sessions = sessions
        self._payloads = payloads or MessagePayloads()

    def prepare(self, message: OutgoingMessage,
                targets: Sequence[TargetRef]) -> list[PreparedPush]:
        with session_scope(self._sessions) as session:
            payload = self._payloads.get(session, [message.message_id])[message.message_id]
            apps = {app.target_id: app for app in session.scalars(
                select(App).where(App.target_id.in_([target.target_id
                                                     for target in targets])))}
            prepared: list[PreparedPush] = []
            handed: list[tuple[App, int]] = []
            for target in targets:
                app = apps.get(target.target_id)
                if app is None:
                    prepared.append(PreparedPush.refused(target.delivery_id,
                                                         "the app was removed"))
                    continue
                refused = refusal(AppFilters.of(app), payload)
                if refused is not None:
                    prepared.append(PreparedPush.refused(target.delivery_id, refused))
                    continue
                handed.append((app, target.delivery_id))
            events = append_events(session, [(app.id, delivery_id, message.message_id)
                                             for app, delivery_id in handed]) if handed else {}
            for app, delivery_id in handed:
                document = payload.document(events[delivery_id], app.name, app.languages)
                prepared.append(PreparedPush(
                    delivery_id, app.name, app.mode is AppDeliveryMode.WEBHOOK, app.webhook_url,
                    app.webhook_secret, None, events[delivery_id],
                    json.dumps(document, ensure_ascii=False).encode("utf-8")))
        return prepared


@dataclass(frozen=True, slots=True)
class AckOutcome:
    event: int
    outcome: str


def record_acks(session: Session, app: App, channel: Channel[Any],
                event_ids: Sequence[int]) -> list[AckOutcome]:
    """The app's acks of its events, through the receipts of the ``app`` channel."""
    rows = session.execute(select(AppEvent.id, AppEvent.delivery_id)
                           .where(AppEvent.app_id == app.id, AppEvent.id.in_(event_ids)))
    deliveries: dict[int, int] = {event_id: delivery_id for event_id, delivery_id in rows}
    known = [event for event in event_ids if event in deliveries]
    stored = store_receipts(session, channel, [
        {"delivery": provider_id(deliveries[event]), "state": "delivered", "event": event,
         "app": app.name} for event in known])
    outcomes = {event: receipt.outcome.value for event, receipt in zip(known, stored,
                                                                      strict=True)}
    return [AckOutcome(event, outcomes.get(event, ReceiptOutcome.UNKNOWN.value))
            for event in event_ids]
