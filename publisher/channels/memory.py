"""The memory channel: delivers into a sink that tests and the demo can read back.

The sink is a SQLite database: in memory by default, or a file named by the
``sink`` option, so that processes (a worker killed with ``kill -9`` and its
successor) count into the same place. It keeps one row per delivery id and
ignores a repeated one, counting it as a repeated hand-over: the channel is
idempotent by delivery id, like a provider that deduplicates on our
reference.

Options (``channel_options["memory"]``):
- ``sink``: path of the sink file; in memory when absent.
- ``acknowledge``: true (default) reports deliveries as delivered at once;
  false reports them sent, and receipts move them along.
- ``delay_per_batch``: seconds to spend on each batch, to widen the window of
  a crash test.
- ``transient_failures``: how many ``send`` calls of this instance fail with a
  transient error before the channel works, to exercise retries.

An address starting with ``reject:`` is refused, as a provider refuses a
number that does not exist.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from publisher.channels.base import (
    Channel,
    DeliveryStatus,
    OutgoingMessage,
    ParsedReceipt,
    ReceiptError,
    SendResult,
    TargetRef,
    TransientChannelError,
)

__all__ = ["MemoryChannel", "MemorySink", "SinkEntry"]

REJECTED_PREFIX = "reject:"
_PROVIDER_PREFIX = "memory-"
_RECEIPT_STATUSES = {status.value: status for status in DeliveryStatus
                     if status is DeliveryStatus.SENT or status.is_final}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS handovers (
    delivery_id INTEGER PRIMARY KEY,
    message_id INTEGER NOT NULL,
    identifier TEXT NOT NULL,
    kind TEXT NOT NULL,
    address TEXT NOT NULL,
    text TEXT NOT NULL,
    at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS repeats (delivery_id INTEGER NOT NULL, at REAL NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class SinkEntry:
    delivery_id: int
    message_id: int
    identifier: str
    kind: str
    address: str
    text: str


class MemorySink:
    """What the memory channel has handed over, one row per delivery id."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = str(path) if path is not None else ":memory:"
        self._lock = threading.Lock()
        self._connection = sqlite3.connect(self.path, timeout=30, check_same_thread=False,
                                           isolation_level=None)
        if path is not None:
            self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.executescript(_SCHEMA)

    def accept(self, entries: Sequence[SinkEntry]) -> int:
        """Store a batch in one transaction; returns how many were repeats (ignored)."""
        now = time.time()
        with self._lock:
            cursor = self._connection.cursor()
            cursor.execute("BEGIN IMMEDIATE")
            try:
                repeats = []
                for entry in entries:
                    cursor.execute(
                        "INSERT OR IGNORE INTO handovers VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (entry.delivery_id, entry.message_id, entry.identifier, entry.kind,
                         entry.address, entry.text, now),
                    )
                    if cursor.rowcount == 0:
                        repeats.append((entry.delivery_id, now))
                cursor.executemany("INSERT INTO repeats VALUES (?, ?)", repeats)
                cursor.execute("COMMIT")
            except BaseException:
                cursor.execute("ROLLBACK")
                raise
        return len(repeats)

    def entries(self) -> list[SinkEntry]:
        with self._lock:
            rows = self._connection.execute(
                "SELECT delivery_id, message_id, identifier, kind, address, text"
                " FROM handovers ORDER BY delivery_id").fetchall()
        return [SinkEntry(*row) for row in rows]

    def count(self) -> int:
        with self._lock:
            return int(self._connection.execute("SELECT count(*) FROM handovers").fetchone()[0])

    def repeats(self) -> int:
        """Hand-overs of a delivery id the sink already had: absorbed, never shown twice."""
        with self._lock:
            return int(self._connection.execute("SELECT count(*) FROM repeats").fetchone()[0])

    def close(self) -> None:
        with self._lock:
            self._connection.close()


class MemoryChannel(Channel[str]):
    name = "memory"
    batch_size = 1000
    idempotent_by_delivery_id = True
    # A local SQLite sink: nothing to keep open, so any worker may hand over.
    inline_first_batch = True

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        self.sink = MemorySink(self.options.get("sink"))
        self.acknowledge = bool(self.options.get("acknowledge", True))
        self.delay_per_batch = float(self.options.get("delay_per_batch", 0.0))
        self._transient_failures_left = int(self.options.get("transient_failures", 0))

    def render(self, message: OutgoingMessage, language: str) -> str:
        info = message.info_for(language)
        parts = [info.headline or info.event, info.description, info.instruction]
        return "\n".join(part for part in parts if part)

    def send(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        return self._hand_over(message, targets, kind="alert")

    def cancel(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        return self._hand_over(message, targets, kind="cancel")

    def _hand_over(self, message: OutgoingMessage, targets: Sequence[TargetRef],
                   kind: str) -> list[SendResult]:
        if self._transient_failures_left > 0:
            self._transient_failures_left -= 1
            raise TransientChannelError("memory sink busy (transient_failures option)")
        if self.delay_per_batch:
            time.sleep(self.delay_per_batch)
        accepted = [target for target in targets if not target.address.startswith(REJECTED_PREFIX)]
        self.sink.accept([
            SinkEntry(target.delivery_id, message.message_id, message.identifier, kind,
                      target.address, self.render(message, target.language))
            for target in accepted
        ])
        status = DeliveryStatus.DELIVERED if self.acknowledge else DeliveryStatus.SENT
        return [
            SendResult(target.delivery_id, None, DeliveryStatus.FAILED, "rejected: no such address")
            if target.address.startswith(REJECTED_PREFIX)
            else SendResult(target.delivery_id, f"{_PROVIDER_PREFIX}{target.delivery_id}", status)
            for target in targets
        ]

    def parse_receipt(self, raw: Mapping[str, Any]) -> ParsedReceipt:
        """``{"provider_id": "memory-17", "status": "delivered", "detail": "..."}``."""
        provider_id = raw.get("provider_id")
        if not isinstance(provider_id, str) or not provider_id.startswith(_PROVIDER_PREFIX):
            raise ReceiptError("provider_id", f"expected a string starting {_PROVIDER_PREFIX!r}")
        status = _RECEIPT_STATUSES.get(str(raw.get("status", "")))
        if status is None:
            raise ReceiptError("status", f"expected one of {', '.join(sorted(_RECEIPT_STATUSES))}")
        return ParsedReceipt(provider_id, status, str(raw.get("detail", "")))

    def close(self) -> None:
        self.sink.close()
