"""RabbitMQ really stopped and started again: the fan-out completes, exactly once.

The broker is a private node (tests/e2e/private_rabbitmq.py), shut down
whole and booted again on the same data, while real worker processes run on
it and reconnect by themselves:

- a message published while the broker is down fails fast and keeps its
  outbox row with the error; the production worker (``publisher worker
  --beat``), whose periodic relay sends the row once the broker is back,
  carries the fan-out through;
- the broker stops in the middle of a running fan-out, and once it is back
  the worker finishes it.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.celery_app import RELAY_INTERVAL_SECONDS, make_celery
from publisher.channels.base import DeliveryStatus
from publisher.services.outbox import relay_outbox
from publisher.store.models import Delivery, OutboxEntry
from tests.e2e.private_rabbitmq import PrivateRabbitMQ, private_rabbitmq, private_rabbitmq_node
from tests.e2e.worker_support import Installation, delivery_count, stop, unfinished, wait_for
from tests.integration.fanout_support import add_targets, publish

__all__ = ["private_rabbitmq", "private_rabbitmq_node"]

# A web request may wait this long for a broker that is down, not longer.
FAST_FAILURE_SECONDS = 3.0
# Reconnection backs off (2 s, 4 s, 6 s ...) while the broker is down.
RECOVERY_SECONDS = 60.0
# A sign of life in the worker's log: it saw the broker go and came back.
RECONNECTED = "Connected to amqp://"


def _installation(tmp_path: Path, broker: PrivateRabbitMQ, targets: int, *, batch_size: int,
                  delay_per_batch: float) -> Installation:
    """An installation on the private broker, with its test targets in the database."""
    installation = Installation(tmp_path, f"sqlite:///{tmp_path / 'publisher.db'}", broker.url,
                                batch_size=batch_size, delay_per_batch=delay_per_batch)
    installation.write_config()
    with installation.session_factory()() as session:
        add_targets(session, targets, is_test=True)
    return installation


def _start_production_worker(installation: Installation, name: str) -> subprocess.Popen[bytes]:
    """``publisher worker --beat``, as deployed: every queue, and the periodic outbox relay."""
    log = (installation.directory / f"{name}.log").open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "publisher.cli", "worker", "--beat",
         "--data-dir", str(installation.directory)],
        env=installation.environment, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True)


def _relay_as_the_web_does(installation: Installation) -> int:
    """The publishing request's single, retry-less relay of the outbox."""
    factory = installation.session_factory()
    enqueue = make_celery(installation.settings()).fanout_enqueuer(retry=False)
    with factory() as session:
        relayed = relay_outbox(session, enqueue)
        session.commit()
    return relayed


def _assert_delivered_once(factory: sessionmaker[Session], installation: Installation,
                           message_id: int, targets: int) -> None:
    entries = installation.sink().entries()
    assert len(entries) == targets
    assert max(Counter(entry.address for entry in entries).values()) == 1
    assert {entry.message_id for entry in entries} == {message_id}
    with factory() as session:
        statuses = Counter(session.scalars(select(Delivery.status)
                                           .where(Delivery.message_id == message_id)))
    assert statuses == {DeliveryStatus.DELIVERED: targets}


def test_a_message_published_while_rabbitmq_is_stopped_is_fanned_out_once_it_is_back(
        private_rabbitmq: PrivateRabbitMQ, tmp_path: Path) -> None:
    targets = 300
    installation = _installation(tmp_path, private_rabbitmq, targets, batch_size=50,
                                 delay_per_batch=0.0)
    factory = installation.session_factory()
    worker = _start_production_worker(installation, "worker")
    try:
        wait_for(lambda: "ready." in installation.worker_log("worker"), 30,
                 f"the worker to start\n{installation.worker_log('worker')}")
        private_rabbitmq.stop()

        with factory() as session:
            message_id = publish(session).id
        started = time.monotonic()
        assert _relay_as_the_web_does(installation) == 0
        assert time.monotonic() - started < FAST_FAILURE_SECONDS
        with factory() as session:
            entry = session.scalars(select(OutboxEntry)).one()
            assert entry.dispatched_at is None and entry.attempts == 1
            assert "refused" in (entry.last_error or "").lower()
        assert worker.poll() is None, "the worker exited when the broker went away"

        private_rabbitmq.start()
        wait_for(lambda: unfinished(factory, message_id) == 0
                 and delivery_count(factory, message_id) == targets
                 and installation.sink().count() == targets,
                 RELAY_INTERVAL_SECONDS + RECOVERY_SECONDS,
                 f"the relayed fan-out\n{installation.worker_log('worker')}")
    finally:
        stop(worker)
    assert installation.worker_log("worker").count(RECONNECTED) >= 2
    with factory() as session:
        entry = session.scalars(select(OutboxEntry)).one()
        assert entry.dispatched_at is not None and entry.last_error is None
    _assert_delivered_once(factory, installation, message_id, targets)
    assert installation.sink().repeats() == 0


def test_rabbitmq_stopped_in_the_middle_of_a_fan_out_and_started_again(
        private_rabbitmq: PrivateRabbitMQ, tmp_path: Path) -> None:
    targets, batch = 3000, 100
    # 9 s of batches: stopping the broker takes a few seconds itself on a busy machine.
    installation = _installation(tmp_path, private_rabbitmq, targets, batch_size=batch,
                                 delay_per_batch=0.3)
    factory = installation.session_factory()
    with factory() as session:
        message_id = publish(session).id
    worker = installation.start_worker("worker")
    sink = installation.sink()
    try:
        assert _relay_as_the_web_does(installation) == 1
        wait_for(lambda: delivery_count(factory, message_id) == targets and sink.count() >= 500,
                 30, f"the fan-out to be part way through\n{installation.worker_log('worker')}")
        private_rabbitmq.stop()
        at_stop = sink.count()
        assert at_stop < targets, "the fan-out finished before the broker stopped"
        # The batch in hand when the broker went is done by now; nothing else comes.
        time.sleep(0.5)
        assert sink.count() == at_stop
        assert worker.poll() is None, "the worker exited when the broker went away"

        private_rabbitmq.start()
        wait_for(lambda: unfinished(factory, message_id) == 0 and sink.count() == targets,
                 RECOVERY_SECONDS, f"the fan-out to finish\n{installation.worker_log('worker')}")
    finally:
        stop(worker)
    assert installation.worker_log("worker").count(RECONNECTED) >= 2
    _assert_delivered_once(factory, installation, message_id, targets)
    # The batch in hand at the stop may come back; the sink absorbs it.
    assert sink.repeats() <= batch
