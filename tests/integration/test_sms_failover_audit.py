"""A failover of a message is audited once, however many SMS worker processes saw it.

Each worker process notes the failovers of its own batches (``FailoverLog``) and records them
in its own sessions; here several logs stand for several processes, recording the same
failover one after another and all at once, each in its own session and connection.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.model import Status
from publisher.channels.base import DeliveryStatus, OutgoingMessage, SendResult
from publisher.channels.sms_failover import FailoverLog
from publisher.channels.sms_routes import Choice
from publisher.services.delivery import load_outgoing_message
from publisher.services.sms_failover_audit import FAILOVER_ACTION, record_failovers
from publisher.store.models import AuditEntry
from tests.integration.fanout_support import CHAOYANG, geocoded, publish

Factory = sessionmaker[Session]
PROCESSES = 4


@dataclass(frozen=True)
class _Route:
    """What a ``Choice`` tells of its route: its name."""

    name: str


def _choice(to_route: str, *passed_over: str) -> Choice:
    return Choice(_Route(to_route), [],  # type: ignore[arg-type]  # only the name is read
                  tuple(f"{name} (down)" for name in passed_over), passed_over)


def _message(factory: Factory) -> OutgoingMessage:
    with factory() as session:
        message = publish(session, status=Status.ACTUAL, areas=geocoded(CHAOYANG))
        return load_outgoing_message(session, message.id)


def _noted(message: OutgoingMessage, choice: Choice) -> FailoverLog:
    """A process's log with the failover of one of its batches noted."""
    log = FailoverLog()
    log.noted(message, choice, [SendResult(1, "rest:SM1", DeliveryStatus.SENT)])
    return log


def _audited(factory: Factory) -> list[AuditEntry]:
    with factory() as session:
        return list(session.scalars(select(AuditEntry)
                                    .where(AuditEntry.action == FAILOVER_ACTION)
                                    .order_by(AuditEntry.id)))


def test_processes_recording_one_failover_in_turn_audit_it_once(
        session_factory: Factory) -> None:
    message = _message(session_factory)
    first, second = (_noted(message, _choice("rest", "primary")) for _ in range(2))

    assert record_failovers(session_factory, first) == 1
    assert record_failovers(session_factory, second) == 0

    [entry] = _audited(session_factory)
    assert entry.message_id == message.message_id
    assert entry.detail["from_route"] == "primary" and entry.detail["route"] == "rest"
    assert entry.reason == "sent over route rest; passed over primary (down)"


def test_processes_recording_one_failover_at_once_audit_it_once(
        session_factory: Factory) -> None:
    message = _message(session_factory)
    logs = [_noted(message, _choice("rest", "primary")) for _ in range(PROCESSES)]
    start = threading.Barrier(PROCESSES)
    counts: list[int] = []

    def record(log: FailoverLog) -> None:
        start.wait(30)
        counts.append(record_failovers(session_factory, log))

    threads = [threading.Thread(target=record, args=(log,)) for log in logs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert sorted(counts) == [0] * (PROCESSES - 1) + [1]
    assert len(_audited(session_factory)) == 1


def test_each_pair_of_routes_and_each_message_is_an_episode_of_its_own(
        session_factory: Factory) -> None:
    message, other = _message(session_factory), _message(session_factory)
    log = FailoverLog()
    for noted, choice in ((message, _choice("rest", "primary")),
                          (message, _choice("rest", "primary")),
                          (message, _choice("backup", "primary")),
                          (message, _choice("rest", "backup", "primary")),
                          (other, _choice("rest", "primary"))):
        log.noted(noted, choice, [SendResult(1, "rest:SM1", DeliveryStatus.SENT)])

    assert record_failovers(session_factory, log) == 4
    assert [(entry.message_id, entry.detail["from_route"], entry.detail["route"])
            for entry in _audited(session_factory)] == [
        (message.message_id, "primary", "rest"), (message.message_id, "primary", "backup"),
        (message.message_id, "backup", "rest"), (other.message_id, "primary", "rest")]
