"""The real Mosquitto of this machine for MQTT tests, and what they watch it with.

A test that needs the broker skips with the reason when it is unreachable,
and fails under CI (``tests.services.require_service``). The broker is
shared and keeps retained messages across runs, so every message a test
publishes has an identifier of its own (``signed_message``), and what it
retained is cleared after it (``retained_cleared``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import pytest

from publisher.cap.model import MsgType, Reference, Status
from publisher.cap.reader import read_alert
from publisher.cap.references import format_references
from publisher.cap.signing import sign_alert_xml
from publisher.cap.writer import write_alert
from publisher.channels.base import OutgoingMessage
from publisher.channels.mqtt_client import BrokerOptions, MqttConnection, Publication, Received
from publisher.channels.mqtt_protocol import FORMATS, alert_topic
from publisher.sample_alert import rainstorm_red_warning
from tests.services import require_service

__all__ = ["BrokerLink", "TopicRecorder", "ack_client_id", "broker", "eventually",
           "retained_cleared", "signed_message"]

MOSQUITTO_HOST = os.environ.get("PUBLISHER_TEST_MOSQUITTO_HOST", "127.0.0.1")
MOSQUITTO_PORT = int(os.environ.get("PUBLISHER_TEST_MOSQUITTO_PORT", "1883"))
DEADLINE = 60.0
T = TypeVar("T")


@pytest.fixture
def broker() -> BrokerOptions:
    """Where Mosquitto listens; skips (fails under CI) when it does not."""
    require_service("Mosquitto", MOSQUITTO_HOST, MOSQUITTO_PORT)
    return BrokerOptions(MOSQUITTO_HOST, MOSQUITTO_PORT, connect_timeout=10,
                         publish_timeout=10)


@pytest.fixture
def ack_client_id(broker: BrokerOptions) -> Iterator[str]:
    """An ack listener's own persistent session, ended after the test (the broker is shared:
    the default id, one per host, would take over another installation's)."""
    client_id = f"acks-{uuid.uuid4().hex[:12]}"
    yield client_id
    ending = MqttConnection(broker, client_id)
    ending.start()
    assert ending.wait_connected(30)
    ending.close()


def eventually(check: Callable[[], T | None], what: str, timeout: float = DEADLINE) -> T:
    """The first true result of ``check``, polled until ``timeout``; fails naming ``what``."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {what}")
        time.sleep(0.02)


def signed_message(identity: tuple[Path, Path], *, msg_type: MsgType = MsgType.ALERT,
                   references: Sequence[OutgoingMessage] = (),
                   status: Status = Status.EXERCISE,
                   expires_in: timedelta = timedelta(minutes=10),
                   message_id: int = 1) -> OutgoingMessage:
    """A signed rainstorm warning of an identifier no other run has used, expiring soon."""
    sent = datetime.now(UTC).replace(microsecond=0)
    alert = rainstorm_red_warning(sent, status=status)
    alert = replace(
        alert, identifier=f"{alert.identifier}-{uuid.uuid4().hex[:10]}", msg_type=msg_type,
        references=format_references(
            Reference(each.alert.sender, each.identifier, each.alert.sent)
            for each in references) or None,
        infos=tuple(replace(info, expires=sent + expires_in) for info in alert.infos))
    key, certificate = identity
    xml = sign_alert_xml(write_alert(alert), key.read_bytes(), certificate.read_bytes())
    parsed = read_alert(xml).alert
    assert parsed is not None
    return OutgoingMessage(message_id, parsed, xml, msg_type.value, status.value)


class TopicRecorder:
    """A subscriber that keeps every message on its topic filters, retained ones included."""

    def __init__(self, broker: BrokerOptions, *filters: str) -> None:
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self.connection = MqttConnection(broker, f"recorder-{uuid.uuid4().hex[:8]}",
                                         subscriptions=filters, on_message=self._keep)

    def _keep(self, received: Received) -> None:
        with self._lock:
            self._received.append(received)

    @property
    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def topics(self) -> set[str]:
        return {received.topic for received in self.received}

    @contextlib.contextmanager
    def listening(self) -> Iterator[TopicRecorder]:
        self.connection.start()
        assert self.connection.wait_connected(DEADLINE)
        # The SUBACK follows the CONNACK: a message published before it would be missed.
        time.sleep(0.3)
        try:
            yield self
        finally:
            self.connection.close()


@contextlib.contextmanager
def retained_cleared(broker: BrokerOptions, groups: Sequence[tuple[str, str, bool]],
                     identifiers: Sequence[str]) -> Iterator[None]:
    """Clears, after the block, what messages may have left retained on these topics."""
    try:
        yield
    finally:
        connection = MqttConnection(broker, f"cleaner-{uuid.uuid4().hex[:8]}")
        try:
            connection.publish([
                Publication(alert_topic(district, sector, form, identifier, test=test),
                            b"", retain=True)
                for district, sector, test in groups for identifier in identifiers
                for form in FORMATS])
        finally:
            connection.close()


class BrokerLink:
    """A TCP relay to the broker that can go down (refusing connections) and come back."""

    def __init__(self, broker: BrokerOptions) -> None:
        self._broker = broker
        self._lock = threading.Lock()
        self._open: list[socket.socket] = []
        self._listener: socket.socket | None = None
        probe = socket.create_server(("127.0.0.1", 0))
        self.port: int = probe.getsockname()[1]
        probe.close()
        self.up()

    @property
    def options(self) -> BrokerOptions:
        return replace(self._broker, host="127.0.0.1", port=self.port, connect_timeout=2,
                       publish_timeout=2)

    def up(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self._listener,), name="broker-link",
                         daemon=True).start()

    def down(self) -> None:
        """Stop listening and break every open connection: the broker is gone."""
        listener, self._listener = self._listener, None
        if listener is not None:
            # close() alone leaves a socket that another thread waits on in accept() listening.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            connections, self._open = self._open, []
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection((self._broker.host, self._broker.port))
            with self._lock:
                self._open += [client, upstream]
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._relay, args=(source, target), daemon=True).start()

    @staticmethod
    def _relay(source: socket.socket, target: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while chunk := source.recv(65_536):
                target.sendall(chunk)
        with contextlib.suppress(OSError):
            target.shutdown(socket.SHUT_RDWR)
