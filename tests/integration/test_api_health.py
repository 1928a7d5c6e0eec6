"""``GET /health``, and publishing while the broker is down: the request never waits on it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient

from publisher.config import Settings
from publisher.store.db import session_scope
from publisher.store.models import OutboxEntry
from publisher.web.app import create_app
from tests.integration.api_client import Api
from tests.integration.lifecycle_support import content
from tests.services import installation_with

pytestmark = pytest.mark.asyncio

# Nothing listens on port 1: the connection is refused at once.
DEAD_BROKER = "amqp://guest:guest@127.0.0.1:1//"


async def test_healthy_embedded_installation(aiohttp_client, tmp_path: Path) -> None:
    client: TestClient = await aiohttp_client(create_app(installation_with(tmp_path)))
    response = await client.get("/health")
    assert response.status == 200
    report = await response.json()
    assert report["status"] == "ok"
    assert report["database"] == {"ok": True, "detail": "sqlite"}
    assert report["broker"]["ok"] is True
    assert report["broker"]["detail"].startswith("sqla+sqlite:")
    assert report["channels"] == {"memory": {"ok": True, "detail": "MemoryChannel"}}


async def test_the_feed_channel_is_healthy_with_what_the_installation_hands_it(
        aiohttp_client, tmp_path: Path) -> None:
    settings = installation_with(tmp_path, channels=("memory", "feed"))
    client: TestClient = await aiohttp_client(create_app(settings))
    response = await client.get("/health")
    report = await response.json()
    assert response.status == 200, report
    assert report["channels"]["feed"] == {"ok": True, "detail": "FeedChannel"}


@pytest.mark.parametrize(("changes", "failing"), [
    ({"broker_url": DEAD_BROKER}, "broker"),
    ({"channels": ("memroy",)}, "channels"),
])
async def test_a_failing_part_makes_it_503(aiohttp_client, tmp_path: Path,
                                           changes: dict[str, object], failing: str) -> None:
    client: TestClient = await aiohttp_client(create_app(installation_with(tmp_path, **changes)))
    response = await client.get("/health")
    assert response.status == 503
    report = await response.json()
    assert report["status"] == "failing"
    assert report["database"]["ok"] is True
    if failing == "broker":
        assert report["broker"]["ok"] is False
        assert "guest:guest" not in report["broker"]["detail"]
    else:
        assert report["channels"]["memroy"]["ok"] is False
        assert "did you mean 'memory'" in report["channels"]["memroy"]["detail"]


@pytest.fixture
def api_settings(tmp_path: Path) -> Settings:
    return installation_with(tmp_path, broker_url=DEAD_BROKER)


async def test_publishing_with_the_broker_down_defers_the_fanout(api: Api) -> None:
    alert_id = await api.submitted(content())
    started = time.monotonic()
    approved = await api.call("POST", f"/api/alerts/{alert_id}/approve", user="approver")
    assert time.monotonic() - started < 5
    assert approved.status == 200, approved.body
    assert approved.body["alert"]["state"] == "published"
    assert approved.body["fanout"] == "deferred"
    with session_scope(api.sessions) as session:
        entry = session.query(OutboxEntry).filter_by(
            message_id=approved.body["message"]["id"]).one()
        # Left for the periodic relay, with the reason it waits.
        assert entry.dispatched_at is None
        assert entry.last_error
