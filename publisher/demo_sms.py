"""The demo's SMS: the SMSC simulator with its control port, the demo subscribers, the tally.

The simulator runs in a thread of the demo's process, at the address the
configuration gives the ``sms`` channel's first route, so the worker's binds
reach it. Its control port lets anyone text the platform as a phone
(``publisher sim mo``, ``POST /mo``), and takes the SMSC down as a failing
carrier goes and brings it back: ``POST /smsc/stop`` cuts every bind, and
each new one as it connects, so that the routes after it take the traffic;
``POST /smsc/start`` ends the outage; both answer ``{"running": ...}``.
The stop first stops taking parts, so that no part is logged without its
answer having gone out. The part log is ``DATA_DIR/smsc/smsc.sqlite3``.
"""

from __future__ import annotations

import asyncio
import shlex
import sys
import threading
import time
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.channels.base import PermanentChannelError
from publisher.channels.sms_routes import RouteSettings, read_routes
from publisher.cli_errors import UsageError
from publisher.cli_sim import SMSC_STATE_DIR, mo_command
from publisher.config import Settings
from publisher.services.msisdn import normalise_msisdn
from publisher.services.subscribers import (
    SMS_CHANNEL,
    add_contact_point,
    find_subscriber,
    follow_districts,
    new_subscriber,
)
from publisher.sim.smsc import FaultMode, SmscConfig, SmscSimulator
from publisher.sim.smsc_control import control_app
from publisher.sim.smsc_state import PartLog, ReassembledMessage
from publisher.store.models import ContactKind, Target

__all__ = ["DEMO_SUBSCRIBERS", "START_PATH", "STOP_PATH", "DemoGroup", "DemoSmsc", "SmsTally",
           "ensure_subscribers", "reached_addresses", "reached_numbers", "sms_route", "tally"]

# (district, language, numbers) of some demo subscribers.
DemoGroup = tuple[str, str, tuple[str, ...]]
# Chinese texts in Chaoyang, English ones in Haidian.
DEMO_SUBSCRIBERS: tuple[DemoGroup, ...] = (
    ("110105", "zh-CN", ("+8613800000101", "+8613800000102")),
    ("110108", "en-US", ("+8613800000201", "+8613800000202")))
# Seconds from acceptance to the delivery receipt: soon, but visibly after the send.
DLR_DELAY = 0.5
_POLL_SECONDS = 0.2
STOP_PATH = "/smsc/stop"
START_PATH = "/smsc/start"
# Long enough for the parts already read to be logged and answered.
_SETTLE_SECONDS = 0.05
_SMSC = web.AppKey("smsc", SmscSimulator)


def sms_route(settings: Settings) -> RouteSettings:
    """The route the demo simulates: the sms channel's first (highest-priority) SMPP one."""
    if SMS_CHANNEL not in settings.channels:
        raise UsageError(f"channels: the demo sends SMS through its simulator, but the"
                         f" configuration names only {', '.join(settings.channels)}")
    try:
        routes = read_routes(settings.channel_options.get(SMS_CHANNEL, {}))
    except PermanentChannelError as error:
        raise UsageError(str(error)) from None
    smpp = [route for route in routes if isinstance(route, RouteSettings)]
    if not smpp:
        raise UsageError(f"channel_options.{SMS_CHANNEL}.routes: the demo needs an SMPP route")
    return smpp[0]


def ensure_subscribers(session: Session, *, is_test: bool,
                       subscribers: Iterable[DemoGroup] = DEMO_SUBSCRIBERS) -> int:
    """Make the demo subscribers that do not exist yet; returns how many were made.

    Existing ones stay as they are: a number that texted TD stays unsubscribed.
    """
    made = 0
    for district, language, numbers in subscribers:
        for number in numbers:
            address = normalise_msisdn(number)
            if find_subscriber(session, ContactKind.MSISDN, address) is not None:
                continue
            subscriber = new_subscriber(session, language=language, is_test=is_test)
            add_contact_point(session, subscriber, ContactKind.MSISDN, address)
            follow_districts(session, subscriber, [district])
            made += 1
    return made


