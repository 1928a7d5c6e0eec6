"""WeChat end to end on PostgreSQL: subscribers get template messages from the simulated API,
whose send-job events, pushed to the platform's callback route over a real socket, become
the receipts of the delivery rows; unfollows retire openids; bad signatures get 403."""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.districts import load_districts
from publisher.channels.base import DeliveryStatus
from publisher.channels.wechat_events import SEND_JOB_FINISHED, event_xml, signature
from publisher.config import load_settings
from publisher.services.subscribers import (
    WECHAT_CHANNEL,
    find_subscriber,
    new_subscriber,
    update_subscriber,
)
from publisher.sim.wechat import FAILED_STATUSES, WechatSimulatorThread
from publisher.store.db import make_engine, make_session_factory
from publisher.store.models import ContactKind, Delivery, Receipt, Target
from publisher.web import wechat_callback
from publisher.web.app import create_app
from tests.channels.device_support import CONFIG_DISTRICTS, served
from tests.channels.wechat_support import APPID, SECRET, TEMPLATE_ID, running_api, wechat_channel
from tests.integration.fanout_support import deliver_in_process, publish
from tests.integration.sms_support import eventually
from tests.services import database_url, migrated_postgres_url, postgres_url

__all__ = ["database_url", "migrated_postgres_url", "postgres_url"]

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

Factory = sessionmaker[Session]
CALLBACK_TOKEN = "callback-token-for-tests"
CHAOYANG, HAIDIAN = "110105", "110108"
READERS = {"oChaoyangZh1": ("zh-CN", CHAOYANG), "oChaoyangZh2": ("zh-CN", CHAOYANG),
           "oChaoyangEn1": ("en-US", CHAOYANG), "oChaoyangEn2": ("en-US", CHAOYANG),
           "oHaidian": ("zh-CN", HAIDIAN)}


@dataclass
class Platform:
    url: str
    sessions: Factory

    @property
    def callback_url(self) -> str:
        return f"{self.url}{wechat_callback.CALLBACK_PATH}"


@pytest.fixture
def platform(database_url: str, tmp_path: Path) -> Iterator[Platform]:
    """The web application on PostgreSQL with the callback route, on a real socket."""
    settings = load_settings({}, data_dir=tmp_path)
    settings = replace(settings, database_url=database_url, channel_options={
        **settings.channel_options,
        "wechat": {"appid": APPID, "secret": SECRET, "template_id": TEMPLATE_ID,
                   "callback_token": CALLBACK_TOKEN}})
    app = create_app(settings)
    engine = make_engine(database_url)
    try:
        with served(app) as url:
            yield Platform(url, make_session_factory(engine))
    finally:
        engine.dispose()


def _subscribe(sessions: Factory) -> None:
    with sessions() as session:
        for openid, (language, district) in READERS.items():
            subscriber = new_subscriber(session, language=language, is_test=True)
            update_subscriber(session, subscriber,
                              contact_points=[(ContactKind.WECHAT_OPENID, openid)],
                              district_codes=[district])
        both = new_subscriber(session, is_test=True)
        update_subscriber(session, both, contact_points=[
            (ContactKind.MSISDN, "+8613800138000"), (ContactKind.WECHAT_OPENID, "oBoth")],
            district_codes=[CHAOYANG])
        session.commit()


def _deliveries(sessions: Factory, message_id: int) -> dict[str, Delivery]:
    with sessions() as session:
        return {address: delivery for delivery, address in session.execute(
            select(Delivery, Target.address).join(Target, Target.id == Delivery.target_id)
            .where(Delivery.message_id == message_id))}


def _deliver(platform: Platform, api: WechatSimulatorThread) -> int:
    with platform.sessions() as session:
        message = publish(session, sent=datetime.now(UTC) - timedelta(minutes=1))
    with wechat_channel(api, rate_per_second=100) as channel:
        deliver_in_process(platform.sessions, message.id, channel,
                           districts=load_districts(CONFIG_DISTRICTS))
    return message.id


