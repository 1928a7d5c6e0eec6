"""The terminal heartbeat's wire form: what it signs, and each way a heartbeat is not one."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

import pytest

from publisher.channels.mqtt_protocol import TerminalAck, token_key
from publisher.channels.terminal_heartbeat import (
    HEARTBEAT_SUBSCRIPTION,
    HeartbeatError,
    TerminalHeartbeat,
    heartbeat_topic,
)

AT = "2026-11-29T08:00:30.118+08:00"
KEY = token_key("a-terminal-token-of-some-length")


def test_the_hmac_covers_the_word_heartbeat_the_terminal_and_its_clock() -> None:
    body = TerminalHeartbeat("water-110105-01", AT).body(KEY)
    expected = hmac.new(KEY, f"heartbeat\nwater-110105-01\n{AT}".encode(),
                        hashlib.sha256).hexdigest()
    assert body == {"at": AT, "hmac": expected}
    assert heartbeat_topic("water-110105-01") == "terminals/water-110105-01/heartbeat"
    assert HEARTBEAT_SUBSCRIPTION == "terminals/+/heartbeat"
    read, signature = TerminalHeartbeat.read(heartbeat_topic("water-110105-01"), body)
    assert (read, signature) == (TerminalHeartbeat("water-110105-01", AT), expected)


def test_no_ack_signature_stands_for_a_heartbeat() -> None:
    ack = TerminalAck("heartbeat", "water-110105-01", "received", AT)
    heartbeat = TerminalHeartbeat("water-110105-01", AT)
    assert ack.text() != heartbeat.text()
    assert not heartbeat.text().startswith(ack.text())


GOOD = {"at": AT, "hmac": "0" * 64}


@pytest.mark.parametrize(("topic", "body", "field", "reason"), [
    ("acks/water-1", GOOD, "topic", "is not terminals/TERMINAL_ID/heartbeat"),
    ("terminals/water-1/ack", GOOD, "topic", "is not terminals/TERMINAL_ID/heartbeat"),
    ("terminals/-water/heartbeat", GOOD, "topic", "is not terminals/TERMINAL_ID/heartbeat"),
    ("terminals/water-1/heartbeat", {"hmac": "0" * 64}, "at", "required"),
    ("terminals/water-1/heartbeat", {**GOOD, "at": "yesterday"}, "at",
     "is not an ISO 8601 time"),
    ("terminals/water-1/heartbeat", {**GOOD, "at": "2026-11-29T08:00:30"}, "at",
     "names no UTC offset"),
    ("terminals/water-1/heartbeat", {"at": AT}, "hmac", "64 lowercase hex digits"),
    ("terminals/water-1/heartbeat", {**GOOD, "hmac": "A" * 64}, "hmac",
     "64 lowercase hex digits"),
])
def test_what_is_not_a_heartbeat_is_refused_naming_the_field(
        topic: str, body: dict[str, Any], field: str, reason: str) -> None:
    with pytest.raises(HeartbeatError) as refused:
        TerminalHeartbeat.read(topic, body)
    assert refused.value.field == field
    assert reason in refused.value.reason
