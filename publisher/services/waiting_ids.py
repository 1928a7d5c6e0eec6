"""Ids kept for a while, for receipts that arrive before what they are a receipt of.

A provider answers (or a device acks) as soon as it has a message, and its
receipt can be recorded before the hand-over that names the provider id has
committed. The receipt is stored as unknown; its id waits here, to be
offered again to ``receipts.rematch_receipts`` until it matches, its time is
up, or newer ones push it out.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Iterable, Iterator
from typing import Generic, TypeVar

__all__ = ["WaitingIds"]

Key = TypeVar("Key", bound=Hashable)


class WaitingIds(Generic[Key]):
    """Ids kept each for ``seconds``, at most ``limit`` of them, the oldest out first.

    Not thread-safe: a caller shared by threads holds its own lock.
    """

    def __init__(self, seconds: float, limit: int) -> None:
        self._seconds = seconds
        self._limit = limit
        # In the order they were kept, which is the order their time is up.
        self._until: dict[Key, float] = {}

    def keep(self, keys: Iterable[Key], now: float) -> list[Key]:
        """Keep ``keys`` from ``now`` on; returns the oldest ones the limit pushed out."""
        for key in keys:
            self._until.pop(key, None)
            self._until[key] = now + self._seconds
        pushed = list(itertools.islice(self._until, max(0, len(self._until) - self._limit)))
        self.discard(pushed)
        return pushed

    def discard(self, keys: Iterable[Key]) -> None:
        for key in keys:
            self._until.pop(key, None)

    def expired(self, now: float) -> list[Key]:
        """Forget the ids whose time is up at ``now``, and return them."""
        done = list(itertools.takewhile(lambda key: self._until[key] <= now, self._until))
        self.discard(done)
        return done

    def __contains__(self, key: object) -> bool:
        return key in self._until

    def __len__(self) -> int:
        return len(self._until)

    def __iter__(self) -> Iterator[Key]:
        return iter(self._until)
