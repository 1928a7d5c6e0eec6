"""Failovers of the SMS channel: a batch sent over a route because those before it were down.

Each delivery such a batch took says so in its note (the delivery row's
``last_error``, which for a delivered message is a remark, not an error):
the route it went over and the state of each route passed over. The first
such batch of a message from a route (the first passed over) to another is
also put on ``waiting`` for the audit log (``services.sms_failover_audit``,
which keeps it to one entry across processes): the channel never touches
the database, whoever owns a session records them.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace

from publisher.channels.base import OutgoingMessage, SendResult
from publisher.channels.sms_routes import Choice

__all__ = ["Failover", "FailoverLog"]

log = logging.getLogger(__name__)

# Episodes remembered so that this process puts each on ``waiting`` once.
_REMEMBERED = 10_000


@dataclass(frozen=True, slots=True)
class Failover:
    message_id: int
    alert_identifier: str
    from_route: str
    route: str
    passed_over: tuple[str, ...]
    deliveries: int

    @property
    def episode(self) -> tuple[int, str, str]:
        return self.message_id, self.from_route, self.route

    @property
    def reason(self) -> str:
        return f"sent over route {self.route}; passed over {'; '.join(self.passed_over)}"


class FailoverLog:
    def __init__(self) -> None:
        self.waiting: queue.SimpleQueue[Failover] = queue.SimpleQueue()
        self._seen: dict[tuple[int, str, str], None] = {}
        self._lock = threading.Lock()

    def noted(self, message: OutgoingMessage, choice: Choice,
              results: Sequence[SendResult]) -> list[SendResult]:
        """``results``, those taken by a route that took over with the failover in their note."""
        if not choice.passed_over:
            return list(results)
        taken = [result for result in results if result.provider_id is not None]
        failover = Failover(message.message_id, message.identifier,
                            choice.passed_over_routes[0], choice.route.name,
                            choice.passed_over, len(taken))
        self._report(failover)
        note = f"failover: {failover.reason}"
        return [replace(result, error=note if result.error is None
                        else f"{result.error}; {note}")
                if result.provider_id is not None else result for result in results]

    def _report(self, failover: Failover) -> None:
        key = failover.episode
        with self._lock:
            if key in self._seen:
                return
            if len(self._seen) >= _REMEMBERED:
                del self._seen[next(iter(self._seen))]
            self._seen[key] = None
        log.warning("sms failover", extra={"alert_identifier": failover.alert_identifier,
                                           "route": failover.route,
                                           "passed_over": list(failover.passed_over)})
        self.waiting.put(failover)
