"""What the platform and the MQTT terminals agree on: sectors, topics and acks.

The protocol is docs/protocols/mqtt.md. Pure functions and values, shared
by the channel, the ack listener and the terminal simulator, so that the
three cannot drift apart.

- An alert is published on ``{root}/{district}/{sector}/{format}/{key}``:
  ``root`` is ``alerts`` (``alerts-test`` for test terminals), ``format`` is
  ``cap`` (the signed CAP XML) or ``json`` (the compact form), ``key`` the
  message's identifier made one topic level (``topic_key``). Every message
  has a topic of its own, so that several alerts in force in one district
  are each retained; a terminal subscribes to
  ``alerts/{district}/{sector}/cap/+``.
- A terminal's target address is ``{district}/{sector}/{terminal_id}``: the
  topics it listens on, and itself.
- A terminal acks on ``acks/{terminal_id}`` with a JSON object whose
  ``hmac`` is the HMAC-SHA256, keyed with the SHA-256 of the terminal's
  token, of its fields one a line (``ack_text``). The broker lets anyone
  publish, so the token itself never goes over it.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, unquote

__all__ = [
    "ACK_STATES",
    "ACK_SUBSCRIPTION",
    "ALERT_ROOT",
    "CAP_FORMAT",
    "FORMATS",
    "JSON_FORMAT",
    "PUBLISHED_AT_PROPERTY",
    "SECTORS",
    "TEST_ROOT",
    "AckError",
    "TerminalAck",
    "TerminalAddress",
    "ack_key",
    "ack_text",
    "ack_topic",
    "alert_topic",
    "parse_alert_topic",
    "provider_id",
    "sign_ack",
    "subscription",
    "token_key",
    "topic_key",
]

SECTORS = ("school", "hospital", "newsroom", "rail", "water", "power", "gas", "heat", "telecom")
"""What a terminal protects: its alerts' topics name it."""
ALERT_ROOT = "alerts"
TEST_ROOT = "alerts-test"
CAP_FORMAT = "cap"
JSON_FORMAT = "json"
FORMATS = (CAP_FORMAT, JSON_FORMAT)
ACK_ROOT = "acks"
ACK_SUBSCRIPTION = f"{ACK_ROOT}/+"
ACK_STATES = ("received", "cleared", "failed")
"""``received`` an alert, ``cleared`` one a Cancel withdrew, ``failed``: could not act on it."""
PUBLISHED_AT_PROPERTY = "published_at"
"""MQTT 5 user property: when the platform published it (ISO 8601), to measure the latency."""

_DISTRICT = re.compile(r"[0-9]{6}")
_TERMINAL_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_DIGEST_LENGTH = 16
_HMAC_HEX = re.compile(r"[0-9a-f]{64}")


def topic_key(identifier: str) -> str:
    """The identifier as one topic level: ``/``, ``+``, ``#`` and other marks percent-encoded."""
    return quote(identifier, safe=":@")


def alert_topic(district: str, sector: str, form: str, identifier: str, *,
                test: bool = False) -> str:
    root = TEST_ROOT if test else ALERT_ROOT
    return f"{root}/{district}/{sector}/{form}/{topic_key(identifier)}"


def subscription(district: str, sector: str, form: str = CAP_FORMAT, *,
                 test: bool = False) -> str:
    """The topic filter of a terminal's alerts in one format: every message, each retained."""
    return f"{TEST_ROOT if test else ALERT_ROOT}/{district}/{sector}/{form}/+"


def parse_alert_topic(topic: str) -> tuple[str, str, str, str]:
    """``(district, sector, format, identifier)`` of an alert topic; ValueError if it is none."""
    parts = topic.split("/")
    if len(parts) != 5 or parts[0] not in (ALERT_ROOT, TEST_ROOT) or parts[3] not in FORMATS:
        raise ValueError(f"topic: {topic!r} is not {ALERT_ROOT}/DISTRICT/SECTOR/FORMAT/KEY")
    return parts[1], parts[2], parts[3], unquote(parts[4])


def ack_topic(terminal_id: str) -> str:
    return f"{ACK_ROOT}/{terminal_id}"


def provider_id(terminal_id: str, identifier: str) -> str:
    """The provider id of the delivery of message ``identifier`` to a terminal.

    One publication reaches every terminal of its topic, and a terminal acks
    the identifier it got: the terminal and the identifier name its delivery.
    The identifier is hashed to keep the id short whatever its length.
    """
    digest = hashlib.sha256(identifier.encode("utf-8")).hexdigest()[:_DIGEST_LENGTH]
    return f"{terminal_id}:{digest}"