def reached_addresses(session: Session, channel: str, addresses: Collection[str], *,
                      test_only: bool) -> list[str]:
    """Those of ``addresses`` on ``channel`` that an alert for their district reaches now."""
    query = select(Target.address).where(
        Target.channel == channel, Target.active, Target.address.in_(list(addresses)))
    if test_only:
        query = query.where(Target.is_test)
    return list(session.scalars(query.order_by(Target.address)))


def reached_numbers(session: Session, *, test_only: bool) -> list[str]:
    """The demo numbers an alert for both demo districts reaches now."""
    numbers = [number for _, _, group in DEMO_SUBSCRIBERS for number in group]
    return reached_addresses(session, SMS_CHANNEL, numbers, test_only=test_only)


@dataclass(frozen=True, slots=True)
class SmsTally:
    """What the part log shows for some numbers since a moment."""

    messages: tuple[ReassembledMessage, ...]

    @property
    def parts(self) -> int:
        return sum(len(message.parts) for message in self.messages)

    @property
    def whole(self) -> bool:
        return all(message.complete and not message.duplicates for message in self.messages)


def tally(part_log: Path, numbers: Collection[str], since: datetime) -> SmsTally:
    """The messages (reassembled from parts) accepted for ``numbers`` at or after ``since``."""
    wanted = {number.removeprefix("+") for number in numbers}
    log = PartLog(part_log)
    try:
        return SmsTally(tuple(message for message in log.reassembled_messages()
                              if message.destination_addr in wanted
                              and message.parts[0].accepted_at >= since))
    finally:
        log.close()


def _running(simulator: SmscSimulator) -> web.Response:
    return web.json_response({"running": simulator.fault is FaultMode.NONE})


async def _stop_smsc(request: web.Request) -> web.Response:
    simulator = request.app[_SMSC]
    await simulator.set_fault(FaultMode.SILENT)
    await asyncio.sleep(_SETTLE_SECONDS)
    await simulator.set_fault(FaultMode.DROP)
    return _running(simulator)


async def _start_smsc(request: web.Request) -> web.Response:
    simulator = request.app[_SMSC]
    await simulator.set_fault(FaultMode.NONE)
    return _running(simulator)


async def _start_control(simulator: SmscSimulator, host: str, port: int) -> web.AppRunner:
    """The simulator's control port (``smsc_control``) with the outage switch beside ``/mo``."""
    app = control_app(simulator)
    app[_SMSC] = simulator
    app.router.add_post(STOP_PATH, _stop_smsc)
    app.router.add_post(START_PATH, _start_smsc)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    return runner


class DemoSmsc:
    """The simulator and its control port, in a thread; ``stop`` ends both."""

    def __init__(self, settings: Settings, route: RouteSettings, control_port: int) -> None:
        self.route = route
        self.simulator = SmscSimulator(SmscConfig(
            data_dir=settings.paths.data_dir / SMSC_STATE_DIR, host=route.host,
            port=route.port, system_id=route.system_id, password=route.password,
            dlr_delay=DLR_DELAY))
        try:
            self._thread = self.simulator.start_in_thread()
        except OSError as error:
            raise UsageError(f"channel_options.sms.port: the simulator cannot listen on"
                             f" {route.host}:{route.port} ({error})") from None
        try:
            self._control = self._thread.submit(
                lambda: _start_control(self.simulator, route.host, control_port)).result(10)
        except OSError as error:
            self._thread.stop()
            raise UsageError(f"--smsc-control-port: cannot listen on {route.host}:"
                             f"{control_port} ({error})") from None

    @property
    def part_log(self) -> Path:
        return self.simulator.part_log_path

    @property
    def control_url(self) -> str:
        host, port = self._control.addresses[0][:2]
        return f"http://{host}:{port}"

    def mo_example(self, number: str, text: str) -> str:
        command = mo_command(self.control_url, number.removeprefix("+"), text)
        return shlex.join([str(Path(sys.executable).with_name(command[0])), *command[1:]])

    def wait_bound(self, timeout: float, stopping: threading.Event) -> bool:
        """Wait until a bind of the platform can receive (the SMS worker is up)."""
        deadline = time.monotonic() + timeout
        while not stopping.is_set() and time.monotonic() < deadline:
            if self._thread.submit(self.simulator.receivers).result(10):
                return True
            stopping.wait(_POLL_SECONDS)
        return False

    def stop(self) -> None:
        try:
            self._thread.submit(self._control.cleanup).result(10)
        finally:
            self._thread.stop()
