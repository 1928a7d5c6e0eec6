"""One request's early warning, published to the terminals before its transaction commits.

An ``EarlyPublication`` watches ``receive_eew``. Once the sender's message
is judged, it finds the topic groups from the fast path's index in the
background, while the center's message is issued. As soon as that is
signed and flushed, it writes it to the journal (``eew_journal``) and starts
the publication in the background; the request's transaction then commits
while the terminals already have the warning. The
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
from publisher.services.eew_terminals import TerminalFastPath, TerminalPlan
from publisher.store.models import Message

__all__ = ["EarlyPublication"]


class EarlyPublication:
    """Plan, journal and start publishing one message (an ``IssueWatcher``); wait for it
    after the commit."""

    def __init__(self, fast_path: TerminalFastPath, journal: EewJournal) -> None:
        self._fast_path = fast_path
        self._journal = journal
        self.identifier: str | None = None
        self.timings: dict[str, float] = {}
        self._groups: Future[dict[str | None, list[TopicGroup]]] | None = None
        self._publishing: Future[list[TopicGroup]] | None = None
        self._started = 0.0

    def judged(self, accepted: AcceptedEew) -> None:
        self._groups = self._fast_path.groups_soon(accepted.alert)

    def issued(self, session: Session, message: Message, accepted: AcceptedEew) -> None:
        started = time.perf_counter()
        self._journal.write(journal_entry(message, accepted))
        self.identifier = message.identifier
        journalled = time.perf_counter()
        try:
            assert self._groups is not None, "issued before judged"
            plan = TerminalPlan(load_outgoing_message(session, message.id), self._groups.result())
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
