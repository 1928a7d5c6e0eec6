"""Pacing of one SMPP bind: a token bucket in message parts per second.

A carrier contracts a rate per bind and counts every ``submit_sm``, so the
unit is the part, not the message. The bucket holds little more than one
token: parts leave evenly spaced, and a window of responses that comes back
at once never releases the whole window in one burst. The fraction above one
token absorbs the lateness of the loop's wake-ups, which would otherwise be
lost and keep the bind below its contracted rate.

When the SMSC answers ESME_RTHROTTLED or ESME_RMSGQFUL, the bind pauses
(20 ms, doubling up to 1 s while throttles keep coming) and the rate drops
by ``decrease_factor``, never below ``floor_fraction`` of the contracted rate
(the pauses do the rest: a throttling SMSC slows the bind, never collapses
it); it holds there for ``hold_seconds`` and then climbs back linearly to
the contracted rate over ``recovery_seconds``. The responses
to parts sent before a throttle belong to the same episode: they neither
double the pause nor lower the rate again, so one full window of throttles
does not collapse the rate.

Time is passed in (``now``, seconds on a monotonic clock): the pacer does
no I/O and never sleeps.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Pacer", "PacingPolicy", "default_burst"]


@dataclass(frozen=True, slots=True)
class PacingPolicy:
    """How a bind reacts to throttling; the defaults follow the SMS issue."""

    backoff_initial: float = 0.02
    backoff_max: float = 1.0
    decrease_factor: float = 0.7
    floor_fraction: float = 0.5
    hold_seconds: float = 0.5
    recovery_seconds: float = 2.0

    def __post_init__(self) -> None:
        if not 0 < self.backoff_initial <= self.backoff_max:
            raise ValueError(f"backoff_initial: {self.backoff_initial} must be > 0 and"
                             f" <= backoff_max {self.backoff_max}")
        if not 0 < self.decrease_factor <= 1:
            raise ValueError(f"decrease_factor: {self.decrease_factor} is outside (0, 1]")
        if not 0 < self.floor_fraction <= 1:
            raise ValueError(f"floor_fraction: {self.floor_fraction} is outside (0, 1]")
        if self.hold_seconds < 0 or self.recovery_seconds <= 0:
            raise ValueError(f"hold_seconds {self.hold_seconds} must be >= 0 and"
                             f" recovery_seconds {self.recovery_seconds} > 0")


_TOKEN_EPSILON = 1e-9


def default_burst(rate: float) -> float:
    """1.5 parts, or 10 ms of traffic at higher rates: enough to keep wake-up lateness.

    A bind's thread shares the interpreter with the worker's other threads,
    and one that wakes while another holds the GIL waits up to the switch
    interval (5 ms) for it: the bucket must hold that much.
    """
    return max(1.5, rate * 0.01)


class Pacer:
    """When the next part may leave one bind; not thread-safe (the bind's loop owns it)."""

    def __init__(self, rate: float, *, burst: float | None = None,
                 policy: PacingPolicy | None = None, now: float = 0.0) -> None:
        if rate <= 0:
            raise ValueError(f"rate: {rate} parts per second must be positive")
        self.contracted_rate = rate
        self.burst = default_burst(rate) if burst is None else burst
        if self.burst < 1:
            raise ValueError(f"burst: {self.burst} must be at least one part")
        self.policy = policy or PacingPolicy()
        self._tokens = 1.0
        self._refilled_at = now
        self._paused_until = now
        self._consecutive_throttles = 0
        self._episode_started_at: float | None = None
        self._reduced_rate = rate

    def rate(self, now: float) -> float:
        """The rate in force at ``now``: contracted, or lowered after a throttle and recovering."""
        if self._episode_started_at is None:
            return self.contracted_rate
        elapsed = now - self._episode_started_at - self.policy.hold_seconds
        if elapsed <= 0:
            return self._reduced_rate
        progress = min(1.0, elapsed / self.policy.recovery_seconds)
        return self._reduced_rate + (self.contracted_rate - self._reduced_rate) * progress

    def _refill(self, now: float) -> None:
        if now > self._refilled_at:
            self._tokens = min(self.burst,
                               self._tokens + (now - self._refilled_at) * self.rate(now))
            self._refilled_at = now

    def wait(self, now: float) -> float:
        """Seconds until one part may leave; 0.0 when it may leave now."""
        self._refill(now)
        paused = max(0.0, self._paused_until - now)
        # Rounding must not leave a sliver of a token to wait for.
        short = 1.0 - self._tokens
        if short <= _TOKEN_EPSILON:
            short = 0.0
        return max(paused, short / self.rate(now))

    def take(self, now: float) -> None:
        """One part leaves at ``now``; call only when ``wait(now)`` is 0."""
        self._refill(now)
        self._tokens -= 1.0

    def throttled(self, now: float, sent_at: float) -> None:
        """The SMSC refused a part sent at ``sent_at`` as throttled or queue-full."""
        episode = self._episode_started_at
        if episode is not None and sent_at < episode:
            return
        self._refill(now)
        lowered = self.rate(now) * self.policy.decrease_factor
        self._reduced_rate = max(self.contracted_rate * self.policy.floor_fraction, lowered)
        self._episode_started_at = now
        pause = min(self.policy.backoff_max,
                    self.policy.backoff_initial * 2 ** self._consecutive_throttles)
        self._consecutive_throttles += 1
        self._paused_until = now + pause
        self._tokens = min(self._tokens, 1.0)

    def accepted(self, now: float, sent_at: float) -> None:
        """The SMSC took a part sent at ``sent_at``.

        Only a part sent after the last throttle proves that the SMSC takes
        traffic again and restarts the back-off at its first step.
        """
        episode = self._episode_started_at
        if episode is None:
            return
        if sent_at >= episode:
            self._consecutive_throttles = 0
        if self.rate(now) >= self.contracted_rate:
            self._episode_started_at = None
            self._consecutive_throttles = 0
