"""Per-client rate limits on logging in and on the public pages, feeds and timeline.

Each limited kind of request has one token bucket per client address: a
client may make ``burst`` requests at once, and the bucket refills at
``per_minute``. A request that finds the bucket empty is refused with 429,
``Retry-After`` saying in whole seconds when the next one will be taken.
Logging in is limited per address on top of the services' lockout of one
account, so that one address cannot try password after password across many
accounts. The defaults are far above what a person or a feed reader does;
``rate_limits`` in the configuration changes them, e.g.
``rate_limits = {login = {burst = 10, per_minute = 6}}``.
"""

from __future__ import annotations

import itertools
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Handler

from publisher.config import ConfigError
from publisher.web.client_address import request_client
from publisher.web.errors import error_response
from publisher.web.staff_context import LOGIN_PATH
from publisher.web.staff_pages import render_error

__all__ = [
    "DEFAULT_LIMITS",
    "LIMITED_KINDS",
    "RATE_LIMITER",
    "RateLimit",
    "RateLimiter",
    "TokenBuckets",
    "limited_kind",
    "rate_limit_middleware",
    "read_rate_limits",
]

LOGIN = "login"
PUBLIC = "public"
LIMITED_KINDS = (LOGIN, PUBLIC)
# Buckets of clients that have not been seen for a while are dropped once
# there are this many, so that a scan from many addresses cannot grow memory.
_PRUNE_ABOVE = 10_000
_PUBLIC_PREFIXES = ("/feeds/", "/alerts/")
_PUBLIC_PATHS = frozenset({"/", "/api/timeline"})


@dataclass(frozen=True, slots=True)
class RateLimit:
    burst: int
    per_minute: float

    def __post_init__(self) -> None:
        if self.burst < 1:
            raise ConfigError(f"rate_limits: burst must be at least 1, not {self.burst}")
        if self.per_minute <= 0:
            raise ConfigError(f"rate_limits: per_minute must be above 0, not {self.per_minute}")


DEFAULT_LIMITS: Mapping[str, RateLimit] = {
    LOGIN: RateLimit(burst=30, per_minute=30),
    PUBLIC: RateLimit(burst=600, per_minute=1200),
}


def _number(kind: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"rate_limits.{kind}.{name}: must be a number, not {value!r}")
    return float(value)


def read_rate_limits(configured: Mapping[str, Mapping[str, Any]]) -> dict[str, RateLimit]:
    """The defaults, with what the configuration's ``rate_limits`` table changes."""
    limits = dict(DEFAULT_LIMITS)
    for kind, values in configured.items():
        if kind not in DEFAULT_LIMITS:
            raise ConfigError(f"rate_limits.{kind}: unknown (known: {', '.join(LIMITED_KINDS)})")
        unknown = sorted(set(values) - {"burst", "per_minute"})
        if unknown:
            raise ConfigError(f"rate_limits.{kind}.{unknown[0]}: unknown "
                              "(known: burst, per_minute)")
        default = DEFAULT_LIMITS[kind]
        limits[kind] = RateLimit(
            burst=int(_number(kind, "burst", values.get("burst", default.burst))),
            per_minute=_number(kind, "per_minute", values.get("per_minute",
                                                               default.per_minute)))
    return limits


class TokenBuckets:
    """One bucket per key under one limit; ``take`` answers the wait, 0 when allowed."""

    def __init__(self, limit: RateLimit, clock: Callable[[], float] = time.monotonic) -> None:
        self._limit = limit
        self._per_second = limit.per_minute / 60
        self._clock = clock
        self._lock = threading.Lock()
        # key -> (tokens left, when they were counted)
        self._buckets: dict[str, tuple[float, float]] = {}

    def _refilled(self, key: str, now: float) -> float:
        tokens, counted = self._buckets.get(key, (float(self._limit.burst), now))
        return min(float(self._limit.burst), tokens + (now - counted) * self._per_second)

    def _prune(self, now: float) -> None:
        full = [key for key in self._buckets
                if self._refilled(key, now) >= self._limit.burst]
        for key in full:
            del self._buckets[key]
        # Still crowded (many addresses at once): forget the longest known down to half,
        # so that pruning stays rare rather than running on every request.
        excess = len(self._buckets) - _PRUNE_ABOVE // 2
        for key in list(itertools.islice(self._buckets, max(0, excess))):
            del self._buckets[key]

    def __len__(self) -> int:
        """How many clients' buckets are remembered."""
        return len(self._buckets)

    def take(self, key: str) -> float:
        with self._lock:
            now = self._clock()
            tokens = self._refilled(key, now)
            if tokens < 1:
                self._buckets[key] = (tokens, now)
                return (1 - tokens) / self._per_second
            self._buckets[key] = (tokens - 1, now)
            if len(self._buckets) > _PRUNE_ABOVE:
                self._prune(now)
            return 0.0


class RateLimiter:
    """The buckets of every limited kind of request, for one application."""

    def __init__(self, limits: Mapping[str, RateLimit],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = dict(limits)
        self._buckets = {kind: TokenBuckets(limit, clock) for kind, limit in limits.items()}

    def wait(self, kind: str, client: str) -> float:
        return self._buckets[kind].take(client)


RATE_LIMITER = web.AppKey("rate_limiter", RateLimiter)


def limited_kind(request: web.Request) -> str | None:
    """Which limit ``request`` counts against, if any."""
    if request.path == LOGIN_PATH and request.method == "POST":
        return LOGIN
    if request.method in ("GET", "HEAD") and (
            request.path in _PUBLIC_PATHS or request.path.startswith(_PUBLIC_PREFIXES)):
        return PUBLIC
    return None


def _refusal(request: web.Request, kind: str, wait: float) -> web.Response:
    retry_after = str(max(1, math.ceil(wait)))
    reason = f"too many requests from this address; try again in {retry_after} s"
    if kind == LOGIN:
        response = render_error(request, 429, "error_title", reason, "rate_limit")
        response.headers["Retry-After"] = retry_after
        return response
    return error_response(429, "rate_limited", "rate_limit", reason,
                          headers={"Retry-After": retry_after})


@web.middleware
async def rate_limit_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    kind = limited_kind(request)
    if kind is not None:
        wait = request.app[RATE_LIMITER].wait(kind, request_client(request))
        if wait > 0:
            return _refusal(request, kind, wait)
    return await handler(request)
