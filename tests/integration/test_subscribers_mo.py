"""Keywords from phones change subscriptions, and the SMS targets fan-out reaches follow them."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.model import Area, Status
from publisher.channels.memory import MemoryChannel
from publisher.services.delivery import plan_fanout, send_batch
from publisher.services.errors import InvalidInput
from publisher.services.subscriber_commands import Reply, handle_mo
from publisher.services.subscribers import MAX_DISTRICTS, SMS_CHANNEL
from publisher.store.models import ContactPoint, Delivery, Subscriber, Target
from tests.integration.fanout_support import CHAOYANG, HAIDIAN, geocoded, publish
from tests.integration.subscriber_support import DISTRICTS, sms_targets

NUMBER = "+8613800138000"
TONGZHOU = "110112"
CITY = "110000"
Factory = sessionmaker[Session]


def _text(factory: Factory, text: str, msisdn: str = "13800138000") -> Reply:
    with factory() as session:
        reply = handle_mo(session, msisdn, text, districts=DISTRICTS)
        session.commit()
    return reply


def _followed(factory: Factory, number: str = NUMBER) -> str:
    """The districts the number's target follows, ``""`` when it follows none or is inactive."""
    found = [followed for address, followed, _, _, active in sms_targets(factory)
             if address == number and active]
    return found[0] if found else ""


def _reached(factory: Factory, areas: tuple[Area, ...]) -> list[str]:
    """The numbers an Actual message for ``areas`` is planned to, one entry per delivery."""
    with factory() as session:
        message = publish(session, status=Status.ACTUAL, areas=areas)
        planned = [each for _, ids in plan_fanout(session, message.id, 100,
                                                  channels=(SMS_CHANNEL,)) for each in ids]
        session.commit()
        return sorted(session.scalars(
            select(Target.address).join(Delivery, Delivery.target_id == Target.id)
            .where(Delivery.id.in_(planned))))


def test_subscribing_makes_one_sms_target_in_e164(session_factory: Factory) -> None:
    reply = _text(session_factory, "DY 朝阳", msisdn="+86 138 0013 8000")
    assert reply.language == "zh-CN" and "朝阳区" in reply.text and "TD" in reply.text
    assert sms_targets(session_factory) == [(NUMBER, CHAOYANG, "zh-CN", False, True)]
    with session_factory() as session:
        subscriber = session.scalars(select(Subscriber)).one()
        assert subscriber.active and subscriber.subscribed_at is not None
        assert [point.value for point in subscriber.contact_points] == [NUMBER]
        assert [entry.district_code for entry in subscriber.districts] == [CHAOYANG]
        # A device's one district; a number's are the districts it follows.
        assert session.scalars(select(Target.district_code)).all() == [None]


def test_every_way_of_writing_a_number_is_one_subscriber(session_factory: Factory) -> None:
    for msisdn in ("13800138000", "+86 138 0013 8000", "008613800138000"):
        _text(session_factory, "DY 110105", msisdn=msisdn)
    with session_factory() as session:
        assert session.scalars(select(ContactPoint.value)).all() == [NUMBER]
    assert len(sms_targets(session_factory)) == 1


def test_an_english_keyword_makes_an_english_subscriber(session_factory: Factory) -> None:
    reply = _text(session_factory, "sub chaoyang")
    assert reply == Reply(reply.text, "en-US") and "Chaoyang" in reply.text
    assert sms_targets(session_factory) == [(NUMBER, CHAOYANG, "en-US", False, True)]


def test_subscribing_to_another_district_adds_it(session_factory: Factory) -> None:
    _text(session_factory, "DY 朝阳")
    reply = _text(session_factory, "DY 海淀")
    assert reply.text.startswith("您已增加订阅海淀区预警信息，现订阅：朝阳区、海淀区。")
    assert sms_targets(session_factory) == [(NUMBER, f"{CHAOYANG}|{HAIDIAN}", "zh-CN", False, True)]
    english = _text(session_factory, "SUB Tongzhou", msisdn="13900139000")
    assert english.text.startswith("You are subscribed to alerts for Tongzhou.")
    assert "Chaoyang, Tongzhou" in _text(session_factory, "SUB 110105", msisdn="13900139000").text


def test_subscribing_to_a_district_followed_already_changes_nothing(
        session_factory: Factory) -> None:
    _text(session_factory, "DY 朝阳")
    _text(session_factory, "DY 海淀")
    reply = _text(session_factory, "DY 110105")
    assert reply.text == "您已订阅朝阳区预警信息，现订阅：朝阳区、海淀区。"
    assert _followed(session_factory) == f"{CHAOYANG}|{HAIDIAN}"


