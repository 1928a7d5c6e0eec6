"""Terminals' connection statuses over the real Mosquitto, recorded on SQLite and PostgreSQL:
a terminal with a connection of its own is online once connected, offline as soon as the broker
publishes its Last Will, and online again when it reconnects; a forged status, or a will sent
again after the terminal reconnected, changes nothing."""

from __future__ import annotations

import json
import socket
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.certificates import load_pem_certificates
from publisher.channels.mqtt_client import BrokerOptions, MqttConnection, Publication
from publisher.channels.mqtt_protocol import token_key
from publisher.channels.terminal_status import (
    ConnectionState,
    TerminalStatus,
    status_presence,
    status_topic,
)
from publisher.services.device_health import Health, health_by_kind
from publisher.services.devices import find_device
from publisher.services.terminal_heartbeat_listener import TerminalHeartbeatListener
from publisher.services.terminal_statuses import SignedStatus, record_terminal_statuses
from publisher.sim.terminal import SimulatedTerminal, TerminalSimConfig, TerminalSimulator
from publisher.store.models import DeviceKind
from tests.channels.mqtt_support import broker, eventually
from tests.integration.fanout_support import signing_identity
from tests.integration.heartbeat_support import (
    LISTENER,
    health_of,
    listener,
    publisher,
    refusals_logged,
    registered,
    unique_terminals,
)

__all__ = ["broker", "listener", "publisher"]

Factory = sessionmaker[Session]
# Long enough that silence cannot explain an offline seen within WILL_SECONDS.
LONG_INTERVAL = 120
WILL_SECONDS = 30.0


def _session(device_id: str, factory: Factory) -> str | None:
    with factory() as session:
        device = find_device(session, device_id)
        assert device is not None
        return device.connection_session


def _drop_without_disconnect(connection: MqttConnection) -> None:
    """Cut the TCP connection under paho, as a cut cable or a crash does: no DISCONNECT."""
    client = connection._client
    assert client is not None
    sock = client.socket()
    assert sock is not None
    sock.shutdown(socket.SHUT_RDWR)


@pytest.fixture
def terminal_alone(broker: BrokerOptions, tmp_path: Path, session_factory: Factory
                   ) -> Iterator[tuple[SimulatedTerminal, TerminalSimulator]]:
    [terminal] = unique_terminals(1)
    registered(session_factory, [terminal], interval=LONG_INTERVAL)
    config = TerminalSimConfig(broker, load_pem_certificates(signing_identity()[1]),
                               tmp_path / "received.jsonl", connections=1,
                               client_prefix=f"will-{uuid.uuid4().hex[:12]}")
    with TerminalSimulator(config, [terminal]).running() as running:
        yield terminal, running


def test_a_lost_connection_is_offline_at_once_and_a_reconnect_brings_it_back(
        session_factory: Factory, listener: TerminalHeartbeatListener,
        terminal_alone: tuple[SimulatedTerminal, TerminalSimulator]) -> None:
    terminal, simulator = terminal_alone
    [connection] = simulator.connections
    assert connection.wait_connected(30)
    # Its online, not a heartbeat: the simulator sends none here.
    eventually(lambda: health_of(session_factory, terminal.device_id) is Health.ONLINE,
               "the terminal online once connected")
    first = _session(terminal.device_id, session_factory)
    assert first is not None

    _drop_without_disconnect(connection)
    # Offline long before its heartbeat interval would have said so.
    eventually(lambda: health_of(session_factory, terminal.device_id) is Health.OFFLINE,
               "the terminal offline by its will", timeout=WILL_SECONDS)
    with session_factory() as session:
        offline = health_by_kind(session)[DeviceKind.TERMINAL]
    assert terminal.device_id in offline.offline_ids

    # paho reconnects by itself, with a will and an online of a new session.
    eventually(lambda: health_of(session_factory, terminal.device_id) is Health.ONLINE,
               "the terminal online again after it reconnected")
    second = _session(terminal.device_id, session_factory)
    assert second is not None and second > first


