"""Rows planned QUEUED in one write; the first batch handed over by the fan-out; recovery."""

from __future__ import annotations

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.base import DeliveryStatus
from publisher.channels.memory import MemoryChannel
from publisher.services.delivery import fan_out, load_outgoing_message, resume_unfinished
from publisher.store.models import Delivery
from tests.integration.fanout_support import add_targets, publish, session_factory
from tests.services import postgres_url

__all__ = ["postgres_url", "session_factory"]

Factory = sessionmaker[Session]
S = DeliveryStatus
TARGETS = 25
BATCH = 10


class _Enqueuer:
    """Records the batches the fan-out puts on the broker; refuses after ``refuse_after``."""

    def __init__(self, refuse_after: int | None = None) -> None:
        self.batches: list[list[int]] = []
        self.refuse_after = refuse_after

    def __call__(self, channel: str, delivery_ids: list[int]) -> None:
        if self.refuse_after is not None and len(self.batches) >= self.refuse_after:
            raise ConnectionError("broker down")
        assert channel == "memory"
        self.batches.append(delivery_ids)


def _published(factory: Factory) -> int:
    with factory() as session:
        add_targets(session, TARGETS, is_test=True)
        return publish(session).id


def _by_status(factory: Factory, message_id: int) -> dict[S, list[int]]:
    found: dict[S, list[int]] = {}
    with factory() as session:
        for delivery_id, status in session.execute(
                select(Delivery.id, Delivery.status).where(Delivery.message_id == message_id)
                .order_by(Delivery.id)):
            found.setdefault(status, []).append(delivery_id)
    return found


def _fan_out(factory: Factory, message_id: int, channel: MemoryChannel | None,
             enqueuer: _Enqueuer, *, redelivered: bool = False) -> int:
    return fan_out(factory, message_id, BATCH, enqueuer,
                   inline={"memory": channel} if channel is not None else None,
                   redelivered=redelivered)


def test_rows_are_written_queued_before_their_task_is_enqueued(session_factory: Factory) -> None:
    message_id = _published(session_factory)
    enqueuer = _Enqueuer()
    assert _fan_out(session_factory, message_id, None, enqueuer) == 3
    with session_factory() as session:
        rows = session.execute(select(Delivery.status, Delivery.queued_at)
                               .where(Delivery.message_id == message_id)).all()
    assert len(rows) == TARGETS
    assert {status for status, _ in rows} == {S.QUEUED}
    assert all(queued_at is not None for _, queued_at in rows)
    assert [len(batch) for batch in enqueuer.batches] == [10, 10, 5]


def test_the_fan_out_hands_the_first_batch_over_itself(session_factory: Factory) -> None:
    message_id = _published(session_factory)
    channel, enqueuer = MemoryChannel(), _Enqueuer()
    assert _fan_out(session_factory, message_id, channel, enqueuer) == 3
    rows = _by_status(session_factory, message_id)
    assert rows[S.DELIVERED] == sorted(entry.delivery_id for entry in channel.sink.entries())
    assert len(rows[S.DELIVERED]) == BATCH
    assert enqueuer.batches == [rows[S.QUEUED][:BATCH], rows[S.QUEUED][BATCH:]]
    assert max(rows[S.DELIVERED]) < min(rows[S.QUEUED])


def test_a_first_batch_the_channel_defers_goes_to_its_queue(session_factory: Factory) -> None:
    message_id = _published(session_factory)
    channel = MemoryChannel({"transient_failures": 1})
    enqueuer = _Enqueuer()
    _fan_out(session_factory, message_id, channel, enqueuer)
    assert channel.sink.count() == 0
    assert [len(batch) for batch in enqueuer.batches] == [10, 10, 5]
    assert _by_status(session_factory, message_id) == {
        S.QUEUED: sorted(i for batch in enqueuer.batches for i in batch)}


def test_rows_whose_task_was_never_enqueued_are_resumed(session_factory: Factory) -> None:
    message_id = _published(session_factory)
    with pytest.raises(ConnectionError):
        _fan_out(session_factory, message_id, None, _Enqueuer(refuse_after=1))
    # Batches 1 and 2 are committed (the second one's task was refused); the
    # third was never planned: the redelivered fan-out plans it.
    resumed: list[list[int]] = []
    with session_factory() as session:
        resume_unfinished(session, lambda _channel, ids, _sending, _message:
                          resumed.append(ids), 100, include_sending=False)
    assert sum(map(len, resumed)) == 2 * BATCH
    again = _Enqueuer()
    _fan_out(session_factory, message_id, None, again, redelivered=True)
    assert sorted(i for batch in again.batches for i in batch) == _by_status(
        session_factory, message_id)[S.QUEUED]
    assert sum(map(len, again.batches)) == TARGETS


@pytest.mark.parametrize("redelivered", [True, False])
def test_an_interrupted_first_batch_is_retaken_only_by_a_redelivered_fan_out(
        session_factory: Factory, redelivered: bool) -> None:
    message_id = _published(session_factory)
    _fan_out(session_factory, message_id, None, _Enqueuer())
    ids = _by_status(session_factory, message_id)[S.QUEUED]
    # The worker died handing over the first batch; another one holds part of the second.
    with session_factory() as session:
        session.execute(update(Delivery).where(Delivery.id.in_(ids[:BATCH]))
                        .values(status=S.SENDING, attempts=1))
        session.execute(update(Delivery).where(Delivery.id.in_(ids[BATCH:BATCH + 3]))
                        .values(status=S.SENDING, attempts=1))
        session.commit()
    channel, enqueuer = MemoryChannel(), _Enqueuer()
    _fan_out(session_factory, message_id, channel, enqueuer, redelivered=redelivered)
    rows = _by_status(session_factory, message_id)
    retaken = ids[:BATCH] if redelivered else []
    assert rows[S.SENDING] == ([] if redelivered else ids[:BATCH]) + ids[BATCH:BATCH + 3]
    # The first waiting batch of this run goes inline too, the rest to the queue.
    assert rows[S.DELIVERED] == retaken + ids[BATCH + 3:2 * BATCH + 3]
    assert enqueuer.batches == [ids[2 * BATCH + 3:]]
    assert channel.sink.repeats() == 0


def test_a_message_is_parsed_once_for_all_its_batches(session_factory: Factory) -> None:
    message_id = _published(session_factory)
    with session_factory() as session:
        first = load_outgoing_message(session, message_id)
    with session_factory() as session:
        again = load_outgoing_message(session, message_id)
    assert again.alert is first.alert
    assert again.xml == first.xml
