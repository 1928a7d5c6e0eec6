"""A terminal's connection status over MQTT: online when it connects, offline by its Last Will.

The protocol is docs/protocols/mqtt.md. Pure values, shared by the
platform's listener and the terminal simulator.

A terminal that has a connection of its own registers, in its CONNECT, a
Last Will on ``terminals/{terminal_id}/status``: ``{"state": "offline",
"session": S, "hmac": ...}``. Once connected it publishes ``{"state":
"online", "session": S, "hmac": ...}`` on the same topic. The broker
publishes the will when the connection dies without a DISCONNECT (a cut
cable, a crash, a missed keepalive), so the platform learns within the
keepalive, not a heartbeat interval later.

``S`` names the connection: the time it was opened (ISO 8601 with a UTC
offset). The will is signed before the connection exists and can be copied
off the broker, so the platform takes an ``offline`` only for the
terminal's latest connection it knows of: an old will sent again names an
earlier session and is refused. ``hmac`` is the HMAC-SHA256, keyed like
the acks with the SHA-256 of the terminal's token, of ``status \\n
terminal_id \\n state \\n session``.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from publisher.channels.mqtt_client import Presence, Publication
from publisher.channels.mqtt_protocol import token_key
from publisher.channels.terminal_heartbeat import (
    HEARTBEAT_ROOT,
    HeartbeatError,
    read_hmac,
    read_moment,
    terminal_in_topic,
)

__all__ = ["STATUS_SUBSCRIPTION", "ConnectionState", "TerminalStatus", "status_presence",
           "status_topic"]

STATUS_LEVEL = "status"
STATUS_SUBSCRIPTION = f"{HEARTBEAT_ROOT}/+/{STATUS_LEVEL}"


class ConnectionState(enum.StrEnum):
    ONLINE = "online"
    OFFLINE = "offline"


def status_topic(terminal_id: str) -> str:
    return f"{HEARTBEAT_ROOT}/{terminal_id}/{STATUS_LEVEL}"


@dataclass(frozen=True, slots=True)
class TerminalStatus:
    """One terminal's ``online`` (its birth) or ``offline`` (its will) for one connection."""

    terminal_id: str
    state: ConnectionState
    session: str

    def text(self) -> bytes:
        return "\n".join((STATUS_LEVEL, self.terminal_id, self.state.value,
                          self.session)).encode("utf-8")

    def signature(self, key: bytes) -> str:
        return hmac.new(key, self.text(), hashlib.sha256).hexdigest()

    def body(self, key: bytes) -> dict[str, str]:
        """The JSON object the terminal publishes (or leaves as its will), signed with ``key``."""
        return {"state": self.state.value, "session": self.session,
                "hmac": self.signature(key)}

    @property
    def opened(self) -> datetime:
        """When the connection was opened, as the terminal's clock said."""
        return read_moment(self.session, "session")

    @classmethod
    def read(cls, topic: str, body: Mapping[str, Any]) -> tuple[TerminalStatus, str]:
        """The status on ``topic`` and its HMAC; HeartbeatError names the field at fault."""
        terminal_id = terminal_in_topic(topic, STATUS_LEVEL)
        state = body.get("state")
        if state not in {each.value for each in ConnectionState}:
            raise HeartbeatError("state", f"{state!r} is not online or offline")
        session = body.get("session")
        if not isinstance(session, str) or not session.strip():
            raise HeartbeatError("session", "required: when the connection was opened,"
                                            f" ISO 8601, not {session!r}")
        read_moment(session, "session")
        return cls(terminal_id, ConnectionState(state), session), read_hmac(body)


def status_presence(terminal_id: str, token: str) -> Presence:
    """A new connection's will and ``online``, signed with the terminal's token."""
    session = datetime.now(UTC).isoformat()
    key = token_key(token)

    def publication(state: ConnectionState) -> Publication:
        body = TerminalStatus(terminal_id, state, session).body(key)
        return Publication(status_topic(terminal_id), json.dumps(body).encode())

    return Presence(will=publication(ConnectionState.OFFLINE),
                    connected=publication(ConnectionState.ONLINE))
