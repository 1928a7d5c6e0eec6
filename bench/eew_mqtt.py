"""The MQTT side of the early-warning benchmark: the terminals' acks as the broker hands them
on, and the two peers the platform is compared with in the same run.

- ``AckWatch`` subscribes to ``acks/+`` as the platform's ack listener does,
  and notes when each terminal's first ack of each identifier arrived (wall
  clock, as the POST is timed): the ack as received, before the platform
  stores it.
- ``bare_round_trip``: a QoS 1 publish to a subscriber of its own, to its
  arrival: the wire, nothing else.
- ``signed_round_trip``: a message signed by the center, published straight
  to one topic group of the simulated terminals (not retained), to the first
  ack of it: the wire both ways and the terminals' verification, by the same
  simulators as the warning. It is the least the platform's path can take.
- ``signed_fan_out``: one such message published straight to every topic
  group of the terminals (the signed form only, on as many connections as
  the platform's fast path uses), to the first and the 99th-percentile ack:
  what the same simulators and broker take for the whole fan-out, without
  the platform.
"""

from __future__ import annotations

import functools
import json
import statistics
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import UTC, datetime

from publisher.cap import write_alert
from publisher.cap.model import Status
from publisher.channels.mqtt import TopicGroup
from publisher.channels.mqtt_client import BrokerOptions, MqttConnection, Publication, Received
from publisher.channels.mqtt_protocol import ACK_SUBSCRIPTION, CAP_FORMAT, TerminalAck, alert_topic
from publisher.sample_alert import rainstorm_red_warning

__all__ = ["AckWatch", "bare_round_trip", "p99", "signed_fan_out", "signed_round_trip"]

BARE_ROUND_TRIPS = 50
SIGNED_ROUND_TRIPS = 5
FAN_OUT_SECONDS = 30.0
_WAIT_SECONDS = 5.0
_POLL_SECONDS = 0.0002
_SUBSCRIBED_SECONDS = 0.3


def _client_id(role: str) -> str:
    return f"bench-eew-{role}-{uuid.uuid4().hex[:8]}"


def _wait_for(found: Callable[[], bool]) -> bool:
    deadline = time.monotonic() + _WAIT_SECONDS
    while not found():
        if time.monotonic() > deadline:
            return False
        time.sleep(_POLL_SECONDS)
    return True


class AckWatch:
    """Every terminal's first ack of each identifier, with when it arrived (``time.time()``)."""

    def __init__(self, port: int) -> None:
        self._lock = threading.Lock()
        self._first: dict[str, dict[str, float]] = {}
        self.connection = MqttConnection(BrokerOptions("127.0.0.1", port), _client_id("acks"),
                                         subscriptions=[ACK_SUBSCRIPTION],
                                         on_message=self._arrived)

    def __enter__(self) -> AckWatch:
        self.connection.start()
        if not self.connection.wait_connected(10):
            raise RuntimeError("the ack watch did not reach the MQTT broker")
        time.sleep(_SUBSCRIBED_SECONDS)
        return self

    def __exit__(self, *_: object) -> None:
        self.connection.close()

    def _arrived(self, received: Received) -> None:
        moment = time.time()
        try:
            ack, _ = TerminalAck.read(received.topic, json.loads(received.payload))
        except ValueError:  # AckError is one; the platform logs those, the watch skips them
            return
        with self._lock:
            self._first.setdefault(ack.identifier, {}).setdefault(ack.terminal_id, moment)

    def acked(self, identifier: str) -> bool:
        with self._lock:
            return identifier in self._first

    def arrivals(self, identifier: str) -> list[float]:
        """When each terminal's first ack of ``identifier`` arrived, earliest first."""
        with self._lock:
            return sorted(self._first.get(identifier, {}).values())


