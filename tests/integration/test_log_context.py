"""The alert identifier and delivery ids on the log lines of a task and of a web request."""

from __future__ import annotations

import json
import logging

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from celery import signals
from sqlalchemy.orm import Session, sessionmaker
from structlog.contextvars import get_contextvars

from publisher.cap.districts import load_districts
from publisher.channels.base import DeliveryStatus
from publisher.channels.memory import MemoryChannel
from publisher.cli_logging import LOG_FORMAT_VARIABLE, configure_logging
from publisher.observability.log_context import batch_log_context, message_log_context
from publisher.observability.task_log_context import bind_task_log_context
from publisher.services.eew_index import TargetIndex
from publisher.services.eew_lane import LaneDispatcher
from publisher.store.models import Delivery, Target
from publisher.web.request_logging import log_context_middleware
from tests.channels.device_support import CONFIG_DISTRICTS
from tests.integration.fanout_support import publish

Factory = sessionmaker[Session]


def _queued_delivery(session_factory: Factory, address: str) -> tuple[str, int, int]:
    """A published message and one queued delivery of it: identifier, message id, delivery id."""
    with session_factory() as session:
        message = publish(session)
        target = Target(channel="memory", address=address, is_test=True)
        session.add(target)
        session.flush()
        delivery = Delivery(message_id=message.id, channel="memory", target_id=target.id,
                            status=DeliveryStatus.QUEUED)
        session.add(delivery)
        session.commit()
        return message.identifier, message.id, delivery.id


def test_a_batch_binds_its_alert_channel_and_deliveries(session_factory: Factory) -> None:
    identifier, message_id, delivery_id = _queued_delivery(session_factory, "m-1")
    with batch_log_context(session_factory, "memory", [delivery_id]):
        assert get_contextvars() == {"alert_identifier": identifier, "channel": "memory",
                                     "delivery_ids": [delivery_id]}
    assert get_contextvars() == {}
    with message_log_context(session_factory, message_id):
        assert get_contextvars() == {"alert_identifier": identifier, "message_id": message_id}
    assert get_contextvars() == {}


@pytest.mark.asyncio
async def test_each_request_names_what_its_path_names(aiohttp_client, capsys) -> None:
    async def handler(_request: web.Request) -> web.Response:
        logging.getLogger("publisher.web.test").info("handled")
        return web.Response(text="ok")

    app = web.Application(middlewares=[log_context_middleware])
    app.router.add_post(r"/api/alerts/{alert_id:\d+}/approve", handler)
    app.router.add_get("/health/live", handler)
    configure_logging(environ={LOG_FORMAT_VARIABLE: "json"})
    client: TestClient = await aiohttp_client(app)
    assert (await client.post("/api/alerts/17/approve")).status == 200
    assert (await client.get("/health/live")).status == 200
    handled = [json.loads(line) for line in capsys.readouterr().err.splitlines()
               if '"handled"' in line]
    assert [(line.get("alert_id"), line["method"], line["path"]) for line in handled] == [
        ("17", "POST", "/api/alerts/17/approve"), (None, "GET", "/health/live")]


def test_the_early_warning_lane_names_the_warning_on_its_lines_and_its_senders(
        session_factory: Factory, capsys: pytest.CaptureFixture[str]) -> None:
    with session_factory() as session:
        message = publish(session)
        session.add(Target(channel="memory", address="m-1", is_test=True,
                           district_code="110105"))
        session.commit()
        identifier, message_id = message.identifier, message.id
    index = TargetIndex(session_factory, ["memory"])
    index.refresh()
    lane = LaneDispatcher(session_factory, index, lambda _name: MemoryChannel(),
                          load_districts(CONFIG_DISTRICTS),
                          enqueue_batch=pytest.fail, enqueue_lane_batch=pytest.fail,
                          batch_size=100)
    configure_logging(environ={LOG_FORMAT_VARIABLE: "json"})
    capsys.readouterr()
    assert lane.dispatch(message_id) == {"memory": 1}
    lane.close()
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()
             if line.startswith("{")]
    events = {line["event"]: line for line in lines}
    # The batch is sent on a thread of the lane's own, which must log under the warning too.
    for event in ("early warning on the lane", "early warning planned",
                  "early-warning batch sent"):
        assert events[event]["alert_identifier"] == identifier, events
        assert events[event]["message_id"] == message_id
    assert events["early-warning batch sent"]["delivery_ids"]
    assert get_contextvars() == {}


class _Task:
    """What Celery hands its task signals: the task's name and its application."""

    def __init__(self, name: str, session_factory: Factory) -> None:
        self.name = name
        self.app = type("App", (), {"session_factory": session_factory})()


def test_celery_binds_a_task_context_from_its_start_to_its_end(
        session_factory: Factory) -> None:
    identifier, message_id, delivery_id = _queued_delivery(session_factory, "m-2")
    bind_task_log_context()
    bind_task_log_context()  # once per process however often: a second call adds nothing
    batch = _Task("publisher.send_batch", session_factory)
    signals.task_prerun.send(sender=batch, task_id="t-1", task=batch,
                             args=("memory", [delivery_id]), kwargs={})
    # Celery logs "succeeded" here, between the two signals.
    assert get_contextvars() == {"alert_identifier": identifier, "channel": "memory",
                                 "delivery_ids": [delivery_id]}
    signals.task_postrun.send(sender=batch, task_id="t-1", task=batch)
    assert get_contextvars() == {}

    fanout = _Task("publisher.fanout", session_factory)
    signals.task_prerun.send(sender=fanout, task_id="t-2", task=fanout, args=(),
                             kwargs={"message_id": message_id})
    assert get_contextvars() == {"alert_identifier": identifier, "message_id": message_id}
    signals.task_postrun.send(sender=fanout, task_id="t-2", task=fanout)
    assert get_contextvars() == {}

    rounds = _Task("publisher.relay_outbox", session_factory)
    signals.task_prerun.send(sender=rounds, task_id="t-3", task=rounds, args=(), kwargs={})
    assert get_contextvars() == {}
    signals.task_postrun.send(sender=rounds, task_id="t-3", task=rounds)
