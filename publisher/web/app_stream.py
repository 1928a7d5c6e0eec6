"""The push stream for app backends: ``GET /api/stream`` (Server-Sent Events) and its acks.

Why SSE rather than WebSocket: the stream flows one way, SSE carries the
resume cursor in the protocol itself (``id:`` lines, and the
``Last-Event-ID`` a client sends back when it reconnects), goes through
every HTTP proxy and load balancer as a plain response, and needs no
library in the app beyond an HTTP client. Acks go the other way as plain
POSTs, so nothing needs a second direction on the stream.

One poller serves every connection of the process (``AppStreamHub``): it
asks the database every ``POLL_SECONDS`` for events after the last it saw,
builds each message's payload once, and keeps the latest ``EVENTS_KEPT``
events in memory. A connection resumes after its cursor: from memory when
its cursor is recent enough, else a page at a time from the database,
until it has caught up. Event ids are committed in order
(``services.app_events``), so resuming after N never skips an event and
never repeats one. A comment line every ``HEARTBEAT_SECONDS`` keeps idle
connections open through proxies; every stream ends when the server shuts
down.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.districts import DistrictTable, load_districts
from publisher.channels.base import ChannelError
from publisher.channels.registry import create_channel
from publisher.services.app_events import (
    EventRow,
    MessagePayload,
    MessagePayloads,
    StreamFilter,
    events_after,
    latest_event_id,
    record_acks,
)
from publisher.services.apps import APP_CHANNEL, app_for_credential
from publisher.services.errors import InvalidInput
from publisher.store.db import session_scope
from publisher.web.auth import bearer_token
from publisher.web.bodies import read_json_object
from publisher.web.context import SESSIONS, SETTINGS, in_transaction
from publisher.web.dashboard_stream import StreamEnded
from publisher.web.errors import error_response
from publisher.web.representations import json_response

__all__ = ["APP_STREAM_HUB", "AppStreamHub", "add_app_stream"]

log = logging.getLogger(__name__)

POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 15.0
EVENTS_KEPT = 2048
PAGE = 200
MAX_ACKS = 1000
RETRY_MILLISECONDS = 2000


@dataclass(slots=True)
class StreamEvent:
    """An event ready to send; its frames are built once per choice of languages."""

    row: EventRow
    payload: MessagePayload
    _frames: dict[tuple[str, ...], bytes] = field(default_factory=dict)

    @property
    def event_id(self) -> int:
        return self.row.event_id

    def frame(self, languages: tuple[str, ...]) -> bytes:
        found = self._frames.get(languages)
        if found is None:
            document = self.payload.document(self.event_id, self.row.app, languages)
            data = json.dumps(document, ensure_ascii=False, separators=(",", ":"))
            found = f"id: {self.event_id}\nevent: alert\ndata: {data}\n\n".encode()
            self._frames[languages] = found
        return found


class AppStreamHub:
    def __init__(self, sessions: sessionmaker[Session], *, poll_seconds: float = POLL_SECONDS,
                 kept: int = EVENTS_KEPT, districts: DistrictTable | None = None) -> None:
        self.sessions = sessions
        self.poll_seconds = poll_seconds
        self.kept = kept
        self.version = 0
        self._payloads = MessagePayloads(districts=districts)
        self._recent: list[StreamEvent] = []
        self._ids: list[int] = []
        self._floor = 0
        """Every event after this id is in ``_recent``."""
        self._last = 0
        self._changed = asyncio.Condition()
        self._ended = False
        self._task: asyncio.Task[None] | None = None

    def _read(self, after: int, app_id: int | None) -> list[StreamEvent]:
        with session_scope(self.sessions) as session:
            rows = events_after(session, after, PAGE, app_id)
            payloads = self._payloads.get(session, {row.message_id for row in rows})
        return [StreamEvent(row, payloads[row.message_id]) for row in rows]

    def _latest(self) -> int:
        with session_scope(self.sessions) as session:
            return latest_event_id(session)

    async def start(self) -> None:
        self._floor = self._last = await asyncio.to_thread(self._latest)
        self._task = asyncio.create_task(self._poll(), name="app-stream-poller")

    async def _poll(self) -> None:
        while True:
            try:
                found = await asyncio.to_thread(self._read, self._last, None)
                if found:
                    self._keep(found)
                    async with self._changed:
                        self.version += 1
                        self._changed.notify_all()
                    if len(found) == PAGE:
                        continue
            except Exception:  # the next poll tries again; the streams must not die of one
                log.exception("app stream poll failed")
            await asyncio.sleep(self.poll_seconds)

    def _keep(self, found: list[StreamEvent]) -> None:
        self._recent += found
        self._ids += (event.event_id for event in found)
        self._last = found[-1].event_id
        if len(self._recent) > 2 * self.kept:
            cut = len(self._recent) - self.kept
            self._floor = self._ids[cut - 1]
            self._recent, self._ids = self._recent[cut:], self._ids[cut:]

    async def after(self, app_id: int, cursor: int) -> list[StreamEvent]:
        """The app's next events after ``cursor``: all that memory holds, or a page."""
        if cursor < self._floor:
            return await asyncio.to_thread(self._read, cursor, app_id)
        start = bisect.bisect_right(self._ids, cursor)
        return [event for event in self._recent[start:] if event.row.app_id == app_id]

    async def wait(self, seen: int, timeout: float) -> bool:
        """Whether events came after version ``seen`` within ``timeout``."""
        async with self._changed:
            try:
                await asyncio.wait_for(self._changed.wait_for(
                    lambda: self._ended or self.version > seen), timeout)
            except TimeoutError:
                return False
        if self._ended:
            raise StreamEnded
        return True

    async def end(self) -> None:
        self._ended = True
        async with self._changed:
            self._changed.notify_all()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


