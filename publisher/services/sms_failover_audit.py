"""The SMS channel's failovers into the audit log: one entry per message and pair of routes.

Every SMS worker process notes the failovers of the batches it sends, so
several of them see the same failover of one message. Each records it by
inserting its episode (message, route passed over, route taken) into
``sms_failover_episodes``, ignoring one already there; only the insert
that made the row writes the audit entry, in the same transaction. The
primary key decides, on PostgreSQL as on SQLite, whichever process comes
first.
"""

from __future__ import annotations

import queue
from typing import cast

from sqlalchemy import Table, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.sms_failover import Failover, FailoverLog
from publisher.services import audit
from publisher.services.actors import Actor
from publisher.store.models import Message, SmsFailoverEpisode, utcnow

__all__ = ["FAILOVER_ACTION", "ROUTES_ACTOR", "record_failovers"]

ROUTES_ACTOR = Actor.system("sms-routes")
FAILOVER_ACTION = "sms_failover"
_EPISODES = cast(Table, SmsFailoverEpisode.__table__)


def _first_to_record(session: Session, failover: Failover) -> bool:
    """Whether this session's insert made the failover's episode row (nobody recorded it yet)."""
    insert = (postgresql_insert if session.get_bind().dialect.name == "postgresql"
              else sqlite_insert)(_EPISODES)
    message_id, from_route, to_route = failover.episode
    made = session.execute(
        insert.values(message_id=message_id, from_route=from_route, to_route=to_route,
                      at=utcnow())
        .on_conflict_do_nothing().returning(_EPISODES.c.message_id)).first()
    return made is not None


def record_failovers(session_factory: sessionmaker[Session], failovers: FailoverLog) -> int:
    """Audit the failovers the channel noted so far that no process audited yet; how many."""
    taken: list[Failover] = []
    while True:
        try:
            taken.append(failovers.waiting.get_nowait())
        except queue.Empty:
            break
    if not taken:
        return 0
    audited = 0
    with session_factory() as session:
        for failover in taken:
            if not _first_to_record(session, failover):
                continue
            alert_id = session.scalar(select(Message.alert_id)
                                      .where(Message.id == failover.message_id))
            audit.record(session, ROUTES_ACTOR, FAILOVER_ACTION, alert_id=alert_id,
                         message_id=failover.message_id, reason=failover.reason,
                         detail={"from_route": failover.from_route, "route": failover.route,
                                 "passed_over": list(failover.passed_over),
                                 "deliveries": failover.deliveries})
            audited += 1
        session.commit()
    return audited
