"""The access token of the WeChat API: fetched once, kept until shortly before it expires.

``GET /cgi-bin/token`` answers a token and its ``expires_in`` (7200 s on the
real API). The token is renewed ``min(300 s, a tenth of its lifetime)``
before it runs out, counted from the moment it was asked for, so a slow
answer never makes it look younger than it is. A call the API refuses with
40001 (invalid credential: another process fetched a newer token) or 42001
(expired) asks for ``refresh`` with the token it used: only the first of
several calls that saw the same token fetches a new one, the others get
that new one.

The cache lives on one event loop (the client's); the token is a credential
and never appears in its repr.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

__all__ = ["REFRESH_MARGIN_SECONDS", "IssuedToken", "TokenCache"]

REFRESH_MARGIN_SECONDS = 300.0
# Short-lived tokens (a simulator's) are renewed at nine tenths of their life.
_REFRESH_MARGIN_SHARE = 0.1


@dataclass(frozen=True, slots=True)
class IssuedToken:
    value: str = field(repr=False)
    expires_in: float


class TokenCache:
    """One access token, fetched through ``fetch`` when there is none or it is about to expire."""

    def __init__(self, fetch: Callable[[], Awaitable[IssuedToken]],
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._value: str | None = None
        self._renew_at = 0.0
        self._lock = asyncio.Lock()
        self.fetches = 0

    def __repr__(self) -> str:
        return f"TokenCache(cached={self._value is not None}, fetches={self.fetches})"

    def _fresh(self) -> str | None:
        if self._value is not None and self._clock() < self._renew_at:
            return self._value
        return None

    async def current(self) -> str:
        """A token that is not about to expire; raises what ``fetch`` raises."""
        fresh = self._fresh()
        if fresh is not None:
            return fresh
        async with self._lock:
            return self._fresh() or await self._renew()

    async def refresh(self, rejected: str) -> str:
        """A token other than ``rejected``, which the API refused as invalid or expired."""
        async with self._lock:
            if self._value is not None and self._value != rejected:
                return self._value
            return await self._renew()

    async def _renew(self) -> str:
        asked_at = self._clock()
        self._value = None
        issued = await self._fetch()
        self.fetches += 1
        margin = min(REFRESH_MARGIN_SECONDS, issued.expires_in * _REFRESH_MARGIN_SHARE)
        self._value = issued.value
        self._renew_at = asked_at + issued.expires_in - margin
        return issued.value
