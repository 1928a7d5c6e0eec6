"""Retrying failed deliveries: exactly the failed rows of the current message, once, audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.memory import MemoryChannel
from publisher.services.actors import Actor
from publisher.services.delivery import send_batch
from publisher.services.delivery_retry import retry_failed
from publisher.services.errors import Conflict, Forbidden, InvalidInput
from publisher.store.models import (
    Alert,
    AlertState,
    AuditEntry,
    Delivery,
    DeliveryPart,
    DeliveryStatus,
    Message,
    Role,
    Target,
    utcnow,
)
from tests.integration.fanout_support import (
    add_targets,
    deliver_in_process,
    publish,
    session_factory,
)
from tests.services import postgres_url

__all__ = ["postgres_url", "session_factory"]

Factory = sessionmaker[Session]
APPROVER = Actor(None, "approver", frozenset({Role.APPROVER}))


def _with_failures(factory: Factory) -> tuple[Message, MemoryChannel]:
    """Six deliveries: four delivered, two refused by the channel."""
    channel = MemoryChannel()
    with factory() as session:
        add_targets(session, 4, is_test=True)
        add_targets(session, 2, is_test=True, prefix="reject:x")
        message = publish(session)
    deliver_in_process(factory, message.id, channel)
    return message, channel


def _rows(factory: Factory, message: Message) -> dict[int, tuple[DeliveryStatus, int]]:
    with factory() as session:
        return {delivery_id: (status, attempts) for delivery_id, status, attempts in
                session.execute(select(Delivery.id, Delivery.status, Delivery.attempts)
                                .where(Delivery.message_id == message.id))}


def _repair_addresses(factory: Factory) -> None:
    """The operator fixed the numbers the channel refused."""
    with factory() as session:
        session.execute(update(Target).where(Target.address.startswith("reject:"))
                        .values(address=func.replace(Target.address, "reject:", "fixed:")))
        session.commit()


def test_only_the_failed_deliveries_go_back_in_the_queue_and_only_once(
        session_factory: Factory) -> None:
    message, channel = _with_failures(session_factory)
    before = _rows(session_factory, message)
    failed = sorted(delivery_id for delivery_id, (status, _) in before.items()
                    if status is DeliveryStatus.FAILED)
    assert len(failed) == 2

    with session_factory() as session:
        retried = retry_failed(session, APPROVER, message.alert_id)
        session.commit()
    assert retried.message_id == message.id
    assert retried.by_channel == {"memory": failed}
    after = _rows(session_factory, message)
    assert {delivery_id for delivery_id, (status, _) in after.items()
            if status is DeliveryStatus.QUEUED} == set(failed)
    assert {delivery_id: row for delivery_id, row in after.items() if delivery_id not in failed} \
        == {delivery_id: row for delivery_id, row in before.items() if delivery_id not in failed}

    # Asked again before any worker took them: nothing more is queued.
    with session_factory() as session:
        again = retry_failed(session, APPROVER, message.alert_id, "memory")
        session.commit()
    assert again.count == 0

    _repair_addresses(session_factory)
    send_batch(session_factory, channel, retried.by_channel["memory"])
    send_batch(session_factory, channel, retried.by_channel["memory"])
    final = _rows(session_factory, message)
    assert all(status is DeliveryStatus.DELIVERED for status, _ in final.values())
    assert {final[delivery_id][1] for delivery_id in failed} == {2}
    handed = [entry.delivery_id for entry in channel.sink.entries()]
    assert sorted(handed) == sorted(before)
    assert channel.sink.repeats() == 0

    with session_factory() as session:
        entries = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "retry_failed_deliveries")).all()
    [entry] = entries
    assert (entry.actor, entry.alert_id, entry.message_id) == (
        "approver", message.alert_id, message.id)
    assert entry.detail["retried"] == {"memory": 2}


def test_the_parts_of_a_failed_delivery_are_cleared_for_the_new_attempt(
        session_factory: Factory) -> None:
    message, _ = _with_failures(session_factory)
    with session_factory() as session:
        failed = session.scalars(select(Delivery.id).where(
            Delivery.message_id == message.id, Delivery.status == DeliveryStatus.FAILED)
            .order_by(Delivery.id)).first()
        assert failed is not None
        session.add_all(DeliveryPart(delivery_id=failed, part_number=number, channel="memory",
                                     provider_id=f"old-{number}", status=status)
                        for number, status in ((1, DeliveryStatus.DELIVERED),
                                               (2, DeliveryStatus.FAILED)))
        session.commit()
        retry_failed(session, APPROVER, message.alert_id)
        session.commit()
        assert session.scalar(select(func.count()).select_from(DeliveryPart)) == 0


@pytest.mark.parametrize("roles", [frozenset({Role.VIEWER}), frozenset({Role.AUTHOR}),
                                   frozenset({Role.DISTRICT_OPERATOR})])
def test_only_an_approver_or_an_administrator_retries(session_factory: Factory,
                                                      roles: frozenset[Role]) -> None:
    message, _ = _with_failures(session_factory)
    with session_factory() as session, pytest.raises(Forbidden) as refused:
        retry_failed(session, Actor(None, "someone", roles), message.alert_id)
    assert refused.value.field == "role"
    with session_factory() as session:
        retried = retry_failed(session, Actor(None, "admin", frozenset({Role.ADMIN})),
                               message.alert_id)
    assert retried.count == 2


def test_an_unknown_channel_is_named(session_factory: Factory) -> None:
    message, _ = _with_failures(session_factory)
    with session_factory() as session, pytest.raises(InvalidInput) as refused:
        retry_failed(session, APPROVER, message.alert_id, "smss")
    assert refused.value.field == "channel"
    assert "memory" in refused.value.reason


def test_nothing_of_an_expired_alert_is_sent_again(session_factory: Factory) -> None:
    message, _ = _with_failures(session_factory)
    with session_factory() as session:
        session.execute(update(Alert).where(Alert.id == message.alert_id)
                        .values(expires_at=utcnow() - timedelta(minutes=1)))
        session.commit()
        with pytest.raises(Conflict) as refused:
            retry_failed(session, APPROVER, message.alert_id)
    assert refused.value.field == "state"
    assert DeliveryStatus.QUEUED not in {status for status, _ in
                                         _rows(session_factory, message).values()}


def test_a_cancelled_alert_never_sends_its_alert_again(session_factory: Factory) -> None:
    message, _ = _with_failures(session_factory)
    with session_factory() as session:
        session.execute(update(Alert).where(Alert.id == message.alert_id)
                        .values(state=AlertState.CANCELLED))
        session.commit()
        with pytest.raises(Conflict):
            retry_failed(session, APPROVER, message.alert_id)
