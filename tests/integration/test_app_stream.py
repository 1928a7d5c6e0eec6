"""The app push interface: registry, stream with cursor and filters, acks, report."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from publisher.cap.districts import load_districts
from publisher.cap.model import Area, Circle, Point
from publisher.config import Settings
from publisher.store.db import session_scope
from publisher.store.models import AppEvent, AuditEntry, Delivery, DeliveryStatus, Message
from tests.integration import app_stream_support
from tests.integration.api_client import Api
from tests.integration.app_stream_support import (
    deliver_to_apps,
    read_events,
    register,
    stream_headers,
)
from tests.integration.fanout_support import CHAOYANG, HAIDIAN, geocoded

pytestmark = pytest.mark.asyncio

admin_api = app_stream_support.admin_api


async def _stream_ids(api: Api, credential: str, count: int, *, last: int | None = None,
                      query: str = "") -> list[int]:
    async with api.client.get(f"/api/stream{query}",
                              headers=stream_headers(credential, last)) as response:
        assert response.status == 200
        assert response.content_type == "text/event-stream"
        return [event.event_id for event in await read_events(response, count)]


async def test_a_reconnect_resumes_exactly_after_its_cursor(admin_api: Api) -> None:
    credential = (await register(admin_api, "city-app"))["credential"]
    for _ in range(3):
        deliver_to_apps(admin_api.sessions)
    first = await _stream_ids(admin_api, credential, 2)
    for _ in range(2):
        deliver_to_apps(admin_api.sessions)
    resumed = await _stream_ids(admin_api, credential, 3, last=first[-1])
    everything = await _stream_ids(admin_api, credential, 5)
    assert everything == sorted(set(everything))
    assert first + resumed == everything
    by_query = await _stream_ids(admin_api, credential, 1, query=f"?after={everything[3]}")
    assert by_query == everything[4:]


async def test_an_event_carries_the_signed_cap_and_a_card_per_language(admin_api: Api) -> None:
    credential = (await register(admin_api, "city-app", languages=["en-US"]))["credential"]
    message_id = deliver_to_apps(admin_api.sessions)
    async with admin_api.client.get("/api/stream",
                                    headers=stream_headers(credential)) as response:
        (event,) = await read_events(response, 1)
    assert event.data["event"] == event.event_id and event.data["app"] == "city-app"
    assert "SignatureValue" in event.data["cap"]
    assert list(event.data["cards"]) == ["en-US"]
    card = event.data["cards"]["en-US"]
    assert {"level", "headline", "districts", "page_url", "cap_url"} <= set(card)
    assert card["identifier"] == event.data["identifier"] and card["language"] == "en-US"
    with session_scope(admin_api.sessions) as session:
        status = session.scalar(select(Delivery.status).where(
            Delivery.message_id == message_id, Delivery.channel == "app"))
    assert status is DeliveryStatus.SENT


async def test_a_wrong_credential_is_refused(admin_api: Api) -> None:
    await register(admin_api, "city-app")
    for headers in ({}, {"Authorization": "Bearer app_forged"},
                    {"Authorization": f"Bearer {admin_api.tokens['admin']}"}):
        async with admin_api.client.get("/api/stream", headers=headers) as response:
            assert response.status == 401, headers
        reply = await admin_api.call("POST", "/api/stream/acks", json_body={"events": [1]},
                                     headers=headers)
        assert reply.status == 401


async def test_filters_of_the_app_and_of_the_connection(admin_api: Api) -> None:
    await register(admin_api, "picky", severities=["Minor"])
    haidian_only = await register(admin_api, "haidian", districts=[HAIDIAN])
    everyone = await register(admin_api, "everyone")
    chaoyang_message = deliver_to_apps(admin_api.sessions)
    haidian_message = deliver_to_apps(admin_api.sessions, areas=geocoded(HAIDIAN))
    with session_scope(admin_api.sessions) as session:
        rows = session.execute(select(Delivery.message_id, Delivery.status, Delivery.last_error)
                               .where(Delivery.channel == "app")
                               .order_by(Delivery.id)).all()
    skipped = [row for row in rows if row.status is DeliveryStatus.SKIPPED]
    assert len(skipped) == 2 and all("severity" in (row.last_error or "") for row in skipped)
    assert {row.message_id for row in rows} == {chaoyang_message, haidian_message}
    assert len(rows) == 5  # the Haidian app is not reached by the Chaoyang alert at all
    assert len(await _stream_ids(admin_api, haidian_only["credential"], 1)) == 1
    (first, second) = await _stream_ids(admin_api, everyone["credential"], 2)
    assert first < second
    filtered = await _stream_ids(admin_api, everyone["credential"], 1,
                                 query=f"?district={HAIDIAN}")
    assert filtered == [second]
    async with admin_api.client.get("/api/stream?severity=loud",
                                    headers=stream_headers(everyone["credential"])) as response:
        assert response.status == 400
        assert (await response.json())["field"] == "severity"


async def test_acks_are_receipts_shown_per_app_and_in_the_report(admin_api: Api) -> None:
    credential = (await register(admin_api, "city-app"))["credential"]
    await register(admin_api, "other-app")
    message_id = deliver_to_apps(admin_api.sessions)
    (event_id,) = await _stream_ids(admin_api, credential, 1)
    reply = await admin_api.call("POST", "/api/stream/acks",
                                 json_body={"events": [event_id, event_id + 1000]},
                                 headers=stream_headers(credential))
    assert reply.status == 200, reply.body
    assert reply.body["acks"] == [{"event": event_id, "outcome": "applied"},
                                  {"event": event_id + 1000, "outcome": "unknown"}]
    again = await admin_api.call("POST", "/api/stream/acks", json_body={"events": [event_id]},
                                 headers=stream_headers(credential))
    assert again.body["acks"] == [{"event": event_id, "outcome": "duplicate"}]
    with session_scope(admin_api.sessions) as session:
        alert_id = session.scalar(select(Message.alert_id).where(Message.id == message_id))
    rows = await admin_api.call("GET", f"/api/alerts/{alert_id}/deliveries?channel=app",
                                user="admin")
    by_app = {item["address"]: item["status"] for item in rows.body["items"]}
    assert by_app == {"app:city-app": "delivered", "app:other-app": "sent"}
    month = datetime.now(UTC).strftime("%Y-%m")
    report = await admin_api.call("GET", f"/api/apps/city-app/report?month={month}",
                                  user="admin")
    assert report.status == 200, report.body
    assert report.body["counts"]["delivered"] == 1
    assert report.body["delivery_lag_seconds"]["p50"] is not None
    assert report.body["delivery_lag_seconds"]["p99"] >= report.body["delivery_lag_seconds"]["p50"]


async def test_the_registry_is_for_admins_and_audited(admin_api: Api) -> None:
    refused = await admin_api.call("POST", "/api/apps", user="author",
                                   json_body={"name": "city-app"})
    assert refused.status == 403
    bad = await admin_api.call("POST", "/api/apps", user="admin",
                               json_body={"name": "hook", "mode": "webhook"})
    assert bad.status == 400 and bad.body["field"] == "webhook_url"
    registered = await register(admin_api, "city-app", languages=["en"], severities=["severe"])
    assert registered["app"]["languages"] == ["en-US"]
    assert registered["app"]["severities"] == ["Severe"]
    assert registered["webhook_secret"] is None
    listed = await admin_api.call("GET", "/api/apps", user="admin")
    assert [app["name"] for app in listed.body["apps"]] == ["city-app"]
    assert "credential" not in str(listed.body)
    removed = await admin_api.call("DELETE", "/api/apps/city-app", user="admin")
    assert removed.status == 200
    async with admin_api.client.get(
            "/api/stream", headers=stream_headers(registered["credential"])) as response:
        assert response.status == 401
    with session_scope(admin_api.sessions) as session:
        actions = list(session.scalars(select(AuditEntry.action).order_by(AuditEntry.id)))
    assert actions == ["register_app", "remove_app"]


async def test_the_stream_sends_heartbeats_and_ends_on_shutdown(admin_api: Api,
                                                                monkeypatch: pytest.MonkeyPatch
                                                                ) -> None:
    from publisher.web import app_stream

    monkeypatch.setattr(app_stream, "HEARTBEAT_SECONDS", 0.2)
    credential = (await register(admin_api, "city-app"))["credential"]
    async with admin_api.client.get("/api/stream",
                                    headers=stream_headers(credential)) as response:
        seen = b""
        while b": heartbeat" not in seen:
            seen += await asyncio.wait_for(response.content.readline(), 30)
        await admin_api.client.app[app_stream.APP_STREAM_HUB].end()
        rest = await asyncio.wait_for(response.content.read(), 30)
    assert b"shutting down" in rest


async def test_a_connection_filtering_by_district_sees_a_drawn_area_in_that_district(
        admin_api: Api, center_settings: Settings) -> None:
    everyone = await register(admin_api, "everyone")
    districts = load_districts(center_settings.paths.districts_file)
    in_haidian = (Area(area_desc="海淀", circles=(Circle(Point(40.05, 116.20), 2.0),)),)
    drawn = deliver_to_apps(admin_api.sessions, areas=in_haidian, districts=districts)
    geocoded_in_chaoyang = deliver_to_apps(admin_api.sessions)
    with session_scope(admin_api.sessions) as session:
        events = {message_id: event_id for message_id, event_id in session.execute(
            select(AppEvent.message_id, AppEvent.id))}
    assert await _stream_ids(admin_api, everyone["credential"], 1,
                             query=f"?district={HAIDIAN}") == [events[drawn]]
    assert await _stream_ids(admin_api, everyone["credential"], 1,
                             query=f"?district={CHAOYANG}") == [events[geocoded_in_chaoyang]]
