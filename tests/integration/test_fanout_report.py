"""Delivery summaries and lists for an alert."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.memory import MemoryChannel
from publisher.services.delivery import delivery_summary, list_deliveries
from publisher.services.errors import InvalidInput, NotFound
from publisher.store.models import Delivery, Message
from tests.integration.fanout_support import (
    add_targets,
    deliver_in_process,
    publish,
    session_factory,
)
from tests.services import postgres_url

__all__ = ["postgres_url", "session_factory"]

Factory = sessionmaker[Session]


@pytest.fixture
def delivered(session_factory: Factory) -> tuple[int, Message]:
    with session_factory() as session:
        add_targets(session, 9, is_test=True)
        add_targets(session, 1, is_test=True, prefix="reject:x")
        message = publish(session)
    deliver_in_process(session_factory, message.id, MemoryChannel())
    # Spread the delivery times: the n-th delivered n seconds after publishing.
    with session_factory() as session:
        rows = session.query(Delivery).filter(Delivery.delivered_at.is_not(None)) \
            .order_by(Delivery.id).all()
        for seconds, row in enumerate(rows, start=1):
            session.execute(update(Delivery).where(Delivery.id == row.id).values(
                delivered_at=message.created_at + timedelta(seconds=seconds)))
        session.commit()
    return message.alert_id, message


def test_the_summary_counts_by_channel_and_status(session_factory: Factory,
                                                  delivered: tuple[int, Message]) -> None:
    alert_id, message = delivered
    with session_factory() as session:
        summary = delivery_summary(session, alert_id)
    [part] = summary["messages"]
    assert part["identifier"] == message.identifier
    memory = part["channels"]["memory"]
    assert memory["total"] == 10
    assert {status: n for status, n in memory["by_status"].items() if n} == {
        "delivered": 9, "failed": 1}
    # 10 deliveries: 50 % is the 5th delivered, 90 % the 9th, 99 % never reached.
    assert memory["seconds_to_delivered"] == {"p50": 5.0, "p90": 9.0, "p99": None}


def test_the_list_filters_and_pages(session_factory: Factory,
                                    delivered: tuple[int, Message]) -> None:
    alert_id, _ = delivered
    with session_factory() as session:
        page = list_deliveries(session, alert_id, "memory", "delivered", 2, 4)
        failed = list_deliveries(session, alert_id, status="failed")
        other = list_deliveries(session, alert_id, channel="sms")
    assert (page["total"], len(page["items"]), page["page"]) == (9, 4, 2)
    assert all(item["status"] == "delivered" for item in page["items"])
    assert [item["address"].startswith("reject:") for item in failed["items"]] == [True]
    assert failed["items"][0]["last_error"] == "rejected: no such address"
    assert other["total"] == 0


@pytest.mark.parametrize(("arguments", "field"), [
    ({"status": "lost"}, "status"), ({"page": 0}, "page"), ({"per_page": 0}, "per_page"),
    ({"per_page": 501}, "per_page"),
])
def test_bad_filters_name_their_field(session_factory: Factory, delivered: tuple[int, Message],
                                      arguments: dict[str, object], field: str) -> None:
    with session_factory() as session, pytest.raises(InvalidInput) as caught:
        list_deliveries(session, delivered[0], **arguments)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_an_unknown_alert_is_not_found(session_factory: Factory) -> None:
    with session_factory() as session:
        for call in (lambda: delivery_summary(session, 404), lambda: list_deliveries(session, 404)):
            with pytest.raises(NotFound):
                call()
