"""The demo's public step: the SMS walk-through's alert on the feeds, the page and WeChat.

The alert the SMS step published reaches the public channels too: the feed
(one target, the whole city; a test target, as the demo's alerts are
Exercises) and the demo's WeChat followers. Once those deliveries are final,
the demo prints where to look (the Atom and RSS feeds, the public page in
both languages, the simulator's message log, the deliveries) and a
reconciliation read from outside, as the public reads it: the alert's entry
in both feeds and its card on the list and its own page in Chinese and in
English (``demo_public``), and the followers reached, held against the
template messages the simulator took and the send-job events that became
the deliveries' receipts (``demo_wechat``).

It then prints the command that cancels the alert and waits for that
Cancel: once its deliveries are final, a second reconciliation says whether
the feeds mark the entry cancelled and the pages show it so, and what
reached the followers (the all-clear).
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Callable

from aiohttp import web
from sqlalchemy import select

from publisher.demo_public import PublicView, public_view
from publisher.demo_walkthrough import (
    DEMO_STATUS,
    Published,
    SmsWalkthrough,
    Waiting,
    cancel_command,
    wait_final,
    wait_for_cancel,
)
from publisher.demo_wechat import DemoWechat, reached_openids, wechat_tally
from publisher.services.feed_documents import FeedFormat
from publisher.services.languages import LANGUAGES
from publisher.services.public_alerts import FEED_CHANNEL
from publisher.services.subscribers import WECHAT_CHANNEL
from publisher.services.targets import reaches_only_test_targets
from publisher.store.db import session_scope
from publisher.store.models import Delivery, Message
from publisher.web.context import SESSIONS

__all__ = ["FEED_SECONDS", "PublicWalkthrough"]

# The web app looks for a new feed version once a second: what it serves catches up by then.
FEED_SECONDS = 15.0
_POLL_SECONDS = 0.3


class PublicWalkthrough:
    """The public step: see the module's documentation."""

    name = "Public walk-through"

    def __init__(self, first: SmsWalkthrough, url: str, *, feed: bool,
                 wechat: DemoWechat | None) -> None:
        self.first = first
        self.url = url
        self.feed = feed
        self.wechat = wechat

    def run(self, app: web.Application, loop: asyncio.AbstractEventLoop,
            stopping: threading.Event) -> Waiting | None:
        published = self.first.published
        if published is None:
            print("Public walk-through skipped: the SMS walk-through published no alert",
                  flush=True)
            return None
        final = self._wait(app, published.message, stopping)
        if stopping.is_set():
            return None
        report = [f"\nPublic walk-through: alert {published.alert_id}"
                  f" ({published.message.identifier}), the same {DEMO_STATUS}, on the public"
                  " channels", *self._where_to_look(published.alert_id)]
        report += self._reconcile(app, published.alert_id, published.message, final,
                                  cancelled=False, stopping=stopping)
        report += ["Cancel it (the feeds mark it cancelled, the page shows it, the followers"
                   " get the all-clear):", f"  {cancel_command(published.alert_id)}"]
        print("\n".join(report), flush=True)
        return functools.partial(self._after_cancel, app, published, stopping)

    def _channels(self, app: web.Application) -> list[str]:
        """The public channels the alert goes out on, with something to wait for on each."""
        channels = [FEED_CHANNEL] if self.feed else []
        if self.wechat is not None:
            with session_scope(app[SESSIONS]) as session:
                if reached_openids(session,
                                   test_only=reaches_only_test_targets(DEMO_STATUS.value)):
                    channels.append(WECHAT_CHANNEL)
        return channels

    def _wait(self, app: web.Application, message: Message, stopping: threading.Event) -> bool:
        channels = self._channels(app)
        return not channels or wait_final(app, message.id, channels, stopping)

    def _where_to_look(self, alert_id: int) -> list[str]:
        lines = []
        if self.feed:
            pages = "   ".join(f"{self.url}/?lang={language}" for language in LANGUAGES)
            lines += [f"  Atom feed:      {self.url}/feeds/alerts.{FeedFormat.ATOM.value}",
                      f"  RSS feed:       {self.url}/feeds/alerts.{FeedFormat.RSS.value}",
                      f"  public page:    {pages}   (or send Accept-Language)",
                      f"  its own page:   {self.url}/alerts/{alert_id}?lang={LANGUAGES[1]}"]
        if self.wechat is not None:
            lines.append(f"  WeChat:         curl -s {self.wechat.base_url}/sim/messages"
                         "   (what the simulator took; /sim/stats for its counts)")
        channels = [channel for channel, on in ((WECHAT_CHANNEL, self.wechat is not None),
                                                (FEED_CHANNEL, self.feed)) if on]
        lines.append("  its deliveries: curl -s -H \"Authorization: Bearer $APPROVER_TOKEN\""
                     f" \"$URL/api/alerts/{alert_id}/deliveries?channel={channels[0]}\""
                     f"   ({' or '.join(f'?channel={channel}' for channel in channels)})")
        return lines

    def _reconcile(self, app: web.Application, alert_id: int, message: Message, final: bool,
                   *, cancelled: bool, stopping: threading.Event) -> list[str]:
        waited = "" if final else " (NOT all final in time)"
        of_cancel = " cancel" if cancelled else ""
        lines = []
        if self.feed:
            view = _settled(lambda: public_view(self.url, alert_id), cancelled, stopping)
            lines.append(f"Public{of_cancel} reconciliation{waited}: {view.describe()};"
                         f" {self._feed_delivery(app, message.id)}")
        if self.wechat is not None:
            lines.append(f"WeChat{of_cancel} reconciliation{waited}:"
                         f" {self._wechat_line(app, message.id)}")
        return lines

    @staticmethod
    def _feed_delivery(app: web.Application, message_id: int) -> str:
        with session_scope(app[SESSIONS]) as session:
            found = session.execute(select(Delivery.status, Delivery.provider_id).where(
                Delivery.message_id == message_id, Delivery.channel == FEED_CHANNEL)).first()
        if found is None:
            return "no feed delivery"
        status, version = found
        return f"feed delivery {status.value}" + (f" ({version})" if version else "")

    def _wechat_line(self, app: web.Application, message_id: int) -> str:
        assert self.wechat is not None
        received = self.wechat.received()
        with session_scope(app[SESSIONS]) as session:
            followers = len(reached_openids(
                session, test_only=reaches_only_test_targets(DEMO_STATUS.value)))
            tally = wechat_tally(session, message_id, received)
        statuses = ", ".join(f"{number} {status}"
                             for status, number in sorted(tally.by_status.items())) or "none"
        failures = "; ".join(f"{number} {status!r}"
                             for status, number in sorted(tally.failures.items()))
        return (f"{followers} followers, {tally.messages} template messages in the simulator"
                f" ({'one each' if tally.one_each else 'NOT ONE EACH'}); deliveries {statuses}"
                + (f" (send-job events {failures})" if failures else "")
                + f"; {tally.agreeing} of {tally.deliveries} as their send-job events said,"
                  f" {tally.receipts} receipts")

    def _after_cancel(self, app: web.Application, published: Published,
                      stopping: threading.Event) -> None:
        cancel = wait_for_cancel(app, published.alert_id, stopping)
        if cancel is None:
            return
        final = self._wait(app, cancel, stopping)
        if stopping.is_set():
            return
        lines = self._reconcile(app, published.alert_id, cancel, final, cancelled=True,
                                stopping=stopping)
        print(f"\nPublic walk-through: alert {published.alert_id} cancelled by"
              f" {cancel.identifier}\n" + "\n".join(lines), flush=True)


def _settled(read: Callable[[], PublicView], cancelled: bool,
             stopping: threading.Event) -> PublicView:
    """What ``read`` shows once it shows the alert as ``cancelled``, or at the deadline."""
    deadline = time.monotonic() + FEED_SECONDS
    view = read()
    while not view.shows(cancelled=cancelled) and time.monotonic() < deadline \
            and not stopping.is_set():
        stopping.wait(_POLL_SECONDS)
        view = read()
    return view
