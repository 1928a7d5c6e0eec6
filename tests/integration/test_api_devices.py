"""The device routes: the administrator's registry, and acks and heartbeats from the devices."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select, update

from publisher.cap import load_districts
from publisher.cap.model import Status
from publisher.config import Settings, load_paths, load_settings
from publisher.services.delivery import plan_fanout
from publisher.services.devices import add_device, device_spec
from publisher.services.district_names import DistrictNames
from publisher.services.users import create_token, create_user
from publisher.store.db import make_engine, make_session_factory, session_scope, upgrade_database
from publisher.store.models import (
    AuditEntry,
    Delivery,
    DeliveryStatus,
    Device,
    Receipt,
    ReceiptOutcome,
    Role,
    Target,
    utcnow,
)
from publisher.web.app import create_app
from tests.integration.api_client import Api, Reply
from tests.integration.fanout_support import CHAOYANG, geocoded, publish
from tests.services import fresh_installation

pytestmark = pytest.mark.asyncio

# Nothing listens there: the channels only parse acks in the web process.
CALLBACK = "http://127.0.0.1:1"
POLL_SECONDS = 30.0


@pytest.fixture
def api_settings(tmp_path: Path, _migrated_sqlite_template: Path) -> Settings:
    settings = fresh_installation(tmp_path, _migrated_sqlite_template)
    options = {**settings.channel_options,
               "led": {"callback_url": CALLBACK},
               "speaker": {**settings.channel_options.get("speaker", {}),
                           "callback_url": CALLBACK}}
    return replace(settings, channel_options=options)


@pytest.fixture
def admin_api(api: Api) -> Api:
    with session_scope(api.sessions) as session:
        create_user(session, "admin", "a long passphrase", [Role.ADMIN])
        api.tokens["admin"] = create_token(session, "admin", "tests")
    return api


def _board(device_id: str = "led-110105-01", **changes: Any) -> dict[str, Any]:
    return {"device_id": device_id, "kind": "led", "district_code": "110105",
            "endpoint": f"http://127.0.0.1:8700/devices/{device_id}", "lon": 116.50,
            "lat": 39.95, "capabilities": {"rows": 3, "colours": ["red", "yellow"]}, **changes}


async def _added(api: Api, fields: dict[str, Any]) -> str:
    reply = await api.call("POST", "/api/devices", user="admin", json_body=fields)
    assert reply.status == 201, reply.body
    return str(reply.body["token"])


async def _as_device(api: Api, device_id: str, what: str, body: Any, token: str | None,
                     ) -> Reply:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return await api.call("POST", f"/api/devices/{device_id}/{what}", json_body=body,
                          headers=headers)


async def test_an_administrator_adds_lists_reads_and_removes_a_device(admin_api: Api) -> None:
    reply = await admin_api.call("POST", "/api/devices", user="admin", json_body=_board())
    assert reply.status == 201, reply.body
    assert reply.headers["Location"] == "/api/devices/led-110105-01"
    assert reply.body["token"].startswith("dev_")
    device = reply.body["device"]
    assert {key: device[key] for key in ("device_id", "kind", "endpoint", "district_code",
                                         "health", "offline", "last_seen_at")} == {
        "device_id": "led-110105-01", "kind": "led",
        "endpoint": "http://127.0.0.1:8700/devices/led-110105-01", "district_code": "110105",
        "health": "never_seen", "offline": False, "last_seen_at": None}
    assert device["capabilities"]["rows"] == 3
    assert device["capabilities"]["colours"] == ["red", "yellow"]

    listed = await admin_api.call("GET", "/api/devices?kind=led", user="admin")
    assert listed.status == 200
    assert (listed.body["total"], listed.body["page"]) == (1, 1)
    assert listed.body["devices"] == [device]
    one = await admin_api.call("GET", "/api/devices/led-110105-01", user="admin")
    assert one.body == device

    removed = await admin_api.call("DELETE", "/api/devices/led-110105-01", user="admin")
    assert removed.status == 200
    assert removed.body == {"device_id": "led-110105-01", "removed": True}
    gone = await admin_api.call("GET", "/api/devices/led-110105-01", user="admin")
    assert (gone.status, gone.body["field"]) == (404, "device_id")
    with session_scope(admin_api.sessions) as session:
        assert [entry.action for entry in session.scalars(
            select(AuditEntry).order_by(AuditEntry.id))] == ["add_device", "remove_device"]
        assert session.scalars(select(Target.active)).one() is False


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/devices"), ("POST", "/api/devices"), ("GET", "/api/devices/led-1"),
    ("DELETE", "/api/devices/led-1")])
async def test_only_an_administrator_manages_devices(admin_api: Api, method: str,
                                                     path: str) -> None:
    reply = await admin_api.call(method, path, user="approver",
                                 json_body=_board() if method == "POST" else None)
    assert reply.status == 403, reply.body
    assert reply.body["field"] == "role"
    assert "needs the admin role" in reply.body["reason"]


@pytest.mark.parametrize(("changes", "status", "field", "reason"), [
    ({"district_code": "朝杨"}, 400, "district_code", "did you mean 110105 (Chaoyang)"),
    ({"lat": 139.95}, 400, "lat", "not between -90 and 90"),
    ({"capabilities": {"colours": ["pink"]}}, 400, "capabilities.colours", "'pink'"),
    ({"kind": "speaker", "capabilities": {"volume": 180}}, 400, "capabilities.volume",
     "from 0 to 100"),
])
async def test_a_wrong_field_is_refused_by_name_and_nothing_is_written(
        admin_api: Api, changes: dict[str, Any], status: int, field: str, reason: str) -> None:
    reply = await admin_api.call("POST", "/api/devices", user="admin",
                                 json_body=_board(**changes))
    assert (reply.status, reply.body["error"], reply.body["field"]) == (status, "invalid", field)
    assert reason in reply.body["reason"]
    with session_scope(admin_api.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Device)) == 0
        assert session.scalar(select(func.count()).select_from(Target)) == 0


async def test_a_second_device_at_a_taken_endpoint_is_a_conflict(admin_api: Api) -> None:
    await _added(admin_api, _board())
    reply = await admin_api.call("POST", "/api/devices", user="admin", json_body=_board(
        "led-110105-02", endpoint="http://127.0.0.1:8700/devices/led-110105-01"))
    assert (reply.status, reply.body["field"]) == (409, "endpoint")


async def test_a_heartbeat_needs_the_device_s_own_token(admin_api: Api) -> None:
    token = await _added(admin_api, _board())
    beat = {"at": "2026-07-01T11:00:00+08:00", "showing": []}
    missing = await _as_device(admin_api, "led-110105-01", "heartbeat", beat, None)
    assert (missing.status, missing.body["field"]) == (401, "Authorization")
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    staff = await _as_device(admin_api, "led-110105-01", "heartbeat", beat,
                             admin_api.tokens["admin"])
    assert (staff.status, staff.body["field"]) == (401, "Authorization")
    unknown = await _as_device(admin_api, "led-110105-99", "heartbeat", beat, token)
    assert (unknown.status, unknown.body["field"]) == (404, "device_id")
    malformed = await admin_api.call("POST", "/api/devices/led-110105-01/heartbeat",
                                     data="{\"at\": ", content_type="application/json",
                                     headers={"Authorization": f"Bearer {token}"})
    assert (malformed.status, malformed.body["field"]) == (400, "body")
    wrong_field = await _as_device(admin_api, "led-110105-01", "heartbeat",
                                   {"showing": "110000-YJZX-1"}, token)
    assert (wrong_field.status, wrong_field.body["field"]) == (400, "showing")
    with session_scope(admin_api.sessions) as session:
        assert session.scalars(select(Device.last_seen_at)).one() is None

    beat_reply = await _as_device(admin_api, "led-110105-01", "heartbeat", beat, token)
    assert beat_reply.status == 200, beat_reply.body
    assert beat_reply.body["heartbeat_interval"] == 60
    listed = await admin_api.call("GET", "/api/devices/led-110105-01", user="admin")
    assert (listed.body["health"], listed.body["offline"]) == ("online", False)
    assert listed.body["last_seen_at"] == beat_reply.body["last_seen_at"]


def _planned_delivery(api: Api, device_id: str) -> int:
    """The delivery of a published Chaoyang warning to ``device_id``, planned, not sent."""
    districts = load_districts(load_paths().districts_file)
    with session_scope(api.sessions) as session:
        message = publish(session, areas=geocoded(CHAOYANG), status=Status.ACTUAL)
        for _ in plan_fanout(session, message.id, 100, channels=("led", "speaker"),
                             districts=districts):
            pass
        return int(session.scalars(
            select(Delivery.id).join(Device, Device.target_id == Delivery.target_id)
            .where(Device.device_id == device_id, Delivery.message_id == message.id)).one())


def _handed_over(api: Api, delivery_id: int) -> None:
    """What the worker records once the device took the push: SENT, with the provider id."""
    with session_scope(api.sessions) as session:
        session.execute(update(Delivery).where(Delivery.id == delivery_id).values(
            status=DeliveryStatus.SENT, provider_id=str(delivery_id), sent_at=utcnow()))


def _delivery(api: Api, delivery_id: int) -> Delivery:
    with session_scope(api.sessions) as session:
        return session.get_one(Delivery, delivery_id)


async def test_an_ack_is_the_receipt_of_the_board_s_delivery(admin_api: Api) -> None:
    token = await _added(admin_api, _board())
    delivery_id = _planned_delivery(admin_api, "led-110105-01")
    _handed_over(admin_api, delivery_id)
    ack = {"delivery": str(delivery_id), "state": "displaying", "at": "2026-07-01T11:00:02Z"}
    reply = await _as_device(admin_api, "led-110105-01", "acks", ack, token)
    assert reply.status == 200, reply.body
    assert reply.body == {"delivery": str(delivery_id), "outcome": "applied"}
    delivered = _delivery(admin_api, delivery_id)
    assert delivered.status is DeliveryStatus.DELIVERED
    assert delivered.delivered_at is not None
    again = await _as_device(admin_api, "led-110105-01", "acks", ack, token)
    assert again.body["outcome"] == "duplicate"
    device = await admin_api.call("GET", "/api/devices/led-110105-01", user="admin")
    assert device.body["health"] == "online"


async def test_a_speaker_that_failed_to_play_fails_its_delivery(admin_api: Api) -> None:
    token = await _added(admin_api, _board("speaker-110105-01", kind="speaker",
                                           capabilities={"volume": 60}))
    delivery_id = _planned_delivery(admin_api, "speaker-110105-01")
    _handed_over(admin_api, delivery_id)
    reply = await _as_device(admin_api, "speaker-110105-01", "acks", {
        "delivery": str(delivery_id), "state": "failed", "detail": "amplifier fault"}, token)
    assert reply.body == {"delivery": str(delivery_id), "outcome": "applied"}
    failed = _delivery(admin_api, delivery_id)
    assert (failed.status, failed.last_error) == (DeliveryStatus.FAILED,
                                                  "failed: amplifier fault")


async def test_an_ack_before_the_hand_over_was_recorded_finds_its_delivery_later(
        admin_api: Api) -> None:
    token = await _added(admin_api, _board())
    delivery_id = _planned_delivery(admin_api, "led-110105-01")
    ack = {"delivery": str(delivery_id), "state": "displaying"}
    # The board acks while the worker still pushes the rest of its batch.
    reply = await _as_device(admin_api, "led-110105-01", "acks", ack, token)
    assert reply.body == {"delivery": str(delivery_id), "outcome": "unknown"}
    assert _delivery(admin_api, delivery_id).status is DeliveryStatus.QUEUED
    _handed_over(admin_api, delivery_id)
    deadline = time.monotonic() + POLL_SECONDS
    while _delivery(admin_api, delivery_id).status is not DeliveryStatus.DELIVERED:
        assert time.monotonic() < deadline, "the early ack never found its delivery"
        await asyncio.sleep(0.1)
    with session_scope(admin_api.sessions) as session:
        receipt = session.scalars(select(Receipt)).one()
        assert (receipt.outcome, receipt.delivery_id) == (ReceiptOutcome.APPLIED, delivery_id)


async def test_an_ack_that_cannot_be_read_is_kept_as_invalid_and_named(admin_api: Api) -> None:
    token = await _added(admin_api, _board())
    delivery_id = _planned_delivery(admin_api, "led-110105-01")
    reply = await _as_device(admin_api, "led-110105-01", "acks",
                             {"delivery": str(delivery_id), "state": "dancing"}, token)
    assert (reply.status, reply.body["field"]) == (400, "state")
    assert "'dancing' is not one of" in reply.body["reason"]
    with session_scope(admin_api.sessions) as session:
        assert session.scalars(select(Receipt.outcome)).one() is ReceiptOutcome.INVALID


async def test_a_device_cannot_ack_another_device_s_delivery(admin_api: Api) -> None:
    await _added(admin_api, _board())
    intruder = await _added(admin_api, _board(
        "led-110105-02", endpoint="http://127.0.0.1:8700/devices/led-110105-02"))
    delivery_id = _planned_delivery(admin_api, "led-110105-01")
    _handed_over(admin_api, delivery_id)
    for named in (str(delivery_id), "999999", "not-a-delivery"):
        reply = await _as_device(admin_api, "led-110105-02", "acks",
                                 {"delivery": named, "state": "displaying"}, intruder)
        assert (reply.status, reply.body["field"]) == (403, "delivery"), named
    assert _delivery(admin_api, delivery_id).status is DeliveryStatus.SENT
    with session_scope(admin_api.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Receipt)) == 0


async def test_health_lists_the_devices_offline_per_kind_and_stays_ok(admin_api: Api) -> None:
    for number in (1, 2):
        await _added(admin_api, _board(f"led-110105-0{number}",
                                       endpoint=f"http://127.0.0.1:8700/devices/{number}"))
    speaker_token = await _added(admin_api, _board("speaker-110105-01", kind="speaker",
                                                   capabilities={}))
    with session_scope(admin_api.sessions) as session:
        session.execute(update(Device).values(created_at=utcnow() - timedelta(hours=1)))
    await _as_device(admin_api, "speaker-110105-01", "heartbeat", {}, speaker_token)
    reply = await admin_api.call("GET", "/health")
    assert reply.status == 200, reply.body
    assert reply.body["devices"] == {
        "ok": True, "detail": "2 of 3 devices offline",
        "led": {"total": 2, "offline": 2, "offline_ids": ["led-110105-01", "led-110105-02"]},
        "speaker": {"total": 1, "offline": 0, "offline_ids": []},
        "terminal": {"total": 0, "offline": 0, "offline_ids": []}}
    offline = await admin_api.call("GET", "/api/devices?offline=true", user="admin")
    assert [device["device_id"] for device in offline.body["devices"]] == [
        "led-110105-01", "led-110105-02"]
    assert [device["health"] for device in offline.body["devices"]] == ["never_seen"] * 2


async def test_the_devices_kept_in_config_are_registered_at_start(
        aiohttp_client: Any, tmp_path: Path) -> None:
    config_dir = tmp_path / "config"
    shutil.copytree(load_paths().config_dir, config_dir)
    token = "a-configured-board-token"
    (config_dir / "devices.toml").write_text(f"""
