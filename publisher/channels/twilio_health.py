"""Whether a REST route is healthy: its recent error rate, and a check while it is down.

A request that did not reach the API (refused, reset, timed out) or that it
answered with a 5xx or an authentication failure counts as an error; a
throttle (429) does not: the API is up and says how fast. Once the errors
among the last ``window`` requests reach ``error_rate`` (or the API is not
reachable at all), the route is down: the SMS channel takes it out, and a
check of the account (``GET .../Accounts/{sid}.json``) every ``interval``
seconds brings it back on its first success. Thread-safe: requests report
on the client's loop, the channel asks from the worker's threads.
"""

from __future__ import annotations

import collections
import threading
import time

__all__ = ["RouteHealth"]

# Fewer requests than this say nothing about a rate: one error of two is not 50%.
_MIN_REQUESTS = 5


class RouteHealth:
    def __init__(self, window: int, error_rate: float, interval: float) -> None:
        self._outcomes: collections.deque[bool] = collections.deque(maxlen=window)
        self._error_rate = error_rate
        self._interval = interval
        self._lock = threading.Lock()
        self._down_since: float | None = None
        self._checked_at = 0.0
        self.reason = ""

    @property
    def down(self) -> bool:
        with self._lock:
            return self._down_since is not None

    def succeeded(self) -> None:
        with self._lock:
            self._outcomes.append(True)

    def failed(self, reason: str, *, unreachable: bool = False) -> None:
        with self._lock:
            self._outcomes.append(False)
            counted = len(self._outcomes)
            enough = counted >= min(_MIN_REQUESTS, self._outcomes.maxlen or 1)
            too_many = self._outcomes.count(False) >= self._error_rate * counted
            if self._down_since is None and (unreachable or (enough and too_many)):
                self._down_since = time.monotonic()
                self._checked_at = self._down_since
            self.reason = reason

    def check_due(self, now: float) -> bool:
        """Whether a check of a down route is due now; taking it makes the next one wait."""
        with self._lock:
            if self._down_since is None or now < self._checked_at + self._interval:
                return False
            self._checked_at = now
            return True

    def recovered(self) -> None:
        with self._lock:
            self._down_since = None
            self._outcomes.clear()
            self.reason = ""
