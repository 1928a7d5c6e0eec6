"""Terminals' heartbeats over the real Mosquitto, recorded on SQLite and PostgreSQL: a signed,
fresh heartbeat marks its terminal seen, anything else is refused and logged, and a terminal
that falls silent goes offline until it heartbeats again."""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from publisher.cap.certificates import load_pem_certificates
from publisher.channels.mqtt_client import BrokerOptions, MqttConnection, Publication
from publisher.channels.mqtt_protocol import token_key
from publisher.channels.terminal_heartbeat import TerminalHeartbeat, heartbeat_topic
from publisher.services.device_health import Health, health_by_kind
from publisher.services.device_import import import_device_list
from publisher.services.devices import find_device
from publisher.services.terminal_heartbeat_listener import TerminalHeartbeatListener
from publisher.services.terminal_heartbeats import CLOCK_TOLERANCE_SECONDS
from publisher.sim.terminal import (
    TerminalSimConfig,
    TerminalSimulator,
)
from publisher.sim.terminal_heartbeats import HeartbeatSender
from publisher.store.models import DeviceKind
from tests.channels.mqtt_support import broker, eventually
from tests.integration.heartbeat_support import (
    INTERVAL,
    LISTENER,
    NAMES,
    Factory,
    health_of,
    listener,
    publisher,
    refusals_logged,
    registered,
    unique_terminals,
)

__all__ = ["broker", "listener", "publisher"]

def _publish(connection: MqttConnection, terminal_id: str, body: dict[str, str]) -> None:
    connection.publish([Publication(heartbeat_topic(terminal_id), json.dumps(body).encode())])


def test_a_signed_heartbeat_marks_its_terminal_seen(
        session_factory: Factory, listener: TerminalHeartbeatListener,
        publisher: MqttConnection) -> None:
    [terminal] = unique_terminals(1)
    registered(session_factory, [terminal])
    assert health_of(session_factory, terminal.device_id) is Health.NEVER_SEEN
    before = datetime.now(UTC)
    heartbeat = TerminalHeartbeat(terminal.device_id, before.isoformat())
    _publish(publisher, terminal.device_id, heartbeat.body(token_key(terminal.token)))
    eventually(lambda: health_of(session_factory, terminal.device_id) is Health.ONLINE,
               "the terminal online")
    with session_factory() as session:
        device = find_device(session, terminal.device_id)
        assert device is not None and device.last_seen_at is not None
        assert before <= device.last_seen_at <= datetime.now(UTC)


def test_a_forged_copied_or_stale_heartbeat_is_refused_and_logged(
        session_factory: Factory, listener: TerminalHeartbeatListener,
        publisher: MqttConnection, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=LISTENER)
    [terminal, stranger] = unique_terminals(2)
    registered(session_factory, [terminal])
    now = datetime.now(UTC)
    stale = (now - timedelta(seconds=CLOCK_TOLERANCE_SECONDS + 60)).isoformat()
    key = token_key(terminal.token)
    _publish(publisher, terminal.device_id,
             TerminalHeartbeat(terminal.device_id, now.isoformat()).body(
                 token_key("not-the-terminal-s-token")))
    _publish(publisher, stranger.device_id,
             TerminalHeartbeat(stranger.device_id, now.isoformat()).body(key))
    _publish(publisher, terminal.device_id,
             TerminalHeartbeat(terminal.device_id, stale).body(key))
    refusals = eventually(lambda: (lambda found: found if len(found) == 2 else None)(
        refusals_logged(caplog, terminal.device_id)), "the forged and the stale heartbeat refused")
    assert refusals[0] == f"hmac: not signed with the token of terminal {terminal.device_id}"
    assert refusals[1].startswith(f"at: {stale} is ") and "behind the platform's clock" \
        in refusals[1]
    assert refusals_logged(caplog, stranger.device_id) == [
        f"topic: no terminal {stranger.device_id!r} is registered"]
    assert health_of(session_factory, terminal.device_id) is Health.NEVER_SEEN

    genuine = TerminalHeartbeat(terminal.device_id, datetime.now(UTC).isoformat()).body(key)
    _publish(publisher, terminal.device_id, genuine)
    eventually(lambda: health_of(session_factory, terminal.device_id) is Health.ONLINE,
               "the genuine heartbeat taken")
    _publish(publisher, terminal.device_id, genuine)
    copied = eventually(lambda: (lambda found: found[2:] or None)(
        refusals_logged(caplog, terminal.device_id)), "the copy refused")
    assert copied == [f"at: {genuine['at']} is not later than the terminal's last heartbeat"
                      f" ({genuine['at']}): a copy of an earlier one"]


def test_a_silent_terminal_goes_offline_and_comes_back_with_its_heartbeats(
        session_factory: Factory, listener: TerminalHeartbeatListener,
        broker: BrokerOptions, identity: tuple[Path, Path], tmp_path: Path) -> None:
    terminals = unique_terminals(2)
    registered(session_factory, terminals)
    config = TerminalSimConfig(broker, load_pem_certificates(identity[1].read_bytes()),
                               tmp_path / "received.jsonl", connections=2,
                               client_prefix=f"sim-{uuid.uuid4().hex[:12]}")
    ids = sorted(terminal.device_id for terminal in terminals)

    def offline() -> list[str]:
        with session_factory() as session:
            found = health_by_kind(session, listed=1000)[DeviceKind.TERMINAL].offline_ids
        return sorted(set(found) & set(ids))

    with TerminalSimulator(config, terminals).running() as simulator:
        assert simulator.wait_connected(30)
        beating = list(simulator.terminals.values())
        with HeartbeatSender(beating, simulator.connections, 1.0).running() as sender:
            eventually(lambda: all(health_of(session_factory, each) is Health.ONLINE
                                   for each in ids), "both terminals online")
            assert offline() == []
        assert sender.rounds >= 1
        eventually(lambda: offline() == ids, "both terminals offline once silent",
                   timeout=INTERVAL + 60)
        with HeartbeatSender(beating, simulator.connections, 1.0).running():
            eventually(lambda: offline() == [], "both terminals back with their heartbeats")


def test_the_terminal_simulator_command_sends_heartbeats(
        session_factory: Factory, listener: TerminalHeartbeatListener,
        broker: BrokerOptions, identity: tuple[Path, Path], tmp_path: Path) -> None:
    devices_out = tmp_path / "terminals.json"
    # Huairou's gas terminals: no other test's alerts reach them on the shared broker.
    with (tmp_path / "sim.log").open("w") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("publisher")), "sim", "terminal", "--count",
             "2", "--districts", "110116", "--sectors", "gas", "--heartbeat-interval", "1",
             "--broker", broker.address, "--certificate", str(identity[1]),
             "--devices-out", str(devices_out), "--data-dir", str(tmp_path / "var")],
            stdout=subprocess.PIPE, stderr=log, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("terminal simulator connected to"), \
            (tmp_path / "sim.log").read_text()
        entries = json.loads(devices_out.read_text(encoding="utf-8"))
        with session_factory() as session:
            report = import_device_list(session, entries, NAMES)
            session.commit()
        assert (report.created, report.errors) == (2, [])
        # Registered after the simulator started: its next heartbeats bring them online.
        eventually(lambda: all(health_of(session_factory, entry["device_id"]) is Health.ONLINE
                               for entry in entries), "the simulated terminals online")
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0