def bare_round_trip(port: int) -> float:
    """Median QoS 1 publish-to-receive on the broker, in seconds."""
    topic = f"bench/eew/bare/{uuid.uuid4().hex[:8]}"
    arrived: dict[str, float] = {}

    def arrive(received: Received) -> None:
        arrived[received.payload.decode()] = time.perf_counter()

    receiver = MqttConnection(BrokerOptions("127.0.0.1", port), _client_id("rx"),
                              subscriptions=[topic], on_message=arrive)
    sender = MqttConnection(BrokerOptions("127.0.0.1", port), _client_id("tx"))
    receiver.start()
    try:
        receiver.wait_connected(10)
        time.sleep(_SUBSCRIBED_SECONDS)
        trips = []
        for number in range(BARE_ROUND_TRIPS):
            started = time.perf_counter()
            sender.publish([Publication(topic, str(number).encode())])
            key = str(number)
            if _wait_for(functools.partial(dict.__contains__, arrived, key)):
                trips.append(arrived[key] - started)
        return statistics.median(trips)
    finally:
        receiver.close()
        sender.close()


def p99(values: Sequence[float]) -> float | None:
    """The 99th percentile (nearest rank) of ``values``, sorted; None when there are none."""
    if not values:
        return None
    return values[min(len(values) - 1, round(0.99 * len(values)) - 1)]


def _peer_message(sign: Callable[[bytes], bytes], sequence: int) -> tuple[str, bytes]:
    """A new Exercise signed by the center: its identifier (the terminals act on each once)."""
    sent = datetime.now(UTC).replace(microsecond=0)
    alert = rainstorm_red_warning(sent, sequence, status=Status.EXERCISE)
    alert = replace(alert, identifier=f"{alert.identifier}-peer-{uuid.uuid4().hex[:6]}")
    return alert.identifier, sign(write_alert(alert))


def signed_fan_out(port: int, sign: Callable[[bytes], bytes], groups: Sequence[TopicGroup],
                   watch: AckWatch, sequence: int, *, connections: int, terminals: int
                   ) -> tuple[float | None, float | None]:
    """First and p99 ack of a center-signed message published to every one of ``groups``."""
    identifier, xml = _peer_message(sign, sequence)
    publications = [Publication(alert_topic(district, sector, CAP_FORMAT, identifier,
                                            test=test), xml)
                    for district, sector, test in groups]
    senders = [MqttConnection(BrokerOptions("127.0.0.1", port), _client_id("fan-out"))
               for _ in range(connections)]
    try:
        for sender in senders:
            sender.start()
            sender.wait_connected(10)
        with ThreadPoolExecutor(connections) as pool:
            started = time.time()
            for done in [pool.submit(sender.publish, publications[number::connections])
                         for number, sender in enumerate(senders)]:
                done.result()
        deadline = time.monotonic() + FAN_OUT_SECONDS
        while len(watch.arrivals(identifier)) < terminals and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        for sender in senders:
            sender.close()
    acks = [moment - started for moment in watch.arrivals(identifier)]
    return (acks[0] if acks else None), p99(acks)


def signed_round_trip(port: int, sign: Callable[[bytes], bytes], group: TopicGroup,
                      watch: AckWatch, sequence: int) -> float | None:
    """Median from publishing a center-signed message on ``group``'s topic to its first ack.

    Each message is a new Exercise (its own identifier, as the terminals act
    on an identifier once), signed before the clock starts.
    """
    district, sector, test = group
    sender = MqttConnection(BrokerOptions("127.0.0.1", port), _client_id("signed"))
    trips = []
    try:
        for number in range(SIGNED_ROUND_TRIPS):
            identifier, xml = _peer_message(sign, sequence * 100 + number + 1)
            topic = alert_topic(district, sector, CAP_FORMAT, identifier, test=test)
            started = time.time()
            sender.publish([Publication(topic, xml)])
            if _wait_for(functools.partial(watch.acked, identifier)):
                trips.append(watch.arrivals(identifier)[0] - started)
    finally:
        sender.close()
    return statistics.median(trips) if trips else None
