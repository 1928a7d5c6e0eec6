"""The REST route end to end on PostgreSQL: the simulator's signed status callbacks, out of
order and repeated, land on the delivery rows through the platform's webhook over a real
socket; forged ones get 403; texts from phones get their confirmation as TwiML."""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.model import Status
from publisher.channels.base import DeliveryStatus
from publisher.channels.registry import create_channel
from publisher.channels.twilio_options import INBOUND_PATH, STATUS_PATH
from publisher.channels.twilio_signature import SIGNATURE_HEADER, twilio_signature
from publisher.config import load_settings
from publisher.services.subscribers import find_subscriber
from publisher.store.db import make_engine, make_session_factory
from publisher.store.models import ContactKind, Delivery, Receipt, ReceiptOutcome
from publisher.web.app import create_app
from tests.channels.device_support import served
from tests.channels.twilio_support import ACCOUNT_SID, AUTH_TOKEN, rest_route, running_twilio
from tests.integration.fanout_support import CHAOYANG, deliver_in_process, geocoded, publish
from tests.integration.sms_support import add_subscribers, eventually
from tests.services import database_url, migrated_postgres_url, postgres_url

__all__ = ["database_url", "migrated_postgres_url", "postgres_url"]

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

Factory = sessionmaker[Session]
SUBSCRIBERS = {f"+86138000008{index:02d}": (CHAOYANG, "zh-CN") for index in range(6)}
FAILING = "+8613800000805"


@dataclass
class Platform:
    url: str
    sessions: Factory
    routes: list[dict[str, Any]]


@pytest.fixture
def platform(database_url: str, tmp_path: Path) -> Iterator[Platform]:
    """The web application on a real socket; its REST route's public_url is its own address."""
    with running_twilio() as api:
        settings = load_settings({}, data_dir=tmp_path)
        engine = make_engine(database_url)
        holder: list[dict[str, Any]] = []
        settings = replace(settings, database_url=database_url, channel_options={
            **settings.channel_options, "sms": {"routes": holder}})
        app = create_app(settings)
        try:
            with served(app) as url:
                # The app reads its options per request: the address is known only now.
                holder.append(rest_route("rest", 0, api, public_url=url))
                yield Platform(url, make_session_factory(engine), holder)
        finally:
            engine.dispose()


def _post(url: str, fields: dict[str, str], signature: str) -> tuple[int, str]:
    request = urllib.request.Request(url, data=urllib.parse.urlencode(fields).encode(),
                                     method="POST", headers={SIGNATURE_HEADER: signature})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status), response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def _final(sessions: Factory, message_id: int) -> list[Delivery] | None:
    with sessions() as session:
        found = list(session.scalars(select(Delivery).where(Delivery.message_id == message_id)))
    return found if all(delivery.status.is_final for delivery in found) else None


def test_out_of_order_and_repeated_callbacks_end_in_the_right_final_state(
        database_url: str, tmp_path: Path) -> None:
    with running_twilio(out_of_order_share=0.5, duplicate_share=0.5, callback_delay=0.05,
                        failures={FAILING: 30006}, seed=7) as api:
        settings = load_settings({}, data_dir=tmp_path)
        holder: list[dict[str, Any]] = []
        settings = replace(settings, database_url=database_url, channel_options={
            **settings.channel_options, "sms": {"routes": holder}})
        engine = make_engine(database_url)
        sessions = make_session_factory(engine)
        try:
            with served(create_app(settings)) as url:
                holder.append(rest_route("rest", 0, api, public_url=url))
                with sessions() as session:
                    add_subscribers(session, SUBSCRIBERS)
                    message_id = publish(session, status=Status.ACTUAL,
                                         areas=geocoded(CHAOYANG)).id
                channel = create_channel("sms", {"routes": holder})
                try:
                    deliver_in_process(sessions, message_id, channel)
                finally:
                    channel.close()
                found = eventually(lambda: _final(sessions, message_id), "every delivery final")
                texts = {text.sid: text for text in api.taken()}
                eventually(lambda: len(api.callbacks()) == sum(
                    len(text.statuses) for text in texts.values()), "every callback posted")
                callbacks = api.callbacks()
        finally:
            engine.dispose()
    assert {callback.answer for callback in callbacks} == {200}
    shuffled = [text for text in texts.values() if text.statuses[0] != "sent"]
    repeated = [text for text in texts.values() if len(text.statuses) == 3]
    assert shuffled and repeated, "the seed gives both out-of-order and repeated callbacks"
    by_sid = {delivery.provider_id: delivery for delivery in found}
    for sid, text in texts.items():
        delivery = by_sid[f"rest:{sid}"]
        expected = DeliveryStatus.FAILED if text.to == FAILING else DeliveryStatus.DELIVERED
        assert delivery.status is expected
    with sessions() as session:
        outcomes = {outcome for (outcome,) in session.execute(
            select(Receipt.outcome).where(Receipt.channel == "sms"))}
    assert ReceiptOutcome.LATE in outcomes or ReceiptOutcome.DUPLICATE in outcomes


