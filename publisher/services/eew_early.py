"""One request's early warning, published to the terminals before its transaction commits.

An ``EarlyPublication`` watches ``receive_eew``. Once the sender's message
is judged, it finds the topic groups from the fast path's index in the
background, while the center's message is issued. As soon as that is
signed, before anything of it is written, it goes to the journal
(``eew_journal``) and the publication starts in the background; the
request's transaction then writes it and commits while the terminals
already have the warning. The caller waits for the publication with
``published`` once it has committed, and the journal entry goes; when the
transaction fails instead, ``abandon`` leaves the entry to
``eew_recovery``. A journal that cannot be written (a full or read-only
disk) is logged as an error, and the terminals then get the warning from
``published``, once it is committed.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import Future

from publisher.channels.base import OutgoingMessage
from publisher.channels.mqtt import TopicGroup
from publisher.services.eew import journal_entry
from publisher.services.eew_intake import AcceptedEew
from publisher.services.eew_journal import EewJournal
from publisher.services.eew_terminals import TerminalFastPath, TerminalPlan
from publisher.services.publishing import SignedMessage

__all__ = ["EarlyPublication"]

log = logging.getLogger("publisher.eew")

_NOT_STORED = 0


class EarlyPublication:
    """Plan, journal and start publishing one message (an ``IssueWatcher``); wait for it
    after the commit."""

    def __init__(self, fast_path: TerminalFastPath, journal: EewJournal, *,
                 received: float) -> None:
        """``received``: when the request arrived, on ``time.perf_counter``'s clock."""
        self._fast_path = fast_path
        self._journal = journal
        self._received = received
        self.identifier: str | None = None
        self.timings: dict[str, float] = {}
        self._groups: Future[dict[str | None, list[TopicGroup]]] | None = None
        self._plan: TerminalPlan | None = None
        self._publishing: Future[list[TopicGroup]] | None = None
        self._started = 0.0

    def judged(self, accepted: AcceptedEew) -> None:
        self._groups = self._fast_path.groups_soon(accepted.alert)

    def signed(self, signed: SignedMessage, accepted: AcceptedEew) -> None:
        started = time.perf_counter()
        identifier = signed.alert.identifier
        assert self._groups is not None, "signed before judged"
        # Not stored yet, so no id: the fast path renders and publishes, reading none.
        message = OutgoingMessage(_NOT_STORED, signed.alert, signed.xml,
                                  str(signed.alert.msg_type), str(signed.alert.status))
        try:
            groups = self._groups.result()
        except Exception as error:  # the lane finds and publishes to every terminal then
            log.warning("early warning's terminals not found from the web; the lane publishes"
                        " to them", extra={"alert_identifier": identifier, "error": str(error)})
            return
        self._plan = TerminalPlan(message, groups)
        planned = time.perf_counter()
        self.timings = {"plan_terminals_ms": _ms(planned - started)}
        try:
            self._journal.write(journal_entry(identifier, signed.xml, accepted))
        except OSError as error:
            # Without a record on disk, the warning waits for its commit, as any message.
            log.error("early-warning journal not written; the terminals are published to once"
                      " the warning is committed", extra={"alert_identifier": identifier,
                                                          "error": str(error)})
            return
        self.identifier = identifier
        journalled = time.perf_counter()
        try:
            self._started = time.perf_counter()
            self._publishing = self._fast_path.publish_soon(self._plan)
        except BaseException:  # nothing went out: the transaction's failure is the answer
            self._journal.remove(identifier)
            raise
        self.timings |= {"journal_ms": _ms(journalled - planned),
                         "terminals_started_ms": _ms(self._started - self._received)}

    @property
    def started(self) -> bool:
        return self._publishing is not None

    def published(self) -> list[TopicGroup]:
        """Once the message is committed: the groups published (waiting for their PUBACKs).

        A warning whose journal entry could not be written is published now.
        """
        if self._plan is None:
            return []
        if self._publishing is None:
            self._started = time.perf_counter()
            self.timings["terminals_started_ms"] = _ms(self._started - self._received)
            groups = self._fast_path.publish(self._plan)
        else:
            groups = self._publishing.result()
        self.timings["terminals_ms"] = _ms(time.perf_counter() - self._started)
        if self.identifier is not None:
            self._journal.remove(self.identifier)
        return groups

    def abandon(self) -> None:
        """The transaction failed: the entry stays in the journal, for recovery to store."""
        if self.identifier is not None:
            self._journal.settle(self.identifier)


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 2)