@dataclass(frozen=True, slots=True)
class TerminalAddress:
    """Where a terminal is reached: its district and sector, and its id."""

    district: str
    sector: str
    terminal_id: str

    def __str__(self) -> str:
        return f"{self.district}/{self.sector}/{self.terminal_id}"

    @classmethod
    def parse(cls, address: str) -> TerminalAddress:
        """ValueError naming what is wrong with ``address``."""
        parts = address.split("/")
        if len(parts) != 3:
            raise ValueError(f"address: {address!r} is not DISTRICT/SECTOR/TERMINAL_ID")
        district, sector, terminal_id = parts
        if not _DISTRICT.fullmatch(district):
            raise ValueError(f"address: {district!r} is not a six-digit district code")
        if sector not in SECTORS:
            raise ValueError(f"address: {sector!r} is not one of {', '.join(SECTORS)}")
        if not _TERMINAL_ID.fullmatch(terminal_id):
            raise ValueError(f"address: {terminal_id!r} is not a terminal id")
        return cls(district, sector, terminal_id)


class AckError(ValueError):
    """An ack that cannot be understood; ``field`` names the part that is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def ack_key(token_sha256_hex: str) -> bytes:
    """The key of a terminal's ack HMAC: the SHA-256 of its token, which the platform keeps."""
    return bytes.fromhex(token_sha256_hex)


def token_key(token: str) -> bytes:
    """The same key, as the terminal makes it from its token."""
    return hashlib.sha256(token.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class TerminalAck:
    """A terminal's ack of one message, as it goes over ``acks/{terminal_id}``."""

    terminal_id: str
    identifier: str
    state: str
    at: str
    detail: str = ""

    def text(self) -> bytes:
        return ack_text(self.terminal_id, self.identifier, self.state, self.at, self.detail)

    def body(self, key: bytes) -> dict[str, str]:
        """The JSON object the terminal publishes, signed with ``key``."""
        return {"identifier": self.identifier, "state": self.state, "at": self.at,
                "detail": self.detail, "hmac": sign_ack(key, self.text())}

    @property
    def provider_id(self) -> str:
        return provider_id(self.terminal_id, self.identifier)

    def receipt(self) -> dict[str, str]:
        """What is stored as the receipt: the ack without its HMAC, with the terminal."""
        return {"terminal": self.terminal_id, "identifier": self.identifier,
                "state": self.state, "at": self.at, "detail": self.detail}

    @classmethod
    def read(cls, topic: str, body: Mapping[str, Any]) -> tuple[TerminalAck, str]:
        """The ack on ``topic`` and the HMAC it carries; AckError names the field at fault."""
        root, _, terminal_id = topic.partition("/")
        if root != ACK_ROOT or not _TERMINAL_ID.fullmatch(terminal_id):
            raise AckError("topic", f"{topic!r} is not {ACK_ROOT}/TERMINAL_ID")
        fields: dict[str, str] = {}
        for name in ("identifier", "state", "at", "detail", "hmac"):
            value = body.get(name, "" if name == "detail" else None)
            if not isinstance(value, str) or (name != "detail" and not value.strip()):
                raise AckError(name, f"required: a non-empty string, not {value!r}")
            if name != "detail" and "\n" in value:
                raise AckError(name, "must be one line")
            fields[name] = value
        if fields["state"] not in ACK_STATES:
            raise AckError("state", f"{fields['state']!r} is not one of {', '.join(ACK_STATES)}")
        if not _HMAC_HEX.fullmatch(fields["hmac"]):
            raise AckError("hmac", "must be 64 lowercase hex digits (HMAC-SHA256)")
        ack = cls(terminal_id, fields["identifier"], fields["state"], fields["at"],
                  fields["detail"])
        return ack, fields["hmac"]


def ack_text(terminal_id: str, identifier: str, state: str, at: str, detail: str) -> bytes:
    """What an ack's HMAC covers: its fields one a line, the free-text detail last."""
    return "\n".join((terminal_id, identifier, state, at, detail)).encode("utf-8")


def sign_ack(key: bytes, text: bytes) -> str:
    return hmac.new(key, text, hashlib.sha256).hexdigest()