def test_a_number_follows_at_most_five_districts(session_factory: Factory) -> None:
    five = ["东城", "西城", "朝阳", "丰台", "石景山"]
    assert len(five) == MAX_DISTRICTS
    for name in five:
        _text(session_factory, f"DY {name}")
    followed = _followed(session_factory)
    reply = _text(session_factory, "DY 海淀")
    assert reply.text == ("您已订阅5个区县：东城区、西城区、朝阳区、丰台区、石景山区，已达上限。"
                          "请先回复TD加区名退订其中一个，如TD东城区。")
    assert _followed(session_factory) == followed and HAIDIAN not in followed
    _text(session_factory, "TD 丰台")
    assert "海淀区" in _text(session_factory, "DY 海淀").text
    assert HAIDIAN in _followed(session_factory)


def test_leaving_one_district_keeps_the_others(session_factory: Factory) -> None:
    _text(session_factory, "DY 朝阳")
    _text(session_factory, "DY 海淀")
    reply = _text(session_factory, "TD 朝阳")
    assert reply.text == "您已退订朝阳区预警信息，仍接收：海淀区。回复TD退订全部。"
    assert _followed(session_factory) == HAIDIAN
    assert _reached(session_factory, geocoded(CHAOYANG)) == []
    assert _reached(session_factory, geocoded(HAIDIAN)) == [NUMBER]


def test_leaving_by_code_in_english(session_factory: Factory) -> None:
    _text(session_factory, "SUB Chaoyang")
    _text(session_factory, "SUB Haidian")
    reply = _text(session_factory, "STOP 110108")
    assert reply.text.startswith("You no longer receive alerts for Haidian; you still follow"
                                 " Chaoyang.")
    assert _followed(session_factory) == CHAOYANG


def test_leaving_a_district_not_followed_says_which_are(session_factory: Factory) -> None:
    _text(session_factory, "DY 朝阳")
    reply = _text(session_factory, "TD 海淀")
    assert reply.text == "您没有订阅海淀区预警信息，现订阅：朝阳区。"
    assert _followed(session_factory) == CHAOYANG
    assert "没有订阅" in _text(session_factory, "TD 海淀", msisdn="13900139000").text


def test_leaving_the_last_district_unsubscribes(session_factory: Factory) -> None:
    _text(session_factory, "DY 朝阳")
    reply = _text(session_factory, "TD朝阳")
    assert "退订全部" in reply.text
    assert sms_targets(session_factory) == [(NUMBER, "", "zh-CN", False, False)]
    with session_factory() as session:
        subscriber = session.scalars(select(Subscriber)).one()
        assert not subscriber.active and subscriber.unsubscribed_at is not None


def test_a_misspelt_district_to_leave_suggests_and_changes_nothing(
        session_factory: Factory) -> None:
    _text(session_factory, "DY 朝阳")
    reply = _text(session_factory, "TD 朝杨")
    assert "朝阳区 (110105)" in reply.text and "回复TD退订全部" in reply.text
    assert _followed(session_factory) == CHAOYANG


@pytest.mark.parametrize("text", ["TD", "STOP", "TD 全部", "STOP ALL", "stop please"])
def test_unsubscribing_leaves_every_district(session_factory: Factory, text: str) -> None:
    _text(session_factory, "DY 朝阳")
    _text(session_factory, "DY 海淀")
    reply = _text(session_factory, text)
    assert "退订全部" in reply.text
    assert sms_targets(session_factory) == [(NUMBER, "", "zh-CN", False, False)]
    with session_factory() as session:
        subscriber = session.scalars(select(Subscriber)).one()
        assert not subscriber.active and subscriber.unsubscribed_at is not None
        assert subscriber.districts == []
    assert "没有订阅" in _text(session_factory, "TD").text


def test_subscribing_again_after_stopping_reactivates(session_factory: Factory) -> None:
    _text(session_factory, "SUB Haidian")
    _text(session_factory, "SUB Chaoyang")
    _text(session_factory, "STOP")
    reply = _text(session_factory, "SUB Haidian")
    assert reply.text.startswith("You are subscribed to alerts for Haidian.")
    assert sms_targets(session_factory) == [(NUMBER, HAIDIAN, "en-US", False, True)]
    with session_factory() as session:
        assert session.scalars(select(Subscriber.unsubscribed_at)).one() is None


