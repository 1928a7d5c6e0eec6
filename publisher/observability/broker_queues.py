"""How many tasks wait in each queue of the broker, asked at scrape time.

A passive ``queue_declare`` answers with the queue's message count without
creating or changing anything on RabbitMQ; kombu's virtual transports (the
embedded SQLite broker) answer it from their own tables. A queue no worker
has declared yet is left out rather than reported empty.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any

__all__ = ["BROKER_TIMEOUT_SECONDS", "queue_depths"]

BROKER_TIMEOUT_SECONDS = 3.0


def queue_depths(connect: Callable[[], AbstractContextManager[Any]],
                 queues: Sequence[str]) -> dict[str, int]:
    """Per queue name, the tasks waiting in it (ready, not yet taken by a worker)."""
    depths: dict[str, int] = {}
    with connect() as connection:
        connection.ensure_connection(max_retries=1, interval_start=0,
                                     timeout=BROKER_TIMEOUT_SECONDS)
        for name in queues:
            # RabbitMQ closes a channel that asked for a missing queue: one channel per queue.
            channel = connection.channel()
            try:
                depths[name] = int(channel.queue_declare(queue=name, passive=True).message_count)
            except connection.channel_errors:
                continue
            finally:
                channel.close()
    return depths
