"""The outbox relay: every published message gets its fan-out, even if the broker was down.

Publishing writes an outbox row in the same transaction as the message. The
relay hands each undispatched row to the broker and marks it dispatched;
when the broker refuses, the row stays and carries the error, and the next
run (periodic, and at every worker start) tries again. A fan-out that runs
twice is harmless: planning is idempotent.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session
from structlog.contextvars import bound_contextvars

from publisher.store.models import Message, OutboxEntry, utcnow

__all__ = ["relay_outbox"]

log = logging.getLogger(__name__)


def relay_outbox(session: Session, enqueue: Callable[[int], None], *,
                 message_id: int | None = None, limit: int = 100) -> int:
    """Enqueue the fan-out of undispatched messages; returns how many went. The caller commits.

    Stops at the first refusal: the broker is down, and the others would
    only wait for their own timeout.
    """
    query = (select(OutboxEntry, Message.identifier)
             .join(Message, Message.id == OutboxEntry.message_id)
             .where(OutboxEntry.dispatched_at.is_(None))
             .order_by(OutboxEntry.id).limit(limit)
             .with_for_update(skip_locked=True, of=OutboxEntry))
    if message_id is not None:
        query = query.where(OutboxEntry.message_id == message_id)
    dispatched = 0
    for entry, identifier in session.execute(query).all():
        entry.attempts += 1
        try:
            # Bound, so that the fan-out task carries the alert (``task_received_context``).
            with bound_contextvars(alert_identifier=identifier):
                enqueue(entry.message_id)
        except Exception as error:
            # Whatever the broker raised, the row stays for the next run.
            entry.last_error = f"{type(error).__name__}: {error}"
            log.warning("fan-out not enqueued; the relay will try again",
                        extra={"alert_identifier": identifier, "error": entry.last_error})
            break
        entry.dispatched_at = utcnow()
        entry.last_error = None
        dispatched += 1
        log.info("fan-out enqueued", extra={"alert_identifier": identifier,
                                            "message_id": entry.message_id})
    return dispatched
