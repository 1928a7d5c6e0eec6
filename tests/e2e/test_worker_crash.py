"""kill -9 a worker in the middle of a fan-out, start another: every target gets it exactly once."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import select

from publisher.channels.base import DeliveryStatus
from publisher.store.models import Delivery
from tests.e2e.worker_support import (
    Installation,
    delivery_count,
    kill_hard,
    stop,
    unfinished,
    wait_for,
)
from tests.integration.fanout_support import add_targets, publish
from tests.services import rabbitmq_url

__all__ = ["rabbitmq_url"]

TARGETS = 5000
BATCH = 100


@pytest.fixture(params=["rabbitmq", "embedded"])
def installation(request: pytest.FixtureRequest, tmp_path: Path) -> Installation:
    broker = (request.getfixturevalue("rabbitmq_url") if request.param == "rabbitmq"
              else f"sqla+sqlite:///{tmp_path / 'broker.db'}")
    found = Installation(tmp_path, f"sqlite:///{tmp_path / 'publisher.db'}", broker,
                         batch_size=BATCH, delay_per_batch=0.03)
    found.write_config()
    return found


def test_a_killed_worker_loses_and_repeats_nothing(installation: Installation) -> None:
    factory = installation.session_factory()
    with factory() as session:
        add_targets(session, TARGETS, is_test=True)
        message_id = publish(session).id
    sink = installation.sink()

    first = installation.start_worker("first")
    try:
        # Killed once the fan-out is planned and part of it handed over.
        wait_for(lambda: delivery_count(factory, message_id) == TARGETS and sink.count() >= 800,
                 60, "the first worker to be part way through")
        kill_hard(first)
    finally:
        stop(first)
    at_kill = sink.count()
    assert at_kill < TARGETS, "the worker finished before it was killed: no crash was tested"

    second = installation.start_worker("second")
    try:
        wait_for(lambda: unfinished(factory, message_id) == 0, 90,
                 f"every delivery to be handed over\n{installation.worker_log('second')}")
    finally:
        stop(second)

    entries = sink.entries()
    assert len(entries) == TARGETS
    assert max(Counter(entry.address for entry in entries).values()) == 1
    assert {entry.message_id for entry in entries} == {message_id}
    # At most the batch in hand at the kill came back, and the sink absorbed it.
    assert sink.repeats() <= BATCH
    with factory() as session:
        rows = session.execute(select(Delivery.status, Delivery.provider_id)
                               .where(Delivery.message_id == message_id)).all()
    assert Counter(status for status, _ in rows) == {DeliveryStatus.DELIVERED: TARGETS}
    assert len({provider_id for _, provider_id in rows}) == TARGETS
