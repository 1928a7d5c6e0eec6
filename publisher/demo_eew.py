"""The demo's earthquake early-warning step: the command that posts one, and what it did.

The demo's seismic network (``publisher.sim.eew_sender``) signs with the
identity in ``DATA_DIR/eew/``, made when the demo starts, which
``config/eew.toml`` registers. The step prints the ``publisher eew
simulate`` command that posts an Exercise for the whole city, magnitude 6.1
at 40.3 N 116.2 E, to ``POST /api/eew``, and waits for it. Once a warning
from the automatic sender is published and its devices' deliveries are
final, it reconciles what the devices hold, district by district: the boards
showing the warning alone (what they showed before held back) with their
district's countdown, the speakers that played it, and, when the
installation has the ``mqtt`` channel, the terminals' acks; then the
platform's timings, as its dashboard shows them.
"""

from __future__ import annotations

import asyncio
import functools
import re
import threading
from collections import defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy import func, select

from publisher.cap.eew import Quake
from publisher.demo_devices import LED, SPEAKER, DemoDevices
from publisher.demo_terminals import TERMINAL_CHANNEL, DemoTerminals, start_demo_terminals
from publisher.demo_walkthrough import DELIVERY_SECONDS, Waiting, wait_final
from publisher.services.dashboard_eew import eew_timings
from publisher.services.eew import EEW_PUBLISH
from publisher.sim.eew_sender import sender_identity
from publisher.store.db import session_scope
from publisher.store.models import AuditEntry, Delivery, DeliveryStatus, Message, utcnow
from publisher.web.context import SESSIONS

__all__ = ["QUAKE", "EewWalkthrough", "simulate_command"]

_POLL_SECONDS = 0.3

QUAKE = Quake(40.3, 116.2, 6.1)
_COUNTDOWN = re.compile(r"约(\d+)秒|about (\d+) s")


def simulate_command(url: str, data_dir: Path) -> str:
    return (f"publisher eew simulate --magnitude {QUAKE.magnitude_text} --epicentre"
            f" {QUAKE.lat},{QUAKE.lon} --url {url} --data-dir {data_dir}")


def _countdown(shown: dict[str, Any]) -> str | None:
    """The seconds a board's pages give, wherever its rows broke the text."""
    rows = [row for page in shown.get("pages", []) for row in page]
    for text in ("".join(rows), " ".join(rows)):
        found = _COUNTDOWN.search(text)
        if found:
            return next(group for group in found.groups() if group)
    return None


def _wait_for_warning(app: web.Application, since: datetime,
                      stopping: threading.Event) -> tuple[int, int] | None:
    """The alert and message of the first warning an automatic sender publishes after ``since``."""
    while not stopping.is_set():
        with session_scope(app[SESSIONS]) as session:
            found = session.execute(select(AuditEntry.alert_id, AuditEntry.message_id).where(
                AuditEntry.action == EEW_PUBLISH, AuditEntry.at > since)
                .order_by(AuditEntry.id).limit(1)).first()
        if found is not None and found.alert_id is not None and found.message_id is not None:
            return found.alert_id, found.message_id
        stopping.wait(_POLL_SECONDS)
    return None


