"""The fan-out through Celery: relay, fan-out task, batch tasks and retries, on each broker."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker

from publisher.celery_app import PublisherCelery, make_celery
from publisher.channels.base import DeliveryStatus
from publisher.channels.memory import MemorySink
from publisher.config import load_settings
from publisher.services.outbox import relay_outbox
from tests.e2e.worker_support import delivery_count, unfinished, wait_for
from tests.integration.fanout_support import add_targets, database, publish, statuses
from tests.services import rabbitmq_url

__all__ = ["rabbitmq_url"]

TARGETS = 250


def _app(tmp_path: Path, broker_url: str, **memory: object) -> PublisherCelery:
    environment = {"PUBLISHER_DATABASE_URL": f"sqlite:///{tmp_path / 'publisher.db'}",
                   "PUBLISHER_BROKER_URL": broker_url, "PUBLISHER_BATCH_SIZE": "100"}
    settings = load_settings(environment, tmp_path)
    options = {"sink": str(tmp_path / "sink.db"), **memory}
    return make_celery(settings.__class__(**{
        **{name: getattr(settings, name) for name in settings.__slots__},
        "channel_options": {"memory": options}}))


@pytest.fixture(params=["sqla+sqlite", "amqp"])
def broker_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "amqp":
        yield request.getfixturevalue("rabbitmq_url")
    else:
        yield f"sqla+sqlite:///{tmp_path / 'broker.db'}"


def _publish_and_run(app: PublisherCelery, tmp_path: Path, timeout: float) -> int:
    factory = database(app.settings.database_url)
    with factory() as session:
        add_targets(session, TARGETS, is_test=True)
        message_id = publish(session).id
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=10,
                      queues=["fanout", "channel.memory"]):
        with factory() as session:
            assert relay_outbox(session, app.fanout_enqueuer(retry=False)) == 1
            session.commit()
        wait_for(lambda: delivery_count(factory, message_id) == TARGETS
                 and unfinished(factory, message_id) == 0, timeout, "the fan-out")
    with factory() as session:
        assert statuses(session, message_id) == {DeliveryStatus.DELIVERED: TARGETS}
    return message_id


def test_a_published_message_is_delivered_through_the_broker(tmp_path: Path,
                                                             broker_url: str) -> None:
    app = _app(tmp_path, broker_url)
    _publish_and_run(app, tmp_path, 60)
    sink = MemorySink(tmp_path / "sink.db")
    assert (sink.count(), sink.repeats()) == (TARGETS, 0)


def test_transient_errors_are_retried_with_backoff(tmp_path: Path) -> None:
    app = _app(tmp_path, f"sqla+sqlite:///{tmp_path / 'broker.db'}", transient_failures=2)
    _publish_and_run(app, tmp_path, 60)
    assert MemorySink(tmp_path / "sink.db").count() == TARGETS
