"""The host processes of the district push benchmark: many real node apps in one process each.

A host serves, on one event loop:

- its share of the nodes: each the real ``district_nodes`` app
  (``create_app(load_node_config(path))``) on its own port, with its own
  SQLite store, signature check, relay and outbox;
- the LED boards of those nodes: one ``LedBoardSimulator`` on one port,
  acking each push at once;
- a stand-in center for the nodes' own calls: an empty catch-up stream,
  and the receipts, kept with the time each node first reported every one
  of its boards delivered; and ``POST /bare``, the trivial endpoint of the
  bare round trips, which reads the body and answers a small JSON.

The benchmark drives a host through a pipe: ``progress`` (what the boards
took and the receipts said of one identifier), ``report`` (the same, and
how many boards show it now: a look at every board's state, too slow to
poll) and ``stop``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import multiprocessing
import traceback
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from multiprocessing.connection import Connection
from typing import Any

from aiohttp import web

from bench.district_fleet import LOCALHOST, Host, PlannedNode
from district_nodes.app import create_app
from district_nodes.config import load_node_config
from publisher.sim.device_sim import DeviceSimConfig
from publisher.sim.led import LedBoardSimulator

__all__ = ["HostProcess", "HostReport", "running_hosts", "total_report"]

READY_SECONDS = 300.0
ANSWER_SECONDS = 60.0
STOP_SECONDS = 60.0
ALERT_COLOUR = "red"


@dataclass(frozen=True, slots=True)
class HostReport:
    shown: int  # boards that took a ``show`` of the identifier
    last_shown: float | None  # when the last of them took it (seconds since the epoch)
    showing: int | None  # boards whose state shows it in red now; None: not looked at
    payload_bytes: int  # the push body the first board took for it
    receipts: int  # nodes whose receipt counted every one of their boards delivered
    last_receipt: float | None  # when the last of them first said so
    acks_given_up: int | None  # board acks no node took, in all runs so far; None: not counted


def total_report(reports: Sequence[HostReport]) -> HostReport:
    def latest(moments: Sequence[float | None]) -> float | None:
        known = [moment for moment in moments if moment is not None]
        return max(known) if known else None

    return HostReport(
        shown=sum(report.shown for report in reports),
        last_shown=latest([report.last_shown for report in reports]),
        showing=None if any(report.showing is None for report in reports)
        else sum(report.showing or 0 for report in reports),
        payload_bytes=max(report.payload_bytes for report in reports),
        receipts=sum(report.receipts for report in reports),
        last_receipt=latest([report.last_receipt for report in reports]),
        acks_given_up=None if any(report.acks_given_up is None for report in reports)
        else sum(report.acks_given_up or 0 for report in reports))


class StandInCenter:
    """What the nodes call on the center; receipts are told apart by each node's credential."""

    def __init__(self, nodes: Sequence[PlannedNode]) -> None:
        self._names = {node.credential: node.name for node in nodes}
        self._boards = {node.name: len(node.devices) for node in nodes}
        self.complete: dict[tuple[str, str], float] = {}

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/nodes/{code}/messages", self._messages)
        app.router.add_post("/api/nodes/{code}/receipts", self._receipt)
        app.router.add_post("/bare", self._bare)
        return app

    def _node(self, request: web.Request) -> str | None:
        header = request.headers.get("Authorization", "")
        return self._names.get(header.removeprefix("Bearer ").strip())

    async def _messages(self, request: web.Request) -> web.Response:
        if self._node(request) is None:
            return web.json_response({"error": "unauthenticated"}, status=401)
        return web.json_response({"messages": [], "next": None})

    async def _receipt(self, request: web.Request) -> web.Response:
        name = self._node(request)
        if name is None:
            return web.json_response({"error": "unauthenticated"}, status=401)
        receipt = await request.json()
        delivered = receipt.get("counts", {}).get("led", {}).get("delivered")
        key = (name, str(receipt.get("identifier")))
        if delivered == self._boards[name] and key not in self.complete:
            self.complete[key] = datetime.now(UTC).timestamp()
        return web.json_response({"recorded": True})

    async def _bare(self, request: web.Request) -> web.Response:
        return web.json_response({"received": len(await request.read())})


def _showing(simulator: LedBoardSimulator, identifier: str) -> int:
    return sum(any(shown["identifier"] == identifier and shown["colour"] == ALERT_COLOUR
                   for shown in simulator.state(device_id)["showing"])
               for device_id in simulator.devices)


class BoardTally:
    """Per identifier, when each board first took its ``show``: the simulator's record, read
    as it grows, so that polling costs the host only what arrived since the last look."""

    def __init__(self, simulator: LedBoardSimulator) -> None:
        self.simulator = simulator
        self._read = 0
        self.taken: dict[str, dict[str, float]] = {}
        self.payload_bytes: dict[str, int] = {}

    def update(self) -> None:
        fresh = self.simulator.received[self._read:]
        self._read += len(fresh)
        for received in fresh:
            identifier = received.body["identifier"]
            if received.body["action"] != "show":
                continue
            taken = self.taken.setdefault(identifier, {})
            taken.setdefault(received.device_id, received.at.timestamp())
            # As the channel posts it: aiohttp's ``json=``, which is ``json.dumps``.
            self.payload_bytes.setdefault(identifier, len(json.dumps(received.body).encode()))