class EewWalkthrough:
    """The early-warning step: see the module's documentation."""

    name = "Earthquake early-warning walk-through"

    def __init__(self, fleet: DemoDevices | None, url: str, data_dir: Path) -> None:
        self.fleet = fleet
        self.url = url
        self.data_dir = data_dir
        # Made now, as the other demo identities are: config/eew.toml names its certificate.
        sender_identity(data_dir)

    def run(self, app: web.Application, loop: asyncio.AbstractEventLoop,
            stopping: threading.Event) -> Waiting | None:
        terminals = start_demo_terminals(app)
        print("\nEarthquake early warning: post one as the automatic sender (an Exercise for"
              " the whole city; no approval); the boards and speakers switch to it, each"
              " district with its own countdown:")
        print(f"  {simulate_command(self.url, self.data_dir)}")
        print("  terminals: " + (f"{len(terminals.terminals)} simulated, acking over MQTT"
                                 if isinstance(terminals, DemoTerminals) else
                                 f"none: {terminals}"), flush=True)
        running = terminals if isinstance(terminals, DemoTerminals) else None
        return functools.partial(self._after_post, app, stopping, utcnow(), running)

    def _after_post(self, app: web.Application, stopping: threading.Event,
                    since: datetime, terminals: DemoTerminals | None) -> None:
        try:
            self._reconcile(app, stopping, since, with_terminals=terminals is not None)
            if terminals is not None:
                stopping.wait()  # they ack later warnings too, until the demo stops
        finally:
            if terminals is not None:
                terminals.stop()

    def _reconcile(self, app: web.Application, stopping: threading.Event,
                   since: datetime, *, with_terminals: bool) -> None:
        found = _wait_for_warning(app, since, stopping)
        if found is None:
            return
        alert_id, message_id = found
        with session_scope(app[SESSIONS]) as session:
            message = session.get(Message, message_id)
            assert message is not None
            identifier = message.identifier
        kinds = [*(self.fleet.kinds if self.fleet is not None else []),
                 *([TERMINAL_CHANNEL] if with_terminals else [])]
        final = wait_final(app, message_id, kinds, stopping, DELIVERY_SECONDS) \
            if kinds else True
        if stopping.is_set():
            return
        with session_scope(app[SESSIONS]) as session:
            timings = eew_timings(session, alert_id) or {}
        print(f"\nEarthquake early-warning reconciliation"
              f"{'' if final else ' (NOT all final in time)'}: alert {alert_id}"
              f" ({identifier}) from {timings.get('sender')}, published with no approval"
              f" ({timings.get('verify_ms')} ms to verify, {timings.get('publish_ms')} ms to"
              f" publish); first acks, ms after publishing: "
              + ", ".join(f"{channel} {ms:,.0f}" for channel, ms
                          in timings.get("first_ack_ms", {}).items()))
        self._devices(identifier)
        if with_terminals:
            self._terminals(app, message_id)
        print(f"  its dashboard: $URL/staff/alerts/{alert_id}/dashboard; the audit log:"
              " $URL/staff/audit", flush=True)

    def _devices(self, identifier: str) -> None:
        if self.fleet is None:
            return
        by_district: dict[str, list[str]] = defaultdict(list)
        for kind in (LED, SPEAKER):
            if kind not in self.fleet.kinds:
                continue
            for device in self.fleet.devices(kind):
                state = self.fleet.state(kind, device.device_id)
                by_district[self.fleet.district_name(device)].append(
                    self._board_line(state, identifier) if kind == LED
                    else self._speaker_line(state, identifier))
        for district, lines in sorted(by_district.items()):
            print(f"  {district}: " + "; ".join(lines))

    @staticmethod
    def _board_line(state: dict[str, Any], identifier: str) -> str:
        showing = state["showing"]
        if [shown["identifier"] for shown in showing] != [identifier]:
            return f"board {state['device_id']} NOT showing it alone"
        held = len(state.get("held", []))
        return (f"board {state['device_id']} showing it alone, countdown"
                f" {_countdown(showing[0])} s" + (f" ({held} held back)" if held else ""))

    @staticmethod
    def _speaker_line(state: dict[str, Any], identifier: str) -> str:
        played = [each for each in state["played"] if each["identifier"] == identifier]
        playing = (state.get("playing") or {}).get("identifier") == identifier
        return (f"speaker {state['device_id']}"
                f" {'played' if played else 'playing' if playing else 'NOT reached by'} it")

    @staticmethod
    def _terminals(app: web.Application, message_id: int) -> None:
        with session_scope(app[SESSIONS]) as session:
            acked, total = session.execute(select(
                func.count().filter(Delivery.status == DeliveryStatus.DELIVERED), func.count())
                .where(Delivery.message_id == message_id,
                       Delivery.channel == TERMINAL_CHANNEL)).one()
        print(f"  terminals: {acked} of {total} acked")