[[device]]
device_id = "led-110108-07"
kind = "led"
endpoint = "http://10.10.8.7:8000"
district_code = "110108"
lon = 116.30
lat = 40.00
token_sha256 = "{hashlib.sha256(token.encode()).hexdigest()}"
""", encoding="utf-8")
    settings = load_settings({"PUBLISHER_CONFIG_DIR": str(config_dir)}, data_dir=tmp_path)
    upgrade_database(settings.database_url)
    client = await aiohttp_client(create_app(settings))
    async with client.post("/api/devices/led-110108-07/heartbeat", json={},
                           headers={"Authorization": f"Bearer {token}"}) as reply:
        assert reply.status == 200, await reply.text()


async def test_an_ack_of_a_channel_this_process_cannot_make_is_unavailable(
        aiohttp_client: Any, tmp_path: Path) -> None:
    settings = load_settings({}, data_dir=tmp_path)
    upgrade_database(settings.database_url)
    api = Api(await aiohttp_client(create_app(settings)), {}, make_session_factory(
        make_engine(settings.database_url)))
    with session_scope(api.sessions) as session:
        token = add_device(session, device_spec(_board(), DistrictNames(
            load_districts(load_paths().districts_file)))).token
    reply = await _as_device(api, "led-110105-01", "acks",
                             {"delivery": "1", "state": "displaying"}, token)
    assert (reply.status, reply.body["error"], reply.body["field"]) == (
        503, "unavailable", "channel")
    assert "channel_options.led.callback_url: required" in reply.body["reason"]
    with session_scope(api.sessions) as session:
        assert session.scalar(select(func.count()).select_from(Receipt)) == 0
