"""Sending batches: claims, skips, retries, permanent failures, interrupted hand-overs."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.model import MsgType, Status
from publisher.channels.base import (
    DeliveryStatus,
    OutgoingMessage,
    PermanentChannelError,
    SendResult,
    TargetRef,
    TransientChannelError,
)
from publisher.channels.memory import MemoryChannel
from publisher.services.delivery import (
    abandon_batch,
    load_outgoing_message,
    plan_fanout,
    resume_unfinished,
    send_batch,
)
from publisher.store.models import Delivery, Target
from tests.integration.fanout_support import (
    add_targets,
    deliver_in_process,
    publish,
    session_factory,
    statuses,
)
from tests.services import postgres_url

__all__ = ["postgres_url", "session_factory"]

Factory = sessionmaker[Session]
S = DeliveryStatus


class _ForgetfulProvider(MemoryChannel):
    """A provider that cannot deduplicate by our delivery id."""

    idempotent_by_delivery_id = False
    inline_first_batch = False


class _BrokenProvider(MemoryChannel):
    def send(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        raise PermanentChannelError("401 bad credentials")


class _HalfTakingProvider(MemoryChannel):
    """Takes the first target; asks for the rest later."""

    def send(self, message: OutgoingMessage, targets: Sequence[TargetRef]) -> list[SendResult]:
        taken = super().send(message, targets[:1])
        return taken + [SendResult(target.delivery_id, None, S.QUEUED, "throttled")
                        for target in targets[1:]]


def _planned(factory: Factory, count: int, **message: Any) -> tuple[int, list[int]]:
    with factory() as session:
        add_targets(session, count, is_test=True)
        published = publish(session, **message)
        ids = [delivery_id for _, batch in plan_fanout(session, published.id, 1000)
               for delivery_id in batch]
        session.commit()
    return published.id, ids


def _rows(factory: Factory, ids: Sequence[int]) -> list[Delivery]:
    with factory() as session:
        return list(session.scalars(select(Delivery).where(Delivery.id.in_(ids))
                                    .order_by(Delivery.id)))


def test_a_batch_is_delivered_and_recorded(session_factory: Factory) -> None:
    _, ids = _planned(session_factory, 5)
    channel = MemoryChannel()
    outcome = send_batch(session_factory, channel, ids)
    assert outcome.counts == {"delivered": 5}
    for row in _rows(session_factory, ids):
        assert (row.status, row.attempts, row.provider_id) == (S.DELIVERED, 1,
                                                               f"memory-{row.id}")
        assert row.sent_at is not None and row.delivered_at is not None
        assert row.final_at is not None


def test_a_batch_run_twice_hands_nothing_over_twice(session_factory: Factory) -> None:
    _, ids = _planned(session_factory, 5)
    channel = MemoryChannel({"acknowledge": False})
    send_batch(session_factory, channel, ids)
    assert send_batch(session_factory, channel, ids).counts == {}
    assert (channel.sink.count(), channel.sink.repeats()) == (5, 0)
    assert {row.status for row in _rows(session_factory, ids)} == {S.SENT}


def test_an_interrupted_hand_over_is_retaken_by_an_idempotent_channel(
        session_factory: Factory) -> None:
    _, ids = _planned(session_factory, 4)
    channel = MemoryChannel()
    # The first worker put two of them in the sink, then died before recording.
    with session_factory() as session:
        session.execute(update(Delivery).where(Delivery.id.in_(ids)).values(status=S.SENDING))
        session.commit()
    message_rows = _rows(session_factory, ids[:2])
    with session_factory() as session:
        message = load_outgoing_message(session, message_rows[0].message_id)
    channel.send(message, [TargetRef(row.id, row.target_id, "early", "zh-CN", True)
                           for row in message_rows])
    assert send_batch(session_factory, channel, ids).counts == {}
    outcome = send_batch(session_factory, channel, ids, retake_sending=True)
    assert outcome.counts == {"delivered": 4}
    assert (channel.sink.count(), channel.sink.repeats()) == (4, 2)


def test_an_interrupted_hand_over_is_not_resent_by_other_channels(
        session_factory: Factory) -> None:
    _, ids = _planned(session_factory, 3)
    with session_factory() as session:
        session.execute(update(Delivery).where(Delivery.id.in_(ids[:2]))
                        .values(status=S.SENDING))
        session.commit()
    channel = _ForgetfulProvider()
    outcome = send_batch(session_factory, channel, ids, retake_sending=True)
    assert outcome.counts == {"failed": 2, "delivered": 1}
    rows = _rows(session_factory, ids)
    assert [row.status for row in rows] == [S.FAILED, S.FAILED, S.DELIVERED]
    assert "not resent" in (rows[0].last_error or "")
    assert channel.sink.count() == 1


def test_a_transient_error_puts_the_batch_back_for_a_retry(session_factory: Factory) -> None:
    _, ids = _planned(session_factory, 3)
    channel = MemoryChannel({"transient_failures": 1})
    with pytest.raises(TransientChannelError):
        send_batch(session_factory, channel, ids)
    rows = _rows(session_factory, ids)
    assert {(row.status, row.attempts) for row in rows} == {(S.QUEUED, 1)}
    assert rows[0].last_error == "memory sink busy (transient_failures option)"
    assert send_batch(session_factory, channel, ids).counts == {"delivered": 3}
    assert {row.attempts for row in _rows(session_factory, ids)} == {2}


def test_deferred_targets_are_retried_and_the_rest_recorded(session_factory: Factory) -> None:
    _, ids = _planned(session_factory, 3)
    with pytest.raises(TransientChannelError, match="2 deliveries deferred"):
        send_batch(session_factory, _HalfTakingProvider(), ids)
    assert [row.status for row in _rows(session_factory, ids)] == [S.DELIVERED, S.QUEUED,
                                                                   S.QUEUED]


def test_a_permanent_error_fails_the_batch_with_its_reason(session_factory: Factory) -> None:
    _, ids = _planned(session_factory, 3)
    outcome = send_batch(session_factory, _BrokenProvider(), ids)
    assert outcome.counts == {"failed": 3}
    rows = _rows(session_factory, ids)
    assert {(row.status, row.last_error) for row in rows} == {(S.FAILED, "401 bad credentials")}
    assert all(row.failed_at is not None and row.final_at is not None for row in rows)


def test_a_target_refused_by_the_provider_fails_alone(session_factory: Factory) -> None:
    with session_factory() as session:
        add_targets(session, 2, is_test=True)
        add_targets(session, 1, is_test=True, prefix="reject:x")
        message = publish(session)
    deliver_in_process(session_factory, message.id, MemoryChannel())
    with session_factory() as session:
        assert statuses(session, message.id) == {S.DELIVERED: 2, S.FAILED: 1}


def test_exhausted_retries_fail_what_still_waits(session_factory: Factory) -> None:
    _, ids = _planned(session_factory, 3)
    send_batch(session_factory, MemoryChannel(), ids[:1])
    assert abandon_batch(session_factory, ids, "TransientChannelError: timeout") == 2
    rows = _rows(session_factory, ids)
    assert [row.status for row in rows] == [S.DELIVERED, S.FAILED, S.FAILED]
    assert rows[1].last_error == "gave up: TransientChannelError: timeout"


def test_a_public_target_slipped_into_an_exercise_is_skipped(session_factory: Factory) -> None:
    with session_factory() as session:
        message = publish(session, status=Status.EXERCISE)
        target_id = session.scalar(insert(Target).values(
            channel="memory", address="citizen", is_test=False).returning(Target.id))
        delivery_id = session.scalar(insert(Delivery).values(
            message_id=message.id, channel="memory", target_id=target_id,
            status=S.QUEUED).returning(Delivery.id))
        session.commit()
    channel = MemoryChannel()
    assert send_batch(session_factory, channel, [delivery_id]).counts == {"skipped": 1}
    assert channel.sink.count() == 0
    [row] = _rows(session_factory, [delivery_id])
    assert row.status is S.SKIPPED and "not a test target" in (row.last_error or "")


def test_a_cancel_is_handed_over_as_a_cancel(session_factory: Factory) -> None:
    with session_factory() as session:
        add_targets(session, 2, is_test=True)
        message = publish(session, msg_type=MsgType.CANCEL)
    channel = MemoryChannel()
    deliver_in_process(session_factory, message.id, channel)
    assert {entry.kind for entry in channel.sink.entries()} == {"cancel"}


@pytest.mark.parametrize(("include_sending", "resumed"), [(False, 4), (True, 6)])
def test_resume_enqueues_every_unfinished_delivery(session_factory: Factory,
                                                   include_sending: bool, resumed: int) -> None:
    _, ids = _planned(session_factory, 8)
    with session_factory() as session:
        session.execute(update(Delivery).where(Delivery.id.in_(ids[:2])).values(status=S.SENT))
        session.execute(update(Delivery).where(Delivery.id.in_(ids[2:4]))
                        .values(status=S.SENDING))
        session.execute(update(Delivery).where(Delivery.id.in_(ids[4:6])).values(status=S.QUEUED))
        session.commit()
    enqueued: list[tuple[str, list[int], bool]] = []
    with session_factory() as session:
        batches = resume_unfinished(session, lambda *batch: enqueued.append(batch), 3,
                                    include_sending=include_sending)
    resumed_ids = [delivery_id for batch in enqueued for delivery_id in batch[1]]
    assert sorted(resumed_ids) == (ids[2:] if include_sending else ids[4:])
    assert len(resumed_ids) == resumed
    assert batches == len(enqueued)
    assert {(batch[0], batch[2]) for batch in enqueued} == {("memory", include_sending)}
    assert all(len(batch[1]) <= 3 for batch in enqueued)




def test_a_resumed_batch_holds_one_message_and_names_it(session_factory: Factory) -> None:
    first, first_ids = _planned(session_factory, 3)
    second, second_ids = _planned(session_factory, 3)
    enqueued: list[tuple[str, list[int], bool, int]] = []
    with session_factory() as session:
        resume_unfinished(session, lambda *batch: enqueued.append(batch), 4,
                          include_sending=False)
    ids_of = {first: set(first_ids), second: set(second_ids)}
    assert {batch[3] for batch in enqueued} == {first, second}
    assert all(set(batch[1]) <= ids_of[batch[3]] for batch in enqueued)
    assert sorted(i for batch in enqueued for i in batch[1]) == sorted(first_ids + second_ids)
    assert all(len(batch[1]) <= 4 for batch in enqueued)