APP_STREAM_HUB = web.AppKey("app_stream_hub", AppStreamHub)


async def _open_hub(app: web.Application) -> AsyncIterator[None]:
    districts = await asyncio.to_thread(load_districts, app[SETTINGS].paths.districts_file)
    hub = AppStreamHub(app[SESSIONS], districts=districts)
    await hub.start()
    app[APP_STREAM_HUB] = hub
    yield
    await hub.end()


async def _end_streams(app: web.Application) -> None:
    if APP_STREAM_HUB in app:
        await app[APP_STREAM_HUB].end()


def _cursor(request: web.Request) -> int:
    header = request.headers.get("Last-Event-ID")
    name, raw = ("Last-Event-ID", header) if header else ("after", request.query.get("after"))
    if raw is None or raw == "":
        return 0
    if not raw.isdigit():
        raise InvalidInput(f"must be an event id (a whole number), not {raw!r}", field=name)
    return int(raw)


@dataclass(frozen=True, slots=True)
class _Connected:
    app_id: int
    name: str
    languages: tuple[str, ...]


async def stream(request: web.Request) -> web.StreamResponse:
    credential = bearer_token(request)
    chosen = StreamFilter.read(request.query)
    cursor = _cursor(request)

    def connecting(session: Session) -> _Connected:
        app = app_for_credential(session, credential)
        return _Connected(app.id, app.name, tuple(app.languages))

    connected = await in_transaction(request, connecting)
    languages = chosen.languages(connected.languages)
    hub = request.app[APP_STREAM_HUB]
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream; charset=utf-8",
                                           "Cache-Control": "no-cache",
                                           "X-Accel-Buffering": "no"})
    await response.prepare(request)
    await response.write(f"retry: {RETRY_MILLISECONDS}\n\n".encode())
    try:
        while True:
            seen = hub.version
            events = await hub.after(connected.app_id, cursor)
            for event in events:
                if chosen.admits(event.payload):
                    await response.write(event.frame(languages))
                cursor = event.event_id
            if not events and not await hub.wait(seen, HEARTBEAT_SECONDS):
                await response.write(b": heartbeat\n\n")
    except StreamEnded:
        # A client that already left has nothing to be told.
        with contextlib.suppress(ConnectionResetError):
            await response.write(b": the server is shutting down\n\n")
    except (ConnectionResetError, asyncio.CancelledError):
        log.info("app stream closed", extra={"app": connected.name, "cursor": cursor})
        raise
    return response


def _event_ids(body: dict[str, Any]) -> list[int]:
    events = body.get("events")
    if not isinstance(events, list) or not events or len(events) > MAX_ACKS:
        raise InvalidInput(f"must be a list of 1 to {MAX_ACKS} event ids", field="events")
    for index, event in enumerate(events):
        if isinstance(event, bool) or not isinstance(event, int) or event < 1:
            raise InvalidInput(f"{event!r} is not an event id", field=f"events[{index}]")
    return list(dict.fromkeys(events))


async def acks(request: web.Request) -> web.Response:
    credential = bearer_token(request)
    event_ids = _event_ids(await read_json_object(request))
    options = request.app[SETTINGS].channel_options.get(APP_CHANNEL)

    def recording(session: Session) -> list[dict[str, Any]]:
        app = app_for_credential(session, credential)
        channel = create_channel(APP_CHANNEL, options)
        return [{"event": ack.event, "outcome": ack.outcome}
                for ack in record_acks(session, app, channel, event_ids)]

    try:
        recorded = await in_transaction(request, recording)
    except ChannelError as error:
        return error_response(503, "unavailable", "channel", error.reason)
    return json_response({"acks": recorded})


def add_app_stream(app: web.Application) -> None:
    """The stream, its acks, and the hub that serves them (after the resources it uses)."""
    app.cleanup_ctx.append(_open_hub)
    app.on_shutdown.append(_end_streams)
    app.router.add_get("/api/stream", stream)
    app.router.add_post("/api/stream/acks", acks)
