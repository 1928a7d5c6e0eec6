"""Start the fan-out of what a request just published, without ever waiting on the broker.

Publishing commits the message and its outbox row first; only then is the
outbox row relayed, once, here, without publish retries. A broker that is
down costs the request one short connection attempt (the Celery app's
connect timeout): the outbox row stays, and the periodic relay in the worker
sends it when the broker is back. Deliveries a device missed and gets again
when it calls in (``services.device_replay``) go to their channel's queue
the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.orm import Session, sessionmaker

from publisher.services.outbox import relay_outbox
from publisher.store.db import session_scope

__all__ = ["FanoutTrigger"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class FanoutTrigger:
    sessions: sessionmaker[Session]
    # Hands one message id to the broker, or raises at once when it cannot.
    enqueue: Callable[[int], None]
    # Hands one batch of deliveries to its channel's queue, or raises at once when it cannot.
    enqueue_batch: Callable[[str, list[int]], None]

    def _relay(self, message_id: int) -> int:
        with session_scope(self.sessions) as session:
            return relay_outbox(session, self.enqueue, message_id=message_id)

    async def trigger(self, message_id: int) -> str:
        """``"enqueued"`` when the message went to the broker, else ``"deferred"``."""
        try:
            relayed = await asyncio.to_thread(self._relay, message_id)
        except Exception as error:  # the periodic relay retries; the request must not fail
            log.warning("fan-out deferred to the periodic relay",
                        extra={"message_id": message_id, "error": str(error)})
            return "deferred"
        return "enqueued" if relayed else "deferred"

    async def resend(self, channel: str, delivery_ids: list[int]) -> bool:
        """Enqueue deliveries put back in the queue (a replay); False when the broker refused.

        Refused ones stay QUEUED, for the next replay or a worker's start
        (``resume_unfinished``) to enqueue.
        """
        if not delivery_ids:
            return True
        try:
            await asyncio.to_thread(self.enqueue_batch, channel, delivery_ids)
        except Exception as error:  # the rows wait in the database; the request must not fail
            log.warning("replayed deliveries left queued: the broker refused them",
                        extra={"channel": channel, "delivery_ids": delivery_ids[:10],
                               "error": str(error)})
            return False
        return True
