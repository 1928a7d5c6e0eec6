"""The SMS channel's failovers into the audit log: one entry per message and route taken over."""

from __future__ import annotations

import queue

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.sms_failover import Failover, FailoverLog
from publisher.services import audit
from publisher.services.actors import Actor
from publisher.store.models import Message

__all__ = ["FAILOVER_ACTION", "ROUTES_ACTOR", "record_failovers"]

ROUTES_ACTOR = Actor.system("sms-routes")
FAILOVER_ACTION = "sms_failover"


def record_failovers(session_factory: sessionmaker[Session], failovers: FailoverLog) -> int:
    """Audit every failover the channel noted so far, in one transaction; how many."""
    taken: list[Failover] = []
    while True:
        try:
            taken.append(failovers.waiting.get_nowait())
        except queue.Empty:
            break
    if not taken:
        return 0
    with session_factory() as session:
        for failover in taken:
            alert_id = session.scalar(select(Message.alert_id)
                                      .where(Message.id == failover.message_id))
            audit.record(session, ROUTES_ACTOR, FAILOVER_ACTION, alert_id=alert_id,
                         message_id=failover.message_id, reason=failover.reason,
                         detail={"route": failover.route,
                                 "passed_over": list(failover.passed_over),
                                 "deliveries": failover.deliveries})
        session.commit()
    return len(taken)
