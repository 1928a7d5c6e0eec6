"""Receipts the SMSC sends again because our answer came late: answered, not stored twice.

An SMSC that waits longer than its response timeout for a ``deliver_sm_resp``
sends the ``deliver_sm`` again, with a new sequence, and keeps doing so
until one is answered. A worker that falls behind its receipts (a database
busy for a few seconds) would otherwise store every copy: each copy is one
more row to write in the rounds that are already late, so the answers come
later still, the SMSC sends more copies, and a worker that was a little
behind falls further behind until the SMSC gives the receipts up and their
deliveries never reach a final state.

``ResentReceipts`` tells the copies apart from the receipts they repeat by
everything the SMSC put in them (receipted id, state, text, sender), so a
copy is answered once the receipt it repeats is stored, and only the first
is written. A receipt is remembered for ``seconds`` to twice that (two
generations of hashes, so the memory it takes is bounded by what arrives in
that time, not by the length of the run).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Iterable, Sequence

from publisher.channels.smpp_bind import InboundMessage

__all__ = ["REMEMBERED_SECONDS", "LateAnswers", "ResentReceipts", "receipt_key"]

# An SMSC sends a receipt again for minutes (the simulator: 20 attempts a
# few seconds apart); a copy that comes later than this is stored again, and
# recorded as a duplicate, which is harmless.
REMEMBERED_SECONDS = 180.0
# SMSCs wait 5 to 30 s for an answer before they send a deliver_sm again
# (the simulator: 5 s); an answer this late is already close to that.
LATE_ANSWER_SECONDS = 3.0
LATE_REPORT_SECONDS = 10.0


def receipt_key(message: InboundMessage) -> int:
    """What a copy has in common with the receipt it repeats, as a 64-bit hash.

    Two different receipts share one only with a chance of about one in 10^19.
    """
    digest = hashlib.blake2b(digest_size=8)
    for part in (message.receipted_message_id or "").encode("latin-1", "replace"), \
            bytes((message.message_state or 0,)), message.short_message, \
            message.message_payload or b"", message.source_addr.encode("latin-1", "replace"):
        digest.update(len(part).to_bytes(4, "big"))
        digest.update(part)
    return int.from_bytes(digest.digest(), "big")


class ResentReceipts:
    """The receipts stored in the last ``seconds`` (to twice that), by ``receipt_key``.

    Not thread-safe: the inbound pump's thread alone uses it.
    """

    def __init__(self, seconds: float = REMEMBERED_SECONDS) -> None:
        self._seconds = seconds
        self._current: set[int] = set()
        self._previous: set[int] = set()
        self._turned_at: float | None = None

    def sort_out(self, messages: Sequence[InboundMessage], now: float
                 ) -> tuple[list[InboundMessage], list[InboundMessage]]:
        """``messages`` split into those to store and the copies only to answer.

        A copy is one whose receipt was stored already, or that repeats one
        earlier in ``messages``.
        """
        self._turn(now)
        fresh: list[InboundMessage] = []
        copies: list[InboundMessage] = []
        seen: set[int] = set()
        for message in messages:
            key = receipt_key(message)
            if key in seen or key in self._current or key in self._previous:
                copies.append(message)
            else:
                seen.add(key)
                fresh.append(message)
        return fresh, copies

    def remember(self, stored: Iterable[InboundMessage]) -> None:
        """Note receipts that are stored (committed) now."""
        self._current.update(receipt_key(message) for message in stored)

    def _turn(self, now: float) -> None:
        if self._turned_at is None:
            self._turned_at = now
        elif now - self._turned_at >= self._seconds:
            self._previous, self._current = self._current, set()
            self._turned_at = now


class LateAnswers:
    """Reports receipts answered so late that the SMSC may have sent them again.

    One warning at most every ``report_seconds``: how many were late since
    the last one, the longest wait, and how many copies were answered.
    """

    def __init__(self, log: logging.Logger, *, late_seconds: float = LATE_ANSWER_SECONDS,
                 report_seconds: float = LATE_REPORT_SECONDS) -> None:
        self._log = log
        self._late_seconds = late_seconds
        self._report_seconds = report_seconds
        self._late = 0
        self._longest = 0.0
        self._copies = 0
        self._reported_at = -math.inf

    def answered(self, messages: Iterable[InboundMessage], copies: int, now: float) -> None:
        """Note ``messages`` answered at ``now``, ``copies`` of them copies; warn when due."""
        waits = [now - message.arrived_at for message in messages]
        late = [wait for wait in waits if wait >= self._late_seconds]
        self._late += len(late)
        self._longest = max([self._longest, *late])
        self._copies += copies
        if (self._late or self._copies) and now >= self._reported_at + self._report_seconds:
            self._log.warning("sms receipts answered late: the SMSC may send them again", extra={
                "receipts": self._late, "longest_seconds": round(self._longest, 1),
                "copies_answered": self._copies, "late_after_seconds": self._late_seconds})
            self._reported_at = now
            self._late, self._longest, self._copies = 0, 0.0, 0
