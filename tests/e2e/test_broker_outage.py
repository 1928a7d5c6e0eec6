"""A broker that is down when a message is published: the publish fails fast, the relay finishes.

The shared RabbitMQ cannot be stopped under other tests, so the outage is a
broker URL on a port where nothing listens; the worker then starts with the
real broker, and its start-up relay carries the fan-out through.
"""

from __future__ import annotations

import socket
import time
from dataclasses import replace
from pathlib import Path

from sqlalchemy import select

from publisher.celery_app import make_celery
from publisher.services.outbox import relay_outbox
from publisher.store.models import OutboxEntry
from tests.e2e.worker_support import Installation, stop, unfinished, wait_for
from tests.integration.fanout_support import add_targets, publish
from tests.services import rabbitmq_url

__all__ = ["rabbitmq_url"]

TARGETS = 300
# A web request may wait this long for a broker that is down, not longer.
FAST_FAILURE_SECONDS = 3.0


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_publishing_while_the_broker_is_down_completes_later(rabbitmq_url: str,
                                                             tmp_path: Path) -> None:
    installation = Installation(tmp_path, f"sqlite:///{tmp_path / 'publisher.db'}",
                                rabbitmq_url, batch_size=50, delay_per_batch=0.0)
    installation.write_config()
    factory = installation.session_factory()
    with factory() as session:
        add_targets(session, TARGETS, is_test=True)
        message_id = publish(session).id

    down = make_celery(replace(installation.settings(),
                               broker_url=f"amqp://guest:guest@127.0.0.1:{_closed_port()}//"))
    started = time.monotonic()
    with factory() as session:
        assert relay_outbox(session, down.fanout_enqueuer(retry=False)) == 0
        session.commit()
    assert time.monotonic() - started < FAST_FAILURE_SECONDS
    with factory() as session:
        entry = session.scalars(select(OutboxEntry)).one()
        assert entry.dispatched_at is None and entry.attempts == 1
        assert "refused" in (entry.last_error or "").lower()

    worker = installation.start_worker("after-outage")
    try:
        wait_for(lambda: unfinished(factory, message_id) == 0
                 and installation.sink().count() == TARGETS, 60,
                 f"the relayed fan-out\n{installation.worker_log('after-outage')}")
    finally:
        stop(worker)
    with factory() as session:
        entry = session.scalars(select(OutboxEntry)).one()
        assert entry.dispatched_at is not None and entry.last_error is None
    assert installation.sink().repeats() == 0