def _report(tally: BoardTally, center: StandInCenter, identifier: str,
            look_at_boards: bool) -> HostReport:
    tally.update()
    taken = tally.taken.get(identifier, {})
    receipts = [moment for (_, about), moment in center.complete.items() if about == identifier]
    return HostReport(
        shown=len(taken), last_shown=max(taken.values(), default=None),
        showing=_showing(tally.simulator, identifier) if look_at_boards else None,
        payload_bytes=tally.payload_bytes.get(identifier, 0),
        receipts=len(receipts), last_receipt=max(receipts, default=None),
        acks_given_up=sum(ack.status is None or ack.status >= 300
                          for ack in tally.simulator.acks) if look_at_boards else None)


async def _serve_app(app: web.Application, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    await web.TCPSite(runner, LOCALHOST, port).start()
    return runner


async def _serve(host: Host, nodes: Sequence[PlannedNode], connection: Connection) -> None:
    center = StandInCenter(nodes)
    runners = [await _serve_app(center.app(), host.center_port)]
    simulator = LedBoardSimulator(
        DeviceSimConfig(host.directory / "boards", port=host.board_port, ack_delay=0.0),
        [device for node in nodes for device in node.devices])
    async with simulator.running():
        try:
            for node in nodes:
                runners.append(await _serve_app(create_app(load_node_config(node.config)),
                                                node.port))
            tally = BoardTally(simulator)
            connection.send(("ok", len(nodes)))
            while True:
                command, argument = await asyncio.to_thread(connection.recv)
                if command == "stop":
                    break
                connection.send(("ok", _report(tally, center, argument,
                                               look_at_boards=command == "report")))
        finally:
            for runner in reversed(runners):
                await runner.cleanup()
    connection.send(("ok", "stopped"))


def serve_host(host: Host, nodes: Sequence[PlannedNode], connection: Connection) -> None:
    """The target of a host process: serve until told to stop; errors go back on the pipe."""
    logging.basicConfig(filename=host.directory / "host.log", level=logging.WARNING)
    try:
        asyncio.run(_serve(host, nodes, connection))
    except Exception:  # any: the benchmark prints why its host ended
        connection.send(("error", traceback.format_exc()))


class HostProcess:
    def __init__(self, process: multiprocessing.process.BaseProcess,
                 connection: Connection, host: Host) -> None:
        self.process = process
        self.connection = connection
        self.host = host

    def ask(self, command: str, argument: Any = None, timeout: float = ANSWER_SECONDS) -> Any:
        self.connection.send((command, argument))
        return self.answer(timeout)

    def answer(self, timeout: float) -> Any:
        if not self.connection.poll(timeout):
            raise TimeoutError(f"host {self.host.number}: no answer within {timeout:g} s"
                               f" (log: {self.host.directory / 'host.log'})")
        status, payload = self.connection.recv()
        if status != "ok":
            raise RuntimeError(f"host {self.host.number} failed:\n{payload}")
        return payload

    def report(self, identifier: str, *, look_at_boards: bool) -> HostReport:
        """What the boards took and the receipts said; with every board's state if asked."""
        report = self.ask("report" if look_at_boards else "progress", identifier)
        assert isinstance(report, HostReport)
        return report

    def stop(self) -> None:
        try:
            if self.process.is_alive():
                self.ask("stop", timeout=STOP_SECONDS)
        except (OSError, EOFError, TimeoutError, RuntimeError):
            pass  # it is ended by force below
        self.process.join(STOP_SECONDS)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self.connection.close()


def _by_host(nodes: Sequence[PlannedNode]) -> Mapping[Host, list[PlannedNode]]:
    grouped: dict[Host, list[PlannedNode]] = {}
    for node in nodes:
        grouped.setdefault(node.host, []).append(node)
    return grouped


@contextmanager
def running_hosts(nodes: Sequence[PlannedNode]) -> Iterator[list[HostProcess]]:
    """Start a process per host, wait until each serves all its nodes; stop them all after."""
    context = multiprocessing.get_context("spawn")
    hosts: list[HostProcess] = []
    try:
        for host, served in _by_host(nodes).items():
            ours, theirs = context.Pipe()
            process = context.Process(target=serve_host, args=(host, served, theirs),
                                      name=f"district-host-{host.number}")
            process.start()
            theirs.close()
            hosts.append(HostProcess(process, ours, host))
        for host_process in hosts:
            host_process.answer(READY_SECONDS)
        yield hosts
    finally:
        for host_process in hosts:
            host_process.stop()
