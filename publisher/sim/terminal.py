"""Simulated MQTT terminals (docs/protocols/mqtt.md): many of them on a few connections.

Each terminal stands in a district and protects a sector, and listens on
``alerts/{district}/{sector}/cap/+`` (``alerts-test/...`` for a test
terminal). The terminals are spread over ``connections`` MQTT connections;
each connection subscribes to what its terminals listen on, and a message
that arrives on it is read once and handed to each of them. A terminal with
a connection of its own (as many connections as terminals) says ``online``
when it connects and leaves a Last Will that says ``offline``
(``channels.terminal_status``).

A message is accepted only when its XML-DSig signature holds and its
certificate is (issued by) one of the ``trusted`` ones, the center's, and
when it is the message its topic names: anything else is rejected, logged
and never acked. A terminal keeps one message per identifier, acts on it
once, and acks on ``acks/{terminal_id}`` with the HMAC its token keys:
``received`` for an alert (an Update also drops what it replaces),
``cleared`` for a Cancel (dropping what it names). An empty retained
payload (the platform clearing a topic) drops that message without an ack.

Every arrival is kept (``arrivals``) with its latency, from the platform's
``published_at`` to its arrival here, and appended to the JSON-lines log
``log_path``; every rejection is kept in ``rejections``.

The same signed bytes arriving on several topics (one per district and
sector) are verified once: a real terminal verifies each message it gets
once, and here many terminals share a process.

Acks are published by a thread of their own, what queued up while it waited
for the broker's PUBACKs going out together: a message's terminals never
wait for the acks of the message before.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import queue
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from cryptography import x509

from publisher.cap.districts import District
from publisher.cap.model import MsgType
from publisher.cap.problems import CapError
from publisher.cap.reader import read_alert
from publisher.cap.signature_verify import verify_alert_xml
from publisher.channels.device_push import referenced_identifiers
from publisher.channels.mqtt_client import BrokerOptions, MqttConnection, Publication, Received
from publisher.channels.mqtt_protocol import (
    PUBLISHED_AT_PROPERTY,
    SECTORS,
    TerminalAck,
    ack_topic,
    parse_alert_topic,
    subscription,
    token_key,
)
from publisher.channels.terminal_status import status_presence
from publisher.sim.device_fleet import SimulatedDevice, place_devices

__all__ = [
    "TERMINAL_KIND",
    "Arrival",
    "Rejection",
    "SimulatedTerminal",
    "TerminalSimConfig",
    "TerminalSimulator",
    "place_terminals",
]

log = logging.getLogger(__name__)

TERMINAL_KIND = "terminal"
_STOP_POLL_SECONDS = 0.5
_VERDICTS_KEPT = 64


@dataclass(frozen=True, slots=True)
class SimulatedTerminal(SimulatedDevice):
    sector: str = SECTORS[0]
    is_test: bool = False

    def entry(self, base_url: str = "") -> dict[str, Any]:
        """This terminal as the device list names it: a sector, and no endpoint."""
        return {"device_id": self.device_id, "kind": self.kind, "sector": self.sector,
                "token": self.token, "district_code": self.district_code,
                "lon": self.lon, "lat": self.lat, "language": self.language,
                "is_test": self.is_test}

    @property
    def subscription(self) -> str:
        return subscription(self.district_code, self.sector, test=self.is_test)


def place_terminals(count: int, districts: Sequence[District], sectors: Sequence[str], *,
                    language: str = "zh-CN", is_test: bool = False,
                    tokens: Mapping[str, str] | None = None,
                    seed: int | None = None) -> list[SimulatedTerminal]:
    """``count`` terminals over ``districts`` (``place_devices``), each district's in turn
    protecting the next of ``sectors``."""
    unknown = [sector for sector in sectors if sector not in SECTORS]
    if not sectors or unknown:
        raise ValueError(f"sectors: {unknown[0] if unknown else 'none'} given; name sectors"
                         f" of {', '.join(SECTORS)}")
    devices = place_devices(TERMINAL_KIND, count, districts, language=language, tokens=tokens,
                            seed=seed)
    return [SimulatedTerminal(**dataclasses.asdict(device),
                              sector=sectors[index // len(districts) % len(sectors)],
                              is_test=is_test)
            for index, device in enumerate(devices)]


@dataclass(frozen=True, slots=True)
class TerminalSimConfig:
    broker: BrokerOptions
    trusted: Sequence[x509.Certificate] = field(repr=False)
    """The certificates a message's signature must chain to: the center's."""
    log_path: Path
    connections: int = 1
    client_prefix: str = "terminal-sim"

    def __post_init__(self) -> None:
        if self.connections < 1:
            raise ValueError(f"connections: {self.connections} is not at least 1")
        if not self.trusted:
            raise ValueError("trusted: name the center's certificate to verify messages with")


@dataclass(frozen=True, slots=True)
class Arrival:
    """One message as one terminal took it."""

    terminal_id: str
    identifier: str
    msg_type: str
    topic: str
    retained: bool
    latency_ms: float | None
    """From the platform's publish to the arrival here; None when it did not say when."""
    at: str

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass(frozen=True, slots=True)
class Rejection:
    topic: str
    reason: str


