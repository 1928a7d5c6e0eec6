"""The WeChat channel against the simulated API on real sockets: tokens, rates, refusals."""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import replace

import pytest

from publisher.cap.model import MsgType
from publisher.channels.base import DeliveryStatus, PermanentChannelError, TransientChannelError
from publisher.channels.registry import create_channel
from publisher.channels.wechat import WechatChannel, client_msg_id
from publisher.channels.wechat_client import UNSUBSCRIBED_REASON
from tests.channels.wechat_support import (
    APPID,
    SECRET,
    TEMPLATE_ID,
    message,
    running_api,
    targets,
    wechat_channel,
)


def _openids(count: int) -> dict[str, str]:
    return {f"oUser{number:04d}": "en-US" if number % 3 == 0 else "zh-CN"
            for number in range(count)}


def test_a_token_that_dies_in_the_middle_of_a_batch_is_renewed_and_nothing_is_lost() -> None:
    readers = _openids(30)
    # The API says a token lives two hours but ends it after 1.5 s; 30 messages
    # at 10 a second take at least 3 s, so a token dies under the batch. A renewed
    # token must outlive one renewal and resend on a loaded machine.
    with running_api(token_lifetime=1.5, advertised_expires_in=7200) as api, \
            wechat_channel(api, rate_per_second=10) as channel:
        results = channel.send(message(), targets(readers))
        received, stats = api.received(), api.stats()
        fetches = channel.client.token_fetches
    assert [result.status for result in results] == [DeliveryStatus.SENT] * 30
    assert sorted(item.openid for item in received) == sorted(readers)
    assert {result.provider_id for result in results} == {str(item.msgid) for item in received}
    assert stats["errcodes"].get("42001", 0) >= 1
    assert fetches == stats["tokens_issued"] >= 2


def test_a_token_the_api_no_longer_knows_is_fetched_again_once() -> None:
    with running_api() as api, wechat_channel(api) as channel:
        channel.send(message(), targets({"oFirst": "zh-CN"}))
        assert api.revoke_tokens() == 1
        [result] = channel.send(message(), targets({"oSecond": "zh-CN"}))
        assert result.status is DeliveryStatus.SENT
        assert api.stats()["errcodes"] == {"40001": 1}
        assert channel.client.token_fetches == 2


def test_the_api_rate_limit_slows_the_batch_down_and_every_message_goes_once() -> None:
    readers = _openids(12)
    with running_api(max_per_second=4) as api, \
            wechat_channel(api, rate_per_second=50, throttle_attempts=50) as channel:
        results = channel.send(message(), targets(readers))
        received, stats = api.received(), api.stats()
    assert Counter(result.status for result in results) == {DeliveryStatus.SENT: 12}
    assert sorted(item.openid for item in received) == sorted(readers)
    assert stats["errcodes"]["45009"] >= 1


def test_a_message_still_rate_limited_after_its_attempts_waits_for_a_retry() -> None:
    with running_api(max_per_second=1) as api, \
            wechat_channel(api, rate_per_second=50, throttle_attempts=1) as channel:
        results = channel.send(message(), targets(_openids(4)))
    statuses = Counter(result.status for result in results)
    assert statuses[DeliveryStatus.QUEUED] >= 1
    assert all("errcode 45009" in (result.error or "") for result in results
               if result.status is DeliveryStatus.QUEUED)


def test_an_unsubscribed_user_fails_for_good_and_is_marked_so() -> None:
    with running_api(unsubscribed=frozenset({"oGone"})) as api, wechat_channel(api) as channel:
        results = channel.send(message(), targets({"oStays": "zh-CN", "oGone": "zh-CN"}))
        received = api.received()
    stays, gone = results
    assert stays.status is DeliveryStatus.SENT
    assert gone.status is DeliveryStatus.FAILED and gone.provider_id is None
    assert gone.retire_target and not stays.retire_target
    assert (gone.error or "").startswith(f"{UNSUBSCRIBED_REASON}: ")
    assert "errcode 43004" in (gone.error or "")
    assert [item.openid for item in received] == ["oStays"]


