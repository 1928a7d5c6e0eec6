"""The demo's device step: a red rainstorm warning for Chaoyang on its boards and speakers.

The demo's boards and speakers (``demo_devices``) are registered, then the
demo author composes the sample red rainstorm warning (an Exercise for
Chaoyang), the demo approver approves it, and once its board and speaker
deliveries are final the demo prints where to look and a reconciliation,
read from the devices and the platform: Chaoyang's boards show it in red,
paged to fit each board, the boards elsewhere show nothing of it;
Chaoyang's speakers played it, the attention tone and then the message
``repeat`` times, the speakers elsewhere did not; the deliveries and the
acks that delivered them.

It then prints the command that cancels the alert and waits for that
Cancel: once its deliveries are final, a second reconciliation says which
boards were cleared and which speakers stopped and played the all-clear.
"""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from publisher.channels.led_preview import FontNotFoundError
from publisher.demo_device_report import (
    Count,
    ack_states,
    boards_showing,
    boards_still_showing,
    delivery_counts,
    speakers_played,
    speakers_stopped,
    write_previews,
)
from publisher.demo_devices import LED, SPEAKER, DemoDevices
from publisher.demo_walkthrough import (
    CANCEL_REASON,
    DELIVERY_SECONDS,
    DEMO_STATUS,
    WORKER_START_SECONDS,
    DemoPeople,
    Published,
    Waiting,
    alert_content,
    cancel_command,
    publish_alert,
    wait_final,
    wait_for_cancel,
)
from publisher.sample_alert import rainstorm_red_warning
from publisher.store.db import session_scope
from publisher.web.context import SESSIONS
from publisher.web.subscribers import DISTRICT_NAMES

__all__ = ["CANCEL_REASON", "CHAOYANG", "DeviceWalkthrough"]

CHAOYANG = "110105"
# The sample warning's colour, which its boards show.
WARNING_COLOUR = "red"


def _deliveries(counts: Mapping[str, Mapping[str, int]]) -> str:
    return "; ".join(f"{channel} " + ", ".join(f"{number} {status}" for status, number
                                              in sorted(by_status.items()))
                     for channel, by_status in sorted(counts.items())
                     if channel in (LED, SPEAKER)) or "none"


def _of(count: Count, inside: str) -> str:
    return f"{count.inside_did} of {count.inside} in {inside}, {count.outside_did} of" \
           f" {count.outside} elsewhere"


