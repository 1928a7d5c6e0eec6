"""Start the fan-out of what a request just published, without ever waiting on the broker.

Publishing commits the message and its outbox row first; only then is the
outbox row relayed, once, here, without publish retries. A broker that is
down costs the request one short connection attempt (the Celery app's
connect timeout): the outbox row stays, and the periodic relay in the worker
sends it when the broker is back.
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
