"""The delivery dashboard's data: counts per channel, the share delivered over time, node acks,
failed targets, and what a live view polls."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.memory import MemoryChannel
from publisher.services.actors import Actor
from publisher.services.dashboard import change_marker, dashboard
from publisher.services.dashboard_failed import failed_targets
from publisher.services.delivery import fan_out
from publisher.services.errors import Forbidden, NotFound
from publisher.store.models import (
    Delivery,
    DeliveryStatus,
    DistrictNode,
    DistrictNodeCount,
    Message,
    Role,
    Target,
    User,
    utcnow,
)
from tests.integration.fanout_support import (
    CHAOYANG,
    add_targets,
    deliver_in_process,
    publish,
    session_factory,
)
from tests.services import postgres_url

__all__ = ["postgres_url", "session_factory"]

Factory = sessionmaker[Session]
VIEWER = Actor(1, "viewer", frozenset({Role.VIEWER}))
NOBODY = Actor(2, "nobody", frozenset())


def _delivered(factory: Factory, good: int = 9, rejected: int = 1) -> Message:
    with factory() as session:
        add_targets(session, good, is_test=True)
        add_targets(session, rejected, is_test=True, prefix="reject:x")
        message = publish(session)
    deliver_in_process(factory, message.id, MemoryChannel())
    return message


def _spread(factory: Factory, message: Message) -> None:
    """The n-th delivered row delivered n + 0.5 seconds after publishing."""
    with factory() as session:
        rows = session.scalars(select(Delivery.id).where(
            Delivery.message_id == message.id,
            Delivery.status == DeliveryStatus.DELIVERED).order_by(Delivery.id)).all()
        for seconds, delivery_id in enumerate(rows, start=1):
            session.execute(update(Delivery).where(Delivery.id == delivery_id).values(
                delivered_at=message.created_at + timedelta(seconds=seconds + 0.5)))
        session.commit()


def test_counts_per_message_and_channel_after_a_fan_out(session_factory: Factory) -> None:
    message = _delivered(session_factory)
    with session_factory() as session:
        found = dashboard(session, VIEWER, message.alert_id)
    [shown] = found["messages"]
    assert shown["message_id"] == message.id
    assert shown["msg_type"] == "Alert"
    assert shown["channels"] == {"memory": {
        "queued": 0, "sent": 0, "delivered": 9, "failed": 1, "expired": 0, "skipped": 0,
        "total": 10, "delivered_share": 0.9}}


def test_planned_deliveries_count_as_queued(session_factory: Factory) -> None:
    with session_factory() as session:
        add_targets(session, 4, is_test=True)
        message = publish(session)
    fan_out(session_factory, message.id, 1000, lambda _channel, _ids: None,
            channels=("memory",))
    with session_factory() as session:
        [shown] = dashboard(session, VIEWER, message.alert_id)["messages"]
    assert shown["channels"]["memory"]["queued"] == 4
    assert shown["channels"]["memory"]["delivered_share"] == 0.0
    assert shown["series"]["memory"]["points"] == [[0, 0.0]]


def test_the_share_delivered_over_time_is_bucketed_by_the_database(
        session_factory: Factory) -> None:
    message = _delivered(session_factory)
    _spread(session_factory, message)
    with session_factory() as session:
        [shown] = dashboard(session, VIEWER, message.alert_id)["messages"]
    series = shown["series"]["memory"]
    # The last delivery 9.5 s after publishing: one-second buckets; the n-th
    # delivery falls in the bucket that ends at n + 1 s.
    assert series["step_seconds"] == 1
    assert series["points"] == [[0, 0.0]] + [[seconds + 1, round(seconds / 10, 4)]
                                              for seconds in range(1, 10)]


def test_a_longer_fan_out_gets_wider_buckets(session_factory: Factory) -> None:
    message = _delivered(session_factory, good=3, rejected=0)
    with session_factory() as session:
        rows = session.scalars(select(Delivery.id).where(Delivery.message_id == message.id)
                               .order_by(Delivery.id)).all()
        for minutes, delivery_id in zip((1, 1, 7), rows, strict=True):
            session.execute(update(Delivery).where(Delivery.id == delivery_id).values(
                delivered_at=message.created_at + timedelta(minutes=minutes, seconds=3)))
        session.commit()
        [shown] = dashboard(session, VIEWER, message.alert_id)["messages"]
    # 423 s over at most 60 buckets: 10-second buckets.
    assert shown["series"]["memory"] == {
        "step_seconds": 10, "points": [[0, 0.0], [70, 0.6667], [430, 1.0]]}


def test_failed_targets_come_with_their_reason_a_page_at_a_time(
        session_factory: Factory) -> None:
    message = _delivered(session_factory, good=2, rejected=3)
    with session_factory() as session:
        first = failed_targets(session, message.alert_id, per_page=2)
        second = failed_targets(session, message.alert_id, page=2, per_page=2)
        none_on_sms = failed_targets(session, message.alert_id, channel="sms")
    assert first["total"] == second["total"] == 3
    assert len(first["items"]) == 2
    assert len(second["items"]) == 1
    items = first["items"] + second["items"]
    assert len({item["delivery_id"] for item in items}) == 3
    assert all(item["address"].startswith("reject:x") for item in items)
    assert {item["reason"] for item in items} == {"rejected: no such address"}
    assert {(item["channel"], item["msg_type"], item["district_code"]) for item in items} == {
        ("memory", "Alert", CHAOYANG)}
    assert none_on_sms["total"] == 0


def _node(session: Session, code: str, *, heard: bool) -> DistrictNode:
    target = Target(channel="district", address=f"http://node-{code}.test", district_code=code,
                    is_test=True)
    user = User(username=f"node-{code}", password_hash="no-login", active=False)
    session.add_all([target, user])
    session.flush()
    node = DistrictNode(code=code, name=f"node {code}", target_id=target.id, user_id=user.id,
                        credential_sha256=f"{code:0>64}", certificate_pem="not used here",
                        last_heard_at=utcnow() if heard else utcnow() - timedelta(days=1))
    session.add(node)
    session.flush()
    return node


def test_node_acks_with_their_local_counts(session_factory: Factory) -> None:
    with session_factory() as session:
        message = publish(session)
        acked, silent = _node(session, "110105", heard=True), _node(session, "110108", heard=False)
        now = utcnow()
        delivered = Delivery(message_id=message.id, channel="district", target_id=acked.target_id,
                             status=DeliveryStatus.DELIVERED, delivered_at=now)
        waiting = Delivery(message_id=message.id, channel="district", target_id=silent.target_id,
                           status=DeliveryStatus.SENT, last_error=None)
        session.add_all([delivered, waiting])
        session.flush()
        session.add_all([
            DistrictNodeCount(delivery_id=delivered.id, local_channel="led", delivered=3,
                              failed=1, pending=0),
            DistrictNodeCount(delivery_id=delivered.id, local_channel="speaker", delivered=2,
                              failed=0, pending=1)])
        session.commit()
        found = dashboard(session, VIEWER, message.alert_id)
    assert found["districts"] == [
        {"code": "110105", "name": "node 110105", "offline": False, "messages": [
            {"message_id": message.id, "status": "delivered", "acked": True,
             "acked_at": found["districts"][0]["messages"][0]["acked_at"], "reason": None,
             "local": {"led": {"delivered": 3, "failed": 1, "pending": 0},
                       "speaker": {"delivered": 2, "failed": 0, "pending": 1}}}]},
        {"code": "110108", "name": "node 110108", "offline": True, "messages": [
            {"message_id": message.id, "status": "sent", "acked": False, "acked_at": None,
             "reason": None, "local": {}}]},
    ]
    assert found["districts"][0]["messages"][0]["acked_at"] is not None
    assert found["messages"][0]["channels"]["district"]["delivered"] == 1


def test_the_change_marker_moves_with_a_delivery_and_nothing_else(
        session_factory: Factory) -> None:
    message = _delivered(session_factory)
    with session_factory() as session:
        before = change_marker(session, message.alert_id)
        assert change_marker(session, message.alert_id) == before
        failed = session.scalars(select(Delivery).where(
            Delivery.message_id == message.id, Delivery.status == DeliveryStatus.FAILED)).one()
        failed.status = DeliveryStatus.QUEUED
        session.commit()
        assert change_marker(session, message.alert_id) != before


def test_reading_needs_a_staff_role_and_an_alert(session_factory: Factory) -> None:
    message = _delivered(session_factory, good=1, rejected=0)
    with session_factory() as session:
        with pytest.raises(Forbidden) as refused:
            dashboard(session, NOBODY, message.alert_id)
        assert refused.value.field == "role"
        with pytest.raises(NotFound):
            dashboard(session, VIEWER, message.alert_id + 1000)
