"""Heartbeats of simulated terminals: each terminal's, signed with its token, every interval.

The heartbeats go over the simulator's own connections (``TerminalSimulator
.connections``), terminal ``i`` on connection ``i mod K``: a topic names its
terminal, whatever connection carries it. The first round goes out at
once, so that terminals are online as soon as the simulator is.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime

from publisher.channels.mqtt_client import MqttConnection, Publication
from publisher.channels.mqtt_protocol import token_key
from publisher.channels.terminal_heartbeat import TerminalHeartbeat, heartbeat_topic
from publisher.services.devices import DEFAULT_HEARTBEAT_SECONDS as REGISTERED_HEARTBEAT_SECONDS
from publisher.sim.terminal import SimulatedTerminal

__all__ = ["DEFAULT_HEARTBEAT_SECONDS", "HeartbeatSender"]

DEFAULT_HEARTBEAT_SECONDS = REGISTERED_HEARTBEAT_SECONDS / 2
"""Half the interval terminals are registered with: one lost heartbeat leaves them online."""

log = logging.getLogger(__name__)


class HeartbeatSender:
    """Sends every terminal's heartbeat each ``interval`` seconds, from ``start`` to ``stop``."""

    def __init__(self, terminals: Sequence[SimulatedTerminal],
                 connections: Sequence[MqttConnection], interval: float) -> None:
        if interval <= 0:
            raise ValueError(f"heartbeat interval: {interval:g} is not a positive number"
                             " of seconds")
        if not connections:
            raise ValueError("connections: heartbeats need at least one")
        self.interval = interval
        self._terminals = list(terminals)
        self._connections = list(connections)
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self.rounds = 0
        """Rounds sent, every heartbeat of them acknowledged by the broker."""

    def beat(self) -> None:
        """One heartbeat of every terminal, now; waits for the broker's PUBACKs."""
        at = datetime.now(UTC).isoformat()
        by_connection: list[list[Publication]] = [[] for _ in self._connections]
        for index, terminal in enumerate(self._terminals):
            body = TerminalHeartbeat(terminal.device_id, at).body(token_key(terminal.token))
            by_connection[index % len(self._connections)].append(
                Publication(heartbeat_topic(terminal.device_id), json.dumps(body).encode()))
        for connection, publications in zip(self._connections, by_connection, strict=True):
            connection.publish(publications)
        self.rounds += 1

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="terminal-sim-heartbeats",
                                        daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    @contextmanager
    def running(self) -> Iterator[HeartbeatSender]:
        self.start()
        try:
            yield self
        finally:
            self.stop()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                self.beat()
            except Exception:  # this round is lost; the next one goes out on time
                log.exception("terminal simulator: heartbeats not published",
                              extra={"terminals": len(self._terminals)})
            self._stopping.wait(self.interval)
