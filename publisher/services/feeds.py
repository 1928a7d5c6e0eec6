"""The public feeds kept current: rebuilt whenever an alert on them changes, served as built.

The feed is a target of the ``feed`` channel (one row, following the whole
division), so publish, Update and Cancel reach it as deliveries like every
other channel's. The channel hands each of them to a ``FeedRebuilder``, which
rebuilds the feed documents from the public alerts (``public_alerts``) in
one transaction and answers the version it stored: the delivery is final
once the rebuilt feed holding its message is stored.

A rebuild that finds the same entries as the stored build changes nothing:
a version, its bytes and their ETag stay while the feed's content does. The
default feed (Atom and RSS, every page) is stored here; a filtered one is
rendered once per version by whoever serves it (``render_feed_query``).
Each build knows when its first entry leaves (``valid_until``): the expiry
of an alert is a change of the feed like any other, and the next request
after it rebuilds, to the second, whatever the expiry task's period.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, text
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.base import OutgoingMessage, TransientChannelError
from publisher.config import ConfigError, Settings
from publisher.services.feed_documents import FeedFormat, FeedQuery, FeedSite, render_feed
from publisher.services.languages import DEFAULT_LANGUAGE
from publisher.services.public_alerts import (
    FEED_CHANNEL,
    Card,
    PublicAlert,
    active_alerts,
    card_of,
)
from publisher.store.db import session_scope
from publisher.store.models import FeedDocument, Target, TargetDistrict, utcnow

__all__ = [
    "DEFAULT_PUBLIC_URL",
    "FEED_TARGET_ADDRESS",
    "FeedOptions",
    "FeedRebuilder",
    "FeedState",
    "StoredFeed",
    "current_state",
    "document_name",
    "ensure_feed_target",
    "load_feed",
    "rebuild_feeds",
    "render_feed_query",
]

log = logging.getLogger(__name__)

DEFAULT_PUBLIC_URL = "http://127.0.0.1:8080"
FEED_TARGET_ADDRESS = "public"
# Any constant shared by every process: it names the lock that serialises rebuilds.
_REBUILD_LOCK = 0x46454544


@dataclass(frozen=True, slots=True)
class FeedOptions:
    """``channel_options["feed"]``: ``public_url`` (where citizens reach the web app; ids
    and links in the feed are absolute) and ``test_target`` (the feed is a test target:
    Exercise and Test messages appear on it, for a training installation)."""

    site: FeedSite
    test_target: bool = False

    @classmethod
    def read(cls, settings: Settings) -> FeedOptions:
        options: Mapping[str, Any] = settings.channel_options.get(FEED_CHANNEL, {})
        public_url = options.get("public_url", DEFAULT_PUBLIC_URL)
        if not isinstance(public_url, str) or not public_url.startswith(("http://", "https://")):
            raise ConfigError(f"channel_options.feed.public_url: {public_url!r} is not an"
                              " http(s) URL")
        test_target = options.get("test_target", False)
        if not isinstance(test_target, bool):
            raise ConfigError(f"channel_options.feed.test_target: {test_target!r} is not"
                              " true or false")
        return cls(FeedSite(public_url.rstrip("/"), settings.center_sender), test_target)


@dataclass(frozen=True, slots=True)
class FeedState:
    version: int
    changed_at: datetime
    valid_until: datetime | None

    def is_stale(self, now: datetime) -> bool:
        return self.valid_until is not None and self.valid_until <= now


@dataclass(frozen=True, slots=True)
class StoredFeed:
    """One served document: its bytes and what conditional requests compare."""

    body: bytes
    etag: str
    media_type: str
    changed_at: datetime


def document_name(feed_format: FeedFormat, page: int) -> str:
    return f"alerts.{feed_format.value}" + (f"?page={page}" if page > 1 else "")


def _page_of(name: str) -> int:
    return int(name.rsplit("=", 1)[1]) if "?page=" in name else 1


def _etag(body: bytes) -> str:
    return f'"{hashlib.sha256(body).hexdigest()}"'


def ensure_feed_target(session: Session, division_code: str, *, is_test: bool) -> int:
    """The public feed's target row, following the whole division; its id."""
    target = session.scalar(select(Target).where(Target.channel == FEED_CHANNEL,
                                                 Target.address == FEED_TARGET_ADDRESS))
    if target is None:
        target = Target(channel=FEED_CHANNEL, address=FEED_TARGET_ADDRESS,
                        language=DEFAULT_LANGUAGE)
        session.add(target)
    target.is_test = is_test
    target.active = True
    if [followed.district_code for followed in target.followed_districts] != [division_code]:
        target.followed_districts = [TargetDistrict(district_code=division_code)]
    session.flush()
    return target.id


