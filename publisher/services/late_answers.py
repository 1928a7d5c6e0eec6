"""Receipts answered so late that the SMSC may send them again: reported, with the copies.

An SMSC waits a few seconds (5 to 30) for each ``deliver_sm_resp``, then sends
the ``deliver_sm`` again. A worker whose answers come that late is behind its
SMSC (its database busy, its CPU shared), and the copies it gets
(``sms_inbound_copies``) say the SMSC noticed. The operator sees both in one
warning at most every few seconds, instead of a line per receipt.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable

from publisher.channels.smpp_bind import InboundMessage

__all__ = ["LATE_ANSWER_SECONDS", "LateAnswers"]

# The simulator waits 5 s; an answer this late is already close to that.
LATE_ANSWER_SECONDS = 3.0
LATE_REPORT_SECONDS = 10.0


class LateAnswers:
    """Reports receipts answered so late that the SMSC may have sent them again.

    One warning at most every ``report_seconds``: how many were late since
    the last one, the longest wait, and how many copies came.
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
        """Note ``messages`` answered at ``now``, and ``copies`` come since; warn when due."""
        waits = [now - message.arrived_at for message in messages]
        late = [wait for wait in waits if wait >= self._late_seconds]
        self._late += len(late)
        self._longest = max([self._longest, *late])
        self._copies += copies
        if (self._late or self._copies) and now >= self._reported_at + self._report_seconds:
            self._log.warning("sms receipts answered late: the SMSC may send them again", extra={
                "receipts": self._late, "longest_seconds": round(self._longest, 1),
                "copies": self._copies, "late_after_seconds": self._late_seconds})
            self._reported_at = now
            self._late, self._longest, self._copies = 0, 0.0, 0
