"""The district node routes over HTTP: the registry, node credentials, local alerts to the feed."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap import generate_demo_identity, sign_alert_xml, write_alert
from publisher.cap.model import MsgType, Reference, Status
from publisher.cap.reader import read_alert
from publisher.cap.references import format_references
from publisher.config import Settings
from publisher.sample_alert import rainstorm_red_warning
from publisher.services.feeds import ensure_feed_target
from publisher.services.public_alerts import public_alert
from publisher.services.users import create_token, create_user
from publisher.store.db import session_scope
from publisher.store.models import Alert, AlertState, Delivery, DeliveryStatus, Message, Role
from publisher.web import district_nodes
from publisher.web.app import create_app
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


def _revision(key: Path, certificate: Path, earlier: bytes, msg_type: MsgType,
              number: int, code: str = CHAOYANG) -> bytes:
    replaced = read_alert(earlier).alert
    assert replaced is not None
    revision = replace(replaced, identifier=f"district-{code}-{number:04d}",
                       infos=tuple(replace(info, areas=geocoded(code))
                                   for info in replaced.infos),
                       sent=replaced.sent + timedelta(seconds=number), msg_type=msg_type,
                       references=format_references([Reference(
                           replaced.sender, replaced.identifier, replaced.sent)]))
    return sign_alert_xml(write_alert(revision), key.read_bytes(), certificate.read_bytes())


async def test_a_district_updates_and_cancels_its_own_alert_on_the_feed_only(
        node_api: Api, tmp_path: Path) -> None:
    key, certificate = generate_demo_identity(tmp_path / "district-keys")
    credential = await _register(node_api, CHAOYANG, certificate, 9)
    haidian_key, haidian_certificate = generate_demo_identity(tmp_path / "haidian-keys")
    haidian = await _register(node_api, HAIDIAN, haidian_certificate, 10)

    async def report(xml: bytes, who: str = credential, code: str = CHAOYANG) -> Any:
        return await node_api.call("POST", f"/api/nodes/{code}/alerts", data=xml,
                                   content_type="application/cap+xml", headers=_bearer(who))

    original = _local_alert(key, certificate, CHAOYANG)
    created = await report(original)
    assert created.status == 201, created.body
    alert_id = created.body["alert_id"]
    update = _revision(key, certificate, original, MsgType.UPDATE, 2)
    assert (await report(update)).status == 201
    stale = await report(_revision(key, certificate, original, MsgType.CANCEL, 3))
    assert (stale.status, stale.body["field"]) == (409, "references")
    theirs = _revision(haidian_key, haidian_certificate, original, MsgType.CANCEL, 4, HAIDIAN)
    foreign = await report(theirs, haidian, HAIDIAN)
    assert (foreign.status, foreign.body["field"]) == (403, "references[0]")

    cancelled = await report(_revision(key, certificate, update, MsgType.CANCEL, 5))
    assert cancelled.status == 201, cancelled.body
    assert cancelled.body["alert_id"] == alert_id
    with session_scope(node_api.sessions) as session:
        alert = session.get(Alert, alert_id)
        assert alert is not None and alert.state is AlertState.CANCELLED
        messages = session.scalars(select(Message).where(Message.alert_id == alert_id)
                                   .order_by(Message.id)).all()
        assert [each.msg_type for each in messages] == ["Alert", "Update", "Cancel"]
        assert messages[2].references is not None
        assert messages[1].identifier in messages[2].references
        assert "<senderName>朝阳区</senderName>".encode() in messages[2].xml
        feed = session.scalars(select(Delivery.channel).where(
            Delivery.message_id.in_([each.id for each in messages]))).all()
        assert feed == ["feed"] * 3
        public = public_alert(session, alert_id, datetime.now(UTC))
        assert public.message_id == messages[2].id and public.cancelled