class DeviceWalkthrough:
    """The device step: see the module's documentation."""

    name = "Device walk-through"

    def __init__(self, fleet: DemoDevices, url: str, people: DemoPeople, *, repeat: int,
                 previews: Path) -> None:
        self.fleet = fleet
        self.url = url
        self.people = people
        self.repeat = repeat
        self.previews = previews

    def run(self, app: web.Application, loop: asyncio.AbstractEventLoop,
            stopping: threading.Event) -> Waiting | None:
        with session_scope(app[SESSIONS]) as session:
            registered = self.fleet.register(session, app[DISTRICT_NAMES])
        if not registered.ok:
            print(f"Device walk-through skipped: devices refused: "
                  f"{'; '.join(map(str, registered.errors))}", flush=True)
            return None
        alert = rainstorm_red_warning(datetime.now(UTC), status=DEMO_STATUS)
        published = publish_alert(app, loop, self.people, alert_content(alert))
        final = wait_final(app, published.message.id, self.fleet.kinds, stopping,
                           WORKER_START_SECONDS + DELIVERY_SECONDS)
        if stopping.is_set():
            return None
        self._where_to_look(published)
        self._reconcile(app, published, final)
        print("Cancel it (the boards clear, the speakers stop and play the all-clear):")
        print(f"  {cancel_command(published.alert_id)}", flush=True)
        return functools.partial(self._after_cancel, app, published, stopping)

    def _state_urls(self, kind: str) -> list[str]:
        devices = self.fleet.devices(kind)
        first = devices[0]
        others = ", ".join(f"{device.device_id} ({self.fleet.district_name(device)})"
                           for device in devices[1:])
        return [f"curl -s {self.fleet.state_url(kind, first.device_id)}"
                f"   ({self.fleet.district_name(first)})", f"  and {others}"]

    def _where_to_look(self, published: Published) -> None:
        message = published.message
        print(f"\nDevice walk-through: alert {published.alert_id} ({message.identifier}), an"
              f" {DEMO_STATUS} for Chaoyang, composed by {published.author}, approved by"
              f" {published.approver}")
        for kind, label in ((LED, "board states:  "), (SPEAKER, "speaker states:")):
            if kind in self.fleet.kinds:
                first, rest = self._state_urls(kind)
                print(f"  {label} {first}\n  {' ' * len(label)} {rest}")
        channels = " or ".join(f"?channel={kind}" for kind in self.fleet.kinds)
        print("  its deliveries: curl -s -H \"Authorization: Bearer $APPROVER_TOKEN\""
              f" \"$URL/api/alerts/{published.alert_id}/deliveries?channel="
              f"{self.fleet.kinds[0]}\"   ({channels}; the summary without)")

    def _boards_line(self, identifier: str) -> str:
        shown, pages = boards_showing(self.fleet, identifier, CHAOYANG, WARNING_COLOUR)
        try:
            previews = write_previews(self.fleet, identifier, CHAOYANG, self.previews)
        except FontNotFoundError as error:
            drawn = f"no page drawn ({error})"
        else:
            drawn = f"pages drawn in {self.previews}" if previews else "no page drawn"
        return (f"boards showing it in {WARNING_COLOUR}, paged to fit each board"
                f" ({'/'.join(map(str, pages)) or 'no'} pages): {_of(shown, 'Chaoyang')};"
                f" {drawn}")

    def _reconcile(self, app: web.Application, published: Published, final: bool) -> None:
        message = published.message
        parts = []
        if LED in self.fleet.kinds:
            parts.append(self._boards_line(message.identifier))
        if SPEAKER in self.fleet.kinds:
            played, seconds = speakers_played(self.fleet, message.identifier, CHAOYANG,
                                              self.repeat)
            parts.append(f"speakers that played the attention tone, then the message"
                         f" {self.repeat} times ({seconds:.1f} s): {_of(played, 'Chaoyang')}")
        with session_scope(app[SESSIONS]) as session:
            counts = delivery_counts(session, message.id)
            acks = ack_states(session, message.id, self.fleet.kinds)
        waited = "" if final else " (NOT all final in time)"
        print(f"Device reconciliation{waited}: " + "; ".join(parts))
        print(f"  deliveries: {_deliveries(counts)}; acks: {_states(acks)}", flush=True)

    def _after_cancel(self, app: web.Application, published: Published,
                      stopping: threading.Event) -> None:
        cancel = wait_for_cancel(app, published.alert_id, stopping)
        if cancel is None:
            return
        final = wait_final(app, cancel.id, self.fleet.kinds, stopping)
        if stopping.is_set():
            return
        identifier = published.message.identifier
        parts = []
        if LED in self.fleet.kinds:
            showing = boards_still_showing(self.fleet, identifier, CHAOYANG)
            parts.append(f"boards still showing it: {_of(showing, 'Chaoyang')}")
        if SPEAKER in self.fleet.kinds:
            stopped = speakers_stopped(self.fleet, identifier, cancel.identifier, CHAOYANG)
            parts.append(f"speakers stopped, the all-clear played: {_of(stopped, 'Chaoyang')}")
        with session_scope(app[SESSIONS]) as session:
            counts = delivery_counts(session, cancel.id)
            acks = ack_states(session, cancel.id, self.fleet.kinds)
        waited = "" if final else " (NOT all final in time)"
        print(f"\nCancel reconciliation{waited}: alert {published.alert_id} cancelled by"
              f" {cancel.identifier}; " + "; ".join(parts))
        print(f"  deliveries of the Cancel: {_deliveries(counts)}; acks: {_states(acks)}",
              flush=True)


def _states(acks: Mapping[str, int]) -> str:
    return ", ".join(f"{state} {number}" for state, number in sorted(acks.items())) or "none"
