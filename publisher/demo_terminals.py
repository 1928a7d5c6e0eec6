"""The demo's MQTT terminals: a few simulated ones, when the installation has the ``mqtt``
channel and its broker answers.

Eight test terminals (schools and hospitals in Chaoyang, Haidian, Dongcheng
and Huairou) are registered as devices and run in the demo's process
(``publisher.sim.terminal``), verifying the center's signature before they
ack. Each has a connection of its own, so it says ``online`` when it
connects and leaves a Last Will, and each sends its heartbeat. Without the
channel, or without a broker (no Mosquitto on the machine), there are none,
and the demo says so instead of failing.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

from aiohttp import web

from publisher.cap.certificates import load_pem_certificates
from publisher.cap.districts import load_districts
from publisher.channels.mqtt_client import BrokerOptions
from publisher.services.device_import import import_device_list
from publisher.services.signer import CERTIFICATE_FILE
from publisher.sim.terminal import (
    SimulatedTerminal,
    TerminalSimConfig,
    TerminalSimulator,
    place_terminals,
)
from publisher.sim.terminal_heartbeats import DEFAULT_HEARTBEAT_SECONDS, HeartbeatSender
from publisher.store.db import session_scope
from publisher.web.context import SESSIONS, SETTINGS
from publisher.web.subscribers import DISTRICT_NAMES

__all__ = ["TERMINAL_CHANNEL", "DemoTerminals", "start_demo_terminals"]

TERMINAL_CHANNEL = "mqtt"
TERMINALS = 8
DISTRICTS = ("110105", "110108", "110101", "110116")
SECTORS = ("school", "hospital")
CONNECT_SECONDS = 10.0


def _answers(broker: BrokerOptions) -> bool:
    try:
        with socket.create_connection((broker.host, broker.port), timeout=2):
            return True
    except OSError:
        return False


@dataclass(frozen=True, slots=True)
class DemoTerminals:
    """The demo's terminals, running, and their heartbeats."""

    simulator: TerminalSimulator
    heartbeats: HeartbeatSender

    @property
    def terminals(self) -> dict[str, SimulatedTerminal]:
        return self.simulator.terminals

    def stop(self) -> None:
        self.heartbeats.stop()
        self.simulator.stop()


def start_demo_terminals(app: web.Application) -> DemoTerminals | str:
    """The running terminals, registered; or why there are none."""
    settings = app[SETTINGS]
    if TERMINAL_CHANNEL not in settings.channels:
        return "this installation has no mqtt channel (docs/eew.md)"
    broker = BrokerOptions.read(settings.channel_options.get(TERMINAL_CHANNEL, {}))
    if not _answers(broker):
        return f"no MQTT broker answers at {broker.address}"
    table = load_districts(settings.paths.districts_file)
    terminals = place_terminals(TERMINALS, [table.get(code) for code in DISTRICTS], SECTORS,
                                is_test=True, seed=1)
    with session_scope(app[SESSIONS]) as session:
        report = import_device_list(session, [terminal.entry() for terminal in terminals],
                                    app[DISTRICT_NAMES])
    if not report.ok:
        return f"terminals refused: {'; '.join(map(str, report.errors))}"
    trusted = load_pem_certificates(
        (settings.paths.keys_dir / CERTIFICATE_FILE).read_bytes())
    simulator = TerminalSimulator(TerminalSimConfig(
        broker, trusted, settings.paths.data_dir / "demo" / "terminal-received.jsonl",
        connections=len(terminals), client_prefix="demo-terminal"), terminals)
    simulator.start()
    if not simulator.wait_connected(CONNECT_SECONDS):
        simulator.stop()
        return f"the terminals did not connect to {broker.address}"
    heartbeats = HeartbeatSender(terminals, simulator.connections, DEFAULT_HEARTBEAT_SECONDS)
    heartbeats.start()
    return DemoTerminals(simulator, heartbeats)
