"""Thin Celery entry points: each passes ids to a service and nothing else.

What their lines carry (the alert, the deliveries) is bound around each run
by ``observability.task_log_context``.

Retries are declared here: a transient channel error retries the batch with
exponential backoff and jitter; when the retries are exhausted the batch's
waiting deliveries are marked failed with the reason.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any, cast

from celery import Task, shared_task
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

from publisher.celery_app import PublisherCelery
from publisher.channels.base import TransientChannelError
from publisher.channels.district import DistrictChannel
from publisher.observability.task_received_context import STRATEGY
from publisher.services import delivery
from publisher.services.district_heartbeat import heartbeat_nodes
from publisher.services.district_nodes import DISTRICT_CHANNEL
from publisher.services.intake_notifications import (
    post_json,
    queue_state_changes,
    send_due_notifications,
)
from publisher.services.lifecycle import expire_due
from publisher.services.outbox import relay_outbox as relay_outbox_service

__all__ = ["district_heartbeat", "expire_alerts", "fanout", "relay_outbox", "send_batch"]

MAX_BATCH_RETRIES = 8
# A database that cannot be reached before the claim leaves the batch waiting, as
# a channel's transient error does; what is written after the hand-over is kept
# in hand meanwhile (store.patience).
BATCH_RETRIED_FOR = (TransientChannelError, OperationalError, InterfaceError)
RETRY_BACKOFF_MAX_SECONDS = 300

log = logging.getLogger(__name__)


def _app(task: Task[Any, Any]) -> PublisherCelery:
    return cast(PublisherCelery, task.app)


class BatchTask(Task[Any, Any]):
    def on_failure(self, exc: Exception, task_id: str, args: tuple[Any, ...],
                   kwargs: dict[str, Any], einfo: Any) -> None:
        delivery_ids = args[1] if len(args) > 1 else kwargs["delivery_ids"]
        try:
            delivery.abandon_batch(_app(self).session_factory, delivery_ids,
                                   f"{type(exc).__name__}: {exc}")
        except DBAPIError:
            # Raised here, outside the task's body, it would end the worker; the rows
            # still wait, and the next worker to start resumes them.
            log.exception("batch not marked failed: the database stayed unavailable",
                          extra={"task_id": task_id, "deliveries": len(delivery_ids)})


def _redelivered(task: Task[Any, Any]) -> bool:
    # A task the broker gives back after its worker died may have been in
    # the middle of a hand-over.
    return bool((task.request.delivery_info or {}).get("redelivered"))


@shared_task(bind=True, name="publisher.fanout", Strategy=STRATEGY)
def fanout(self: Task[Any, Any], message_id: int) -> int:
    app = _app(self)
    return delivery.fan_out(app.session_factory, message_id, app.settings.batch_size,
                            app.enqueue_batch, channels=app.settings.channels,
                            districts=app.districts, inline=app.inline_channels(),
                            redelivered=_redelivered(self))


@shared_task(bind=True, name="publisher.send_batch", base=BatchTask, Strategy=STRATEGY,
             autoretry_for=BATCH_RETRIED_FOR, max_retries=MAX_BATCH_RETRIES,
             retry_backoff=True, retry_backoff_max=RETRY_BACKOFF_MAX_SECONDS, retry_jitter=True)
def send_batch(self: Task[Any, Any], channel: str, delivery_ids: list[int],
               retake_sending: bool = False) -> dict[str, int]:
    app = _app(self)
    outcome = delivery.send_batch(app.session_factory, app.channel(channel), delivery_ids,
                                  retake_sending=retake_sending or _redelivered(self))
    return outcome.counts


@shared_task(bind=True, name="publisher.relay_outbox")
def relay_outbox(self: Task[Any, Any]) -> int:
    app = _app(self)
    with app.session_factory() as session:
        relayed = relay_outbox_service(session, app.fanout_enqueuer(retry=True))
        session.commit()
    return relayed


@shared_task(bind=True, name="publisher.expire_alerts")
def expire_alerts(self: Task[Any, Any]) -> list[int]:
    with _app(self).session_factory() as session:
        expired = expire_due(session, datetime.now(UTC))
        session.commit()
    return expired


@shared_task(bind=True, name="publisher.notify_agencies")
def notify_agencies(self: Task[Any, Any]) -> int:
    """Tell agencies what became of their submissions; a notice not acknowledged waits its turn."""
    with _app(self).session_factory() as session:
        now = datetime.now(UTC)
        queue_state_changes(session, now)
        acknowledged = send_due_notifications(session, post_json, now)
        session.commit()
    return acknowledged


@shared_task(bind=True, name="publisher.district_heartbeat")
def district_heartbeat(self: Task[Any, Any]) -> dict[str, bool]:
    app = _app(self)
    channel = app.channel(DISTRICT_CHANNEL)
    if not isinstance(channel, DistrictChannel):
        raise TypeError(f"channel {DISTRICT_CHANNEL!r} is {type(channel).__name__}, which sends"
                        " no heartbeats")
    return heartbeat_nodes(app.session_factory, channel)
