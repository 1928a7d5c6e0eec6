"""The early-warning lane on RabbitMQ and PostgreSQL: an early warning overtakes a large
fan-out already in progress, reaches only test targets when it is an Exercise, and each
district's message carries its own countdown."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from celery.contrib.testing.worker import start_worker
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.eew import Quake
from publisher.cap.model import Status
from publisher.celery_app import PublisherCelery, make_celery
from publisher.channels.base import DeliveryStatus
from publisher.channels.memory import MemorySink
from publisher.config import load_settings
from publisher.services.eew import receive_eew
from publisher.services.eew_lane import EewLane, EewLaneSender
from publisher.services.eew_policy import EEW_CONFIG_FILE, EewRegister
from publisher.services.outbox import relay_outbox
from publisher.services.signer import CenterSigner
from publisher.sim.eew_sender import build_eew_alert, sender_identity
from publisher.store.models import AuditEntry, Delivery, Target
from tests.e2e.worker_support import unfinished, wait_for
from tests.integration.fanout_support import (
    CHAOYANG,
    HAIDIAN,
    _postgres_factory,
    add_targets,
    publish,
)
from tests.services import postgres_url, rabbitmq_url

__all__ = ["postgres_url", "rabbitmq_url"]

Factory = sessionmaker[Session]
# 60 batches of 500 at half a second each: half a minute of fan-out at least.
LARGE = 30_000
BATCH = 500
TEST_TARGETS = 40
WAIT = 120.0


@pytest.fixture
def app(tmp_path: Path, postgres_url: str, rabbitmq_url: str) -> PublisherCelery:
    environment = {"PUBLISHER_DATABASE_URL": postgres_url, "PUBLISHER_BROKER_URL": rabbitmq_url,
                   "PUBLISHER_BATCH_SIZE": str(BATCH)}
    settings = load_settings(environment, tmp_path)
    return make_celery(replace(settings, channel_options={
        "memory": {"sink": str(tmp_path / "sink.db"), "delay_per_batch": 0.5}}))


@pytest.fixture
def factory(postgres_url: str) -> Factory:
    return _postgres_factory(postgres_url)


@pytest.fixture
def lane(app: PublisherCelery, factory: Factory) -> Iterator[EewLane]:
    with factory() as session:
        add_targets(session, LARGE, district_code=CHAOYANG, prefix="public")
        add_targets(session, TEST_TARGETS, district_code=HAIDIAN, is_test=True, prefix="test")
        add_targets(session, TEST_TARGETS, district_code=HAIDIAN, prefix="haidian")
    running = app.eew_lane()
    running.start()
    yield running
    running.stop()


def delivered(factory: Factory, message_id: int) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.message_id == message_id,
            Delivery.status == DeliveryStatus.DELIVERED)) or 0


def publish_eew(app: PublisherCelery, factory: Factory) -> int:
    settings = app.settings
    identity = sender_identity(settings.paths.data_dir)
    register = EewRegister(settings.paths.config_dir / EEW_CONFIG_FILE, settings.paths.data_dir)
    with factory() as session:
        outcome = receive_eew(session, identity.sign(build_eew_alert(Quake(40.3, 116.2, 6.1))),
                              register, CenterSigner.load_or_create(settings), app.districts)
        session.commit()
    assert outcome.message is not None, outcome.refusal
    return outcome.message.id


def test_an_early_warning_overtakes_a_large_fanout_in_progress(
        app: PublisherCelery, factory: Factory, lane: EewLane, tmp_path: Path) -> None:
    with factory() as session:
        rainstorm = publish(session, status=Status.ACTUAL).id
    with start_worker(app, pool="solo", perform_ping_check=False, shutdown_timeout=30,
                      queues=["fanout", "channel.memory"]):
        with factory() as session:
            assert relay_outbox(session, app.fanout_enqueuer(retry=False)) == 1
            session.commit()
        wait_for(lambda: delivered(factory, rainstorm) >= BATCH, WAIT,
                 "the large fan-out to be under way")

        quake = publish_eew(app, factory)
        EewLaneSender(app).send(quake)
        wait_for(lambda: delivered(factory, quake) == TEST_TARGETS, WAIT,
                 "the early warning's deliveries")
        # The large fan-out is still going: the warning did not wait for it.
        assert unfinished(factory, rainstorm) > 0

    with factory() as session:
        reached = set(session.scalars(
            select(Target.address).join(Delivery, Delivery.target_id == Target.id)
            .where(Delivery.message_id == quake)))
        planned = session.scalars(select(AuditEntry).where(
            AuditEntry.action == "eew_fanout")).one()
    # An Exercise: the test targets, none of the others in Haidian or Chaoyang.
    assert len(reached) == TEST_TARGETS and all(address.startswith("test-")
                                                for address in reached)
    assert planned.detail["planned"] == {"memory": TEST_TARGETS}
    texts = {entry.text for entry in MemorySink(tmp_path / "sink.db").entries()
             if entry.message_id == quake}
    [text] = texts
    assert "破坏性地震预警：6.1级地震，约" in text and "秒后到达" in text
