"""A terminal's heartbeat over MQTT: its topic, its payload and the HMAC that proves it.

The protocol is docs/protocols/mqtt.md. Pure values, shared by the
platform's heartbeat listener and the terminal simulator.

A terminal publishes on ``terminals/{terminal_id}/heartbeat``, never
retained, a JSON object ``{"at": ..., "hmac": ...}``: ``at`` is its clock
(ISO 8601 with a UTC offset), ``hmac`` the HMAC-SHA256, keyed like its acks
with the SHA-256 of its token (``mqtt_protocol.token_key``), of
``heartbeat \\n terminal_id \\n at``. The first line keeps a heartbeat's
HMAC from ever standing for an ack's, and ``at`` makes each heartbeat
different, so that one copied off the broker can be told from a new one.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = [
    "HEARTBEAT_SUBSCRIPTION",
    "HeartbeatError",
    "TerminalHeartbeat",
    "heartbeat_text",
    "heartbeat_topic",
    "read_hmac",
    "read_moment",
    "terminal_in_topic",
]

HEARTBEAT_ROOT = "terminals"
HEARTBEAT_LEVEL = "heartbeat"
HEARTBEAT_SUBSCRIPTION = f"{HEARTBEAT_ROOT}/+/{HEARTBEAT_LEVEL}"
_TERMINAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HMAC_HEX = re.compile(r"[0-9a-f]{64}")


class HeartbeatError(ValueError):
    """A heartbeat that cannot be understood; ``field`` names the part that is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def heartbeat_topic(terminal_id: str) -> str:
    return f"{HEARTBEAT_ROOT}/{terminal_id}/{HEARTBEAT_LEVEL}"


def heartbeat_text(terminal_id: str, at: str) -> bytes:
    """What a heartbeat's HMAC covers: the word ``heartbeat``, the terminal, its clock."""
    return "\n".join((HEARTBEAT_LEVEL, terminal_id, at)).encode("utf-8")


def terminal_in_topic(topic: str, level: str) -> str:
    """The terminal id of ``terminals/{terminal_id}/{level}``; HeartbeatError names the topic."""
    parts = topic.split("/")
    if (len(parts) != 3 or parts[0] != HEARTBEAT_ROOT or parts[2] != level
            or not _TERMINAL_ID.fullmatch(parts[1])):
        raise HeartbeatError("topic", f"{topic!r} is not {HEARTBEAT_ROOT}/TERMINAL_ID/{level}")
    return parts[1]


def read_moment(text: str, field: str) -> datetime:
    """``text`` as a time with a UTC offset; HeartbeatError names ``field``."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise HeartbeatError(field, f"{text!r} is not an ISO 8601 time") from None
    if moment.utcoffset() is None:
        raise HeartbeatError(field, f"{text!r} names no UTC offset")
    return moment


def read_hmac(body: Mapping[str, Any]) -> str:
    signature = body.get("hmac")
    if not isinstance(signature, str) or not _HMAC_HEX.fullmatch(signature):
        raise HeartbeatError("hmac", "must be 64 lowercase hex digits (HMAC-SHA256)")
    return signature


@dataclass(frozen=True, slots=True)
class TerminalHeartbeat:
    """One heartbeat of one terminal, as it goes over ``terminals/{terminal_id}/heartbeat``."""

    terminal_id: str
    at: str

    def text(self) -> bytes:
        return heartbeat_text(self.terminal_id, self.at)

    def signature(self, key: bytes) -> str:
        return hmac.new(key, self.text(), hashlib.sha256).hexdigest()

    def body(self, key: bytes) -> dict[str, str]:
        """The JSON object the terminal publishes, signed with ``key``."""
        return {"at": self.at, "hmac": self.signature(key)}

    @property
    def moment(self) -> datetime:
        return read_moment(self.at, "at")

    @classmethod
    def read(cls, topic: str, body: Mapping[str, Any]) -> tuple[TerminalHeartbeat, str]:
        """The heartbeat on ``topic`` and its HMAC; HeartbeatError names the field at fault."""
        terminal_id = terminal_in_topic(topic, HEARTBEAT_LEVEL)
        at = body.get("at")
        if not isinstance(at, str) or not at.strip():
            raise HeartbeatError("at", f"required: the terminal's clock, ISO 8601, not {at!r}")
        read_moment(at, "at")
        return cls(terminal_id, at), read_hmac(body)
