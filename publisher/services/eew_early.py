"""One request's early warning, published to the terminals before its transaction commits.

``receive_eew`` calls an ``EarlyPublication`` as soon as the center's
message is signed and flushed (its ``on_issued`` hook). It writes the message
to the journal (``eew_journal``), plans the topic groups from the fast
path's index, and starts the publication in the background; the request's
transaction then commits while the terminals already have the warning. The
caller waits for the publication with ``published`` once it has committed,
and the journal entry goes; when the transaction fails instead, ``abandon``
leaves the entry to ``eew_recovery``.
"""

from __future__ import annotations

import time
from concurrent.futures import Future

from sqlalchemy.orm import Session

from publisher.channels.mqtt import TopicGroup
from publisher.services.delivery import load_outgoing_message
from publisher.services.eew import journal_entry
from publisher.services.eew_intake import AcceptedEew
from publisher.services.eew_journal import EewJournal
from publisher.services.eew_terminals import TerminalFastPath
from publisher.store.models import Message

__all__ = ["EarlyPublication"]


class EarlyPublication:
    """Journal, plan and start publishing one message; wait for it after the commit."""

    def __init__(self, fast_path: TerminalFastPath, journal: EewJournal) -> None:
        self._fast_path = fast_path
        self._journal = journal
        self.identifier: str | None = None
        self.timings: dict[str, float] = {}
        self._publishing: Future[list[TopicGroup]] | None = None
        self._started = 0.0

    def __call__(self, session: Session, message: Message, accepted: AcceptedEew) -> None:
        started = time.perf_counter()
        self._journal.write(journal_entry(message, accepted))
        self.identifier = message.identifier
        journalled = time.perf_counter()
        try:
            plan = self._fast_path.plan(load_outgoing_message(session, message.id))
            self._started = time.perf_counter()
            self._publishing = self._fast_path.publish_soon(plan)
        except BaseException:  # nothing went out: the transaction's failure is the answer
            self._journal.remove(message.identifier)
            raise
        self.timings = {"journal_ms": _ms(journalled - started),
                        "plan_terminals_ms": _ms(self._started - journalled)}

    @property
    def started(self) -> bool:
        return self._publishing is not None

    def published(self) -> list[TopicGroup]:
        """Once the message is committed: the groups published (waiting for their PUBACKs)."""
        if self._publishing is None or self.identifier is None:
            return []
        groups = self._publishing.result()
        self.timings["terminals_ms"] = _ms(time.perf_counter() - self._started)
        self._journal.remove(self.identifier)
        return groups

    def abandon(self) -> None:
        """The transaction failed: the entry stays in the journal, for recovery to store."""
        if self.identifier is not None:
            self._journal.settle(self.identifier)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)
