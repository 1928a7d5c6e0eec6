"""The dashboard over HTTP: its JSON, its event stream on a real server, retrying failures."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.memory import MemoryChannel
from publisher.config import Settings, load_settings
from publisher.services.delivery import fan_out, send_batch
from publisher.store.db import session_scope
from publisher.store.models import Delivery, DeliveryStatus, Message
from publisher.web.dashboard_stream import DASHBOARD_HUB, end_streams
from tests.integration.api_client import Api
from tests.integration.fanout_support import add_targets
from tests.integration.lifecycle_support import content
from tests.services import with_center_identity

pytestmark = pytest.mark.asyncio

WAIT_SECONDS = 60.0


@pytest.fixture
def api_settings(tmp_path: Path, database_url: str) -> Settings:
    """The API on the test database: SQLite, or the session's PostgreSQL."""
    return with_center_identity(replace(load_settings({}, data_dir=tmp_path),
                                        database_url=database_url))


def _message_id(sessions: sessionmaker[Session], alert_id: int) -> int:
    with session_scope(sessions) as session:
        found = session.scalar(select(Message.id).where(Message.alert_id == alert_id))
        assert found is not None
        return found


async def _planned(api: Api, *, good: int = 3, rejected: int = 1) -> tuple[int, list[int]]:
    """A published Exercise whose memory deliveries are planned, not sent: (alert, batch)."""
    with session_scope(api.sessions) as session:
        add_targets(session, good, is_test=True)
        add_targets(session, rejected, is_test=True, prefix="reject:x")
    alert_id = await api.published(content())
    batches: list[list[int]] = []
    await asyncio.to_thread(fan_out, api.sessions, _message_id(api.sessions, alert_id), 1000,
                            lambda _channel, ids: batches.append(ids), channels=("memory",))
    return alert_id, [delivery_id for batch in batches for delivery_id in batch]


async def _delivered(api: Api) -> int:
    alert_id, batch = await _planned(api)
    await asyncio.to_thread(send_batch, api.sessions, MemoryChannel(), batch)
    return alert_id


async def _next_snapshot(response: ClientResponse) -> dict[str, Any]:
    while True:
        line = await asyncio.wait_for(response.content.readline(), WAIT_SECONDS)
        assert line, "the stream ended"
        if line.startswith(b"data: "):
            return json.loads(line.removeprefix(b"data: "))


async def _wait_until(condition: Any) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        assert time.monotonic() < deadline, "the condition did not come true in time"
        await asyncio.sleep(0.1)


def _auth(api: Api, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {api.tokens[user]}"}


async def test_the_dashboard_as_json(api: Api) -> None:
    alert_id = await _delivered(api)
    reply = await api.call("GET", f"/api/alerts/{alert_id}/dashboard", user="viewer")
    assert reply.status == 200, reply.body
    [message] = reply.body["messages"]
    assert message["channels"]["memory"]["delivered"] == 3
    assert message["channels"]["memory"]["failed"] == 1
    assert reply.body["failed"]["total"] == 1
    assert reply.body["health"]["channels"]["memory"]["ok"] is True
    assert (await api.call("GET", f"/api/alerts/{alert_id}/dashboard")).status == 401
    assert (await api.call("GET", f"/api/alerts/{alert_id + 99}/dashboard",
                           user="viewer")).status == 404


async def test_the_stream_sends_a_new_snapshot_when_a_delivery_moves(api: Api) -> None:
    alert_id, batch = await _planned(api)
    hub = api.client.app[DASHBOARD_HUB]
    async with api.client.get(f"/api/alerts/{alert_id}/dashboard/events",
                              headers=_auth(api, "viewer")) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/event-stream")
        assert response.headers["X-Accel-Buffering"] == "no"
        assert response.headers["Cache-Control"] == "no-cache"
        assert await response.content.readline() == b"retry: 3000\n"
        first = await _next_snapshot(response)
        assert first["messages"][0]["channels"]["memory"]["queued"] == 4
        assert hub.pollers() == 1

        await asyncio.to_thread(send_batch, api.sessions, MemoryChannel(), batch)
        moved = await _next_snapshot(response)
        assert moved["messages"][0]["channels"]["memory"] == {
            "queued": 0, "sent": 0, "delivered": 3, "failed": 1, "expired": 0, "skipped": 0,
            "total": 4, "delivered_share": 0.75}
        assert moved["failed"]["items"][0]["reason"] == "rejected: no such address"
    # The client went away: its alert is no longer polled.
    await _wait_until(lambda: hub.pollers() == 0)


async def test_streams_of_one_alert_share_one_poller_and_end_at_shutdown(api: Api) -> None:
    alert_id = await _delivered(api)
    hub = api.client.app[DASHBOARD_HUB]
    path = f"/api/alerts/{alert_id}/dashboard/events"
    async with api.client.get(path, headers=_auth(api, "viewer")) as one, \
            api.client.get(path, headers=_auth(api, "approver")) as other:
        assert (await _next_snapshot(one))["alert"]["id"] == alert_id
        assert (await _next_snapshot(other))["alert"]["id"] == alert_id
        assert hub.pollers() == 1
        await end_streams(api.client.app)
        for response in (one, other):
            rest = await asyncio.wait_for(response.content.read(), WAIT_SECONDS)
            assert b"event: snapshot" not in rest
    assert hub.pollers() == 0


async def test_the_stream_is_for_staff_only(api: Api) -> None:
    alert_id = await _delivered(api)
    async with api.client.get(f"/api/alerts/{alert_id}/dashboard/events") as response:
        assert response.status == 401


async def test_retrying_failed_deliveries_over_the_api(api: Api) -> None:
    alert_id = await _delivered(api)
    path = f"/api/alerts/{alert_id}/retry-failed"
    refused = await api.call("POST", path, user="author")
    assert refused.status == 403
    assert refused.body["field"] == "role"
    assert (await api.call("POST", path, user="approver",
                           json_body={"channel": 7})).status == 400

    reply = await api.call("POST", path, user="approver", json_body={"channel": "memory"})
    assert reply.status == 200, reply.body
    assert reply.body == {"alert_id": alert_id, "message_id": reply.body["message_id"],
                          "retried": {"memory": 1}, "total": 1, "enqueued": True}
    again = await api.call("POST", path, user="approver")
    assert again.body["total"] == 0
    with session_scope(api.sessions) as session:
        statuses = Counter(session.scalars(select(Delivery.status)))
    assert statuses == {DeliveryStatus.QUEUED: 1, DeliveryStatus.DELIVERED: 3}