def test_language_changes_reach_the_target_and_the_reply(session_factory: Factory) -> None:
    _text(session_factory, "DY 朝阳")
    english = _text(session_factory, "EN")
    assert english.language == "en-US" and "English" in english.text
    assert sms_targets(session_factory) == [(NUMBER, CHAOYANG, "en-US", False, True)]
    # Replies now come in English, even to a Chinese keyword.
    assert _text(session_factory, "DY 海淀").language == "en-US"
    chinese = _text(session_factory, "LANG ZH")
    assert chinese.language == "zh-CN" and "中文" in chinese.text
    assert sms_targets(session_factory) == [(NUMBER, f"{CHAOYANG}|{HAIDIAN}", "zh-CN", False, True)]


def test_a_language_before_any_district_is_remembered(session_factory: Factory) -> None:
    _text(session_factory, "EN")
    assert sms_targets(session_factory) == []
    assert _text(session_factory, "DY 朝阳").language == "en-US"
    assert sms_targets(session_factory) == [(NUMBER, CHAOYANG, "en-US", False, True)]


def test_an_unknown_district_changes_nothing_and_suggests(session_factory: Factory) -> None:
    _text(session_factory, "DY 朝阳")
    reply = _text(session_factory, "DY 朝杨")
    assert "朝杨" in reply.text and "朝阳区 (110105)" in reply.text
    assert sms_targets(session_factory) == [(NUMBER, CHAOYANG, "zh-CN", False, True)]
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
    assert _reached(session_factory, geocoded(CHAOYANG)) == [NUMBER]


def test_an_alert_naming_two_followed_districts_reaches_the_number_once(
        session_factory: Factory) -> None:
    _text(session_factory, "DY 朝阳")
    _text(session_factory, "DY 海淀")
    _text(session_factory, "DY 海淀", msisdn="13900139000")
    assert _reached(session_factory, (*geocoded(CHAOYANG), *geocoded(HAIDIAN))) == [
        NUMBER, "+8613900139000"]
    assert _reached(session_factory, geocoded(TONGZHOU)) == []


def test_the_whole_city_is_followed_with_110000(session_factory: Factory) -> None:
    reply = _text(session_factory, "DY 北京")
    assert "北京市" in reply.text
    _text(session_factory, "DY 朝阳")
    _text(session_factory, "DY 朝阳", msisdn="13900139000")
    assert _followed(session_factory) == f"{CITY}|{CHAOYANG}"
    # Any district's alert reaches the whole city's subscriber, once even
    # when it names a district the number also follows; a city-wide alert
    # reaches every district's subscribers.
    assert _reached(session_factory, geocoded(TONGZHOU)) == [NUMBER]
    assert _reached(session_factory, geocoded(CHAOYANG)) == [NUMBER, "+8613900139000"]
    assert _reached(session_factory, geocoded(CITY)) == [NUMBER, "+8613900139000"]
    assert _reached(session_factory, geocoded("120101")) == []


def test_an_exercise_reaches_no_subscriber_who_is_not_a_test_one(
        session_factory: Factory) -> None:
    _text(session_factory, "DY 朝阳")
    with session_factory() as session:
        message = publish(session, status=Status.EXERCISE, areas=geocoded(CHAOYANG))
        assert list(plan_fanout(session, message.id, 100, channels=(SMS_CHANNEL,))) == []


class _SmsStandIn(MemoryChannel):
    """The memory channel under the SMS channel's name: what is handed over, by address."""

    name = SMS_CHANNEL


def test_an_alert_in_flight_skips_a_number_that_stopped(session_factory: Factory) -> None:
    _text(session_factory, "DY 朝阳")
    _text(session_factory, "DY 海淀")
    with session_factory() as session:
        message = publish(session, status=Status.ACTUAL, areas=geocoded(CHAOYANG))
        batches = [ids for _, ids in plan_fanout(session, message.id, 100,
                                                 channels=(SMS_CHANNEL,))]
        session.commit()
    assert batches
    _text(session_factory, "TD")
    channel = _SmsStandIn()
    for delivery_ids in batches:
        send_batch(session_factory, channel, delivery_ids)
    assert channel.sink.count() == 0


def test_a_number_following_both_districts_of_an_alert_is_sent_it_once(
        session_factory: Factory) -> None:
    _text(session_factory, "DY 朝阳")
    _text(session_factory, "DY 海淀")
    with session_factory() as session:
        message = publish(session, status=Status.ACTUAL,
                          areas=(*geocoded(CHAOYANG), *geocoded(HAIDIAN)))
        batches = [ids for _, ids in plan_fanout(session, message.id, 100,
                                                 channels=(SMS_CHANNEL,))]
        session.commit()
    channel = _SmsStandIn()
    for delivery_ids in batches:
        send_batch(session_factory, channel, delivery_ids)
    assert [entry.address for entry in channel.sink.entries()] == [NUMBER]
