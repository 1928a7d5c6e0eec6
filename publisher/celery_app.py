"""The Celery application: queues, delivery guarantees, periodic work, worker start.

``make_celery(settings)`` builds the app; ``celery -A publisher.celery_app
worker`` finds it as this module's ``app``, built from the configuration when
the command first asks for it, never at import.

A worker process that consumes the SMS queue opens the SMS channel's binds
when it starts, before any batch, and runs an ``InboundPump`` that records
the receipts and answers the texts the SMSC delivers on them; both stop
with the process.

One queue per channel (``channel.<name>``) so that a slow channel never
holds back another, and ``fanout`` for planning and periodic work. The
worker that plans fan-outs also runs the early-warning lane
(``services.eew_lane``): its own consumer of the ``eew`` queue beside the
pool, so an earthquake early warning never waits behind batches in hand;
the lane's SMS batches go to ``channel.sms.eew``, consumed beside
``channel.sms``. Tasks are
acknowledged late and requeued when their worker is lost; a worker takes one
task at a time, so a crash leaves at most one batch in doubt.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import Any

from celery import Celery, signals
from celery.concurrency import get_implementation
from celery.concurrency.thread import TaskPool as ThreadPool
from celery.worker.consumer import Consumer
from kombu import Exchange, Queue
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.districts import DistrictTable, load_districts
from publisher.channels.base import Channel
from publisher.channels.registry import channel_class, create_channel
from publisher.channels.sms import SmsChannel
from publisher.config import Settings, load_settings
from publisher.observability.log_context import message_log_context
from publisher.observability.task_log_context import bind_task_log_context
from publisher.observability.task_received_context import carry_alert
from publisher.services.app_events import AppHandOver
from publisher.services.apps import APP_CHANNEL
from publisher.services.delivery import resume_unfinished
from publisher.services.district_heartbeat import HEARTBEAT_TICK_SECONDS
from publisher.services.district_names import DistrictNames
from publisher.services.district_nodes import DISTRICT_CHANNEL
from publisher.services.eew_index import TargetIndex
from publisher.services.eew_lane import QUEUED_IN_LANE, EewLane, LaneDispatcher
from publisher.services.feeds import FeedOptions, FeedRebuilder
from publisher.services.outbox import relay_outbox
from publisher.services.public_alerts import FEED_CHANNEL
from publisher.services.sms_inbound import InboundPump
from publisher.services.subscribers import SMS_CHANNEL
from publisher.store.db import make_engine, make_session_factory

__all__ = [
    "FANOUT_QUEUE",
    "PromptAckConsumer",
    "PublisherCelery",
    "broker_redelivers",
    "channel_queue",
    "make_celery",
]

log = logging.getLogger(__name__)

FANOUT_QUEUE = "fanout"
TASK_EXCHANGE = Exchange("publisher", type="direct")
RELAY_INTERVAL_SECONDS = 15.0
EXPIRY_INTERVAL_SECONDS = 60.0
# How often agencies' webhooks are told of state changes, and unacknowledged ones retried.
AGENCY_NOTICE_INTERVAL_SECONDS = 10.0
# How often the center looks for district nodes whose own heartbeat interval has
# passed, and names its latest messages to them (NAAD heartbeat).
DISTRICT_HEARTBEAT_SECONDS = HEARTBEAT_TICK_SECONDS
# A web request that publishes must not hang on a broker that is down: the
# outbox relay sends what could not be sent at once.
BROKER_CONNECT_TIMEOUT_SECONDS = 2.0
# An idle consumer of the filesystem transport looks for new files this often.
FILESYSTEM_POLLING_SECONDS = 0.1
# The longest a worker's event loop sleeps with nothing to do (kombu's own is 10 s).
LOOP_WAKE_SECONDS = 1.0
# How long a thread holds the GIL before it must let another run, in an SMS worker.
BIND_SWITCH_INTERVAL_SECONDS = 0.001


def channel_queue(channel: str) -> str:
    return f"channel.{channel}"


def lane_queue(channel: str) -> str:
    """The queue of a channel's early-warning batches, for channels the lane does not send."""
    return f"{channel_queue(channel)}.eew"