def _post(url: str, body: bytes, query: str) -> int:
    request = urllib.request.Request(f"{url}?{query}", data=body, method="POST",
                                     headers={"Content-Type": "text/xml"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


def test_send_job_events_become_the_receipts_of_the_delivery_rows(platform: Platform) -> None:
    _subscribe(platform.sessions)
    # No delay: events overtake the batch's hand-over, and are matched once it commits.
    with running_api(callback_url=platform.callback_url, callback_token=CALLBACK_TOKEN,
                     receipt_delay=0.0, failure_share=0.5, seed=7) as api:
        message_id = _deliver(platform, api)
        received = {item.openid: item for item in api.received()}
        assert sorted(received) == ["oBoth", "oChaoyangEn1", "oChaoyangEn2", "oChaoyangZh1",
                                    "oChaoyangZh2"]
        statuses = {item.status for item in received.values()}
        assert "success" in statuses and statuses & set(FAILED_STATUSES)

        def all_final() -> dict[str, Delivery] | None:
            rows = _deliveries(platform.sessions, message_id)
            return rows if all(row.status.is_final for row in rows.values()) else None

        rows = eventually(all_final, "every delivery final through its send-job event")
        assert all(event.answer == 200 for event in api.events())
    assert sorted(rows) == sorted(received)
    for openid, item in received.items():
        row = rows[openid]
        assert row.provider_id == str(item.msgid)
        if item.status == "success":
            assert row.status is DeliveryStatus.DELIVERED
        else:
            assert row.status is DeliveryStatus.FAILED
            assert row.last_error == item.status.removeprefix("failed:").strip()
    with platform.sessions() as session:
        receipts = session.scalars(select(Receipt).where(Receipt.channel == WECHAT_CHANNEL)).all()
    assert sorted(receipt.delivery_id for receipt in receipts) == sorted(
        row.id for row in rows.values())
    assert not any(openid in receipt.raw for receipt in receipts for openid in READERS)


def test_an_unfollow_retires_the_openid_and_the_next_alert_leaves_it_out(
        platform: Platform) -> None:
    _subscribe(platform.sessions)
    with running_api(callback_url=platform.callback_url, callback_token=CALLBACK_TOKEN) as api:
        api.unsubscribe("oBoth")
        api.unsubscribe("oChaoyangZh1")

        def retired() -> bool:
            with platform.sessions() as session:
                return find_subscriber(session, ContactKind.WECHAT_OPENID, "oBoth") is None \
                    and find_subscriber(session, ContactKind.WECHAT_OPENID,
                                        "oChaoyangZh1") is None

        eventually(retired, "both openids retired by their unsubscribe events")
        message_id = _deliver(platform, api)
    assert sorted(_deliveries(platform.sessions, message_id)) == [
        "oChaoyangEn1", "oChaoyangEn2", "oChaoyangZh2"]
    with platform.sessions() as session:
        keeps_sms = find_subscriber(session, ContactKind.MSISDN, "+8613800138000")
        assert keeps_sms is not None and keeps_sms.active
        targets = {target.address: target.active for target in session.scalars(select(Target))}
    assert targets["+8613800138000"] is True
    assert targets["oBoth"] is False and targets["oChaoyangZh1"] is False


def test_a_user_who_unfollowed_unseen_is_retired_by_the_43004_answer(
        platform: Platform) -> None:
    _subscribe(platform.sessions)
    # The API knows of the unfollow, but its event never reached the platform.
    with running_api(unsubscribed=frozenset({"oChaoyangZh1"})) as api:
        first = _deliveries(platform.sessions, _deliver(platform, api))
        second = _deliveries(platform.sessions, _deliver(platform, api))
    gone = first["oChaoyangZh1"]
    assert gone.status is DeliveryStatus.FAILED and "errcode 43004" in (gone.last_error or "")
    assert "oChaoyangZh1" not in second and "oChaoyangZh2" in second
    with platform.sessions() as session:
        assert find_subscriber(session, ContactKind.WECHAT_OPENID, "oChaoyangZh1") is None


def test_callbacks_with_a_bad_signature_get_403_and_change_nothing(platform: Platform) -> None:
    body = event_xml({"ToUserName": "gh_test", "FromUserName": "oChaoyangZh1",
                      "CreateTime": 1, "MsgType": "event", "Event": SEND_JOB_FINISHED,
                      "MsgID": 12345, "Status": "success"})
    good = signature(CALLBACK_TOKEN, "1700000000", "n1")
    forged = signature("a-guessed-token", "1700000000", "n1")
    assert _post(platform.callback_url, body,
                 f"signature={forged}&timestamp=1700000000&nonce=n1") == 403
    assert _post(platform.callback_url, body, "timestamp=1700000000&nonce=n1") == 403
    assert _post(platform.callback_url, body,
                 f"signature={good}&timestamp=1700000001&nonce=n1") == 403
    with platform.sessions() as session:
        assert session.scalars(select(Receipt)).all() == []
    assert _post(platform.callback_url, body,
                 f"signature={good}&timestamp=1700000000&nonce=n1") == 200
    with platform.sessions() as session:
        [stored] = session.scalars(select(Receipt)).all()
    assert stored.provider_id == "12345"


def test_the_url_check_echoes_only_under_a_good_signature(platform: Platform) -> None:
    good = signature(CALLBACK_TOKEN, "1700000000", "n2")
    query = "timestamp=1700000000&nonce=n2&echostr=echo-7781"
    with urllib.request.urlopen(
            f"{platform.callback_url}?signature={good}&{query}", timeout=30) as response:
        assert response.read() == b"echo-7781"
    forged = ("1" if good.startswith("0") else "0") + good[1:]
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{platform.callback_url}?signature={forged}&{query}",
                               timeout=30)
    assert refused.value.code == 403
