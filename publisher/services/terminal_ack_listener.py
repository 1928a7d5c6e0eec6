"""The ack listener: one subscriber to ``acks/+`` that records terminals' acks in batches.

It runs in ``publisher web``, the process that records the acks of boards
and speakers: the device registry, the early acks' rematching and the
device channels are there already, and a worker stays free to send.

The subscription is a persistent MQTT session (a fixed client id), and each
ack is acknowledged to the broker only once its batch is committed: acks
sent while the listener was down wait on the broker, and those of a batch
that died with the process come again. A batch that could not be committed
is tried again, and the broker holds the acks behind it meanwhile.
"""

from __future__ import annotations

import json
import logging
import queue
import socket
import time
from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.base import Channel
from publisher.channels.mqtt_client import BrokerOptions, Received
from publisher.channels.mqtt_protocol import ACK_SUBSCRIPTION, AckError, TerminalAck
from publisher.services.device_receipts import EarlyAcks
from publisher.services.mqtt_listener import MqttListener
from publisher.services.terminal_acks import SignedAck, record_terminal_acks
from publisher.store.models import ReceiptOutcome

__all__ = ["BATCH_LIMIT", "BATCH_WAIT_SECONDS", "TerminalAckListener", "listener_client_id"]

log = logging.getLogger(__name__)

BATCH_LIMIT = 500
BATCH_WAIT_SECONDS = 0.02
"""How long a batch waits for more acks once it has one: a few ms, many acks per commit."""
_RETRY_SECONDS = 1.0
_STOP_POLL_SECONDS = 0.5


def listener_client_id(options: Mapping[str, Any]) -> str:
    """``channel_options.mqtt.ack_client_id``, else one per host: its session outlives restarts."""
    client_id = options.get("ack_client_id") or f"publisher-acks-{socket.gethostname()}"
    if not isinstance(client_id, str):
        raise ValueError(f"channel_options.mqtt.ack_client_id: {client_id!r} is not a string")
    return client_id


def _read(received: Received) -> SignedAck:
    try:
        body = json.loads(received.payload)
    except ValueError:
        raise AckError("payload", "not JSON") from None
    if not isinstance(body, dict):
        raise AckError("payload", "must be a JSON object")
    ack, signature = TerminalAck.read(received.topic, body)
    return SignedAck(ack, signature)


class TerminalAckListener(MqttListener):
    """Subscribes to the terminals' acks and records them, a batch per commit."""

    def __init__(self, broker: BrokerOptions, client_id: str,
                 sessions: sessionmaker[Session], channel: Callable[[], Channel[Any]],
                 early: EarlyAcks) -> None:
        super().__init__(broker, client_id, [ACK_SUBSCRIPTION], thread_name="terminal-acks",
                         persistent=True, manual_ack=True)
        self._sessions = sessions
        self._channel = channel
        self._early = early

    def _run(self) -> None:
        while not self._stopping.is_set():
            batch = self._next_batch()
            while batch and not self._stopping.is_set():
                try:
                    self._record(batch)
                except Exception:  # the batch is kept and tried again; the loop must live on
                    log.exception("terminal acks not recorded; trying again",
                                  extra={"acks": len(batch)})
                    self._stopping.wait(_RETRY_SECONDS)
                else:
                    batch = []

    def _next_batch(self) -> list[Received]:
        try:
            batch = [self._waiting.get(timeout=_STOP_POLL_SECONDS)]
        except queue.Empty:
            return []
        deadline = time.monotonic() + BATCH_WAIT_SECONDS
        while len(batch) < BATCH_LIMIT:
            try:
                batch.append(self._waiting.get(timeout=max(0.0, deadline - time.monotonic())))
            except queue.Empty:
                break
        return batch

    def _record(self, batch: list[Received]) -> None:
        readable: list[tuple[Received, SignedAck]] = []
        for received in batch:
            try:
                readable.append((received, _read(received)))
            except AckError as error:
                log.warning("terminal ack not understood", extra={
                    "topic": received.topic, "field": error.field, "reason": error.reason})
        channel = self._channel()
        with self._sessions() as session:
            outcomes = record_terminal_acks(session, channel, [ack for _, ack in readable])
            session.commit()
        now = time.monotonic()
        for (_, signed), outcome in zip(readable, outcomes, strict=True):
            if outcome.refusal is not None:
                log.warning("terminal ack refused", extra={
                    "terminal": signed.ack.terminal_id,
                    "alert_identifier": signed.ack.identifier, "reason": outcome.refusal})
            elif outcome.receipt is not None and outcome.receipt.outcome is \
                    ReceiptOutcome.UNKNOWN:
                self._early.keep(channel.name, signed.ack.provider_id, now)
        for received in batch:
            self.connection.ack(received)
