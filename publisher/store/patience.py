"""Writes of what has already happened, kept in hand while the database is away.

Once a batch is handed over, its results (the provider ids, the parts, who
took it) exist only in the worker's memory until they are committed. A
database that restarts or fails over at that moment must not lose them, nor
stop the worker: the write is tried again, with backoff, for as long as a
restart or a failover takes, in a fresh transaction each time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.orm import Session

__all__ = ["DATABASE_PATIENCE_SECONDS", "database_unavailable", "write_patiently"]

log = logging.getLogger(__name__)

T = TypeVar("T")

# A PostgreSQL restart takes seconds; a managed failover up to a minute or two.
DATABASE_PATIENCE_SECONDS = 180.0
FIRST_PAUSE_SECONDS = 0.2
LONGEST_PAUSE_SECONDS = 5.0


def database_unavailable(error: BaseException) -> bool:
    """Whether ``error`` says the database could not be reached or cut the connection.

    A statement the database refused for what it says (a constraint, a type)
    is not: writing it again would be refused again.
    """
    return isinstance(error, OperationalError | InterfaceError) or (
        isinstance(error, DBAPIError) and error.connection_invalidated)


def write_patiently(session: Session, write: Callable[[Session], T], *, what: str,
                    patience: float = DATABASE_PATIENCE_SECONDS,
                    pause: Callable[[float], None] = time.sleep,
                    clock: Callable[[], float] = time.monotonic) -> T:
    """``write(session)`` and commit, again from the start while the database is unavailable.

    Each try runs in a new transaction, after a rollback of the failed one, so
    ``write`` must build everything it writes from what it was given, not from
    objects the session loaded earlier. Gives up after ``patience`` seconds,
    raising the last error; ``what`` names the write in the log.
    """
    deadline = clock() + patience
    wait = FIRST_PAUSE_SECONDS
    while True:
        try:
            written = write(session)
            session.commit()
            return written
        except DBAPIError as error:
            session.rollback()
            if not database_unavailable(error) or clock() + wait > deadline:
                raise
            log.warning("database unavailable; the write is kept in hand and tried again",
                        extra={"write": what, "retry_in_seconds": wait,
                               "reason": str(error.orig)})
            pause(wait)
            wait = min(wait * 2, LONGEST_PAUSE_SECONDS)