def test_each_reader_gets_the_template_data_of_their_language() -> None:
    with running_api(template_ids=frozenset({TEMPLATE_ID, "EN-TEMPLATE"})) as api, \
            wechat_channel(api, template_ids={"en-US": "EN-TEMPLATE"}) as channel:
        channel.send(message(), targets({"oZh": "zh-CN", "oEn": "en-US"}))
        by_openid = {item.openid: item for item in api.received()}
    chinese, english = by_openid["oZh"], by_openid["oEn"]
    assert chinese.template_id == TEMPLATE_ID and english.template_id == "EN-TEMPLATE"
    assert chinese.data["first"] == {"value": "【演练】北京市气象台发布暴雨红色预警信号",
                                     "color": "#E60012"}
    assert chinese.data["keyword2"]["value"] == "北京市朝阳区"
    assert chinese.data["remark"]["value"].startswith("防御指南：停止集会")
    assert english.data["first"]["value"].startswith("EXERCISE - Beijing Meteorological")
    assert english.data["keyword4"]["value"] == "1 Jul 17:00 Beijing time"
    assert chinese.client_msg_id == client_msg_id(1)


def test_a_cancel_is_an_all_clear_message() -> None:
    cancel = message()
    cancel = replace(cancel, alert=replace(cancel.alert, msg_type=MsgType.CANCEL),
                     msg_type="Cancel")
    with running_api() as api, wechat_channel(api) as channel:
        [result] = channel.cancel(cancel, targets({"oZh": "zh-CN"}))
        [received] = api.received()
    assert result.status is DeliveryStatus.SENT
    assert received.data["first"]["value"].startswith("【演练】【预警解除】")
    assert received.data["remark"]["value"] == "该预警已解除。"
    assert "keyword4" not in received.data


def test_a_wrong_secret_fails_the_batch_for_good_and_never_shows_the_secret(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with running_api() as api:
        channel = WechatChannel({"appid": APPID, "secret": "not-the-secret-9f8e7d",
                                 "template_id": TEMPLATE_ID, "base_url": api.base_url,
                                 "callback_token": "callback-token-5c4b3a"})
        try:
            with pytest.raises(PermanentChannelError, match="errcode 40125"):
                channel.send(message(), targets({"oZh": "zh-CN"}))
        finally:
            channel.close()
    for text in (repr(channel), repr(channel.wechat_options), repr(channel.client),
                 caplog.text):
        assert "not-the-secret-9f8e7d" not in text
        assert "callback-token-5c4b3a" not in text


def test_an_api_that_cannot_be_reached_is_a_transient_failure() -> None:
    with running_api() as api:
        base_url = api.base_url
    channel = create_channel("wechat", {"appid": APPID, "secret": SECRET,
                                        "template_id": TEMPLATE_ID, "base_url": base_url})
    try:
        with pytest.raises(TransientChannelError, match="not reachable"):
            channel.send(message(), targets({"oZh": "zh-CN"}))
    finally:
        channel.close()


@pytest.mark.parametrize(("options", "field"), [
    ({"secret": SECRET, "template_id": TEMPLATE_ID}, "appid"),
    ({"appid": APPID, "template_id": TEMPLATE_ID}, "secret"),
    ({"appid": APPID, "secret": SECRET}, "template_id"),
    ({"appid": APPID, "secret": SECRET, "template_id": TEMPLATE_ID, "base_url": "ftp://x"},
     "base_url"),
    ({"appid": APPID, "secret": SECRET, "template_id": TEMPLATE_ID, "rate_per_second": 0},
     "rate_per_second"),
])
def test_options_name_the_one_at_fault(options: dict[str, object], field: str) -> None:
    with pytest.raises(PermanentChannelError, match=rf"channel_options\.wechat\.{field}:"):
        WechatChannel(options)
