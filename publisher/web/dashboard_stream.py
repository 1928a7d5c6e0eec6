"""Live dashboards: one poller per alert watched, shared by everyone who watches it.

An alert's poller asks the database every ``POLL_SECONDS`` whether anything
the dashboard shows has moved (``services.dashboard.change_marker``: two
grouped queries), and reads the whole dashboard only when it has, or when
the health report changed. Every stream of that alert then gets the new
snapshot; a slow stream skips to the newest one instead of queueing them.
However many people watch, the database sees one poll a second per alert.

The poller stops when the last stream of its alert ends; every stream ends
when the application shuts down (``end_streams``), so a server stops at
once rather than waiting for its open streams.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from publisher.services.dashboard import ChangeMarker, change_marker, read_dashboard
from publisher.store.db import session_scope
from publisher.web.context import HEALTH, SESSIONS
from publisher.web.health import HealthProbe

__all__ = ["DASHBOARD_HUB", "POLL_SECONDS", "DashboardHub", "HealthCache", "StreamEnded",
           "end_streams", "open_dashboard_hub"]

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
HEALTH_SECONDS = 10.0


class StreamEnded(Exception):
    """The application is shutting down: every stream ends."""


@dataclass(slots=True)
class HealthCache:
    """The ``/health`` report, asked at most every ``max_age`` seconds however many ask."""

    probe: HealthProbe
    max_age: float = HEALTH_SECONDS
    _report: dict[str, Any] | None = None
    _taken: float = 0.0
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def report(self) -> dict[str, Any]:
        async with self._lock:
            if self._report is None or time.monotonic() - self._taken > self.max_age:
                _, self._report = await self.probe.report()
                self._taken = time.monotonic()
            return self._report


@dataclass(slots=True)
class _Feed:
    """One alert's latest snapshot and the streams that follow it."""

    alert_id: int
    changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    version: int = 0
    snapshot: dict[str, Any] | None = None
    streams: int = 0
    task: asyncio.Task[None] | None = None


class DashboardHub:
    def __init__(self, sessions: sessionmaker[Session], health: HealthCache, *,
                 poll_seconds: float = POLL_SECONDS) -> None:
        self.sessions = sessions
        self.health = health
        self.poll_seconds = poll_seconds
        self._feeds: dict[int, _Feed] = {}
        self._ended = False

    def pollers(self) -> int:
        """How many alerts are being polled now."""
        return sum(1 for feed in self._feeds.values() if feed.task is not None)

    def _marker(self, alert_id: int) -> ChangeMarker:
        with session_scope(self.sessions) as session:
            return change_marker(session, alert_id)

    def _dashboard(self, alert_id: int) -> dict[str, Any]:
        with session_scope(self.sessions) as session:
            return read_dashboard(session, alert_id)

    async def snapshot(self, alert_id: int) -> dict[str, Any]:
        """The dashboard of the alert as it is now, with the health report."""
        found = await asyncio.to_thread(self._dashboard, alert_id)
        return {**found, "health": await self.health.report()}

    async def _poll(self, feed: _Feed) -> None:
        seen: tuple[ChangeMarker, dict[str, Any]] | None = None
        while True:
            try:
                now = (await asyncio.to_thread(self._marker, feed.alert_id),
                       await self.health.report())
                if now != seen:
                    snapshot = await self.snapshot(feed.alert_id)
                    seen = now
                    async with feed.changed:
                        feed.version += 1
                        feed.snapshot = snapshot
                        feed.changed.notify_all()
            except Exception:  # the next poll tries again; a stream must not die of one
                log.exception("dashboard poll failed", extra={"alert_id": feed.alert_id})
            await asyncio.sleep(self.poll_seconds)

    @contextlib.asynccontextmanager
    async def follow(self, alert_id: int) -> AsyncIterator[_Feed]:
        """Follow the alert's snapshots; its poller runs while anyone follows."""
        if self._ended:
            raise StreamEnded
        feed = self._feeds.setdefault(alert_id, _Feed(alert_id))
        feed.streams += 1
        if feed.task is None:
            feed.task = asyncio.create_task(self._poll(feed), name=f"dashboard-{alert_id}")
        try:
            yield feed
        finally:
            feed.streams -= 1
            if feed.streams == 0:
                await self._stop(feed)

    async def _stop(self, feed: _Feed) -> None:
        self._feeds.pop(feed.alert_id, None)
        if feed.task is not None:
            feed.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await feed.task
            feed.task = None

    async def next_snapshot(self, feed: _Feed, seen: int, timeout: float
                            ) -> tuple[int, dict[str, Any]] | None:
        """The snapshot after version ``seen``; None when none came within ``timeout``."""
        async with feed.changed:
            try:
                await asyncio.wait_for(feed.changed.wait_for(
                    lambda: self._ended or feed.version > seen), timeout)
            except TimeoutError:
                return None
            if self._ended:
                raise StreamEnded
            assert feed.snapshot is not None
            return feed.version, feed.snapshot

    async def end(self) -> None:
        """End every stream, and stop every poller."""
        self._ended = True
        for feed in list(self._feeds.values()):
            async with feed.changed:
                feed.changed.notify_all()
            await self._stop(feed)


DASHBOARD_HUB = web.AppKey("dashboard_hub", DashboardHub)


async def open_dashboard_hub(app: web.Application) -> AsyncIterator[None]:
    """The hub of the application (a cleanup context, after the resources it uses)."""
    app[DASHBOARD_HUB] = DashboardHub(app[SESSIONS], HealthCache(app[HEALTH]))
    yield
    await app[DASHBOARD_HUB].end()


async def end_streams(app: web.Application) -> None:
    """End the open streams when the server shuts down (an ``on_shutdown`` handler)."""
    if DASHBOARD_HUB in app:
        await app[DASHBOARD_HUB].end()
