"""``deliver_sm`` the SMSC sends again while the first waits for its answer: copies, not news.

An SMSC that waits longer than its response timeout for a ``deliver_sm_resp``
sends the ``deliver_sm`` again under a new sequence, and again, until one is
answered (the simulator: every 6 s, 20 times). A worker more than that
timeout behind (its database busy for a few seconds while an alert's million
deliveries are planned) then gets every receipt many times over. Reading,
queuing and storing each copy costs what the receipt cost, so the copies keep
the worker behind, the SMSC sends more of them, and the worker never catches
up: measured at 1,000,000 subscribers, ten copies came for each receipt and
the worker took 300 receipts/s of the 1,000/s the SMSC delivered.

A copy of a receipt carries the same octets after the PDU header as the
first (only the sequence differs) and comes from the same SMSC, so
``InboundCopies``, shared by the channel's binds, takes each receipt's body
with its SMSC before it is parsed (``smpp_bind.body_key``: two SMSCs may
well send the same octets for different messages). Texts from phones are
not taken (see ``smpp_bind``). Of the receipts:

- the first of a body is read and queued as before, and waits;
- a copy of one that waits is neither read nor queued: its acknowledgement
  joins the first's, and both are answered when the first is stored (the
  SMSC heeds the answer to its latest copy only);
- a copy of one stored in the last ``seconds`` (to twice that) is answered
  at once: the answer to it was late, or lost with a connection.

What is remembered is bounded by what waits plus what arrives in up to twice
``seconds`` (two generations of 64-bit hashes), not by the length of a run.
"""

from __future__ import annotations

import enum
import threading
from collections.abc import Iterable

from publisher.channels.smpp_bind import Acknowledgement

__all__ = ["REMEMBERED_SECONDS", "Copy", "InboundCopies"]

# An SMSC sends a deliver_sm again for minutes (the simulator: 20 attempts
# 6 s apart); a copy that comes later than this is stored again, and
# recorded as a duplicate receipt, which is harmless.
REMEMBERED_SECONDS = 180.0


class Copy(enum.Enum):
    """What a ``deliver_sm`` is, by its body: see the module."""

    FIRST = "first"
    OF_WAITING = "of a waiting one"
    OF_STORED = "of a stored one"


class InboundCopies:
    """The bodies taken and not answered yet, and those answered lately. Thread-safe."""

    def __init__(self, seconds: float = REMEMBERED_SECONDS) -> None:
        self._seconds = seconds
        self._lock = threading.Lock()
        # By body: the first's acknowledgement, then each copy's.
        self._waiting: dict[int, list[Acknowledgement]] = {}
        self._body_of: dict[Acknowledgement, int] = {}
        self._stored: set[int] = set()
        self._stored_before: set[int] = set()
        self._turned_at: float | None = None
        self._copies = 0

    def take(self, key: int, acknowledgement: Acknowledgement, now: float) -> Copy:
        """A ``deliver_sm`` with body ``key`` arrived; what it is. A copy is counted."""
        with self._lock:
            self._turn(now)
            waiting = self._waiting.get(key)
            if waiting is not None:
                waiting.append(acknowledgement)
                self._copies += 1
                return Copy.OF_WAITING
            if key in self._stored or key in self._stored_before:
                self._copies += 1
                return Copy.OF_STORED
            self._waiting[key] = [acknowledgement]
            self._body_of[acknowledgement] = key
            return Copy.FIRST

    def answered(self, acknowledgements: Iterable[Acknowledgement]) -> list[Acknowledgement]:
        """What answers these firsts (stored or dropped now): they and their copies.

        An acknowledgement of no first taken here (a copy, or one never
        taken) is answered as it is.
        """
        answering: list[Acknowledgement] = []
        with self._lock:
            for acknowledgement in acknowledgements:
                key = self._body_of.pop(acknowledgement, None)
                if key is None:
                    answering.append(acknowledgement)
                    continue
                answering.extend(self._waiting.pop(key))
                self._stored.add(key)
        return answering

    def refused(self, key: int) -> None:
        """The first of ``key`` was refused (unreadable, not taken): a copy is a first again."""
        with self._lock:
            for acknowledgement in self._waiting.pop(key, []):
                self._body_of.pop(acknowledgement, None)

    def copies_taken(self) -> int:
        """How many copies came since the last call."""
        with self._lock:
            copies, self._copies = self._copies, 0
        return copies

    def clear(self) -> None:
        """The binds are closed: what waits will come again, as firsts, on new connections."""
        with self._lock:
            self._waiting.clear()
            self._body_of.clear()

    def _turn(self, now: float) -> None:
        if self._turned_at is None:
            self._turned_at = now
        elif now - self._turned_at >= self._seconds:
            self._stored_before, self._stored = self._stored, set()
            self._turned_at = now
