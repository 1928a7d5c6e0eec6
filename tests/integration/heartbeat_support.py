"""What the terminals' heartbeat and status tests share: terminals of their own on the shared
Mosquitto, registered with a short interval, the listener that records what they send, and a
connection to publish as a terminal."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.districts import load_districts
from publisher.channels.mqtt_client import BrokerOptions, MqttConnection
from publisher.services.device_health import Health, device_health
from publisher.services.device_import import import_device_list
from publisher.services.devices import find_device
from publisher.services.district_names import DistrictNames
from publisher.services.terminal_heartbeat_listener import TerminalHeartbeatListener
from publisher.sim.terminal import SimulatedTerminal, place_terminals
from tests.channels.device_support import CONFIG_DISTRICTS, districts

__all__ = ["INTERVAL", "LISTENER", "NAMES", "Factory", "health_of", "listener", "publisher",
           "refusals_logged", "registered", "unique_terminals"]

Factory = sessionmaker[Session]
NAMES = DistrictNames(load_districts(CONFIG_DISTRICTS))
LISTENER = "publisher.services.terminal_heartbeat_listener"
# The shortest interval the registry takes: a terminal silent 5 s is offline.
INTERVAL = 5


def unique_terminals(count: int) -> list[SimulatedTerminal]:
    """Terminals of ids no other test uses: the broker, and its heartbeat topics, are shared."""
    run = uuid.uuid4().hex[:10]
    return [dataclasses.replace(terminal, device_id=f"{terminal.device_id}-{run}")
            for terminal in place_terminals(count, districts("110105"), ["water"], seed=3)]


def registered(factory: Factory, terminals: list[SimulatedTerminal],
               interval: int = INTERVAL) -> None:
    with factory() as session:
        report = import_device_list(session, [{**terminal.entry(),
                                               "heartbeat_interval": interval}
                                              for terminal in terminals], NAMES)
        session.commit()
    assert (report.created, report.errors) == (len(terminals), [])


def health_of(factory: Factory, device_id: str) -> Health:
    with factory() as session:
        device = find_device(session, device_id)
        assert device is not None
        return device_health(device)


@pytest.fixture
def listener(broker: BrokerOptions, session_factory: Factory
             ) -> Iterator[TerminalHeartbeatListener]:
    running = TerminalHeartbeatListener(broker, f"heartbeats-{uuid.uuid4().hex[:12]}",
                                        session_factory)
    running.start()
    assert running.connection.wait_connected(30)
    yield running
    running.stop()


@pytest.fixture
def publisher(broker: BrokerOptions) -> Iterator[MqttConnection]:
    connection = MqttConnection(broker, f"terminal-{uuid.uuid4().hex[:12]}")
    yield connection
    connection.close()


def refusals_logged(caplog: pytest.LogCaptureFixture, terminal_id: str) -> list[str]:
    return [getattr(record, "reason", "") for record in caplog.records
            if record.name == LISTENER and getattr(record, "terminal", None) == terminal_id]
