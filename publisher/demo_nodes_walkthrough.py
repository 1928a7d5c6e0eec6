"""The demo's district node step: one alert relayed by three sub-centers, then Huairou's link fails.

Once the three nodes (``demo_nodes``) have called the center, the demo
author composes a red rainstorm warning (an Exercise) for Chaoyang, Haidian
and Huairou and the demo approver approves it; the district channel pushes
the signed message to the three nodes, each relays it on its own boards and
speakers, acks it and reports its local counts. Once every node has
reported its devices done, the demo prints each node's ack and counts, as
``GET /api/nodes/<code>`` shows them, and where to look.

It then prints the Huairou scenario: stop Huairou's node on the demo's
node control port, publish (the alert's JSON is written to a file for the
reader to post), start the node again. It watches for that restart: once
Huairou's node is back, it waits for Huairou's boards to show the newest
alert the center has for Huairou, and says how long after the start they
did, against the node's heartbeat interval.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from aiohttp import web

from publisher.cap.districts import GB_T_2260, District
from publisher.cap.model import Area, Info, MsgType, NamedValue
from publisher.demo_devices import LED, SPEAKER
from publisher.demo_nodes import HUAIROU, NODE_DEVICES, DemoNode, DemoNodes
from publisher.demo_walkthrough import (
    DELIVERY_SECONDS,
    DEMO_STATUS,
    WORKER_START_SECONDS,
    DemoPeople,
    Published,
    Waiting,
    alert_content,
    publish_alert,
    wait_final,
)
from publisher.sample_alert import rainstorm_red_warning
from publisher.services.district_nodes import DISTRICT_CHANNEL, find_node
from publisher.services.district_stream import NodeDelivery, node_deliveries
from publisher.store.db import session_scope
from publisher.store.models import Message
from publisher.web.context import SESSIONS

__all__ = ["NodeWalkthrough", "districts_alert_content", "print_nodes", "showing_on_boards"]

_POLL_SECONDS = 0.5
# The latest deliveries of a node read for the alert's counts.
_LATEST = 20


def _for_districts(info: Info, districts: Sequence[District]) -> Info:
    chinese = info.language == "zh-CN"
    areas = tuple(Area(area_desc=f"北京市{district.name_zh}" if chinese
                       else f"{district.name_en} District, Beijing",
                       geocodes=(NamedValue(GB_T_2260, district.code),))
                  for district in districts)
    names = ("、".join(district.name_zh for district in districts) if chinese
             else ", ".join(district.name_en for district in districts))
    description = (f"预计未来3小时{names}降雨量将达100毫米以上。" if chinese
                   else f"More than 100 mm of rain is expected in {names} within 3 hours.")
    return replace(info, areas=areas, description=description)


def districts_alert_content(now: datetime, districts: Sequence[District]) -> dict[str, Any]:
    """The sample red rainstorm warning (an Exercise) for ``districts``, as composed."""
    sample = rainstorm_red_warning(now, status=DEMO_STATUS)
    return alert_content(replace(sample, infos=tuple(_for_districts(info, districts)
                                                     for info in sample.infos)))


def showing_on_boards(nodes: DemoNodes, code: str, identifier: str) -> tuple[int, int]:
    """(boards of district ``code`` showing ``identifier`` once, its boards)."""
    boards = nodes.devices(code, LED)
    shown = sum(1 for board in boards
                if [each["identifier"] for each in nodes.state(LED, board.device_id)["showing"]
                    ].count(identifier) == 1)
    return shown, len(boards)


def _counts(delivery: NodeDelivery) -> str:
    return ", ".join(f"{channel} " + ", ".join(f"{number} {name}" for name, number
                                              in counted.items() if number)
                     for channel, counted in sorted(delivery.counts.items())) or "none yet"


def _devices_done(delivery: NodeDelivery) -> bool:
    return (set(delivery.counts) >= set(NODE_DEVICES)
            and all(counted["pending"] == 0 for counted in delivery.counts.values()))


def print_nodes(nodes: DemoNodes) -> None:
    """The welcome's lines on the nodes."""
    listed = ", ".join(f"{node.name} ({node.code}) on {node.url}" for node in nodes.nodes)
    print(f"Nodes:     district sub-centers of {listed}")
    print(f"           {NODE_DEVICES[LED]} boards and {NODE_DEVICES[SPEAKER]} speaker each"
          f" (simulators on {nodes.simulators[LED].base_url} and"
          f" {nodes.simulators[SPEAKER].base_url}); their logs and files in"
          f" {nodes.nodes[0].directory.parent}")
    print(f"           stop or start one: curl -s -X POST {nodes.control_url}/nodes/CODE/stop"
          " (or /start); test targets, registered with the center")