def _cards(alerts: Sequence[PublicAlert], language: str | None) -> list[Card]:
    return [card_of(alert, language or alert.cap.infos[0].language) for alert in alerts]


def _fingerprint(alerts: Sequence[PublicAlert], site: FeedSite) -> str:
    shown = "\n".join(f"{alert.alert_id}:{alert.message_id}" for alert in alerts)
    return hashlib.sha256(f"{site}\n{shown}".encode()).hexdigest()


def _state(document: FeedDocument) -> FeedState:
    return FeedState(document.version, document.changed_at, document.valid_until)


def current_state(session: Session) -> FeedState | None:
    """The stored build's version, or None before the first build."""
    first = session.get(FeedDocument, document_name(FeedFormat.ATOM, 1))
    return None if first is None else _state(first)


def rebuild_feeds(session: Session, site: FeedSite, now: datetime) -> FeedState:
    """Store the default feeds as the public alerts make them now; the caller commits."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _REBUILD_LOCK})
    alerts = active_alerts(session, now)
    fingerprint = _fingerprint(alerts, site)
    current = session.get(FeedDocument, document_name(FeedFormat.ATOM, 1))
    if current is not None and current.fingerprint == fingerprint:
        return _state(current)
    version = 1 if current is None else current.version + 1
    leaving = [alert.leaves_at for alert in alerts if alert.leaves_at is not None]
    valid_until = min(leaving) if leaving else None
    cards = _cards(alerts, None)
    session.execute(delete(FeedDocument))
    session.flush()
    for feed_format in FeedFormat:
        pages = render_feed(cards, FeedQuery(feed_format), site, now)
        session.add_all(FeedDocument(name=document_name(feed_format, number), version=version,
                                     fingerprint=fingerprint, media_type=feed_format.media_type,
                                     body=body, etag=_etag(body), changed_at=now,
                                     valid_until=valid_until)
                        for number, body in enumerate(pages, start=1))
    session.flush()
    log.info("feeds rebuilt", extra={"feed_version": version, "entries": len(alerts)})
    return FeedState(version, now, valid_until)


def load_feed(session: Session, feed_format: FeedFormat) -> tuple[FeedState, list[StoredFeed]]:
    """Every stored page of the default feed in ``feed_format``, and their build."""
    documents = session.scalars(select(FeedDocument).where(
        FeedDocument.name.startswith(f"alerts.{feed_format.value}"))).all()
    by_page = sorted(documents, key=lambda document: _page_of(document.name))
    if not by_page:
        raise LookupError("the feeds have not been built yet")
    return _state(by_page[0]), [StoredFeed(document.body, document.etag, document.media_type,
                                           document.changed_at) for document in by_page]


def render_feed_query(session: Session, query: FeedQuery, site: FeedSite,
                      state: FeedState, now: datetime) -> list[StoredFeed]:
    """Every page of a filtered feed, from the same alerts as the build ``state`` names."""
    alerts = [alert for alert in active_alerts(session, now) if query.filter.matches(alert)]
    pages = render_feed(_cards(alerts, query.language), query, site, state.changed_at)
    return [StoredFeed(body, _etag(body), query.format.media_type, state.changed_at)
            for body in pages]


class FeedRebuilder:
    """What the feed channel hands each message to: a rebuild, in its own transaction."""

    def __init__(self, sessions: sessionmaker[Session], site: FeedSite) -> None:
        self._sessions = sessions
        self._site = site

    def republish(self, message: OutgoingMessage) -> str:
        """Rebuild the feeds with ``message`` on them; the stored version, as a provider id."""
        try:
            with session_scope(self._sessions) as session:
                state = rebuild_feeds(session, self._site, utcnow())
        except OperationalError as error:
            # The database is unreachable or busy: the batch is retried with backoff.
            raise TransientChannelError(f"feed store: {error.orig}") from None
        log.info("feed carries message", extra={"alert_identifier": message.identifier,
                                                "feed_version": state.version})
        return f"feed-v{state.version}"
