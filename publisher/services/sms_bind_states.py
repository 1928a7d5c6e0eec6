"""Whether each SMSC bind is up, across the SMS worker processes, through the database.

The binds live in the workers; ``/health`` runs in the web application. Each
worker's inbound pump writes its binds' states (``BindStateReporter``) every
``REPORT_SECONDS``, one upsert keyed by host, process id, route and bind
index, and deletes them when it stops cleanly. ``binds_by_route`` counts the
bound binds per route among the rows written in the last ``FRESH_SECONDS``;
the rows of a process that died without a word age out of that window.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, delete, select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.smpp_bind import BindState
from publisher.channels.sms_routes import Routes
from publisher.store.models import SmsBindState, utcnow

__all__ = ["FORGOTTEN_AFTER", "FRESH_SECONDS", "REPORT_SECONDS", "BindStateReporter", "RouteBinds",
           "binds_by_route"]

REPORT_SECONDS = 5.0
# Six reports missed: the process is gone, or cannot reach the database.
FRESH_SECONDS = 30.0
# The rows of a process killed before it could delete them go once this old.
FORGOTTEN_AFTER = timedelta(days=1)

_KEY = ["host", "pid", "route", "bind_index"]


@dataclass(frozen=True, slots=True)
class RouteBinds:
    """One route's binds among the fresh reports of every worker process."""

    bound: int
    total: int


def _upsert(session: Session) -> Any:
    return (postgresql_insert if session.get_bind().dialect.name == "postgresql"
            else sqlite_insert)(cast(Table, SmsBindState.__table__))


class BindStateReporter:
    """Writes one process's binds of one channel's routes, at most every ``interval`` seconds."""

    def __init__(self, routes: Routes, session_factory: sessionmaker[Session], *,
                 interval: float = REPORT_SECONDS) -> None:
        self._routes = routes
        self._sessions = session_factory
        self._interval = interval
        self._host = socket.gethostname()
        self._pid = os.getpid()
        self._due = 0.0

    def report_when_due(self, now: float) -> None:
        """Write the binds' states if ``interval`` has passed (``now``: monotonic seconds)."""
        if now < self._due:
            return
        self._due = now + self._interval
        states = self._routes.bind_states()
        if not states:
            return
        written = utcnow()
        rows = [{"host": self._host, "pid": self._pid, "route": route, "bind_index": index,
                 "state": state.value, "updated_at": written}
                for route, index, state in states]
        with self._sessions() as session:
            statement = _upsert(session).values(rows)
            session.execute(statement.on_conflict_do_update(
                index_elements=_KEY, set_={"state": statement.excluded.state,
                                           "updated_at": statement.excluded.updated_at}))
            session.execute(delete(SmsBindState).where(
                SmsBindState.updated_at < written - FORGOTTEN_AFTER))
            session.commit()

    def forget(self) -> None:
        """Delete this process's rows: its binds are closed on purpose."""
        with self._sessions() as session:
            session.execute(delete(SmsBindState).where(SmsBindState.host == self._host,
                                                       SmsBindState.pid == self._pid))
            session.commit()


def binds_by_route(session: Session, routes: Iterable[str] = (),
                   now: datetime | None = None) -> dict[str, RouteBinds | None]:
    """Per route, its bound and total binds among the reports fresher than ``FRESH_SECONDS``.

    ``routes`` (the configured ones) are listed even without a fresh report,
    as None: unknown. Routes reported but not configured are listed too.
    """
    since = (now or utcnow()) - timedelta(seconds=FRESH_SECONDS)
    counts: dict[str, list[int]] = {}
    for route, state in session.execute(select(SmsBindState.route, SmsBindState.state)
                                        .where(SmsBindState.updated_at >= since)):
        bound_total = counts.setdefault(route, [0, 0])
        bound_total[0] += state == BindState.BOUND.value
        bound_total[1] += 1
    found: dict[str, RouteBinds | None] = dict.fromkeys(routes)
    found.update({route: RouteBinds(bound, total)
                  for route, (bound, total) in sorted(counts.items())})
    return found
