"""A captured signed message sent again: unchanged it is a duplicate (409), and with another
``sent`` its signature no longer holds (refused naming ``signature``). For each door signed
CAP comes in by: an agency's intake, an automatic early-warning sender, a district node."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.cap import generate_demo_identity, sign_alert_xml, write_alert
from publisher.cap.eew import Quake
from publisher.cap.model import Status
from publisher.config import Settings
from publisher.sample_alert import rainstorm_red_warning
from publisher.services.feeds import ensure_feed_target
from publisher.sim.eew_sender import build_eew_alert, sender_identity
from publisher.store.db import session_scope
from tests.integration import app_stream_support
from tests.integration.agency_support import WEATHER, register_agency, warning
from tests.integration.api_client import Api, Reply
from tests.integration.fanout_support import CHAOYANG, geocoded

pytestmark = pytest.mark.asyncio

admin_api = app_stream_support.admin_api
CAP = "application/cap+xml"
_SENT = re.compile(rb"<sent>([^<]+)</sent>")


def with_another_sent(signed: bytes) -> bytes:
    """The signed message with its ``sent`` a minute later, the signature left as it was."""
    found = _SENT.search(signed)
    assert found is not None
    later = datetime.fromisoformat(found[1].decode()) + timedelta(minutes=1)
    changed = _SENT.sub(f"<sent>{later.isoformat()}</sent>".encode(), signed, count=1)
    assert changed != signed
    return changed


def assert_refused(reply: Reply, status: int, field: str) -> None:
    assert (reply.status, reply.body["field"]) == (status, field), reply.body
    assert set(reply.body) >= {"error", "field", "reason"}


async def assert_replays_refused(send: Any, signed: bytes, *, signature_status: int) -> None:
    first = await send(signed)
    assert first.status == 201, first.body
    assert_refused(await send(with_another_sent(signed)), signature_status, "signature")
    assert_refused(await send(signed), 409, "identifier")


async def test_an_agency_message_replayed(admin_api: Api, api_settings: Settings) -> None:
    weather = await register_agency(admin_api, api_settings.paths.data_dir, WEATHER)

    async def submit(xml: bytes) -> Reply:
        return await weather.submit(admin_api, xml)

    await assert_replays_refused(submit, weather.identity.sign(warning(weather.sender)),
                                 signature_status=403)
    assert admin_api.stored()["alerts"] == 1


async def test_an_early_warning_replayed(api: Api, api_settings: Settings) -> None:
    identity = sender_identity(api_settings.paths.data_dir)

    async def post(xml: bytes) -> Reply:
        return await api.call("POST", "/api/eew", data=xml, content_type=CAP)

    signed = identity.sign(build_eew_alert(Quake(40.3, 116.2, 6.1), status=Status.EXERCISE))
    # The early-warning route answers a signature that does not hold with 401.
    await assert_replays_refused(post, signed, signature_status=401)
    assert api.stored()["alerts"] == 1


async def test_a_district_alert_replayed(admin_api: Api, tmp_path: Path) -> None:
    key, certificate = generate_demo_identity(tmp_path / "district-keys")
    with session_scope(admin_api.sessions) as session:
        ensure_feed_target(session, "110000", is_test=True)
    registered = await admin_api.call("POST", "/api/nodes", user="admin", json_body={
        "code": CHAOYANG, "url": "http://127.0.0.1:9",
        "certificate_pem": certificate.read_text(), "heartbeat_interval": 30})
    assert registered.status == 201, registered.body

    async def report(xml: bytes) -> Reply:
        return await admin_api.call(
            "POST", f"/api/nodes/{CHAOYANG}/alerts", data=xml, content_type=CAP,
            headers={"Authorization": f"Bearer {registered.body['credential']}"})

    alert = rainstorm_red_warning(datetime.now(UTC).replace(microsecond=0))
    alert = replace(alert, status=Status.EXERCISE, identifier=f"district-{CHAOYANG}-0001",
                    infos=tuple(replace(info, areas=geocoded(CHAOYANG))
                                for info in alert.infos))
    signed = sign_alert_xml(write_alert(alert), key.read_bytes(), certificate.read_bytes())
    await assert_replays_refused(report, signed, signature_status=403)
    assert admin_api.stored()["alerts"] == 1
