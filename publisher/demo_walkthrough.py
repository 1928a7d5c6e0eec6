"""The demo's walk-throughs, one after the other in a thread while the platform runs.

Each step publishes an alert as people do it (the demo author composes and
submits it, the demo approver approves it, and its fan-out starts as the API
starts it: the services and the fan-out trigger of the running web app),
waits until its deliveries are final, and prints where to look and a
reconciliation of what reached whom. Once every step has run, the demo says
how to stop it, and each step may then wait for the reader's next move (a
Cancel, say): all of them at once, as the reader may make them in any order.

The SMS step (``SmsWalkthrough``): once the SMS worker has bound to the
simulator, an Exercise rainstorm warning for Chaoyang and Haidian goes to
their test subscribers; the reconciliation holds the subscribers it should
reach against the simulator's part log (messages reassembled from their
parts) and the deliveries the receipts marked delivered. The alert it
published stays its ``published``, for the steps that follow it through
other channels.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
import time
from collections.abc import AsyncIterator, Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, Protocol

from aiohttp import web
from sqlalchemy import func, select

from publisher.cap.districts import GB_T_2260
from publisher.cap.model import Alert, Area, Info, MsgType, NamedValue, Status
from publisher.cap.views import alert_to_json
from publisher.demo_sms import DemoSmsc, reached_numbers, tally
from publisher.sample_alert import rainstorm_red_warning
from publisher.services import lifecycle
from publisher.services.drafts import ISSUED_FIELDS
from publisher.services.subscribers import SMS_CHANNEL
from publisher.services.targets import reaches_only_test_targets
from publisher.services.users import actor_for_token
from publisher.store.db import session_scope
from publisher.store.models import Delivery, DeliveryStatus, Message
from publisher.web.context import FANOUT, SESSIONS, SIGNER

__all__ = [
    "CANCEL_REASON",
    "DELIVERY_SECONDS",
    "DEMO_STATUS",
    "WORKER_START_SECONDS",
    "DemoPeople",
    "Published",
    "SmsWalkthrough",
    "Waiting",
    "Walkthrough",
    "WalkthroughStep",
    "alert_content",
    "cancel_command",
    "demo_alert_content",
    "publish_alert",
    "wait_final",
    "wait_for_cancel",
]

log = logging.getLogger(__name__)

# An Exercise, so the demo never sends what could pass for a real warning;
# it reaches test subscribers and test devices only.
DEMO_STATUS = Status.EXERCISE
WORKER_START_SECONDS = 120.0
DELIVERY_SECONDS = 120.0
_POLL_SECONDS = 0.3
CANCEL_REASON = "demo: the rain has passed"
_DISTRICTS = (("110105", "北京市朝阳区", "Chaoyang District, Beijing"),
              ("110108", "北京市海淀区", "Haidian District, Beijing"))

Waiting = Callable[[], None]
"""What a step waits for after the demo has said how to stop it (the reader's next move)."""


class WalkthroughStep(Protocol):
    name: str

    def run(self, app: web.Application, loop: asyncio.AbstractEventLoop,
            stopping: threading.Event) -> Waiting | None:
        """Walk through; what it returns runs once every step has run."""


class Walkthrough:
    """The steps as a resource of the web app: they run in a thread while the app serves.

    A step that fails is reported and the next one runs; the platform keeps serving.
    """

    def __init__(self, steps: Sequence[WalkthroughStep]) -> None:
        self.steps = list(steps)

    async def __call__(self, app: web.Application) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        stopping = threading.Event()
        walk = loop.create_task(asyncio.to_thread(self._walk, app, loop, stopping))
        yield
        stopping.set()
        await walk

    def _walk(self, app: web.Application, loop: asyncio.AbstractEventLoop,
              stopping: threading.Event) -> None:
        waiting: list[tuple[WalkthroughStep, Waiting]] = []
        for step in self.steps:
            if stopping.is_set():
                return
            wait = self._guarded(step, functools.partial(step.run, app, loop, stopping))
            if wait is not None:
                waiting.append((step, wait))
        if stopping.is_set():
            return
        print("Ctrl-C stops everything.", flush=True)
        threads = [threading.Thread(target=self._guarded, args=(step, wait),
                                    name=f"demo: {step.name}") for step, wait in waiting]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    @staticmethod
    def _guarded(step: WalkthroughStep, work: Callable[[], Waiting | None]) -> Waiting | None:
        try:
            return work()
        except Exception:  # the platform keeps serving; the reader sees why the step stopped
            log.exception("demo walk-through failed", extra={"step": step.name})
            print(f"{step.name} failed; the platform keeps running (see the log)", flush=True)
            return None


@dataclass(frozen=True, slots=True)
class DemoPeople:
    """The demo author and approver, by their API tokens."""

    author_token: str
    approver_token: str


@dataclass(frozen=True, slots=True)
class Published:
    alert_id: int
    message: Message
    author: str
    approver: str


def alert_content(alert: Alert) -> dict[str, Any]:
    """An alert as an author composes it: its JSON without what the center issues."""
    return {name: value for name, value in alert_to_json(alert).items()
            if name not in ISSUED_FIELDS}


def _for_both_districts(info: Info) -> Info:
    chinese = info.language == "zh-CN"
    areas = tuple(Area(area_desc=zh if chinese else en, geocodes=(NamedValue(GB_T_2260, code),))
                  for code, zh, en in _DISTRICTS)
    description = ("预计未来3小时朝阳区、海淀区降雨量将达100毫米以上。" if chinese
                   else "More than 100 mm of rain is expected in Chaoyang and Haidian"
                        " within 3 hours.")
    return replace(info, areas=areas, description=description)


def demo_alert_content(now: datetime) -> dict[str, Any]:
    """The SMS walk-through's alert: the sample rainstorm warning, for both districts."""
    sample = rainstorm_red_warning(now, status=DEMO_STATUS)
    return alert_content(replace(sample, infos=tuple(_for_both_districts(info)
                                                     for info in sample.infos)))


def publish_alert(app: web.Application, loop: asyncio.AbstractEventLoop, people: DemoPeople,
                  content: dict[str, Any]) -> Published:
    """Compose, submit and approve ``content`` as the demo's people, and start its fan-out."""
    sessions, signer = app[SESSIONS], app[SIGNER]
    with session_scope(sessions) as session:
        author = actor_for_token(session, people.author_token)
        alert = lifecycle.compose(session, author, content, profile=signer.issuer.profile)
        lifecycle.submit(session, author, alert.id)
        alert_id = alert.id
    with session_scope(sessions) as session:
        approver = actor_for_token(session, people.approver_token)
        message = lifecycle.approve(session, approver, alert_id, signer)
    asyncio.run_coroutine_threadsafe(app[FANOUT].trigger(message.id), loop).result()
    return Published(alert_id, message, author.name, approver.name)


def wait_final(app: web.Application, message_id: int, channels: Collection[str],
               stopping: threading.Event, seconds: float = DELIVERY_SECONDS) -> bool:
    """Wait until the message's deliveries on ``channels`` are all final (False: not in time).

    Each of ``channels`` must have something to deliver: the fan-out hands an
    inline channel's first batch over (the feed's, final at once) before it
    plans the next channel, so final rows on some channels say nothing of a
    channel not planned yet.
    """
    deadline = time.monotonic() + seconds
    while not stopping.is_set() and time.monotonic() < deadline:
        with session_scope(app[SESSIONS]) as session:
            rows = session.execute(select(Delivery.channel, Delivery.status).where(
                Delivery.message_id == message_id, Delivery.channel.in_(channels))).all()
        planned = {channel for channel, _ in rows}
        if planned >= set(channels) and all(status.is_final for _, status in rows):
            return True
        stopping.wait(_POLL_SECONDS)
    return False


def cancel_command(alert_id: int) -> str:
    """The ``curl`` by which the demo approver cancels an alert, as the reader pastes it."""
    return ("curl -s -X POST -H \"Authorization: Bearer $APPROVER_TOKEN\" -H \"Content-Type:"
            f" application/json\" -d '{{\"reason\": \"{CANCEL_REASON}\"}}'"
            f" \"$URL/api/alerts/{alert_id}/cancel\"")


def wait_for_cancel(app: web.Application, alert_id: int,
                    stopping: threading.Event) -> Message | None:
    """Wait until the alert has a Cancel (the reader's, by the API); None once stopping."""
    while not stopping.is_set():
        with session_scope(app[SESSIONS]) as session:
            cancel = session.scalars(select(Message).where(
                Message.alert_id == alert_id,
                Message.msg_type == MsgType.CANCEL.value)).first()
        if cancel is not None:
            return cancel
        stopping.wait(_POLL_SECONDS)
    return None


class SmsWalkthrough:
    """The SMS step: see the module's documentation."""

    name = "SMS walk-through"

    def __init__(self, smsc: DemoSmsc, url: str, people: DemoPeople) -> None:
        self.smsc = smsc
        self.url = url
        self.people = people
        self.published: Published | None = None

    def run(self, app: web.Application, loop: asyncio.AbstractEventLoop,
            stopping: threading.Event) -> None:
        if not self.smsc.wait_bound(WORKER_START_SECONDS, stopping):
            if not stopping.is_set():
                print(f"SMS walk-through skipped: no worker bound to the simulator within"
                      f" {WORKER_START_SECONDS:g} s (see the log)", flush=True)
            return
        with session_scope(app[SESSIONS]) as session:
            numbers = reached_numbers(
                session, test_only=reaches_only_test_targets(DEMO_STATUS.value))
        since = datetime.now(UTC)
        published = publish_alert(app, loop, self.people, demo_alert_content(since))
        self.published = published
        message = published.message
        # With no demo number left subscribed there is nothing to wait for.
        final = not numbers or wait_final(app, message.id, [SMS_CHANNEL], stopping)
        if stopping.is_set():
            return
        with session_scope(app[SESSIONS]) as session:
            delivered = session.scalar(select(func.count()).select_from(Delivery).where(
                Delivery.message_id == message.id, Delivery.channel == SMS_CHANNEL,
                Delivery.status == DeliveryStatus.DELIVERED)) or 0
        seen = tally(self.smsc.part_log, numbers, since)
        print(f"\nSMS walk-through: alert {published.alert_id} ({message.identifier}), an"
              f" {DEMO_STATUS} for Chaoyang and Haidian, composed by {published.author},"
              f" approved by {published.approver}")
        print(f"  the alert:      {self.url}/api/alerts/{published.alert_id}")
        print("  its deliveries: curl -s -H \"Authorization: Bearer $APPROVER_TOKEN\""
              f" \"$URL/api/alerts/{published.alert_id}/deliveries?channel=sms\"")
        print(f"  the part log:   {self.smsc.part_log} (SQLite, table parts)")
        wholeness = "each whole, none twice" if seen.whole else "SOME INCOMPLETE OR REPEATED"
        waited = "" if final else f" (not all final after {DELIVERY_SECONDS:g} s)"
        print(f"Reconciliation{waited}: {len(numbers)} subscribers, {len(seen.messages)}"
              f" messages in the simulator log ({seen.parts} parts, {wholeness}),"
              f" {delivered} delivered")
        print("Text the platform as a phone does (TD unsubscribes; DY 朝阳, SUB 110108,"
              " EN and ZH work too):")
        print(f"  {self.smsc.mo_example(numbers[0] if numbers else '+8613800000101', 'TD')}",
              flush=True)