class _Refused(Exception):
    pass


@dataclass(frozen=True, slots=True)
class _Verified:
    """A message whose signature holds, as a terminal acts on it."""

    identifier: str
    msg_type: str
    references: list[str]

    @property
    def ack_state(self) -> str:
        return "cleared" if self.msg_type == MsgType.CANCEL.value else "received"


def _latency_ms(received: Received, now: datetime) -> float | None:
    stamp = received.user_properties.get(PUBLISHED_AT_PROPERTY)
    try:
        sent = datetime.fromisoformat(stamp) if stamp else None
    except ValueError:
        return None
    return None if sent is None else round((now - sent).total_seconds() * 1000, 3)


class TerminalSimulator:
    """Terminals on a broker; ``start`` connects them, ``stop`` ends everything."""

    kind = TERMINAL_KIND

    def __init__(self, config: TerminalSimConfig, terminals: Sequence[SimulatedTerminal]) -> None:
        if not terminals:
            raise ValueError("terminals: simulate at least one")
        self.config = config
        self.terminals = {terminal.device_id: terminal for terminal in terminals}
        self._lock = threading.Lock()
        self._showing: dict[str, dict[str, str]] = {tid: {} for tid in self.terminals}
        self._seen: dict[str, set[str]] = {tid: set() for tid in self.terminals}
        self.arrivals: list[Arrival] = []
        self.rejections: list[Rejection] = []
        self._arrived: queue.Queue[tuple[int, Received]] = queue.Queue()
        self._acks: queue.Queue[tuple[int, list[Publication]]] = queue.Queue()
        self._stopping = threading.Event()
        self._worker: threading.Thread | None = None
        self._ack_sender: threading.Thread | None = None
        self._log: TextIO | None = None
        # A refusal raises, so only messages whose signature holds are remembered.
        self._verified_once = functools.lru_cache(maxsize=_VERDICTS_KEPT)(self._verified)
        groups: list[list[SimulatedTerminal]] = [[] for _ in range(config.connections)]
        for index, terminal in enumerate(terminals):
            groups[index % config.connections].append(terminal)
        self._groups = [group for group in groups if group]
        # A Last Will speaks for one terminal: only a connection of its own can carry one.
        self.connections = [
            MqttConnection(config.broker, f"{config.client_prefix}-{number}",
                           subscriptions=sorted({each.subscription for each in group}),
                           on_message=functools.partial(self._enqueue, number),
                           presence=functools.partial(status_presence, group[0].device_id,
                                                      group[0].token)
                           if len(group) == 1 else None)
            for number, group in enumerate(self._groups)]

    def _enqueue(self, number: int, received: Received) -> None:
        self._arrived.put((number, received))

    @property
    def log_path(self) -> Path:
        return self.config.log_path

    def showing(self, terminal_id: str) -> list[str]:
        """The identifiers a terminal holds now, oldest first."""
        with self._lock:
            return list(self._showing[terminal_id])

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("a", encoding="utf-8")
        self._worker = threading.Thread(target=self._work, name="terminal-sim", daemon=True)
        self._worker.start()
        self._ack_sender = threading.Thread(target=self._send_acks, name="terminal-sim-acks",
                                            daemon=True)
        self._ack_sender.start()
        for connection in self.connections:
            connection.start()

    def wait_connected(self, timeout: float) -> bool:
        return all(connection.wait_connected(timeout) for connection in self.connections)

    def stop(self) -> None:
        self._stopping.set()
        for thread in (self._worker, self._ack_sender):
            if thread is not None:
                thread.join(timeout=10)
        for connection in self.connections:
            connection.close()
        if self._log is not None:
            self._log.close()
            self._log = None

    @contextmanager
    def running(self) -> Iterator[TerminalSimulator]:
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def _work(self) -> None:
        while not self._stopping.is_set():
            try:
                number, received = self._arrived.get(timeout=_STOP_POLL_SECONDS)
            except queue.Empty:
                continue
            try:
                self._take(number, received)
            except Exception:  # one bad message must not stop the terminals
                log.exception("terminal simulator: message not handled",
                              extra={"topic": received.topic})

    def _send_acks(self) -> None:
        while not self._stopping.is_set() or not self._acks.empty():
            try:
                number, acks = self._acks.get(timeout=_STOP_POLL_SECONDS)
            except queue.Empty:
                continue
            by_connection = {number: acks}
            while not self._acks.empty():
                more_number, more = self._acks.get_nowait()
                by_connection.setdefault(more_number, []).extend(more)
            for each, publications in by_connection.items():
                try:
                    self.connections[each].publish(publications)
                except Exception:  # those terminals' acks are lost; the others go on
                    log.exception("terminal simulator: acks not published",
                                  extra={"acks": len(publications)})

    def _take(self, number: int, received: Received) -> None:
        now = datetime.now(UTC)
        try:
            district, sector, _, identifier = parse_alert_topic(received.topic)
        except ValueError as error:
            self._reject(received.topic, str(error))
            return
        listening = [terminal for terminal in self._groups[number]
                     if (terminal.district_code, terminal.sector) == (district, sector)]
        if not received.payload:
            self._clear(listening, [identifier])
            return
        try:
            message = self._verified_once(received.payload, identifier)
        except _Refused as refusal:
            self._reject(received.topic, str(refusal))
            return
        acks = []
        for terminal in listening:
            if self._arrive(terminal, message, received, now):
                ack = TerminalAck(terminal.device_id, identifier, message.ack_state,
                                  now.isoformat())
                acks.append(Publication(ack_topic(terminal.device_id), json.dumps(
                    ack.body(token_key(terminal.token))).encode()))
        if acks:
            self._acks.put((number, acks))
        with self._lock:
            if self._log is not None:
                self._log.flush()

    def _verified(self, payload: bytes, identifier: str) -> _Verified:
        """The message's type and the identifiers it references, once its signature holds."""
        try:
            verification = verify_alert_xml(payload, self.config.trusted)
            alert = read_alert(payload).alert
        except CapError as error:
            raise _Refused(f"payload: not a CAP message ({error})") from None
        if not verification.valid:
            raise _Refused(f"signature: {verification.outcome.value}: {verification.reason}")
        if alert is None:
            raise _Refused("payload: the CAP message lacks required elements")
        if alert.identifier != identifier:
            raise _Refused(f"identifier: the topic names {identifier!r}, the message"
                           f" {alert.identifier!r}")
        return _Verified(identifier, alert.msg_type.value, referenced_identifiers(alert))

    def _arrive(self, terminal: SimulatedTerminal, message: _Verified, received: Received,
                now: datetime) -> bool:
        """Whether the terminal acts on ``message``: once per identifier."""
        identifier = message.identifier
        with self._lock:
            showing, seen = self._showing[terminal.device_id], self._seen[terminal.device_id]
            if identifier in seen:
                return False
            seen.add(identifier)
            for dropped in message.references:
                showing.pop(dropped, None)
            if message.msg_type != MsgType.CANCEL.value:
                showing[identifier] = message.msg_type
            arrival = Arrival(terminal.device_id, identifier, message.msg_type, received.topic,
                              received.retained, _latency_ms(received, now), now.isoformat())
            self.arrivals.append(arrival)
            if self._log is not None:
                self._log.write(json.dumps(arrival.as_json(), ensure_ascii=False) + "\n")
        log.info("terminal received", extra={"terminal": terminal.device_id,
                                             "alert_identifier": identifier,
                                             "latency_ms": arrival.latency_ms,
                                             "retained": received.retained})
        return True

    def _clear(self, terminals: Sequence[SimulatedTerminal], identifiers: Sequence[str]) -> None:
        with self._lock:
            for terminal in terminals:
                for identifier in identifiers:
                    self._showing[terminal.device_id].pop(identifier, None)

    def _reject(self, topic: str, reason: str) -> None:
        with self._lock:
            self.rejections.append(Rejection(topic, reason))
        log.warning("terminal message rejected", extra={"topic": topic, "reason": reason})
