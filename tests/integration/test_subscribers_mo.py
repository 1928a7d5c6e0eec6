"""Keywords from phones change subscriptions, and the SMS targets fan-out reaches follow them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.districts import load_districts
from publisher.cap.model import Status
from publisher.channels.memory import MemoryChannel
from publisher.services.delivery import plan_fanout, send_batch
from publisher.services.district_names import DistrictNames
from publisher.services.errors import InvalidInput
from publisher.services.subscriber_commands import Reply, handle_mo
from publisher.services.subscribers import SMS_CHANNEL
from publisher.store.models import ContactPoint, Delivery, Subscriber, Target
from tests.integration.fanout_support import geocoded, publish

DISTRICTS = DistrictNames(load_districts(Path(__file__).parents[2] / "config" / "districts.toml"))
NUMBER = "+8613800138000"
Factory = sessionmaker[Session]


def _text(factory: Factory, text: str, msisdn: str = "13800138000") -> Reply:
    with factory() as session:
        reply = handle_mo(session, msisdn, text, districts=DISTRICTS)
        session.commit()
    return reply


def _targets(factory: Factory) -> list[tuple[str, str | None, str, bool]]:
    with factory() as session:
        return [tuple(row) for row in session.execute(  # type: ignore[misc]
            select(Target.address, Target.district_code, Target.language, Target.active)
            .where(Target.channel == SMS_CHANNEL).order_by(Target.address))]


def test_subscribing_makes_one_sms_target_in_e164(session_factory: Factory) -> None:
    reply = _text(session_factory, "DY 朝阳", msisdn="+86 138 0013 8000")
    assert reply.language == "zh-CN" and "朝阳区" in reply.text and "TD" in reply.text
    assert _targets(session_factory) == [(NUMBER, "110105", "zh-CN", True)]
    with session_factory() as session:
        subscriber = session.scalars(select(Subscriber)).one()
        assert subscriber.active and subscriber.subscribed_at is not None
        assert [point.value for point in subscriber.contact_points] == [NUMBER]
        assert [entry.district_code for entry in subscriber.districts] == ["110105"]


def test_every_way_of_writing_a_number_is_one_subscriber(session_factory: Factory) -> None:
    for msisdn in ("13800138000", "+86 138 0013 8000", "008613800138000"):
        _text(session_factory, "DY 110105", msisdn=msisdn)
    with session_factory() as session:
        assert session.scalars(select(ContactPoint.value)).all() == [NUMBER]
    assert len(_targets(session_factory)) == 1


def test_an_english_keyword_makes_an_english_subscriber(session_factory: Factory) -> None:
    reply = _text(session_factory, "sub chaoyang")
    assert reply == Reply(reply.text, "en-US") and "Chaoyang" in reply.text
    assert _targets(session_factory) == [(NUMBER, "110105", "en-US", True)]


def test_subscribing_elsewhere_moves_the_subscription(session_factory: Factory) -> None:
    _text(session_factory, "DY 朝阳")
    reply = _text(session_factory, "DY 海淀")
    assert "海淀区" in reply.text and "朝阳区" in reply.text
    assert _targets(session_factory) == [(NUMBER, "110108", "zh-CN", True)]


def test_unsubscribing_deactivates_the_target(session_factory: Factory) -> None:
    _text(session_factory, "DY 朝阳")
    reply = _text(session_factory, "TD")
    assert "退订" in reply.text
    assert _targets(session_factory) == [(NUMBER, "110105", "zh-CN", False)]
    with session_factory() as session:
        subscriber = session.scalars(select(Subscriber)).one()
        assert not subscriber.active and subscriber.unsubscribed_at is not None
        assert subscriber.districts == []
    again = _text(session_factory, "TD")
    assert "没有订阅" in again.text


def test_subscribing_again_after_stopping_reactivates(session_factory: Factory) -> None:
    _text(session_factory, "SUB Haidian")
    _text(session_factory, "STOP")
    _text(session_factory, "SUB Haidian")
    assert _targets(session_factory) == [(NUMBER, "110108", "en-US", True)]
    with session_factory() as session:
        assert session.scalars(select(Subscriber.unsubscribed_at)).one() is None


def test_language_changes_reach_the_target_and_the_reply(session_factory: Factory) -> None:
    _text(session_factory, "DY 朝阳")
    english = _text(session_factory, "EN")
    assert english.language == "en-US" and "English" in english.text
    assert _targets(session_factory) == [(NUMBER, "110105", "en-US", True)]
    # Replies now come in English, even to a Chinese keyword.
    assert _text(session_factory, "DY 海淀").language == "en-US"
    chinese = _text(session_factory, "LANG ZH")
    assert chinese.language == "zh-CN" and "中文" in chinese.text
    assert _targets(session_factory) == [(NUMBER, "110108", "zh-CN", True)]


def test_a_language_before_any_district_is_remembered(session_factory: Factory) -> None:
    _text(session_factory, "EN")
    assert _targets(session_factory) == []
    assert _text(session_factory, "DY 朝阳").language == "en-US"
    assert _targets(session_factory) == [(NUMBER, "110105", "en-US", True)]


def test_an_unknown_district_changes_nothing_and_suggests(session_factory: Factory) -> None:
    _text(session_factory, "DY 朝阳")
    reply = _text(session_factory, "DY 朝杨")
    assert "朝杨" in reply.text and "朝阳区 (110105)" in reply.text
    assert _targets(session_factory) == [(NUMBER, "110105", "zh-CN", True)]
    assert "未能识别" in _text(session_factory, "hello", msisdn="13900139000").text
    assert _text(session_factory, "DY", msisdn="13900139000").text.startswith("请在DY后")


def test_text_from_a_landline_is_refused(session_factory: Factory) -> None:
    with session_factory() as session, pytest.raises(InvalidInput) as refused:
        handle_mo(session, "010 6552 9988", "DY 朝阳", districts=DISTRICTS)
    assert refused.value.field == "msisdn"


def test_fan_out_reaches_subscribed_numbers_only(session_factory: Factory) -> None:
    _text(session_factory, "DY 朝阳", msisdn="13800138000")
    _text(session_factory, "DY 朝阳", msisdn="13800138001")
    _text(session_factory, "DY 海淀", msisdn="13800138002")
    _text(session_factory, "TD", msisdn="13800138001")
    with session_factory() as session:
        message = publish(session, status=Status.ACTUAL, areas=geocoded("110105"))
        planned = [ids for _, ids in plan_fanout(session, message.id, 100,
                                                 channels=(SMS_CHANNEL,))]
        session.commit()
        reached = session.scalars(
            select(Target.address).join(Delivery, Delivery.target_id == Target.id)
            .where(Delivery.id.in_([each for ids in planned for each in ids]))).all()
    assert reached == [NUMBER]


def test_an_exercise_reaches_no_subscriber_who_is_not_a_test_one(
        session_factory: Factory) -> None:
    _text(session_factory, "DY 朝阳")
    with session_factory() as session:
        message = publish(session, status=Status.EXERCISE, areas=geocoded("110105"))
        assert list(plan_fanout(session, message.id, 100, channels=(SMS_CHANNEL,))) == []


class _SmsStandIn(MemoryChannel):
    """The memory channel under the SMS channel's name: what is handed over, by address."""

    name = SMS_CHANNEL


def test_an_alert_in_flight_skips_a_number_that_stopped(session_factory: Factory) -> None:
    _text(session_factory, "DY 朝阳")
    with session_factory() as session:
        message = publish(session, status=Status.ACTUAL, areas=geocoded("110105"))
        batches = [ids for _, ids in plan_fanout(session, message.id, 100,
                                                 channels=(SMS_CHANNEL,))]
        session.commit()
    _text(session_factory, "TD")
    channel = _SmsStandIn()
    for delivery_ids in batches:
        send_batch(session_factory, channel, delivery_ids)
    assert channel.sink.count() == 0
