"""Agencies submit signed CAP: refused outside their certificate and permissions, naming
the rule; accepted into the approval queue or published directly; told of each change."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from sqlalchemy import select

from publisher.cap.keys import generate_demo_identity
from publisher.cap.model import NamedValue, Status
from publisher.cap.reader import read_alert
from publisher.cap.signing import sign_alert_xml
from publisher.cap.writer import write_alert
from publisher.channels.app_signature import verify_push
from publisher.config import Settings
from publisher.services.delivery import fan_out
from publisher.services.intake_notifications import (
    post_json,
    queue_state_changes,
    send_due_notifications,
)
from publisher.store.db import session_scope
from publisher.store.models import (
    AgencyNotification,
    Alert,
    AlertState,
    AuditEntry,
    IntakeRecord,
    Message,
    User,
)
from tests.integration import app_stream_support
from tests.integration.agency_support import WEATHER, AgencyUnderTest, register_agency, warning
from tests.integration.api_client import Api

pytestmark = pytest.mark.asyncio

admin_api = app_stream_support.admin_api

QUAKE = {"code": "earthquake", "name": "Beijing Earthquake Agency",
         "sender": "dzj@dzj.beijing.gov.cn", "direct_publish": True,
         "permissions": {"event_codes": ["hazard=earthquake"], "districts": ["110000"],
                         "statuses": ["Exercise"]}}


@pytest_asyncio.fixture
async def weather(admin_api: Api, api_settings: Settings) -> AgencyUnderTest:
    return await register_agency(admin_api, api_settings.paths.data_dir, WEATHER)


@pytest_asyncio.fixture
async def quake(admin_api: Api, api_settings: Settings) -> AgencyUnderTest:
    return await register_agency(admin_api, api_settings.paths.data_dir, QUAKE)


async def test_admins_manage_the_registry_and_every_change_is_audited(
        admin_api: Api, weather: AgencyUnderTest) -> None:
    listed = await admin_api.call("GET", "/api/agencies", user="admin")
    assert [agency["code"] for agency in listed.body["agencies"]] == ["weather"]
    assert "credential" not in listed.body["agencies"][0]
    changed = await admin_api.call("PATCH", "/api/agencies/weather", user="admin",
                                   json_body={"members": ["author"], "direct_publish": True})
    assert changed.status == 200, changed.body
    assert (changed.body["members"], changed.body["direct_publish"]) == (["author"], True)
    bad = await admin_api.call("PATCH", "/api/agencies/weather", user="admin",
                               json_body={"permissions": {"statuses": ["Real"]}})
    assert (bad.status, bad.body["field"]) == (400, "permissions.statuses"), bad.body
    refused = await admin_api.call("GET", "/api/agencies", user="approver")
    assert (refused.status, refused.body["field"]) == (403, "role")
    removed = await admin_api.call("DELETE", "/api/agencies/weather", user="admin")
    assert removed.status == 200
    with session_scope(admin_api.sessions) as session:
        actions = [entry.action for entry in session.scalars(
            select(AuditEntry).where(AuditEntry.action.like("%agency")).order_by(AuditEntry.id))]
    assert actions == ["register_agency", "change_agency", "remove_agency"]


@pytest.mark.parametrize(("change", "field", "rule"), [
    ({"event_code": ("hazard", "earthquake")}, "info[0].eventCode", "event_codes"),
    ({"channels": ("sms", "speaker")}, "info[0].parameter", "channels"),
    ({"status": Status.ACTUAL}, "status", "statuses"),
])
async def test_outside_the_matrix_is_refused_naming_the_rule(
        admin_api: Api, weather: AgencyUnderTest, change: dict[str, Any], field: str,
        rule: str) -> None:
    before = admin_api.stored()["alerts"]
    reply = await weather.submit(admin_api, weather.identity.sign(
        warning(weather.sender, **change)))
    assert (reply.status, reply.body["field"], reply.body["rule"]) == (403, field, rule), \
        reply.body
    assert admin_api.stored()["alerts"] == before


async def test_an_area_outside_the_districts_is_refused(
        admin_api: Api, weather: AgencyUnderTest) -> None:
    alert = warning(weather.sender)
    moved = replace(alert, infos=tuple(replace(info, areas=tuple(
        replace(area, geocodes=(NamedValue("GB/T 2260", "110112"),)) for area in info.areas))
        for info in alert.infos))
    reply = await weather.submit(admin_api, weather.identity.sign(moved))
    assert (reply.status, reply.body["field"], reply.body["rule"]) == \
        (403, "info[0].area[0]", "areas"), reply.body


async def test_a_forged_or_expired_signature_is_refused(
        admin_api: Api, weather: AgencyUnderTest, tmp_path: Path) -> None:
    signed = weather.identity.sign(warning(weather.sender))
    tampered = signed.replace("朝阳区".encode(), "海淀区".encode(), 1)
    assert tampered != signed
    stranger_key, stranger_cert = generate_demo_identity(tmp_path / "stranger", "stranger")
    forged = sign_alert_xml(write_alert(warning(weather.sender)), stranger_key.read_bytes(),
                            stranger_cert.read_bytes())
    for xml in (tampered, forged):
        reply = await weather.submit(admin_api, xml)
        assert (reply.status, reply.body["field"]) == (403, "signature"), reply.body

    old_key, old_cert = generate_demo_identity(tmp_path / "old", "expired", days=0)
    changed = await admin_api.call("PATCH", "/api/agencies/weather", user="admin", json_body={
        "certificates": [old_cert.read_text()]})
    assert changed.status == 200, changed.body
    expired = sign_alert_xml(write_alert(warning(weather.sender)), old_key.read_bytes(),
                             old_cert.read_bytes())
    reply = await weather.submit(admin_api, expired)
    assert (reply.status, reply.body["field"]) == (403, "signature"), reply.body
    assert "expired_certificate" in reply.body["reason"]


async def test_accepted_it_waits_for_approval_marked_with_its_agency(
        admin_api: Api, weather: AgencyUnderTest) -> None:
    signed = weather.identity.sign(warning(weather.sender))
    reply = await weather.submit(admin_api, signed)
    assert reply.status == 201, reply.body
    alert_id = reply.body["alert"]["id"]
    assert reply.body["alert"]["state"] == "submitted"
    queue = await admin_api.call("GET", "/api/alerts?state=submitted", user="viewer")
    queued = {alert["id"]: alert for alert in queue.body["alerts"]}
    named = {"code": "weather", "name": WEATHER["name"]}
    assert queued[alert_id]["agency"] == named
    single = await admin_api.call("GET", f"/api/alerts/{alert_id}", user="viewer")
    assert single.body["agency"] == named
    with session_scope(admin_api.sessions) as session:
        author = session.get(User, queued[alert_id]["author_id"])
        assert author is not None and author.username == "agency:weather"
        alert = session.get(Alert, alert_id)
        assert alert is not None and alert.draft["info"][0]["senderName"] == "北京市气象台"

    again = await weather.submit(admin_api, signed)
    assert (again.status, again.body["field"], again.body["rule"]) == \
        (409, "identifier", "duplicate"), again.body
    assert admin_api.stored()["alerts"] == 1

    approved = await admin_api.call("POST", f"/api/alerts/{alert_id}/approve", user="approver")
    assert approved.status == 200, approved.body
    with session_scope(admin_api.sessions) as session:
        queue_state_changes(session, datetime.now(UTC))
    polled = await admin_api.call("GET", f"/api/intake/{reply.body['id']}",
                                  headers={"Authorization": f"Bearer {weather.credential}"})
    assert [event["event"] for event in polled.body["events"]] == \
        ["received", "approved", "published"]


async def test_a_rejection_reaches_the_agency_with_its_reason(
        admin_api: Api, weather: AgencyUnderTest) -> None:
    reply = await weather.submit(admin_api, weather.identity.sign(warning(weather.sender)))
    alert_id = reply.body["alert"]["id"]
    rejected = await admin_api.call("POST", f"/api/alerts/{alert_id}/reject", user="approver",
                                    json_body={"reason": "the rain has passed"})
    assert rejected.status == 200, rejected.body
    with session_scope(admin_api.sessions) as session:
        queue_state_changes(session, datetime.now(UTC))
    polled = await admin_api.call("GET", f"/api/intake/{reply.body['id']}",
                                  headers={"Authorization": f"Bearer {weather.credential}"})
    assert polled.body["events"][-1] == {**polled.body["events"][-1], "event": "rejected",
                                         "reason": "the rain has passed"}


async def test_where_the_policy_allows_it_is_published_directly_and_re_signed(
        admin_api: Api, quake: AgencyUnderTest) -> None:
    original = quake.identity.sign(warning(quake.sender, event_code=("hazard", "earthquake"),
                                           channels=()))
    reply = await quake.submit(admin_api, original)
    assert reply.status == 201, reply.body
    assert reply.body["alert"]["state"] == "published"
    assert reply.body["fanout"] in ("enqueued", "deferred")
    with session_scope(admin_api.sessions) as session:
        message = session.scalars(select(Message).where(
            Message.alert_id == reply.body["alert"]["id"])).one()
        issued = read_alert(message.xml).alert
    assert issued is not None and issued.sender == "warning-center@beijing.gov.cn"
    assert issued.infos[0].sender_name == "北京市气象台"
    with session_scope(admin_api.sessions) as session:
        record = session.get(IntakeRecord, reply.body["id"])
        assert record is not None and record.original_xml == original


async def test_one_agency_cannot_read_another_agencys_intake(
        admin_api: Api, weather: AgencyUnderTest, quake: AgencyUnderTest) -> None:
    reply = await weather.submit(admin_api, weather.identity.sign(warning(weather.sender)))
    path = f"/api/intake/{reply.body['id']}"
    own = await admin_api.call("GET", path,
                               headers={"Authorization": f"Bearer {weather.credential}"})
    other = await admin_api.call("GET", path,
                                 headers={"Authorization": f"Bearer {quake.credential}"})
    staff = await admin_api.call("GET", path, user="admin")
    assert (own.status, other.status, staff.status) == (200, 404, 401)
    crossed = await weather.submit(admin_api, quake.identity.sign(
        warning(quake.sender, event_code=("hazard", "earthquake"), channels=())))
    assert (crossed.status, crossed.body["field"]) == (403, "signature"), crossed.body


async def test_the_webhook_is_retried_until_acknowledged(
        admin_api: Api, weather: AgencyUnderTest, aiohttp_server: Any) -> None:
    received: list[tuple[dict[str, str], bytes]] = []

    async def hook(request: web.Request) -> web.Response:
        received.append((dict(request.headers), await request.read()))
        return web.Response(status=500 if len(received) < 3 else 204)

    server = web.Application()
    server.router.add_post("/hook", hook)
    served = await aiohttp_server(server)
    await admin_api.call("PATCH", "/api/agencies/weather", user="admin",
                         json_body={"webhook_url": str(served.make_url("/hook"))})
    await weather.submit(admin_api, weather.identity.sign(warning(weather.sender)))

    moment = datetime.now(UTC)
    acknowledged = 0
    for _ in range(5):
        def attempt(at: datetime = moment) -> int:
            with session_scope(admin_api.sessions) as session:
                return send_due_notifications(session, post_json, at)
        acknowledged += await asyncio.to_thread(attempt)
        moment += timedelta(hours=1)
    assert (len(received), acknowledged) == (3, 1)
    headers, body = received[-1]
    verify_push(weather.webhook_secret, headers, body, moment.timestamp(), tolerance=6 * 3600)
    assert json.loads(body)["event"] == "received"
    with session_scope(admin_api.sessions) as session:
        notification = session.scalars(select(AgencyNotification)).one()
        assert (notification.attempts, notification.acknowledged_at is not None) == (3, True)


async def test_the_monthly_report_counts_and_times(
        admin_api: Api, weather: AgencyUnderTest, quake: AgencyUnderTest) -> None:
    await weather.submit(admin_api, weather.identity.sign(
        warning(weather.sender, status=Status.ACTUAL)))
    queued = await weather.submit(admin_api, weather.identity.sign(
        warning(weather.sender, sequence=2)))
    await admin_api.call("POST", f"/api/alerts/{queued.body['alert']['id']}/reject",
                         user="approver", json_body={"reason": "duplicate of the city's own"})
    month = datetime.now(UTC).strftime("%Y-%m")
    report = await admin_api.call("GET", f"/api/agencies/weather/report?month={month}",
                                  user="admin")
    assert report.status == 200, report.body
    assert {key: report.body[key] for key in ("submitted", "accepted", "rejected")} == \
        {"submitted": 2, "accepted": 1, "rejected": 2}
    assert [row["reason"].split(":")[0] for row in report.body["rejections"]] == \
        ["center", "statuses"]
    assert report.body["median_seconds_to_publication"] is None

    await quake.submit(admin_api, quake.identity.sign(
        warning(quake.sender, event_code=("hazard", "earthquake"), channels=())))
    published = await admin_api.call("GET", f"/api/agencies/earthquake/report?month={month}",
                                     user="admin")
    assert published.body["published"] == 1
    assert published.body["median_seconds_to_publication"] >= 0
    with session_scope(admin_api.sessions) as session:
        assert session.scalars(select(Alert.state)).all().count(AlertState.PUBLISHED) == 1


async def test_a_removed_agency_leaves_its_submissions_and_its_credential_opens_nothing(
        admin_api: Api, weather: AgencyUnderTest) -> None:
    original = weather.identity.sign(warning(weather.sender))
    reply = await weather.submit(admin_api, original)
    await admin_api.call("DELETE", "/api/agencies/weather", user="admin")
    again = await weather.submit(admin_api, weather.identity.sign(
        warning(weather.sender, sequence=2)))
    assert (again.status, again.body["field"]) == (401, "Authorization"), again.body
    with session_scope(admin_api.sessions) as session:
        record = session.get(IntakeRecord, reply.body["id"])
        assert record is not None and record.agency_id is None
        assert record.original_xml == original
        assert session.get(Alert, reply.body["alert"]["id"]) is not None
    alert = await admin_api.call("GET", f"/api/alerts/{reply.body['alert']['id']}",
                                 user="viewer")
    assert alert.status == 200 and alert.body["agency"] is None, alert.body


async def test_the_alert_shows_the_channels_its_agency_may_not_use(
        admin_api: Api, weather: AgencyUnderTest) -> None:
    reply = await weather.submit(admin_api, weather.identity.sign(warning(weather.sender)))
    alert_id = reply.body["alert"]["id"]
    approved = await admin_api.call("POST", f"/api/alerts/{alert_id}/approve", user="approver")
    assert approved.status == 200, approved.body
    with session_scope(admin_api.sessions) as session:
        message_id = session.scalars(select(Message.id).where(Message.alert_id == alert_id)).one()
    fan_out(admin_api.sessions, message_id, 100, lambda _channel, _ids: None,
            channels=("sms", "led", "speaker", "feed"))
    single = await admin_api.call("GET", f"/api/alerts/{alert_id}", user="viewer")
    [limit] = single.body["channel_limits"]
    assert (limit["message_id"], limit["agency"], limit["limited"], limit["permitted"]) == \
        (message_id, "weather", ["speaker", "feed"], ["led", "sms"])
    assert "speaker, feed" in limit["reason"]
