"""The public feeds over HTTP: ``/feeds/alerts.atom`` and ``/feeds/alerts.rss``.

Nothing is rendered for a request when nothing changed. The bytes of the
default feed come from the store as the last rebuild wrote them; a filtered
feed (``?district=&lang=&severity=``) is rendered once per feed version and
kept. Every process asks the store for the feed's version at most once per
``REFRESH_SECONDS``, so a change shows within that; the request after an
entry's expiry rebuilds the feeds (``publisher.services.feeds``).

Responses carry an ETag (the SHA-256 of the bytes) and ``Last-Modified``
(when the feed's content last changed), and answer 304 to a conditional
request that names them.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from publisher.services.errors import InvalidInput, NotFound
from publisher.services.feed_documents import FeedFormat, FeedQuery, FeedSite
from publisher.services.feeds import (
    FeedOptions,
    FeedState,
    StoredFeed,
    current_state,
    ensure_feed_target,
    load_feed,
    rebuild_feeds,
    render_feed_query,
)
from publisher.services.public_alerts import FEED_CHANNEL
from publisher.store.db import session_scope
from publisher.store.models import utcnow
from publisher.web.context import SESSIONS, SETTINGS
from publisher.web.public_query import alert_filter, requested_language

__all__ = ["FEEDS", "REFRESH_SECONDS", "FeedCache", "open_feeds", "routes"]

REFRESH_SECONDS = 1.0
_CACHE_CONTROL = "public, no-cache"

routes = web.RouteTableDef()


@dataclass(frozen=True, slots=True)
class _Kept:
    version: int
    pages: list[StoredFeed]


class FeedCache:
    """The feed documents this process serves, by query, for the current feed version."""

    def __init__(self, sessions: sessionmaker[Session], site: FeedSite, *,
                 refresh_seconds: float = REFRESH_SECONDS) -> None:
        self._sessions = sessions
        self._site = site
        self._refresh_seconds = refresh_seconds
        self._state: FeedState | None = None
        self._checked_at = float("-inf")
        self._kept: dict[FeedQuery, _Kept] = {}
        self._lock = asyncio.Lock()

    def _stored_state(self) -> FeedState:
        now = utcnow()
        with session_scope(self._sessions) as session:
            state = current_state(session)
            if state is None or state.is_stale(now):
                state = rebuild_feeds(session, self._site, now)
            return state

    def _fresh(self) -> FeedState | None:
        state = self._state
        if state is None or time.monotonic() - self._checked_at >= self._refresh_seconds \
                or state.is_stale(utcnow()):
            return None
        return state

    async def state(self) -> FeedState:
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        async with self._lock:
            fresh = self._fresh()
            if fresh is None:
                fresh = await asyncio.to_thread(self._stored_state)
                if self._state is None or fresh.version != self._state.version:
                    self._kept.clear()
                self._state, self._checked_at = fresh, time.monotonic()
        return fresh

    def _pages_of(self, query: FeedQuery, state: FeedState) -> _Kept:
        with session_scope(self._sessions) as session:
            if query.is_default:
                stored, pages = load_feed(session, query.format)
                return _Kept(stored.version, pages)
            return _Kept(state.version,
                         render_feed_query(session, query, self._site, state, utcnow()))

    async def pages(self, query: FeedQuery) -> list[StoredFeed]:
        state = await self.state()
        kept = self._kept.get(query)
        if kept is None or kept.version < state.version:
            async with self._lock:
                kept = self._kept.get(query)
                if kept is None or kept.version < state.version:
                    kept = await asyncio.to_thread(self._pages_of, query, state)
                    self._kept[query] = kept
        return kept.pages


FEEDS = web.AppKey("feeds", FeedCache)


async def open_feeds(app: web.Application) -> AsyncIterator[None]:
    """The public feed's target row (when the feed channel is on), and the documents served."""
    settings = app[SETTINGS]
    options = FeedOptions.read(settings)
    sessions = app[SESSIONS]

    def register() -> None:
        with session_scope(sessions) as session:
            ensure_feed_target(session, settings.division_code, is_test=options.test_target)

    if FEED_CHANNEL in settings.channels:
        await asyncio.to_thread(register)
    app[FEEDS] = FeedCache(sessions, options.site)
    yield


def _page_number(request: web.Request) -> int:
    text = request.query.get("page", "1")
    if not text.isdigit() or int(text) < 1:
        raise InvalidInput(f"{text!r} is not a page number (1, 2, ...)", field="page")
    return int(text)


def _not_modified(request: web.Request, document: StoredFeed) -> bool:
    if "If-None-Match" in request.headers:
        named = {tag.strip().removeprefix("W/")
                 for tag in request.headers["If-None-Match"].split(",")}
        return "*" in named or document.etag in named
    since = request.if_modified_since
    return since is not None and document.changed_at.replace(microsecond=0) <= since


def _changed_at_header(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


async def _feed(request: web.Request, feed_format: FeedFormat) -> web.Response:
    query = FeedQuery(feed_format, requested_language(request), alert_filter(request))
    number = _page_number(request)
    pages = await request.app[FEEDS].pages(query)
    if number > len(pages):
        raise NotFound(f"the feed has {len(pages)} page(s), not {number}", field="page")
    document = pages[number - 1]
    response = web.Response(status=304) if _not_modified(request, document) else \
        web.Response(body=document.body, content_type=document.media_type, charset="utf-8")
    response.headers["ETag"] = document.etag
    response.headers["Cache-Control"] = _CACHE_CONTROL
    response.last_modified = _changed_at_header(document.changed_at)
    return response


@routes.get("/feeds/alerts.atom")
async def atom_feed(request: web.Request) -> web.Response:
    return await _feed(request, FeedFormat.ATOM)


@routes.get("/feeds/alerts.rss")
async def rss_feed(request: web.Request) -> web.Response:
    return await _feed(request, FeedFormat.RSS)
