"""Fixtures for MQTT terminals against the real Mosquitto and PostgreSQL: the channel and the
ack listener that records the terminals' acks, each with ids of their own on the shared broker.

The listener comes with the web process's rematching round: an ack recorded
while the delivery's hand-over was still uncommitted matches nothing, and only
that round finds its delivery for it."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.mqtt import MqttChannel
from publisher.channels.mqtt_client import BrokerOptions, MqttConnection
from publisher.services.device_receipts import EarlyAcks
from publisher.services.terminal_ack_listener import TerminalAckListener
from publisher.web.devices import REMATCH_SECONDS

__all__ = ["channel", "listener"]


@pytest.fixture
def channel(broker: BrokerOptions) -> Iterator[MqttChannel]:
    mqtt = MqttChannel({"host": broker.host, "port": broker.port,
                        "client_id": f"publisher-{uuid.uuid4().hex[:12]}"})
    yield mqtt
    mqtt.close()


@pytest.fixture
def listener(broker: BrokerOptions, factory: sessionmaker[Session],
             channel: MqttChannel) -> Iterator[TerminalAckListener]:
    client_id = f"acks-{uuid.uuid4().hex[:12]}"
    early = EarlyAcks()
    running = TerminalAckListener(broker, client_id, factory, lambda: channel, early)
    stopping = threading.Event()

    def rematch_every_round() -> None:
        while not stopping.wait(REMATCH_SECONDS):
            early.rematch(factory, lambda _name: channel, time.monotonic())

    rematching = threading.Thread(target=rematch_every_round, name="rematch-early-acks")
    running.start()
    rematching.start()
    assert running.connection.wait_connected(30)
    yield running
    stopping.set()
    rematching.join()
    running.stop()
    # A clean start under the same id ends the persistent session on the shared broker.
    ending = MqttConnection(broker, client_id)
    ending.start()
    assert ending.wait_connected(30)
    ending.close()
