"""The outbox relay: a published message is fanned out even when the broker was down."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.services.delivery import relay_outbox
from publisher.store.models import OutboxEntry
from tests.integration.fanout_support import publish, session_factory
from tests.services import postgres_url

__all__ = ["postgres_url", "session_factory"]

Factory = sessionmaker[Session]


def _entries(factory: Factory) -> list[OutboxEntry]:
    with factory() as session:
        return list(session.scalars(select(OutboxEntry).order_by(OutboxEntry.id)))


def test_the_relay_enqueues_each_message_once(session_factory: Factory) -> None:
    with session_factory() as session:
        first, second = publish(session).id, publish(session).id
    enqueued: list[int] = []
    with session_factory() as session:
        assert relay_outbox(session, enqueued.append) == 2
        session.commit()
    with session_factory() as session:
        assert relay_outbox(session, enqueued.append) == 0
    assert enqueued == [first, second]
    assert all(entry.dispatched_at is not None and entry.attempts == 1
               for entry in _entries(session_factory))


def test_a_refusing_broker_leaves_the_rows_for_the_next_run(session_factory: Factory) -> None:
    with session_factory() as session:
        first, second = publish(session).id, publish(session).id

    def refuse(message_id: int) -> None:
        raise ConnectionRefusedError(111, "Connection refused")

    with session_factory() as session:
        assert relay_outbox(session, refuse) == 0
        session.commit()
    entries = _entries(session_factory)
    # The first refusal stops the run: the second was not even tried.
    assert [(entry.attempts, entry.dispatched_at) for entry in entries] == [(1, None),
                                                                            (0, None)]
    assert entries[0].last_error == "ConnectionRefusedError: [Errno 111] Connection refused"
    enqueued: list[int] = []
    with session_factory() as session:
        assert relay_outbox(session, enqueued.append) == 2
        session.commit()
    assert enqueued == [first, second]
    assert [entry.last_error for entry in _entries(session_factory)] == [None, None]


def test_one_message_can_be_relayed_alone(session_factory: Factory) -> None:
    with session_factory() as session:
        publish(session)
        wanted = publish(session).id
    enqueued: list[int] = []
    with session_factory() as session:
        assert relay_outbox(session, enqueued.append, message_id=wanted) == 1
        session.commit()
    assert enqueued == [wanted]
    assert [entry.dispatched_at is None for entry in _entries(session_factory)] == [True, False]


@pytest.mark.parametrize("limit", [1, 2])
def test_the_relay_takes_a_bounded_number_per_run(session_factory: Factory, limit: int) -> None:
    with session_factory() as session:
        for _ in range(3):
            publish(session)
    enqueued: list[int] = []
    with session_factory() as session:
        assert relay_outbox(session, enqueued.append, limit=limit) == limit
