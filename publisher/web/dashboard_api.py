"""The delivery dashboard over the API: a snapshot, a live stream of them, and retrying failures.

``GET /api/alerts/{id}/dashboard`` is the dashboard as JSON (any staff
role), with ``?page=`` the page of failed targets. ``.../dashboard/events``
streams it as Server-Sent Events: the current snapshot at once, then a new
one whenever something moved, and a comment every ``KEEPALIVE_SECONDS``
so that proxies keep the connection open. ``POST /api/alerts/{id}/retry-failed``
puts failed deliveries back in the queue (approver or admin).
"""

from __future__ import annotations

import json
import time
from typing import Any

from aiohttp import web

from publisher.services import dashboard as dashboard_service
from publisher.services.actors import Actor
from publisher.services.delivery_retry import RetriedDeliveries, retry_failed
from publisher.services.errors import InvalidInput
from publisher.web.api import page_number
from publisher.web.auth import current_actor
from publisher.web.bodies import read_json_object
from publisher.web.context import FANOUT, SETTINGS, in_transaction
from publisher.web.dashboard_stream import DASHBOARD_HUB, StreamEnded
from publisher.web.path_ids import path_id
from publisher.web.representations import json_response

__all__ = ["KEEPALIVE_SECONDS", "RECONNECT_MILLISECONDS", "retry_and_enqueue", "routes"]

KEEPALIVE_SECONDS = 15.0
RECONNECT_MILLISECONDS = 3000
# How often a stream looks whether its client went away, between snapshots.
_CLIENT_CHECK_SECONDS = 1.0

routes = web.RouteTableDef()


def _alert_id(request: web.Request) -> int:
    return path_id(request)


@routes.get(r"/api/alerts/{alert_id:\d+}/dashboard")
async def alert_dashboard(request: web.Request) -> web.Response:
    actor, alert_id, page = current_actor(request), _alert_id(request), page_number(request)
    found = await in_transaction(request, lambda session: dashboard_service.dashboard(
        session, actor, alert_id, failed_page=page))
    return json_response({**found, "health": await request.app[DASHBOARD_HUB].health.report()})


def _event(version: int, snapshot: dict[str, Any]) -> bytes:
    data = json.dumps(snapshot, ensure_ascii=False, separators=(",", ":"))
    return f"id: {version}\nevent: snapshot\ndata: {data}\n\n".encode()


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


@routes.get(r"/api/alerts/{alert_id:\d+}/dashboard/events")
async def alert_dashboard_events(request: web.Request) -> web.StreamResponse:
    actor, alert_id = current_actor(request), _alert_id(request)
    await in_transaction(request, lambda session: dashboard_service.require_reader(
        session, actor, alert_id))
    hub = request.app[DASHBOARD_HUB]
    response = web.StreamResponse(headers={
        "Content-Type": "text/event-stream; charset=utf-8", "Cache-Control": "no-cache",
        # nginx would otherwise hold the events back in its buffer.
        "X-Accel-Buffering": "no"})
    await response.prepare(request)
    await response.write(f"retry: {RECONNECT_MILLISECONDS}\n\n".encode())
    try:
        async with hub.follow(alert_id) as feed:
            seen, quiet_since = 0, time.monotonic()
            while not _gone(request):
                found = await hub.next_snapshot(feed, seen, _CLIENT_CHECK_SECONDS)
                if found is not None:
                    seen, snapshot = found
                    await response.write(_event(seen, snapshot))
                    quiet_since = time.monotonic()
                elif time.monotonic() - quiet_since >= KEEPALIVE_SECONDS:
                    await response.write(b": keep-alive\n\n")
                    quiet_since = time.monotonic()
    except (StreamEnded, ConnectionResetError):
        pass
    return response


async def retry_and_enqueue(request: web.Request, actor: Actor, alert_id: int,
                            channel: str | None) -> dict[str, Any]:
    """Retry the failed deliveries, then enqueue them in batches; the JSON answer."""
    retried: RetriedDeliveries = await in_transaction(
        request, lambda session: retry_failed(session, actor, alert_id, channel))
    batch_size, fanout = request.app[SETTINGS].batch_size, request.app[FANOUT]
    enqueued = True
    for name, delivery_ids in retried.by_channel.items():
        for start in range(0, len(delivery_ids), batch_size):
            enqueued &= await fanout.resend(name, delivery_ids[start:start + batch_size])
    return {"alert_id": retried.alert_id, "message_id": retried.message_id,
            "retried": {name: len(ids) for name, ids in retried.by_channel.items()},
            "total": retried.count, "enqueued": enqueued}


@routes.post(r"/api/alerts/{alert_id:\d+}/retry-failed")
async def retry_failed_deliveries(request: web.Request) -> web.Response:
    actor, alert_id = current_actor(request), _alert_id(request)
    channel = (await read_json_object(request, empty_ok=True)).get("channel")
    if channel is not None and not isinstance(channel, str):
        raise InvalidInput("must be a channel name (a string), or left out", field="channel")
    return json_response(await retry_and_enqueue(request, actor, alert_id, channel))