def broker_redelivers(broker_url: str) -> bool:
    """AMQP brokers give an unacknowledged task back when its worker dies; embedded ones lose it."""
    return broker_url.split("://", 1)[0] in ("amqp", "amqps", "pyamqp", "librabbitmq")


def _route(name: str, args: tuple[Any, ...], kwargs: dict[str, Any], options: dict[str, Any],
           task: Any = None, **kw: Any) -> dict[str, str]:
    if name == "publisher.send_batch":
        channel = args[0] if args else kwargs["channel"]
        return {"queue": channel_queue(str(channel))}
    return {"queue": FANOUT_QUEUE}


def _nothing() -> None:
    """A timer that only ends the event loop's poll."""


class PromptAckConsumer(Consumer):  # type: ignore[misc]
    """The worker's consumer, acknowledging a finished task at once on the event loop's thread.

    Celery hands a late acknowledgement to the event loop (``hub.call_soon``).
    When the task ran inside a callback the loop itself had deferred (how
    kombu reads AMQP frames), the loop then polls without running what was
    just deferred, for up to ten seconds (kombu's longest poll), and with a
    prefetch of one the broker sends the next task only after that
    acknowledgement: every batch after a fan-out waited ten seconds on
    RabbitMQ. On the loop's own thread the acknowledgement is one frame
    written to the broker, safe to send at once; from any other thread
    (a thread pool) it still goes through the loop.

    For the same reason a stop request (SIGTERM, or a test worker's stop)
    waited for the poll to end; a timer wakes the loop every
    ``LOOP_WAKE_SECONDS`` so that it notices within that.
    """

    _loop_thread: int | None = None
    _wake_timer: Any = None

    def start(self) -> None:
        self._loop_thread = threading.get_ident()
        if self.hub is not None and self._wake_timer is None:
            self._wake_timer = self.hub.call_repeatedly(LOOP_WAKE_SECONDS, _nothing)
        super().start()

    def call_soon_ack(self, p: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self.hub is None or threading.get_ident() != self._loop_thread:
            return super().call_soon_ack(p, *args, **kwargs)
        p(*args, **kwargs)
        return p


class PublisherCelery(Celery):
    """The Celery app, with the installation's settings and its per-process resources."""

    def __init__(self, settings: Settings, **options: Any) -> None:
        super().__init__("publisher", broker=settings.broker_url, **options)
        self.settings = settings
        self._channels: dict[str, Channel[Any]] = {}
        self._opens_sms_binds = False
        self._threaded = False
        self._inbound: InboundPump | None = None
        self._eew_lane: EewLane | None = None
        self._channels_lock = threading.Lock()

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.database_url)

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        return make_session_factory(self.engine)

    @cached_property
    def districts(self) -> DistrictTable | None:
        path = self.settings.paths.districts_file
        return load_districts(path) if path.exists() else None

    def channel(self, name: str) -> Channel[Any]:
        """One instance per channel and process, so connections stay open between batches."""
        with self._channels_lock:
            if name not in self._channels:
                self._channels[name] = create_channel(name, self.channel_options(name))
            return self._channels[name]

    def channel_options(self, name: str) -> Mapping[str, Any]:
        """The options of channel ``name``, with what the installation hands it (the feed store)."""
        options = dict(self.settings.channel_options.get(name, {}))
        if name == FEED_CHANNEL:
            # The feed channel touches no database itself: it is handed what rebuilds the feed.
            options["republisher"] = FeedRebuilder(self.session_factory,
                                                   FeedOptions.read(self.settings).site)
        if name == APP_CHANNEL:
            options["hand_over"] = AppHandOver(self.session_factory)
        return options

    def inline_channels(self) -> dict[str, Channel[Any]]:
        """The channels whose first batch the fan-out hands over itself (``inline_first_batch``)."""
        return {name: self.channel(name) for name in self.settings.channels
                if channel_class(name).inline_first_batch}

    def enqueue_fanout(self, message_id: int, *, retry: bool = True) -> None:
        self.send_task("publisher.fanout", args=(message_id,), retry=retry)

    def enqueue_batch(self, channel: str, delivery_ids: list[int],
                      retake_sending: bool = False, *, retry: bool = True) -> None:
        self.send_task("publisher.send_batch", args=(channel, delivery_ids),
                       kwargs={"retake_sending": retake_sending} if retake_sending else {},
                       retry=retry)

    def batch_enqueuer(self, *, retry: bool) -> Callable[[str, list[int]], None]:
        """Enqueues one batch; without retry it fails at once when the broker is down."""
        return lambda channel, delivery_ids: self.enqueue_batch(channel, delivery_ids,
                                                                retry=retry)

    def fanout_enqueuer(self, *, retry: bool) -> Callable[[int], None]:
        """What the outbox relay calls; without retry it fails at once when the broker is down."""
        return lambda message_id: self.enqueue_fanout(message_id, retry=retry)

    def forget_parent_connections(self, **_: Any) -> None:
        # A forked pool child must not reuse the parent's database connections, nor
        # the channels (their sockets and threads) the early-warning lane opened there.
        if "engine" in self.__dict__:
            self.engine.dispose(close=False)
        self._channels = {}
        self._channels_lock = threading.Lock()

    def plan_inbound(self, sender: Any = None, **_: Any) -> None:
        """At worker start, before the pool exists: whether its processes receive SMS."""
        if getattr(sender, "app", None) is not self:
            return
        self._opens_sms_binds = (SMS_CHANNEL in self.settings.channels and channel_queue(
            SMS_CHANNEL) in self.amqp.queues.consume_from)
        self._threaded = issubclass(get_implementation(sender.pool_cls), ThreadPool)

    def start_threaded_inbound(self, sender: Any = None, **_: Any) -> None:
        """When the worker is ready: a thread pool runs its tasks in this very process."""
        if getattr(sender, "app", None) is self and self._threaded:
            self.start_inbound()

    def start_inbound(self, **_: Any) -> None:
        """In each process that runs tasks (a pool child, or a solo worker itself)."""
        if not self._opens_sms_binds or self._inbound is not None:
            return
        channel = self.channel(SMS_CHANNEL)
        if not isinstance(channel, SmsChannel):
            log.warning("sms inbound not started: the sms channel is no SmsChannel",
                        extra={"channel_class": type(channel).__name__})
            return
        if self.districts is None:
            raise FileNotFoundError(f"{self.settings.paths.districts_file}: missing; texts"
                                    " from phones name districts, so the SMS worker needs it")
        # The binds' threads send paced parts every few milliseconds: one that
        # waits the default 5 ms for the GIL behind a batch's rendering or SQL
        # loses part of its contracted rate.
        sys.setswitchinterval(BIND_SWITCH_INTERVAL_SECONDS)
        self._inbound = InboundPump(channel, self.session_factory, DistrictNames(self.districts))
        self._inbound.start()

    def stop_inbound(self, **_: Any) -> None:
        pump, self._inbound = self._inbound, None
        if pump is None:
            return
        pump.stop()

    def enqueue_lane_batch(self, channel: str, delivery_ids: list[int]) -> None:
        self.send_task("publisher.send_batch", args=(channel, delivery_ids),
                       queue=lane_queue(channel))

    def start_eew_lane(self, sender: Any = None, **_: Any) -> None:
        """When the worker that plans fan-outs is ready: the early-warning lane beside its pool."""
        if getattr(sender, "app", None) is not self or self._eew_lane is not None \
                or FANOUT_QUEUE not in self.amqp.queues.consume_from:
            return
        self._eew_lane = self.eew_lane()
        self._eew_lane.start()

    def eew_lane(self) -> EewLane:
        """The early-warning lane of this process's channels, not started."""
        dispatcher = LaneDispatcher(
            self.session_factory, TargetIndex(self.session_factory, self.settings.channels),
            self.channel, self.districts, self.batch_enqueuer(retry=True),
            self.enqueue_lane_batch, self.settings.batch_size)
        return EewLane(self, dispatcher, embedded=self.settings.embedded)

    def stop_eew_lane(self, **_: Any) -> None:
        lane, self._eew_lane = self._eew_lane, None
        if lane is not None:
            lane.stop()

    def recover_on_start(self, sender: Any = None, **_: Any) -> None:
        if getattr(sender, "app", None) is self:
            self.recover()

    def recover(self) -> None:
        """At worker start: relay the outbox, and resume every batch that was not finished."""
        with self.session_factory() as session:
            relayed = relay_outbox(session, self.fanout_enqueuer(retry=True))
            session.commit()
            resumed = resume_unfinished(
                session, self._resume_batch, self.settings.batch_size,
                include_sending=not broker_redelivers(self.settings.broker_url))
        log.info("worker recovered", extra={"relayed": relayed, "resumed_batches": resumed})

    def _resume_batch(self, channel: str, delivery_ids: list[int], retake_sending: bool,
                      message_id: int) -> None:
        """One resumed batch, sent with its alert bound: the worker's "received" line names it."""
        with message_log_context(self.session_factory, message_id):
            self.enqueue_batch(channel, delivery_ids, retake_sending)


