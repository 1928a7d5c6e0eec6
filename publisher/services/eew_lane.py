"""The early-warning lane: a queue of its own and a consumer of its own in each worker.

``POST /api/eew`` commits the message and puts its id on the ``eew`` queue
(``EewLaneSender``), ahead of nothing: whatever the channel queues hold
(a fan-out of 100,000 SMS, say) stays where it is. The worker that plans
fan-outs runs ``EewLane``, a consumer thread beside its pool, so the early
warning never waits for a batch in hand. For each message the lane:

1. finds its targets in the in-memory ``TargetIndex`` (no scan of the
   targets table), channel by channel, the fastest first (``LANE_ORDER``);
   the MQTT terminals were published to by the web process already
   (``eew_terminals``), and the message names the topic groups it reached;
2. writes their delivery rows (idempotent, as every fan-out) and commits;
3. sends its batches through the channel in a thread of the channel's own,
   each district of a batch with its own countdown (``district_view``), so
   the terminals are recorded while the boards are pushed and the SMS rows
   are still being written. The groups already published are not published
   again (``published_view``); a terminal the web process did not reach is.

SMS is the exception: its receipts arrive on the binds of the worker
process that sent it, which only pool processes read, so its batches go to
``channel.sms.eew``, a queue the pool consumes beside ``channel.sms``. A
batch the channel wants retried (a transient error) goes to its ordinary
queue, with the ordinary backoff. The message's outbox row stays for the
relay: the ordinary fan-out that follows hands on anything the lane did not
(a target newer than the index), and finds the rest already planned.
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from celery import Celery
from kombu import Consumer, Exchange, Message, Queue
from kombu.mixins import ConsumerMixin
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from structlog.contextvars import bound_contextvars

from publisher.cap.districts import DistrictTable
from publisher.channels.base import (
    Channel,
    DeliveryStatus,
    OutgoingMessage,
    TransientChannelError,
)
from publisher.channels.mqtt import MqttChannel, TopicGroup
from publisher.channels.speaker import SpeakerChannel
from publisher.observability.log_context import delivery_log_context
from publisher.services import audit, delivery
from publisher.services.actors import Actor
from publisher.services.delivery import insert_deliveries
from publisher.services.eew_district_channel import district_view, published_view
from publisher.services.eew_index import (
    REFRESH_COST_RATIO,
    REFRESH_SECONDS,
    Reached,
    TargetIndex,
)
from publisher.services.targets import AreaSelection, reaches_only_test_targets
from publisher.store.models import Delivery, Target

__all__ = [
    "EEW_QUEUE",
    "LANE_ORDER",
    "QUEUED_IN_LANE",
    "EewLane",
    "EewLaneSender",
    "LaneDispatcher",
    "eew_queue",
    "published_groups",
]

log = logging.getLogger("publisher.eew")

EEW_QUEUE = "eew"
MQTT = MqttChannel.name
# Channels in the order the lane plans them: the quickest to reach people first.
LANE_ORDER = ("mqtt", "app", "led", "speaker", "memory", "wechat", "district", "sms", "feed")
QUEUED_IN_LANE = frozenset({"sms"})
# The embedded (SQLite) broker is polled; the lane looks this often.
_EMBEDDED_POLLING_SECONDS = 0.02
_WAITING = (DeliveryStatus.PENDING, DeliveryStatus.QUEUED)
LANE_SWITCH_INTERVAL_SECONDS = 0.001


def eew_queue() -> Queue:
    return Queue(EEW_QUEUE, Exchange(EEW_QUEUE, type="direct"), routing_key=EEW_QUEUE)


class EewLaneSender:
    """Puts a published early warning on the lane; raises at once when the broker is down."""

    def __init__(self, celery: Celery) -> None:
        self.celery = celery
        self.queue = eew_queue()

    def send(self, message_id: int, published: Sequence[TopicGroup] = ()) -> None:
        """``published``: the MQTT topic groups the caller reached already."""
        body = {"message_id": message_id, "published": {MQTT: [list(group)
                                                               for group in published]}}
        with self.celery.producer_or_acquire() as producer:
            producer.publish(body, exchange=self.queue.exchange,
                             routing_key=EEW_QUEUE, declare=[self.queue], serializer="json",
                             retry=False)


def published_groups(body: Mapping[str, Any]) -> frozenset[TopicGroup]:
    """The MQTT topic groups a lane message says were published; none if it names none well."""
    published = body.get("published")
    listed = published.get(MQTT) if isinstance(published, dict) else None
    if not isinstance(listed, list):
        return frozenset()
    groups: set[TopicGroup] = set()
    for group in listed:
        if not (isinstance(group, list) and len(group) == 3 and isinstance(group[0], str)
                and isinstance(group[1], str) and isinstance(group[2], bool)):
            # Publishing to every terminal again costs a repeat they drop; skipping one, a miss.
            log.warning("early-warning lane: a published group is malformed; publishing to"
                        " every terminal", extra={"group": repr(group)[:200]})
            return frozenset()
        groups.add((group[0], group[1], group[2]))
    return frozenset(groups)


def _lane_rank(channel: str) -> int:
    return LANE_ORDER.index(channel) if channel in LANE_ORDER else len(LANE_ORDER)


@dataclass
class LaneDispatcher:
    """Plans and sends one early warning from the index; see the module docstring."""

    sessions: sessionmaker[Session]
    index: TargetIndex
    channel: Callable[[str], Channel[Any]]
    districts: DistrictTable | None
    enqueue_batch: Callable[[str, list[int]], None]
    enqueue_lane_batch: Callable[[str, list[int]], None]
    batch_size: int

    def __post_init__(self) -> None:
        self._senders: dict[str, ThreadPoolExecutor] = {}

    def channels(self) -> list[str]:
        return sorted(self.index.channels, key=_lane_rank)

    def warm_up(self) -> None:
        """Before any quake: the terminals' broker connected, the speakers' recordings made."""
        for name in self.channels():
            if name in QUEUED_IN_LANE:
                continue
            channel = self.channel(name)
            if isinstance(channel, MqttChannel):
                channel.connection.start()
            elif isinstance(channel, SpeakerChannel):
                made = channel.prepare_eew_audio()
                log.info("early-warning recordings ready", extra={
                    "recordings": len(made), "synthesised": sum(audio.made for audio in made)})

    def dispatch(self, message_id: int,
                 published: frozenset[TopicGroup] = frozenset()) -> dict[str, int]:
        """Plan and hand on every channel's deliveries; the number planned per channel.

        ``published``: the MQTT topic groups put out already, not published again.
        """
        started = time.perf_counter()
        with self.sessions() as session:
            outgoing = delivery.load_outgoing_message(session, message_id)
        with bound_contextvars(alert_identifier=outgoing.identifier, message_id=message_id):
            log.info("early warning on the lane", extra={"read_again": self.index.catch_up()})
            return self._dispatch(outgoing, started, published)

    def _dispatch(self, outgoing: OutgoingMessage, started: float,
                  published: frozenset[TopicGroup]) -> dict[str, int]:
        message_id = outgoing.message_id
        selection = AreaSelection.of_alert(outgoing.alert, self.districts)
        test_only = reaches_only_test_targets(outgoing.status)
        planned: dict[str, int] = {}
        handed_on_ms: dict[str, float] = {}
        for name in self.channels():
            targets = self.index.targets(name)
            if targets is None:
                continue
            reached = targets.reached(selection, test_only=test_only, districts=self.districts)
            if reached:
                planned[name] = self._plan_and_send(message_id, name, reached, published)
                handed_on_ms[name] = round((time.perf_counter() - started) * 1000, 2)
        with self.sessions() as session:
            audit.record(session, Actor.system("eew-lane"), "eew_fanout",
                         message_id=message_id,
                         detail={"identifier": outgoing.identifier, "planned": planned,
                                 "handed_on_ms": handed_on_ms})
            session.commit()
        log.info("early warning planned", extra={"planned": planned,
                                                 "handed_on_ms": handed_on_ms})
        return planned

    def _plan_and_send(self, message_id: int, channel: str, reached: Sequence[Reached],
                       published: frozenset[TopicGroup]) -> int:
        district_of = {each.target_id: each.district_code for each in reached}
        with self.sessions() as session:
            _insert_waiting(session, message_id, channel, list(district_of))
            delivery_ids = sorted(session.scalars(
                select(Delivery.id).where(Delivery.message_id == message_id,
                                          Delivery.channel == channel,
                                          Delivery.status.in_(_WAITING))))
            session.commit()
        for start in range(0, len(delivery_ids), self.batch_size):
            self._hand_on(channel, district_of, delivery_ids[start:start + self.batch_size],
                          published)
        return len(delivery_ids)

    def _hand_on(self, channel: str, district_of: Mapping[int, str | None],
                 delivery_ids: list[int], published: frozenset[TopicGroup]) -> None:
        if channel in QUEUED_IN_LANE:
            self.enqueue_lane_batch(channel, delivery_ids)
            return
        sender = self._senders.get(channel)
        if sender is None:
            sender = self._senders[channel] = ThreadPoolExecutor(
                1, thread_name_prefix=f"eew-{channel}")
        # The sender's thread logs under the warning's identifier, as this one does.
        sender.submit(contextvars.copy_context().run, self._send_logged, channel, district_of,
                      delivery_ids, published)

    def _send_logged(self, channel: str, district_of: Mapping[int, str | None],
                     delivery_ids: list[int], published: frozenset[TopicGroup]) -> None:
        with delivery_log_context(channel, delivery_ids):
            self._send(channel, district_of, delivery_ids, published)

    def _channel_less(self, name: str, published: frozenset[TopicGroup]) -> Channel[Any]:
        channel = self.channel(name)
        if published and isinstance(channel, MqttChannel):
            return published_view(channel, published)
        return channel

    def _send(self, channel: str, district_of: Mapping[int, str | None],
              delivery_ids: list[int], published: frozenset[TopicGroup]) -> None:
        started = time.perf_counter()
        try:
            outcome = delivery.send_batch(
                self.sessions, district_view(self._channel_less(channel, published),
                                             district_of), delivery_ids)
            log.info("early-warning batch sent", extra={
                "channel": channel, "counts": outcome.counts,
                "ms": round((time.perf_counter() - started) * 1000, 1)})
        except TransientChannelError as error:
            log.warning("early-warning batch handed to the channel's queue for a retry",
                        extra={"channel": channel, "error": str(error)})
            self.enqueue_batch(channel, delivery_ids)
        except Exception:  # the rows stay waiting for the ordinary fan-out; the lane goes on
            log.exception("early-warning batch not sent", extra={"channel": channel})

    def close(self) -> None:
        for sender in self._senders.values():
            sender.shutdown(wait=True)


def _insert_waiting(session: Session, message_id: int, channel: str,
                    target_ids: list[int]) -> None:
    # The fan-out's own insert (rows it planned already are left as they are), from a
    # query of the ids: its statement is compiled once, where a list of rows is
    # compiled anew for every message, at a cost that grows with the rows.
    for start in range(0, len(target_ids), _INSERT_PAGE):
        page = target_ids[start:start + _INSERT_PAGE]
        insert_deliveries(session, message_id, channel,
                          select(Target.id).where(Target.id.in_(page)), len(page))


_INSERT_PAGE = 10_000


class EewLane(ConsumerMixin):
    """The consumer thread of the ``eew`` queue in a worker; ``start`` and ``stop`` it."""

    def __init__(self, celery: Celery, dispatcher: LaneDispatcher, *,
                 embedded: bool) -> None:
        options: Mapping[str, Any] = ({"polling_interval": _EMBEDDED_POLLING_SECONDS}
                                      if embedded else {})
        self.connection = celery.connection_for_read(transport_options={
            **celery.conf.broker_transport_options, **options})
        self.dispatcher = dispatcher
        self._threads: list[threading.Thread] = []
        self._stopping = threading.Event()

    def get_consumers(self, consumer: type[Consumer], channel: Any) -> list[Consumer]:
        return [consumer(queues=[eew_queue()], callbacks=[self.on_message],
                         accept=["json"], prefetch_count=1)]

    def on_message(self, body: Any, message: Message) -> None:
        message_id = body.get("message_id") if isinstance(body, dict) else None
        if isinstance(message_id, int):
            try:
                self.dispatcher.dispatch(message_id, published_groups(body))
            except Exception:  # the outbox relay's ordinary fan-out still reaches everyone
                log.exception("early warning not dispatched by the lane",
                              extra={"message_id": message_id})
        else:
            log.warning("early-warning lane: a message without a message id was dropped")
        message.ack()

    def _refresh(self) -> float:
        """Refresh the index; the seconds until the next refresh."""
        try:
            seconds = self.dispatcher.index.refresh()
        except Exception:  # the previous snapshot stays in use
            log.exception("early-warning target index not refreshed")
            return REFRESH_SECONDS
        log.info("early-warning target index refreshed", extra={"seconds": round(seconds, 3)})
        # A million targets take seconds of a core to read again: the worker's
        # fan-outs and batches must keep the rest of it.
        return max(REFRESH_SECONDS, REFRESH_COST_RATIO * seconds)

    def _keep_fresh(self, first_wait: float) -> None:
        try:
            self.dispatcher.warm_up()
        except Exception:  # a cold channel is slower, not wrong: it connects on first use
            log.exception("early-warning lane not warmed up")
        wait = first_wait
        while not self._stopping.wait(wait):
            wait = self._refresh()

    def start(self) -> None:
        """Read the index once, then consume and refresh in threads of their own."""
        # The lane's threads hand work to network threads (the MQTT client's, the
        # device pushes' event loop) and wait for them: at the default 5 ms a
        # thread may hold the GIL, each of those hand-overs could cost that much.
        sys.setswitchinterval(LANE_SWITCH_INTERVAL_SECONDS)
        wait = self._refresh()
        self._threads = [threading.Thread(target=self.run, name="eew-lane", daemon=True),
                         threading.Thread(target=self._keep_fresh, args=(wait,),
                                          name="eew-index", daemon=True)]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self.should_stop = True
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self.dispatcher.close()
        self.connection.release()
