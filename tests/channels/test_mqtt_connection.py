"""An MQTT connection's socket, as the broker sees it."""

from __future__ import annotations

import socket
import uuid

from publisher.channels.mqtt_client import BrokerOptions, MqttConnection
from tests.channels.mqtt_support import broker

__all__ = ["broker"]


def test_a_connection_sends_each_packet_at_once(broker: BrokerOptions) -> None:
    """Nagle's algorithm off: an ack written after a PUBACK would wait ~40 ms otherwise."""
    connection = MqttConnection(broker, f"nodelay-{uuid.uuid4().hex[:12]}")
    connection.start()
    try:
        assert connection.wait_connected(10)
        client = connection._client  # the socket paho opened is the point
        assert client is not None
        sock = client.socket()
        assert isinstance(sock, socket.socket)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1
    finally:
        connection.close()