def test_a_forged_or_unsigned_callback_gets_403_and_changes_nothing(platform: Platform) -> None:
    url = f"{platform.url}{STATUS_PATH}?route=rest"
    fields = {"MessageSid": "SM" + "c" * 32, "MessageStatus": "delivered",
              "AccountSid": ACCOUNT_SID}
    assert _post(url, fields, twilio_signature("not-the-token", url, fields.items()))[0] == 403
    assert _post(url, fields, "")[0] == 403
    signed = twilio_signature(AUTH_TOKEN, url, fields.items())
    assert _post(url, {**fields, "MessageStatus": "failed"}, signed)[0] == 403
    assert _post(f"{platform.url}{STATUS_PATH}?route=other", fields, signed)[0] == 404
    with platform.sessions() as session:
        assert session.scalars(select(Receipt)).all() == []
    status, _ = _post(url, fields, signed)
    assert status == 200
    with platform.sessions() as session:
        [receipt] = session.scalars(select(Receipt)).all()
    assert receipt.outcome is ReceiptOutcome.UNKNOWN and receipt.provider_id == "rest:" \
        + fields["MessageSid"]


@pytest.mark.parametrize(("text", "answer"), [
    ("DY 朝阳", "您已订阅朝阳区预警信息"),
    ("SUB Haidian", "You are subscribed to alerts for Haidian"),
    ("LANG EN", "You will receive alerts in English")])
def test_a_text_from_a_phone_is_applied_and_answered_in_twiml(
        platform: Platform, text: str, answer: str) -> None:
    number = "+8613900000901"
    url = f"{platform.url}{INBOUND_PATH}"
    fields = {"MessageSid": "SM" + "d" * 32, "AccountSid": ACCOUNT_SID, "From": number,
              "To": "+12379", "Body": text}
    status, body = _post(url, fields, twilio_signature(AUTH_TOKEN, url, fields.items()))
    assert status == 200
    assert body.startswith("<?xml") and "<Response><Message>" in body and answer in body
    with platform.sessions() as session:
        assert find_subscriber(session, ContactKind.MSISDN, number) is not None
    assert _post(url, fields, "forged")[0] == 403


def test_the_simulator_injects_texts_and_stop_unsubscribes(platform: Platform,
                                                          tmp_path: Path) -> None:
    del tmp_path
    number = "+8613900000902"
    with running_twilio(inbound_url=f"{platform.url}{INBOUND_PATH}") as api:
        platform.routes[0] = {**platform.routes[0], "base_url": api.base_url}
        assert "您已订阅朝阳区预警信息" in api.inject_inbound(number, "DY朝阳")
        assert "您已退订全部预警短信" in api.inject_inbound(number, "TD")
    with platform.sessions() as session:
        subscriber = find_subscriber(session, ContactKind.MSISDN, number)
        assert subscriber is not None and not subscriber.active