class NodeWalkthrough:
    """The district node step: see the module's documentation."""

    name = "District node walk-through"

    def __init__(self, nodes: DemoNodes, people: DemoPeople, alert_file: Path) -> None:
        self.nodes = nodes
        self.people = people
        self.alert_file = alert_file

    def run(self, app: web.Application, loop: asyncio.AbstractEventLoop,
            stopping: threading.Event) -> Waiting | None:
        codes = [node.code for node in self.nodes.nodes]
        if not self._wait_heard(app, codes, stopping):
            if not stopping.is_set():
                print(f"District node walk-through skipped: not every node called the center"
                      f" within {WORKER_START_SECONDS:g} s (their logs:"
                      f" {self.nodes.nodes[0].directory.parent})", flush=True)
            return None
        districts = [node.district for node in self.nodes.nodes]
        published = publish_alert(app, loop, self.people,
                                  districts_alert_content(datetime.now(UTC), districts))
        message_id = published.message.id
        final = wait_final(app, message_id, [DISTRICT_CHANNEL], stopping,
                           WORKER_START_SECONDS + DELIVERY_SECONDS)
        reported = self._wait_devices_done(app, codes, message_id, stopping)
        if stopping.is_set():
            return None
        self._reconcile(published, reported, final)
        self._scenario()
        huairou = self.nodes.node(HUAIROU)
        return lambda: self._watch_restarts(app, huairou, stopping)

    @staticmethod
    def _wait_heard(app: web.Application, codes: Collection[str],
                    stopping: threading.Event) -> bool:
        deadline = time.monotonic() + WORKER_START_SECONDS
        while not stopping.is_set() and time.monotonic() < deadline:
            with session_scope(app[SESSIONS]) as session:
                heard = [find_node(session, code) for code in codes]
            if all(node is not None and node.last_heard_at is not None for node in heard):
                return True
            stopping.wait(_POLL_SECONDS)
        return False

    @staticmethod
    def _reported(app: web.Application, codes: Collection[str],
                  message_id: int) -> dict[str, NodeDelivery]:
        found: dict[str, NodeDelivery] = {}
        with session_scope(app[SESSIONS]) as session:
            for code in codes:
                node = find_node(session, code)
                for delivery in node_deliveries(session, node, _LATEST) if node else []:
                    if delivery.cursor == message_id:
                        found[code] = delivery
        return found

    def _wait_devices_done(self, app: web.Application, codes: Collection[str],
                           message_id: int, stopping: threading.Event) -> dict[str, NodeDelivery]:
        deadline = time.monotonic() + DELIVERY_SECONDS
        while True:
            reported = self._reported(app, codes, message_id)
            done = len(reported) == len(codes) and all(map(_devices_done, reported.values()))
            if done or stopping.is_set() or time.monotonic() > deadline:
                return reported
            stopping.wait(_POLL_SECONDS)

    def _reconcile(self, published: Published, reported: dict[str, NodeDelivery],
                   final: bool) -> None:
        message = published.message
        names = ", ".join(node.name for node in self.nodes.nodes)
        print(f"\nDistrict node walk-through: alert {published.alert_id} ({message.identifier}),"
              f" an {DEMO_STATUS} for {names}, composed by {published.author}, approved by"
              f" {published.approver}")
        waited = "" if final else " (NOT all final in time)"
        print(f"Node reconciliation{waited}:")
        for node in self.nodes.nodes:
            delivery = reported.get(node.code)
            shown, boards = showing_on_boards(self.nodes, node.code, message.identifier)
            state = f"push {delivery.status}, local counts {_counts(delivery)}" if delivery \
                else "NOT PUSHED"
            print(f"  {node.name} ({node.code}): {state}; boards showing it: {shown} of"
                  f" {boards}")
        first, *others = self.nodes.nodes
        print("  a node's acks and local counts: curl -s -H \"Authorization: Bearer"
              f" $APPROVER_TOKEN\" \"$URL/api/nodes/{first.code}\"   (or"
              f" {', '.join(node.code for node in others)}; every node: $URL/api/nodes)")
        board = self.nodes.devices(HUAIROU, LED)[0]
        print(f"  a Huairou board:  curl -s {self.nodes.state_url(LED, board.device_id)}",
              flush=True)

    def _scenario(self) -> None:
        huairou = self.nodes.node(HUAIROU)
        districts = [node.district for node in self.nodes.nodes]
        self.alert_file.parent.mkdir(parents=True, exist_ok=True)
        self.alert_file.write_text(json.dumps(districts_alert_content(datetime.now(UTC),
                                                                      districts),
                                              ensure_ascii=False, indent=1), encoding="utf-8")
        control = f"{self.nodes.control_url}/nodes/{HUAIROU}"
        print(f"\nHuairou's link fails (a mountain district): stop its node, publish, start it"
              f" again; its boards show what it missed within one heartbeat interval"
              f" ({huairou.heartbeat_interval} s):")
        print(f"  curl -s -X POST {control}/stop")
        print("  ALERT_ID=$(curl -s -X POST \"$URL/api/alerts\" -H \"Authorization: Bearer"
              " $AUTHOR_TOKEN\" -H 'Content-Type: application/json' --data-binary"
              f" @{self.alert_file} | python3 -c 'import json,sys;"
              " print(json.load(sys.stdin)[\"id\"])')")
        print("  curl -s -X POST \"$URL/api/alerts/$ALERT_ID/submit\" -H \"Authorization:"
              " Bearer $AUTHOR_TOKEN\"")
        print("  curl -s -X POST \"$URL/api/alerts/$ALERT_ID/approve\" -H \"Authorization:"
              " Bearer $APPROVER_TOKEN\"")
        print(f"  curl -s -X POST {control}/start", flush=True)

    def _watch_restarts(self, app: web.Application, node: DemoNode,
                        stopping: threading.Event) -> None:
        """Report every start of ``node`` after the first, until the demo stops."""
        seen = node.launches
        while not stopping.is_set():
            started = node.wait_launched(seen, _POLL_SECONDS)
            if started is not None:
                seen = node.launches
                self._report_return(app, node, started, stopping)

    def _report_return(self, app: web.Application, node: DemoNode, started: float,
                       stopping: threading.Event) -> None:
        with session_scope(app[SESSIONS]) as session:
            held = find_node(session, node.code)
            latest = node_deliveries(session, held, 1) if held else []
            newest = latest[0] if latest else None
            message = session.get(Message, newest.cursor) if newest else None
            identifier = message.identifier if message else None
            alert_id = message.alert_id if message else None
            cancel = message is not None and message.msg_type == MsgType.CANCEL.value
        if identifier is None or cancel:
            print(f"\n{node.name}'s node is back; nothing for its boards to show", flush=True)
            return
        deadline = started + 2 * node.heartbeat_interval
        shown, boards = showing_on_boards(self.nodes, node.code, identifier)
        while shown < boards and time.monotonic() < deadline and not stopping.is_set():
            stopping.wait(_POLL_SECONDS)
            shown, boards = showing_on_boards(self.nodes, node.code, identifier)
        seconds = time.monotonic() - started
        within = "within" if seconds <= node.heartbeat_interval else "NOT within"
        print(f"\n{node.name}'s node is back: {shown} of {boards} of its boards show alert"
              f" {alert_id} ({identifier}) {seconds:.1f} s after its start, {within} one"
              f" heartbeat interval ({node.heartbeat_interval} s)", flush=True)
