"""The SMS channel's REST route against the Twilio simulator: what goes over the wire and back."""

from __future__ import annotations

import time
from typing import Any

import pytest

from publisher.channels.base import DeliveryStatus, PermanentChannelError, TargetRef
from publisher.channels.registry import create_channel
from publisher.channels.sms import SmsChannel
from publisher.channels.sms_routes import read_routes
from publisher.channels.sms_twilio import parse_status_callback
from publisher.channels.twilio_options import RestRouteSettings
from publisher.channels.twilio_signature import signature_holds, twilio_signature
from publisher.sim.twilio import TwilioFault, num_segments
from tests.channels.twilio_support import AUTH_TOKEN, SENDER, rest_route, running_twilio
from tests.channels.wechat_support import message

NUMBERS = [f"+86138000007{index:02d}" for index in range(20)]


def _channel(*routes: dict[str, Any], **options: Any) -> SmsChannel:
    created = create_channel("sms", {"routes": list(routes), **options})
    assert isinstance(created, SmsChannel)
    return created


def _targets(numbers: list[str], language: str = "en-US") -> list[TargetRef]:
    return [TargetRef(index, index, number, language, False)
            for index, number in enumerate(numbers, start=1)]


def test_a_batch_goes_out_whole_with_the_templates_text_and_each_sid_as_provider_id() -> None:
    with running_twilio(callback_delay=60) as api:
        channel = _channel(rest_route("rest", 0, api, public_url="https://alerts.example"))
        try:
            results = channel.send(message(), _targets(NUMBERS[:3], "zh-CN"))
        finally:
            channel.close()
        taken, answered = api.taken(), api.answered()
    assert [result.status for result in results] == [DeliveryStatus.SENT] * 3
    by_number = {text.to: text for text in taken}
    assert set(by_number) == set(NUMBERS[:3])
    for result, number in zip(results, NUMBERS[:3], strict=True):
        text = by_number[number]
        assert result.provider_id == f"rest:{text.sid}"
        assert text.sid.startswith("SM") and len(text.sid) == 34
        assert result.num_segments == num_segments(text.body) and result.error is None
        assert text.body.startswith(channel.signature) and text.body.endswith("回复TD退订")
        assert text.sender == SENDER
    assert answered == {201: 3}


def test_throttled_texts_back_off_and_all_go_out_once() -> None:
    with running_twilio(max_per_second=8, callback_delay=60) as api:
        channel = _channel(rest_route("rest", 0, api, attempts=12, backoff=0.1))
        try:
            results = channel.send(message(), _targets(NUMBERS))
        finally:
            channel.close()
        taken, answered = api.taken(), api.answered()
    assert [result.status for result in results] == [DeliveryStatus.SENT] * len(NUMBERS)
    assert answered[429] > 0
    assert sorted(text.to for text in taken) == sorted(NUMBERS)


def test_a_throttle_that_lasts_leaves_the_text_for_later_not_failed() -> None:
    with running_twilio(max_per_second=1, callback_delay=60) as api:
        channel = _channel(rest_route("rest", 0, api, attempts=2, backoff=0.01))
        try:
            results = channel.send(message(), _targets(NUMBERS[:6]))
        finally:
            channel.close()
    later = [result for result in results if result.status is DeliveryStatus.QUEUED]
    assert later and all("error 20429" in (result.error or "") for result in later)


@pytest.mark.parametrize(("code", "words"), [
    (21610, "the recipient replied STOP"), (21614, "To is not a mobile number"),
    (30007, "message filtered")])
def test_a_permanent_error_code_fails_the_target_with_its_reason(code: int, words: str) -> None:
    refused, fine = NUMBERS[0], NUMBERS[1]
    with running_twilio(refusals={refused: code}, callback_delay=60) as api:
        channel = _channel(rest_route("rest", 0, api))
        try:
            first, second = channel.send(message(), _targets([refused, fine]))
        finally:
            channel.close()
    assert first.status is DeliveryStatus.FAILED and first.provider_id is None
    assert f"error {code} ({words})" in (first.error or "")
    assert refused.removeprefix("+") not in (first.error or "")
    assert first.retire_target is (code == 21610)
    assert second.status is DeliveryStatus.SENT


def test_an_invalid_number_is_21211() -> None:
    with running_twilio(callback_delay=60) as api:
        channel = _channel(rest_route("rest", 0, api))
        try:
            [result] = channel.send(message(), _targets(["12345"]))
        finally:
            channel.close()
    assert result.status is DeliveryStatus.FAILED
    assert "error 21211 (invalid To number)" in (result.error or "")