def test_a_will_sent_again_after_a_reconnect_or_forged_changes_nothing(
        session_factory: Factory, listener: TerminalHeartbeatListener,
        publisher: MqttConnection, caplog: pytest.LogCaptureFixture) -> None:
    [terminal] = unique_terminals(1)
    registered(session_factory, [terminal])
    key = token_key(terminal.token)
    earlier = datetime.now(UTC) - timedelta(seconds=30)

    def send(state: ConnectionState, session: datetime, signing_key: bytes = key) -> None:
        body = TerminalStatus(terminal.device_id, state, session.isoformat()).body(signing_key)
        publisher.publish([Publication(status_topic(terminal.device_id),
                                       json.dumps(body).encode())])

    caplog.set_level("INFO", logger=LISTENER)
    send(ConnectionState.ONLINE, earlier)
    eventually(lambda: health_of(session_factory, terminal.device_id) is Health.ONLINE,
               "online by its first connection")
    now = datetime.now(UTC)
    send(ConnectionState.ONLINE, now)
    eventually(lambda: _session(terminal.device_id, session_factory) == now.isoformat(),
               "the second connection the latest")
    # The first connection's will, copied off the broker: an earlier session.
    send(ConnectionState.OFFLINE, earlier)
    send(ConnectionState.OFFLINE, now, signing_key=token_key("not-its-token"))
    def refused() -> list[str] | None:
        reasons = [reason for reason in refusals_logged(caplog, terminal.device_id) if reason]
        return reasons if len(reasons) >= 2 else None

    refusals = eventually(refused, "both refusals logged")
    assert any(reason.startswith("session:") and "earlier than the terminal's latest" in
               reason for reason in refusals), refusals
    assert any(reason.startswith("hmac:") for reason in refusals), refusals
    assert health_of(session_factory, terminal.device_id) is Health.ONLINE


def test_statuses_are_checked_before_they_count(session_factory: Factory) -> None:
    [terminal] = unique_terminals(1)
    registered(session_factory, [terminal])
    key = token_key(terminal.token)
    now = datetime.now(UTC)

    def signed(state: ConnectionState, session: datetime, terminal_id: str = terminal.device_id,
               signing_key: bytes = key) -> SignedStatus:
        status = TerminalStatus(terminal_id, state, session.isoformat())
        return SignedStatus(status, status.signature(signing_key))

    cases = [
        (signed(ConnectionState.ONLINE, now, terminal_id="no-such-terminal"), "topic:"),
        (signed(ConnectionState.ONLINE, now + timedelta(hours=1)), "session:"),
        (signed(ConnectionState.ONLINE, now - timedelta(hours=1)), "session:"),
        (signed(ConnectionState.OFFLINE, now, signing_key=b"x" * 32), "hmac:"),
    ]
    with session_factory() as session:
        outcomes = record_terminal_statuses(session, [case for case, _ in cases], now=now)
        session.commit()
    assert [outcome.refusal.split(" ", 1)[0] if outcome.refusal else None
            for outcome in outcomes] == [field for _, field in cases]
    assert _session(terminal.device_id, session_factory) is None

    # A will of a connection opened long ago still counts: it is the latest known.
    with session_factory() as session:
        [lost, again] = record_terminal_statuses(session, [
            signed(ConnectionState.OFFLINE, now - timedelta(hours=5)),
            signed(ConnectionState.OFFLINE, now - timedelta(hours=5))], now=now)
        session.commit()
    assert (lost.refusal, lost.changed) == (None, True)
    assert (again.refusal, again.changed) == (None, False), "the same will twice: no change"
    with session_factory() as session:
        assert terminal.device_id in health_by_kind(session)[DeviceKind.TERMINAL].offline_ids


def test_a_presence_signs_its_will_and_online_for_one_new_session() -> None:
    token = "t" * 43
    presence = status_presence("term-1", token)
    will = json.loads(presence.will.payload)
    online = json.loads(presence.connected.payload)
    assert presence.will.topic == presence.connected.topic == "terminals/term-1/status"
    assert (will["state"], online["state"]) == ("offline", "online")
    assert will["session"] == online["session"]
    for body in (will, online):
        status, signature = TerminalStatus.read("terminals/term-1/status", body)
        assert status.signature(token_key(token)) == signature
    time.sleep(0.001)
    assert json.loads(status_presence("term-1", token).will.payload)["session"] > \
        will["session"], "each connection names a later session of its own"
