"""The demo's walk-through: one alert by SMS from draft to delivered, while the platform runs.

Once the SMS worker has bound to the simulator, the demo author composes
and submits an Exercise rainstorm warning for Chaoyang and Haidian, the
demo approver approves it, and its fan-out starts as the API starts it
(the services and the fan-out trigger of the running web app). When every
SMS delivery is final, the demo prints where to look and a reconciliation:
the subscribers it should reach, the messages in the simulator's part log
(reassembled from their parts) and the deliveries the receipts marked
delivered.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from publisher.cap.districts import GB_T_2260
from publisher.cap.model import Area, Info, NamedValue, Status
from publisher.cap.views import alert_to_json
from publisher.demo_sms import DemoSmsc, reached_numbers, tally
from publisher.sample_alert import rainstorm_red_warning
from publisher.services import lifecycle
from publisher.services.drafts import ISSUED_FIELDS
from publisher.services.subscribers import SMS_CHANNEL
from publisher.services.targets import reaches_only_test_targets
from publisher.services.users import actor_for_token
from publisher.store.db import session_scope
from publisher.store.models import Delivery, DeliveryStatus
from publisher.web.context import FANOUT, SESSIONS, SIGNER

__all__ = ["DEMO_STATUS", "SmsWalkthrough", "demo_alert_content"]

log = logging.getLogger(__name__)

# An Exercise, so the demo never sends what could pass for a real warning;
# it reaches test subscribers only.
DEMO_STATUS = Status.EXERCISE
WORKER_START_SECONDS = 120.0
DELIVERY_SECONDS = 120.0
_POLL_SECONDS = 0.3
_DISTRICTS = (("110105", "北京市朝阳区", "Chaoyang District, Beijing"),
              ("110108", "北京市海淀区", "Haidian District, Beijing"))


def _for_both_districts(info: Info) -> Info:
    chinese = info.language == "zh-CN"
    areas = tuple(Area(area_desc=zh if chinese else en, geocodes=(NamedValue(GB_T_2260, code),))
                  for code, zh, en in _DISTRICTS)
    description = ("预计未来3小时朝阳区、海淀区降雨量将达100毫米以上。" if chinese
                   else "More than 100 mm of rain is expected in Chaoyang and Haidian"
                        " within 3 hours.")
    return replace(info, areas=areas, description=description)


def demo_alert_content(now: datetime) -> dict[str, Any]:
    """The demo's alert as an author composes it: the sample rainstorm warning, both districts."""
    sample = rainstorm_red_warning(now, status=DEMO_STATUS)
    alert = replace(sample, infos=tuple(_for_both_districts(info) for info in sample.infos))
    return {name: value for name, value in alert_to_json(alert).items()
            if name not in ISSUED_FIELDS}


class SmsWalkthrough:
    """The walk-through as a resource of the web app: it runs in a thread while the app serves."""

    def __init__(self, smsc: DemoSmsc, url: str, author_token: str,
                 approver_token: str) -> None:
        self.smsc = smsc
        self.url = url
        self._author_token = author_token
        self._approver_token = approver_token

    async def __call__(self, app: web.Application) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        stopping = threading.Event()
        walk = loop.create_task(asyncio.to_thread(self._walk, app, loop, stopping))
        yield
        stopping.set()
        await walk

    def _walk(self, app: web.Application, loop: asyncio.AbstractEventLoop,
              stopping: threading.Event) -> None:
        try:
            if not self.smsc.wait_bound(WORKER_START_SECONDS, stopping):
                if not stopping.is_set():
                    print(f"SMS walk-through skipped: no worker bound to the simulator within"
                          f" {WORKER_START_SECONDS:g} s (see the log)", flush=True)
                return
            self._publish_and_report(app, loop, stopping)
        except Exception:  # the platform keeps serving; the reader sees why the demo stopped
            log.exception("demo walk-through failed")
            print("SMS walk-through failed; the platform keeps running (see the log)",
                  flush=True)

    def _publish_and_report(self, app: web.Application, loop: asyncio.AbstractEventLoop,
                            stopping: threading.Event) -> None:
        sessions, signer = app[SESSIONS], app[SIGNER]
        with session_scope(sessions) as session:
            author = actor_for_token(session, self._author_token)
            alert = lifecycle.compose(session, author, demo_alert_content(datetime.now(UTC)),
                                      profile=signer.issuer.profile)
            lifecycle.submit(session, author, alert.id)
            numbers = reached_numbers(
                session, test_only=reaches_only_test_targets(DEMO_STATUS.value))
        since = datetime.now(UTC)
        with session_scope(sessions) as session:
            approver = actor_for_token(session, self._approver_token)
            message = lifecycle.approve(session, approver, alert.id, signer)
        asyncio.run_coroutine_threadsafe(app[FANOUT].trigger(message.id), loop).result()
        # With no demo number left subscribed there is nothing to wait for.
        final = not numbers or self._wait_final(app, message.id, stopping)
        if stopping.is_set():
            return
        with session_scope(sessions) as session:
            delivered = session.scalar(select(func.count()).select_from(Delivery).where(
                Delivery.message_id == message.id, Delivery.channel == SMS_CHANNEL,
                Delivery.status == DeliveryStatus.DELIVERED)) or 0
        seen = tally(self.smsc.part_log, numbers, since)
        print(f"\nSMS walk-through: alert {alert.id} ({message.identifier}), an"
              f" {DEMO_STATUS} for Chaoyang and Haidian, composed by {author.name},"
              f" approved by {approver.name}")
        print(f"  the alert:      {self.url}/api/alerts/{alert.id}")
        print("  its deliveries: curl -s -H \"Authorization: Bearer $APPROVER_TOKEN\""
              f" \"$URL/api/alerts/{alert.id}/deliveries?channel=sms\"")
        print(f"  the part log:   {self.smsc.part_log} (SQLite, table parts)")
        wholeness = "each whole, none twice" if seen.whole else "SOME INCOMPLETE OR REPEATED"
        waited = "" if final else f" (not all final after {DELIVERY_SECONDS:g} s)"
        print(f"Reconciliation{waited}: {len(numbers)} subscribers, {len(seen.messages)}"
              f" messages in the simulator log ({seen.parts} parts, {wholeness}),"
              f" {delivered} delivered")
        print("Text the platform as a phone does (TD unsubscribes; DY 朝阳, SUB 110108,"
              " EN and ZH work too):")
        print(f"  {self.smsc.mo_example(numbers[0] if numbers else '+8613800000101', 'TD')}")
        print("Ctrl-C stops everything.", flush=True)

    def _wait_final(self, app: web.Application, message_id: int,
                    stopping: threading.Event) -> bool:
        deadline = time.monotonic() + DELIVERY_SECONDS
        while not stopping.is_set() and time.monotonic() < deadline:
            with session_scope(app[SESSIONS]) as session:
                statuses = list(session.scalars(select(Delivery.status).where(
                    Delivery.message_id == message_id, Delivery.channel == SMS_CHANNEL)))
            if statuses and all(status.is_final for status in statuses):
                return True
            stopping.wait(_POLL_SECONDS)
        return False
