"""The district node routes over HTTP: the registry, node credentials, local alerts to the feed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap import generate_demo_identity, sign_alert_xml, write_alert
from publisher.cap.model import Status
from publisher.config import Settings
from publisher.sample_alert import rainstorm_red_warning
from publisher.services.feeds import ensure_feed_target
from publisher.services.users import create_token, create_user
from publisher.store.db import session_scope
from publisher.store.models import Delivery, DeliveryStatus, Message, Role
from publisher.web import create_app, district_nodes
from tests.integration.api_client import Api
from tests.integration.fanout_support import CHAOYANG, HAIDIAN, geocoded

ADMIN = "node-admin"

pytestmark = pytest.mark.asyncio


@pytest_asyncio.fixture
async def node_api(aiohttp_client: Any, api_settings: Settings, api: Api,
                   sessions: sessionmaker[Session]) -> Api:
    app = create_app(api_settings)
    app.add_routes(district_nodes.routes)
    with session_scope(sessions) as session:
        create_user(session, ADMIN, "a long enough password", [Role.ADMIN])
        tokens = {**api.tokens, ADMIN: create_token(session, ADMIN, "tests")}
        ensure_feed_target(session, "110000", is_test=True)
    return Api(await aiohttp_client(app), tokens, sessions)


async def _register(api: Api, code: str, certificate: Path, port: int) -> str:
    reply = await api.call("POST", "/api/nodes", user=ADMIN, json_body={
        "code": code, "url": f"http://127.0.0.1:{port}",
        "certificate_pem": certificate.read_text(), "heartbeat_interval": 30})
    assert reply.status == 201, reply.body
    assert reply.body["node"]["code"] == code
    return str(reply.body["credential"])


def _bearer(credential: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}"}


async def test_nodes_are_registered_by_an_administrator_and_read_by_staff(
        node_api: Api, tmp_path: Path) -> None:
    _, certificate = generate_demo_identity(tmp_path / "district-keys")
    refused = await node_api.call("POST", "/api/nodes", user="viewer", json_body={})
    assert refused.status == 403
    await _register(node_api, CHAOYANG, certificate, 9)
    listed = await node_api.call("GET", "/api/nodes", user="viewer")
    assert [node["code"] for node in listed.body["nodes"]] == [CHAOYANG]
    shown = await node_api.call("GET", f"/api/nodes/{CHAOYANG}", user="viewer")
    assert shown.status == 200
    assert shown.body["last_heard_at"] is None and shown.body["deliveries"] == []
    bad = await node_api.call("POST", "/api/nodes", user=ADMIN, json_body={
        "code": "110199", "url": "http://127.0.0.1:1", "certificate_pem": "x"})
    assert (bad.status, bad.body["field"]) == (400, "code")
    removed = await node_api.call("DELETE", f"/api/nodes/{CHAOYANG}", user=ADMIN)
    assert removed.body == {"code": CHAOYANG, "removed": True}


async def test_a_node_reads_its_own_stream_only(node_api: Api, tmp_path: Path) -> None:
    _, certificate = generate_demo_identity(tmp_path / "district-keys")
    chaoyang = await _register(node_api, CHAOYANG, certificate, 9)
    haidian = await _register(node_api, HAIDIAN, certificate, 10)
    own = await node_api.call("GET", f"/api/nodes/{CHAOYANG}/messages?after=0&limit=10",
                              headers=_bearer(chaoyang))
    assert (own.status, own.body) == (200, {"messages": [], "next": None})
    other = await node_api.call("GET", f"/api/nodes/{CHAOYANG}/messages",
                                headers=_bearer(haidian))
    assert other.status == 403
    nobody = await node_api.call("GET", f"/api/nodes/{CHAOYANG}/messages",
                                 headers=_bearer("node_guessed"))
    assert nobody.status == 401
    shown = await node_api.call("GET", f"/api/nodes/{CHAOYANG}", user="viewer")
    assert shown.body["last_heard_at"] is not None and shown.body["offline"] is False


def _local_alert(key: Path, certificate: Path, code: str) -> bytes:
    alert = rainstorm_red_warning(datetime.now(UTC).replace(microsecond=0))
    alert = replace(alert, status=Status.EXERCISE, identifier=f"district-{code}-0001",
                    infos=tuple(replace(info, areas=geocoded(code)) for info in alert.infos))
    return sign_alert_xml(write_alert(alert), key.read_bytes(), certificate.read_bytes())


async def test_a_local_alert_is_republished_on_the_feed_and_one_outside_refused(
        node_api: Api, tmp_path: Path) -> None:
    key, certificate = generate_demo_identity(tmp_path / "district-keys")
    credential = await _register(node_api, CHAOYANG, certificate, 9)
    outside = await node_api.call("POST", f"/api/nodes/{CHAOYANG}/alerts",
                                  data=_local_alert(key, certificate, HAIDIAN),
                                  content_type="application/cap+xml",
                                  headers=_bearer(credential))
    assert (outside.status, outside.body["field"]) == (400, "area")
    other_key, other_certificate = generate_demo_identity(tmp_path / "other")
    forged = await node_api.call("POST", f"/api/nodes/{CHAOYANG}/alerts",
                                 data=_local_alert(other_key, other_certificate, CHAOYANG),
                                 content_type="application/cap+xml",
                                 headers=_bearer(credential))
    assert (forged.status, forged.body["field"]) == (403, "signature")

    reply = await node_api.call("POST", f"/api/nodes/{CHAOYANG}/alerts",
                                data=_local_alert(key, certificate, CHAOYANG),
                                content_type="application/cap+xml", headers=_bearer(credential))
    assert reply.status == 201, reply.body
    with session_scope(node_api.sessions) as session:
        message = session.scalars(select(Message).where(
            Message.alert_id == reply.body["alert_id"])).one()
        assert "<senderName>朝阳区</senderName>".encode() in message.xml
        feed = session.scalars(select(Delivery).where(Delivery.message_id == message.id)).all()
        assert [(each.channel, each.status) for each in feed] == [("feed",
                                                                   DeliveryStatus.QUEUED)]
    shown = await node_api.call("GET", f"/api/nodes/{CHAOYANG}", user="viewer")
    assert [each["identifier"] for each in shown.body["local_alerts"]] == [
        f"district-{CHAOYANG}-0001"]
