"""``SmsChannel.send_reply``: a confirmation to one number, as the simulator receives it."""

from __future__ import annotations

import socket
from datetime import UTC, datetime

import pytest

from publisher.cap.model import Status
from publisher.channels.base import (
    OutgoingMessage,
    PermanentChannelError,
    TransientChannelError,
)
from publisher.channels.sms_encoding import DATA_CODING_GSM7, DATA_CODING_UCS2
from publisher.channels.sms_text import DEFAULT_SIGNATURE
from publisher.sample_alert import rainstorm_red_warning
from publisher.sim.smsc import FaultMode
from publisher.sim.smsc_state import ReassembledMessage
from tests.integration.sms_support import (
    SOURCE_ADDR,
    StartSmsc,
    bound,
    eventually,
    single_route,
    sms_channel,
    smsc_factory,
)

__all__ = ["smsc_factory"]

NUMBER = "+8613800000401"
SUBSCRIBED = "您已订阅朝阳区预警信息。回复TD退订，回复EN接收英文短信。"


def _only_message(messages: list[ReassembledMessage]) -> ReassembledMessage:
    [message] = messages
    assert message.complete and not message.duplicates
    assert message.destination_addr == NUMBER.removeprefix("+")
    return message


def test_a_chinese_reply_carries_the_signature_and_returns_its_parts_ids(
        smsc_factory: StartSmsc) -> None:
    smsc = smsc_factory()
    channel = sms_channel(single_route(smsc.port))
    try:
        identifiers = channel.send_reply(NUMBER, SUBSCRIBED * 2, "zh-CN")
    finally:
        channel.close()

    received = _only_message(smsc.part_log().reassembled_messages())
    assert received.text == DEFAULT_SIGNATURE + SUBSCRIBED * 2
    assert received.parts[0].data_coding == DATA_CODING_UCS2
    assert {part.source_addr for part in received.parts} == {SOURCE_ADDR}
    by_sequence = sorted(received.parts, key=lambda part: part.sequence or 1)
    assert identifiers == [f"primary:{int(part.message_id, 16)}" for part in by_sequence]
    assert len(identifiers) == received.total == 2


def test_an_english_reply_goes_as_written_in_the_gsm_alphabet(smsc_factory: StartSmsc) -> None:
    smsc = smsc_factory()
    channel = sms_channel(single_route(smsc.port))
    try:
        [identifier] = channel.send_reply(NUMBER, "You are subscribed to Chaoyang.", "en-US")
    finally:
        channel.close()

    [part] = _only_message(smsc.part_log().reassembled_messages()).parts
    assert (part.data_coding, part.short_message) == (DATA_CODING_GSM7,
                                                      b"You are subscribed to Chaoyang.")
    assert identifier == f"primary:{int(part.message_id, 16)}"


def test_the_configured_signature_signs_replies_and_alerts_once(smsc_factory: StartSmsc) -> None:
    smsc = smsc_factory()
    signature = "【朝阳区气象台】"
    channel = sms_channel(single_route(smsc.port, signature=signature))
    alert = rainstorm_red_warning(datetime(2026, 7, 1, 3, 0, tzinfo=UTC), 1, status=Status.ACTUAL)
    try:
        channel.send_reply(NUMBER, signature + SUBSCRIBED, "zh-CN")
        rendered = channel.render(OutgoingMessage(1, alert, b"", "Alert", "Actual"), "zh-CN")
    finally:
        channel.close()

    assert _only_message(smsc.part_log().reassembled_messages()).text == signature + SUBSCRIBED
    assert rendered.startswith(signature) and DEFAULT_SIGNATURE not in rendered


def test_a_reply_the_smsc_refuses_for_good_is_a_permanent_error(
        smsc_factory: StartSmsc) -> None:
    smsc = smsc_factory()
    channel = sms_channel(single_route(smsc.port))
    try:
        eventually(lambda: bound(channel, "primary"), "the bind is bound")
        smsc.set_fault(FaultMode.GENERIC_NACK)
        with pytest.raises(PermanentChannelError, match="refused by the SMSC"):
            channel.send_reply(NUMBER, SUBSCRIBED, "zh-CN")
    finally:
        channel.close()
    assert smsc.part_log().parts() == []


def test_a_reply_without_a_bound_bind_is_a_transient_error_naming_the_route() -> None:
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port = unused.getsockname()[1]
    channel = sms_channel(single_route(port, bind_timeout=0.3))
    try:
        with pytest.raises(TransientChannelError, match=r"primary \(primary-0 "):
            channel.send_reply(NUMBER, SUBSCRIBED, "zh-CN")
    finally:
        channel.close()
