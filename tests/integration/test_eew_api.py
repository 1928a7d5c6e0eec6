"""``POST /api/eew``: the automatic sender's signed CAP, published at once inside its policy,
refused (naming the field, audited, logged for the duty officer) outside it."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
from sqlalchemy import select

from publisher.cap.eew import Quake, countdowns_of
from publisher.cap.keys import generate_demo_identity
from publisher.cap.model import NamedValue, Status
from publisher.cap.reader import read_alert
from publisher.cap.signing import sign_alert_xml
from publisher.cap.writer import write_alert
from publisher.config import Settings
from publisher.sim.eew_sender import EewSenderIdentity, build_eew_alert, sender_identity
from publisher.store.db import session_scope
from publisher.store.models import Alert, AlertState, AuditEntry, Message
from tests.integration.api_client import Api, Reply

pytestmark = pytest.mark.asyncio

QUAKE = Quake(40.3, 116.2, 6.1)
CAP = "application/cap+xml"


@pytest.fixture
def identity(api_settings: Settings) -> EewSenderIdentity:
    return sender_identity(api_settings.paths.data_dir)


async def post(api: Api, xml: bytes) -> Reply:
    return await api.call("POST", "/api/eew", data=xml, content_type=CAP)


def refusals(api: Api) -> list[AuditEntry]:
    with session_scope(api.sessions) as session:
        found = list(session.scalars(select(AuditEntry).where(
            AuditEntry.action == "eew_refused")))
        session.expunge_all()
    return found


async def assert_refused(api: Api, xml: bytes, status: int, field: str,
                         caplog: pytest.LogCaptureFixture) -> None:
    before = api.stored()["alerts"]
    with caplog.at_level(logging.WARNING, logger="publisher.eew"):
        reply = await post(api, xml)
    assert (reply.status, reply.body["field"]) == (status, field), reply.body
    assert api.stored()["alerts"] == before
    assert refusals(api)[-1].detail["field"] == field
    assert any(record.levelno == logging.WARNING and getattr(record, "field", None) == field
               for record in caplog.records)


async def test_inside_the_policy_it_is_published_at_once_and_people_cancel_it(
        api: Api, identity: EewSenderIdentity) -> None:
    reply = await post(api, identity.sign(build_eew_alert(QUAKE, status=Status.EXERCISE)))
    assert reply.status == 201, reply.body
    assert reply.body["alert"]["state"] == "published"
    assert set(reply.body["timings"]) >= {"verify_ms", "publish_ms", "response_ms"}
    alert_id = reply.body["alert"]["id"]
    with session_scope(api.sessions) as session:
        message = session.scalars(select(Message).where(Message.alert_id == alert_id)).one()
        issued = read_alert(message.xml).alert
        actions = [entry.action for entry in session.scalars(
            select(AuditEntry).order_by(AuditEntry.id))]
    assert issued is not None and issued.sender == "warning-center@beijing.gov.cn"
    countdowns = countdowns_of(issued.infos[0].parameters)
    # The whole city: one countdown per district, the nearer ones sooner.
    assert len(countdowns) == 16
    assert countdowns["110114"] < countdowns["110105"] < countdowns["110112"]
    assert issued.infos[0].headline == "破坏性地震预警：6.1级地震"
    assert actions[-2:] == ["eew_verified", "eew_publish"]

    board = await api.call("GET", f"/api/alerts/{alert_id}/dashboard", user="viewer")
    assert board.body["eew"]["sender"] == "eew:eew@dzj.beijing.gov.cn"
    assert board.body["eew"]["magnitude"] == 6.1
    assert board.body["eew"]["publish_ms"] > 0

    cancelled = await api.call("POST", f"/api/alerts/{alert_id}/cancel", user="approver",
                               json_body={"reason": "the network retracted it"})
    assert cancelled.status == 200, cancelled.body
    assert cancelled.body["alert"]["state"] == "cancelled"


async def test_people_update_it_like_any_other_alert(
        api: Api, identity: EewSenderIdentity) -> None:
    reply = await post(api, identity.sign(build_eew_alert(QUAKE)))
    alert_id = reply.body["alert"]["id"]
    got = await api.call("GET", f"/api/alerts/{alert_id}", user="viewer")
    content = got.body["draft"]
    content["info"][0]["instruction"] = "就近避险，远离窗户。"
    updated = await api.call("POST", f"/api/alerts/{alert_id}/update", user="approver",
                             json_body=content)
    assert updated.status == 200, updated.body
    assert updated.body["message"]["msg_type"] == "Update"


async def test_unsigned_and_tampered_messages_are_refused(
        api: Api, identity: EewSenderIdentity, caplog: pytest.LogCaptureFixture) -> None:
    alert = build_eew_alert(QUAKE)
    await assert_refused(api, write_alert(alert), 401, "signature", caplog)
    signed = identity.sign(alert)
    tampered = signed.replace(b"6.1</value>", b"7.9</value>", 1)
    assert tampered != signed
    await assert_refused(api, tampered, 401, "signature", caplog)


async def test_a_sender_outside_the_register_is_refused(
        api: Api, tmp_path: Path, identity: EewSenderIdentity,
        caplog: pytest.LogCaptureFixture) -> None:
    key, certificate = generate_demo_identity(tmp_path / "stranger", "not registered")
    stranger = sign_alert_xml(write_alert(build_eew_alert(QUAKE)), key.read_bytes(),
                              certificate.read_bytes())
    await assert_refused(api, stranger, 403, "signature", caplog)
    impostor = identity.sign(build_eew_alert(QUAKE, sender="someone-else@example.org"))
    await assert_refused(api, impostor, 403, "sender", caplog)


async def test_event_code_area_and_status_outside_the_policy_are_refused(
        api: Api, identity: EewSenderIdentity, caplog: pytest.LogCaptureFixture) -> None:
    alert = build_eew_alert(QUAKE)
    flood = replace(alert, infos=tuple(
        replace(info, event_codes=(NamedValue("EEW", "flood"),)) for info in alert.infos))
    await assert_refused(api, identity.sign(flood), 403, "info[0].eventCode", caplog)
    tianjin = build_eew_alert(QUAKE, districts=("110105", "120101"))
    await assert_refused(api, identity.sign(tianjin), 403, "info[0].area[1]", caplog)
    system = build_eew_alert(QUAKE, status=Status.SYSTEM)
    await assert_refused(api, identity.sign(system), 403, "status", caplog)
    no_magnitude = replace(alert, infos=tuple(
        replace(info, parameters=tuple(parameter for parameter in info.parameters
                                       if parameter.value_name != "EEW_MAGNITUDE"))
        for info in alert.infos))
    await assert_refused(api, identity.sign(no_magnitude), 400,
                         "info[0].parameter.EEW_MAGNITUDE", caplog)


async def test_the_rate_limit_holds(api: Api, identity: EewSenderIdentity) -> None:
    # config/eew.toml: 6 in any 60 seconds.
    for _ in range(6):
        accepted = await post(api, identity.sign(build_eew_alert(QUAKE)))
        assert accepted.status == 201, accepted.body
    refused = await post(api, identity.sign(build_eew_alert(QUAKE)))
    assert (refused.status, refused.body["field"]) == (429, "rate_limit"), refused.body
    assert 1 <= int(refused.headers["Retry-After"]) <= 61
    with session_scope(api.sessions) as session:
        published = session.scalars(select(Alert).where(
            Alert.state == AlertState.PUBLISHED)).all()
        assert len(published) == 6
    assert refusals(api)[-1].detail["field"] == "rate_limit"


async def test_a_staff_token_does_not_stand_in_for_the_signature(api: Api) -> None:
    unsigned = write_alert(build_eew_alert(QUAKE))
    reply = await api.call("POST", "/api/eew", data=unsigned, content_type=CAP,
                           user="approver")
    assert (reply.status, reply.body["field"]) == (401, "signature"), reply.body
