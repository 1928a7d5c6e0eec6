"""One MQTT 5 connection kept open, its network loop in a thread of its own.

The MQTT channel publishes through one, the ack listener and the terminal
simulator subscribe through one each; all of them speak to the broker the
same way (docs/protocols/mqtt.md):

- ``publish`` hands over a whole list of publications and waits for every
  PUBACK (QoS 1) within ``publish_timeout``: no connection is opened per
  message, and a fast lane publishes on the open one at once. A broker that
  cannot be reached, or that does not answer in time, is a
  ``TransientChannelError``; the connection is then dropped with whatever
  it still held, so that a publication the caller will retry is never sent
  later behind its back (a stale alert after its Cancel), and the next
  ``publish`` connects afresh.
- Subscriptions are made again on every connect, so a subscriber survives a
  broker restart. With ``manual_ack`` a received QoS 1 message is
  acknowledged to the broker only when ``ack`` is called: a subscriber that
  stores what it received acknowledges after its commit, and the broker
  redelivers whatever was not acknowledged when the process died.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from publisher.channels.base import PermanentChannelError, TransientChannelError

__all__ = [
    "DEFAULT_CONNECT_TIMEOUT",
    "DEFAULT_HOST",
    "DEFAULT_PORT",
    "DEFAULT_PUBLISH_TIMEOUT",
    "QOS",
    "BrokerOptions",
    "MqttConnection",
    "Presence",
    "Publication",
    "Received",
]

log = logging.getLogger(__name__)

QOS = 1
DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 1883
DEFAULT_CONNECT_TIMEOUT = 5.0
DEFAULT_PUBLISH_TIMEOUT = 5.0
_KEEPALIVE_SECONDS = 30
# A persistent subscriber's session outlives a restart of its process by this much.
_SESSION_EXPIRY_SECONDS = 86_400
# How many unacknowledged QoS 1 messages the broker may send a subscriber at once.
_RECEIVE_MAXIMUM = 1000
_RECONNECT_DELAY = (1, 10)


@dataclass(frozen=True, slots=True)
class BrokerOptions:
    """Where the broker is, and how long to wait for it (``channel_options["mqtt"]``)."""

    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    publish_timeout: float = DEFAULT_PUBLISH_TIMEOUT

    @classmethod
    def read(cls, options: Mapping[str, Any], where: str = "channel_options.mqtt"
             ) -> BrokerOptions:
        """Read and check them; PermanentChannelError names the option at fault."""
        def error(key: str, reason: str) -> PermanentChannelError:
            return PermanentChannelError(f"{where}.{key}: {reason}")

        host = options.get("host", DEFAULT_HOST)
        if not isinstance(host, str) or not host.strip():
            raise error("host", f"{host!r} is not a host name or address")
        port = options.get("port", DEFAULT_PORT)
        if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
            raise error("port", f"{port!r} is not a TCP port")
        timeouts = {}
        for key, default in (("connect_timeout", DEFAULT_CONNECT_TIMEOUT),
                             ("publish_timeout", DEFAULT_PUBLISH_TIMEOUT)):
            value = options.get(key, default)
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise error(key, f"{value!r} is not a positive number of seconds")
            timeouts[key] = float(value)
        return cls(host.strip(), port, **timeouts)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class Publication:
    """One PUBLISH at QoS 1: retained or not, and how long the broker may keep it."""

    topic: str
    payload: bytes
    retain: bool = False
    expires_in: int | None = None
    """Seconds the broker keeps it (MQTT 5 message expiry); None: until replaced."""
    user_properties: Mapping[str, str] = field(default_factory=dict)

    def properties(self) -> Properties | None:
        if self.expires_in is None and not self.user_properties:
            return None
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        if self.expires_in is not None:
            properties.MessageExpiryInterval = self.expires_in
        if self.user_properties:
            properties.UserProperty = list(self.user_properties.items())
        return properties


@dataclass(frozen=True, slots=True)
class Received:
    """A message as a subscriber got it."""

    topic: str
    payload: bytes
    retained: bool
    user_properties: Mapping[str, str]
    mid: int
    qos: int

    @classmethod
    def of(cls, message: mqtt.MQTTMessage) -> Received:
        properties = getattr(message, "properties", None)
        pairs = getattr(properties, "UserProperty", None) or []
        return cls(message.topic, bytes(message.payload), bool(message.retain),
                   dict(pairs), message.mid, message.qos)


@dataclass(frozen=True, slots=True)
class Presence:
    """What a client says of its own connection, made afresh for each one: a Last Will the
    broker publishes if the connection dies without a DISCONNECT, and a publication sent
    once connected."""

    will: Publication
    connected: Publication


class MqttConnection:
    """A connection to the broker, opened on first use and kept; thread-safe.

    ``subscriptions`` (topic filters, QoS 1) are made on every connect and
    ``on_message`` is called on the network thread for each message; it must
    not block. ``persistent`` keeps the session (and what the broker queues
    for it) across reconnects under the fixed ``client_id``. ``presence``,
    called before every connect, gives that connection's will and what to
    publish once it is up.
    """

    def __init__(self, options: BrokerOptions, client_id: str, *,
                 subscriptions: Sequence[str] = (),
                 on_message: Callable[[Received], None] | None = None,
                 persistent: bool = False, manual_ack: bool = False,
                 presence: Callable[[], Presence] | None = None) -> None:
        self.options = options
        self.client_id = client_id
        self._subscriptions = tuple(subscriptions)
        self._on_message = on_message
        self._persistent = persistent
        self._manual_ack = manual_ack
        self._presence = presence
        self._announcement: Publication | None = None
        self._lock = threading.Lock()
        self._connected = threading.Event()
        self._client: mqtt.Client | None = None
        self._refused: dict[int, str] = {}

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    def start(self) -> None:
        """Open the connection in the background (it reconnects by itself from then on)."""
        with self._lock:
            self._started()

    def wait_connected(self, timeout: float | None = None) -> bool:
        return self._connected.wait(self.options.connect_timeout if timeout is None
                                    else timeout)

    def publish(self, publications: Sequence[Publication]) -> None:
        """Publish each at QoS 1, in order, and wait for all their PUBACKs.

        Raises TransientChannelError when the broker is not reached within
        ``connect_timeout`` or does not acknowledge within
        ``publish_timeout``, PermanentChannelError when it refuses one.
        """
        if not publications:
            return
        with self._lock:
            client = self._started()
        if not self._connected.wait(self.options.connect_timeout):
            self._drop(client)
            raise TransientChannelError(
                f"MQTT broker {self.options.address} not reached within"
                f" {self.options.connect_timeout:g} s")
        infos = [client.publish(each.topic, each.payload, qos=QOS, retain=each.retain,
                                properties=each.properties()) for each in publications]
        deadline = time.monotonic() + self.options.publish_timeout
        for info in infos:
            try:
                info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            except (RuntimeError, ValueError) as error:
                self._drop(client)
                raise TransientChannelError(
                    f"MQTT broker {self.options.address}: {error}") from None
            if not info.is_published():
                self._drop(client)
                acknowledged = sum(_acknowledged(each) for each in infos)
                raise TransientChannelError(
                    f"MQTT broker {self.options.address} acknowledged {acknowledged} of"
                    f" {len(infos)} publications within {self.options.publish_timeout:g} s")
        refused = [self._refused.pop(info.mid) for info in infos if info.mid in self._refused]
        if refused:
            raise PermanentChannelError(f"MQTT broker {self.options.address} refused"
                                        f" {len(refused)} publications: {refused[0]}")

    def ack(self, received: Received) -> None:
        """Acknowledge a message received with ``manual_ack``, once it is safe."""
        with self._lock:
            client = self._client
        if client is not None and received.qos > 0:
            client.ack(received.mid, received.qos)

    def close(self) -> None:
        with self._lock:
            client, self._client = self._client, None
        if client is not None:
            self._stop(client)

    # --- the paho client ---

    def _started(self) -> mqtt.Client:
        """The current client, made and connecting if there is none; the lock is held."""
        if self._client is not None:
            return self._client
        client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=self.client_id,
                             protocol=mqtt.MQTTv5, manual_ack=self._manual_ack)
        client.on_connect = self._connected_to
        client.on_disconnect = self._disconnected_from
        client.on_publish = self._published
        client.on_socket_open = _send_at_once
        if self._on_message is not None:
            on_message = self._on_message
            client.on_message = lambda _client, _userdata, message: on_message(
                Received.of(message))
        client.reconnect_delay_set(*_RECONNECT_DELAY)
        self._arm(client)
        connect = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        connect.ReceiveMaximum = _RECEIVE_MAXIMUM
        if self._persistent:
            connect.SessionExpiryInterval = _SESSION_EXPIRY_SECONDS
        client.connect_async(self.options.host, self.options.port, _KEEPALIVE_SECONDS,
                             clean_start=not self._persistent, properties=connect)
        client.loop_start()
        self._client = client
        return client

    def _arm(self, client: mqtt.Client) -> None:
        """Register the next connection's will, and keep what it announces once up."""
        if self._presence is None:
            return
        presence = self._presence()
        client.will_set(presence.will.topic, presence.will.payload, qos=QOS,
                        retain=presence.will.retain)
        self._announcement = presence.connected

    def _drop(self, client: mqtt.Client) -> None:
        """Forget ``client`` and all it still holds; the next use connects afresh."""
        with self._lock:
            if self._client is client:
                self._client = None
        self._stop(client)

    def _stop(self, client: mqtt.Client) -> None:
        self._connected.clear()
        client.disconnect()
        client.loop_stop()

    def _connected_to(self, client: mqtt.Client, _userdata: Any, _flags: Any,
                      reason: ReasonCode, _properties: Any) -> None:
        if reason.is_failure:
            log.warning("mqtt connection refused", extra={
                "broker": self.options.address, "client_id": self.client_id,
                "reason": str(reason)})
            return
        for topic in self._subscriptions:
            client.subscribe(topic, qos=QOS)
        if self._announcement is not None:
            client.publish(self._announcement.topic, self._announcement.payload, qos=QOS,
                           retain=self._announcement.retain)
        self._connected.set()
        log.info("mqtt connected", extra={"broker": self.options.address,
                                          "client_id": self.client_id})

    def _disconnected_from(self, client: mqtt.Client, _userdata: Any, _flags: Any,
                           reason: ReasonCode, _properties: Any) -> None:
        self._connected.clear()
        # paho reconnects with the will it holds: the next connection gets its own.
        self._arm(client)
        if reason.is_failure:
            log.warning("mqtt connection lost", extra={
                "broker": self.options.address, "client_id": self.client_id,
                "reason": str(reason)})

    def _published(self, _client: mqtt.Client, _userdata: Any, mid: int, reason: ReasonCode,
                   _properties: Any) -> None:
        if reason.is_failure:
            self._refused[mid] = str(reason)


def _send_at_once(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    if isinstance(sock, socket.socket) and sock.family in (socket.AF_INET, socket.AF_INET6):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


def _acknowledged(info: mqtt.MQTTMessageInfo) -> bool:
    # paho raises, rather than answers False, for a publication the client
    # could not even send (it was not connected): not acknowledged either.
    try:
        return info.is_published()
    except (RuntimeError, ValueError):
        return False