def _transport_options(settings: Settings) -> dict[str, Any]:
    if not settings.broker_url.startswith("filesystem://"):
        return {}
    # The filesystem transport keeps one file per message in a folder of
    # the data directory, shared by every process of the installation.
    folder = settings.paths.data_dir / "broker"
    folder.mkdir(parents=True, exist_ok=True)
    control = settings.paths.data_dir / "broker-control"
    control.mkdir(parents=True, exist_ok=True)
    return {"data_folder_in": str(folder), "data_folder_out": str(folder),
            "control_folder": str(control),
            "store_processed": False, "polling_interval": FILESYSTEM_POLLING_SECONDS}


def _queue(name: str) -> Queue:
    # Each queue gets its own routing key on one direct exchange. Left to
    # Celery's defaults, every queue is bound with the default queue's key,
    # and a batch published for one channel lands in every queue.
    return Queue(name, TASK_EXCHANGE, routing_key=name)


def make_celery(settings: Settings) -> PublisherCelery:
    app = PublisherCelery(settings)
    queues = [_queue(FANOUT_QUEUE), *(_queue(channel_queue(name)) for name in settings.channels),
              *(_queue(lane_queue(name)) for name in settings.channels
                if name in QUEUED_IN_LANE)]
    app.conf.update(
        task_queues=queues,
        task_default_queue=FANOUT_QUEUE,
        task_default_exchange=TASK_EXCHANGE.name,
        task_default_routing_key=FANOUT_QUEUE,
        task_routes=(_route,),
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_ignore_result=True,
        worker_prefetch_multiplier=1,
        broker_connection_timeout=BROKER_CONNECT_TIMEOUT_SECONDS,
        broker_transport_options=_transport_options(settings),
        broker_connection_retry_on_startup=True,
        task_serializer="json",
        accept_content=["json"],
        worker_hijack_root_logger=False,
        worker_consumer=f"{PromptAckConsumer.__module__}:{PromptAckConsumer.__qualname__}",
        beat_schedule={
            "relay-outbox": {"task": "publisher.relay_outbox",
                             "schedule": RELAY_INTERVAL_SECONDS},
            "expire-alerts": {"task": "publisher.expire_alerts",
                              "schedule": EXPIRY_INTERVAL_SECONDS},
            "notify-agencies": {"task": "publisher.notify_agencies",
                                "schedule": AGENCY_NOTICE_INTERVAL_SECONDS},
        } | ({"district-heartbeat": {"task": "publisher.district_heartbeat",
                                     "schedule": DISTRICT_HEARTBEAT_SECONDS}}
             if DISTRICT_CHANNEL in settings.channels else {}),
    )
    app.conf.include = ["publisher.tasks"]
    bind_task_log_context()
    carry_alert()
    signals.worker_process_init.connect(app.forget_parent_connections, weak=False)
    signals.worker_init.connect(app.plan_inbound, weak=False)
    # A prefork pool child, or the one process of a solo worker.
    signals.worker_process_init.connect(app.start_inbound, weak=False)
    signals.worker_process_shutdown.connect(app.stop_inbound, weak=False)
    signals.worker_shutdown.connect(app.stop_inbound, weak=False)
    signals.worker_ready.connect(app.start_threaded_inbound, weak=False)
    signals.worker_ready.connect(app.recover_on_start, weak=False)
    signals.worker_ready.connect(app.start_eew_lane, weak=False)
    signals.worker_shutdown.connect(app.stop_eew_lane, weak=False)
    return app



def __getattr__(name: str) -> PublisherCelery:
    # ``celery -A publisher.celery_app`` reads ``app``; the settings are read
    # then, at start-up, and the app is kept for the life of the process.
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    built = make_celery(load_settings())
    globals()["app"] = built
    return built
