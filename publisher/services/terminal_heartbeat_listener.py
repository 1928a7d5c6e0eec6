"""The heartbeat listener: one subscriber to ``terminals/+/heartbeat`` that marks terminals seen,
and to ``terminals/+/status``, their connections opened and lost (Last Will).

It runs in ``publisher web`` beside the ack listener, on a connection of its
own: a heartbeat is worth something only while it is fresh, so the session
is a clean one (what was published while the listener was down is not
wanted), and the acks' persistent session keeps only acks. What arrived
since the last round is recorded in one transaction; a round that cannot be
committed is logged and dropped, the next heartbeats bringing the
terminals' last-seen times up to date.

A heartbeat or status refused (an unknown terminal, an HMAC that does not
hold, a stale or repeated ``at``, an earlier connection's ``session``) is
logged with the terminal and the reason.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import socket

from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.mqtt_client import BrokerOptions, Received
from publisher.channels.terminal_heartbeat import (
    HEARTBEAT_SUBSCRIPTION,
    HeartbeatError,
    TerminalHeartbeat,
)
from publisher.channels.terminal_status import (
    STATUS_LEVEL,
    STATUS_SUBSCRIPTION,
    ConnectionState,
    TerminalStatus,
)
from publisher.services.mqtt_listener import MqttListener
from publisher.services.terminal_heartbeats import (
    LatestHeartbeats,
    SignedHeartbeat,
    record_terminal_heartbeats,
)
from publisher.services.terminal_statuses import SignedStatus, record_terminal_statuses

__all__ = ["ROUND_LIMIT", "TerminalHeartbeatListener", "heartbeat_client_id"]

log = logging.getLogger(__name__)

ROUND_LIMIT = 2000
"""Heartbeats recorded in one transaction at most."""
_STOP_POLL_SECONDS = 0.5


def heartbeat_client_id() -> str:
    """One per process: every web process takes every heartbeat, and none waits for another."""
    return f"publisher-heartbeats-{socket.gethostname()}-{os.getpid()}"


def _read(received: Received) -> SignedHeartbeat | SignedStatus:
    try:
        body = json.loads(received.payload)
    except ValueError:
        raise HeartbeatError("payload", "not JSON") from None
    if not isinstance(body, dict):
        raise HeartbeatError("payload", "must be a JSON object")
    if received.topic.endswith(f"/{STATUS_LEVEL}"):
        return SignedStatus(*TerminalStatus.read(received.topic, body))
    return SignedHeartbeat(*TerminalHeartbeat.read(received.topic, body))


class TerminalHeartbeatListener(MqttListener):
    """Subscribes to the terminals' heartbeats and records them, one transaction a round."""

    def __init__(self, broker: BrokerOptions, client_id: str,
                 sessions: sessionmaker[Session]) -> None:
        super().__init__(broker, client_id, [HEARTBEAT_SUBSCRIPTION, STATUS_SUBSCRIPTION],
                         thread_name="terminal-heartbeats")
        self._sessions = sessions
        self._latest = LatestHeartbeats()

    def _run(self) -> None:
        while not self._stopping.is_set():
            arrived = self._arrived()
            if not arrived:
                continue
            try:
                self._record(arrived)
            except Exception:  # these heartbeats are lost, the next ones count; live on
                log.exception("terminal heartbeats not recorded",
                              extra={"heartbeats": len(arrived)})

    def _arrived(self) -> list[Received]:
        """What arrived since the last round: waits for one, then takes what is there."""
        try:
            arrived = [self._waiting.get(timeout=_STOP_POLL_SECONDS)]
        except queue.Empty:
            return []
        while len(arrived) < ROUND_LIMIT and not self._waiting.empty():
            arrived.append(self._waiting.get_nowait())
        return arrived

    def _record(self, arrived: list[Received]) -> None:
        heartbeats: list[SignedHeartbeat] = []
        statuses: list[SignedStatus] = []
        for received in arrived:
            try:
                read = _read(received)
            except HeartbeatError as error:
                log.warning("terminal heartbeat not understood", extra={
                    "topic": received.topic, "field": error.field, "reason": error.reason})
                continue
            if isinstance(read, SignedStatus):
                statuses.append(read)
            else:
                heartbeats.append(read)
        with self._sessions() as session:
            outcomes = record_terminal_heartbeats(session, heartbeats, self._latest)
            changes = record_terminal_statuses(session, statuses)
            session.commit()
        for outcome in outcomes:
            if outcome.refusal is not None:
                log.warning("terminal heartbeat refused", extra={
                    "terminal": outcome.terminal_id, "reason": outcome.refusal})
            elif outcome.came_back:
                log.info("terminal back online", extra={"terminal": outcome.terminal_id})
        for change in changes:
            if change.refusal is not None:
                log.warning("terminal status refused", extra={
                    "terminal": change.terminal_id, "state": change.state.value,
                    "reason": change.refusal})
            elif change.changed and change.state is ConnectionState.OFFLINE:
                log.warning("terminal offline: its connection was lost (Last Will)",
                            extra={"terminal": change.terminal_id})
            elif change.changed:
                log.info("terminal back online: connected", extra={
                    "terminal": change.terminal_id})