def test_a_failing_route_is_taken_out_and_comes_back_once_its_account_answers() -> None:
    with running_twilio(callback_delay=60) as first, running_twilio(callback_delay=60) as second:
        channel = _channel(rest_route("first", 0, first, attempts=1, health_interval=0.1),
                           rest_route("second", 1, second))
        try:
            first.set_fault(TwilioFault.ERROR)
            down = channel.send(message(), _targets(NUMBERS[:6]))
            assert {result.status for result in down} == {DeliveryStatus.QUEUED}
            over_second = channel.send(message(), _targets(NUMBERS[:6]))
            assert {result.status for result in over_second} == {DeliveryStatus.SENT}
            assert all(result.provider_id.startswith("second:")
                       for result in over_second if result.provider_id)
            assert all("failover: sent over route second; passed over first (rest down:"
                       in (result.error or "") for result in over_second)
            first.set_fault(TwilioFault.NONE)
            deadline = time.monotonic() + 30
            while channel.routes.choose(1.0).route.name != "first":
                assert time.monotonic() < deadline, "the first route never came back"
                time.sleep(0.05)
            back = channel.send(message(), _targets(NUMBERS[6:8]))
        finally:
            channel.close()
        assert {result.provider_id.split(":")[0] for result in back if result.provider_id} \
            == {"first"}
        # Nothing refused over the first route went out over the second twice.
        assert sorted(text.to for text in second.taken()) == sorted(NUMBERS[:6])
        assert sorted(text.to for text in first.taken()) == sorted(NUMBERS[6:8])
        [failover] = [channel.failovers.waiting.get_nowait()]
        assert failover.route == "second" and failover.deliveries == 6


def test_prefix_rules_split_a_batch_between_routes() -> None:
    with running_twilio(callback_delay=60) as china, running_twilio(callback_delay=60) as world:
        channel = _channel(rest_route("china", 0, china, prefixes=["+86"]),
                           rest_route("world", 1, world, prefixes=["+1"]))
        try:
            results = channel.send(message(), _targets(["+8613800000001", "+12025550199",
                                                        "+447700900123"]))
        finally:
            channel.close()
        assert [result.status for result in results] == [
            DeliveryStatus.FAILED, DeliveryStatus.SENT, DeliveryStatus.SENT]
        assert "no route carries this number" in (results[0].error or "")
        assert [text.to for text in china.taken()] == ["+8613800000001"]
        assert [text.to for text in world.taken()] == ["+12025550199"]


def test_a_confirmation_goes_over_the_rest_route_signed_in_chinese() -> None:
    with running_twilio(callback_delay=60) as api:
        channel = _channel(rest_route("rest", 0, api))
        try:
            [identifier] = channel.send_reply(NUMBERS[0], "您已订阅朝阳区预警信息。", "zh-CN")
        finally:
            channel.close()
        [text] = api.taken()
    assert identifier == f"rest:{text.sid}"
    assert text.body == f"{channel.signature}您已订阅朝阳区预警信息。"


def test_signatures_hold_only_for_the_token_url_and_fields_signed() -> None:
    url = "https://alerts.example/webhooks/twilio/status?route=rest"
    fields = [("MessageSid", "SM" + "a" * 32), ("MessageStatus", "delivered")]
    signed = twilio_signature(AUTH_TOKEN, url, fields)
    assert signature_holds(AUTH_TOKEN, url, reversed(fields), signed)
    assert not signature_holds("another-token", url, fields, signed)
    assert not signature_holds(AUTH_TOKEN, url.replace("https", "http"), fields, signed)
    assert not signature_holds(AUTH_TOKEN, url, [*fields[:1], ("MessageStatus", "failed")],
                               signed)
    assert not signature_holds(AUTH_TOKEN, url, fields, "")


@pytest.mark.parametrize(("status", "expected"), [
    ("queued", DeliveryStatus.SENT), ("sent", DeliveryStatus.SENT),
    ("delivered", DeliveryStatus.DELIVERED), ("read", DeliveryStatus.DELIVERED),
    ("undelivered", DeliveryStatus.FAILED), ("failed", DeliveryStatus.FAILED)])
def test_callback_statuses_map_onto_delivery_statuses(status: str,
                                                      expected: DeliveryStatus) -> None:
    parsed = parse_status_callback({"route": "rest", "MessageSid": "SM" + "b" * 32,
                                    "MessageStatus": status, "ErrorCode": "30003"}, ["rest"])
    assert parsed.status is expected
    assert parsed.provider_id == "rest:SM" + "b" * 32


def test_route_options_are_checked_and_the_token_never_shown() -> None:
    table = {"name": "rest", "priority": 0, "kind": "twilio", "account_sid": "AC1",
             "auth_token": "very-secret-token", "from": SENDER}
    [route] = read_routes({"routes": [table]})
    assert isinstance(route, RestRouteSettings)
    assert "very-secret-token" not in repr(route)
    with pytest.raises(PermanentChannelError, match=r"routes\[0\]\.from: required"):
        read_routes({"routes": [{**table, "from": ""}]})
    with pytest.raises(PermanentChannelError, match=r"routes\[0\]\.kind: 'http'"):
        read_routes({"routes": [{**table, "kind": "http"}]})
    with pytest.raises(PermanentChannelError, match=r"routes\[0\]\.prefixes"):
        read_routes({"routes": [{**table, "prefixes": ["86"]}]})


def test_the_simulator_refuses_a_wrong_token() -> None:
    with running_twilio(callback_delay=60) as api:
        channel = _channel({**rest_route("rest", 0, api), "auth_token": "wrong", "attempts": 1})
        try:
            [result] = channel.send(message(), _targets(NUMBERS[:1]))
        finally:
            channel.close()
        assert result.status is DeliveryStatus.QUEUED
        assert "HTTP 401, error 20003" in (result.error or "")
        assert api.taken() == []


