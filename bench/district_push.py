"""One alert pushed to 16 district nodes, or 300 street-level ones, each with its LED boards.

The center: a fresh PostgreSQL database, where each node is registered as
what the fan-out reaches, a target of the ``district`` channel with its
district code, and the real fan-out and channel, called as the worker
calls them: ``fan_out`` plans one delivery per node in batches of the
default configuration's size, and each batch goes to ``send_batch`` with
a ``DistrictChannel`` (its default timeout and concurrency), two batches
at a time (a worker of concurrency 2); a batch the channel defers is sent
again after 1, 2, 4... s, as the worker's backoff would (without its jitter).

The nodes: the real ``district_nodes`` app, many to a process
(``district_hosts.py``): each verifies the center's signature, stores the
message in its SQLite store, pushes it to its boards through the LED
channel, acks, and reports its boards' acks to a stand-in center.

Each run publishes a red rainstorm warning for the whole city (GB/T 2260
110000), signed with the center's key, and measures from the start of the
fan-out:

- acked: until every node's ack is recorded (its delivery SENT);
- shown: until the last board took the ``show`` (the simulator's record);
  untimed, every board's state must then show it in red;
- reported: until every node's receipt counts all its boards delivered
  (the boards ack at once; a node reports again as their acks come in).

A run counts when every node acked and every board shows the warning; the
median of "reported" is over the runs where every receipt came in.

The peer, in the same run: the bare HTTP round trips, one after another
on one keep-alive aiohttp session, to the trivial endpoint of the host of
each node (the same signed CAP bytes) and of each board (a body of the
size the board's push had). Their sum, divided by ours, says how much
faster (above 1x) or slower the product is than those round trips in
series.

    python -m bench.district_push [--nodes 16] [--devices-per-node 50] [--runs 3]
        [--processes N]

It needs the PostgreSQL of ``.ci/run``.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bench.district_fleet import DISTRICTS_FILE, PlannedNode, plan_fleet
from bench.district_hosts import HostProcess, HostReport, running_hosts, total_report
from bench.fanout_planning import ADMIN_DSN, city_area, publish_message, scratch_database
from bench.sms_support import cpu_seconds, machine_line
from publisher.cap.districts import DistrictTable, load_districts
from publisher.cap.keys import generate_demo_identity
from publisher.cap.signing import sign_alert_xml
from publisher.channels.base import DeliveryStatus, TransientChannelError
from publisher.channels.district import CAP_MEDIA_TYPE, DistrictChannel
from publisher.config import load_settings
from publisher.services.delivery import fan_out, send_batch
from publisher.services.district_nodes import DISTRICT_CHANNEL
from publisher.store.db import make_engine, make_session_factory
from publisher.store.models import Delivery, Message, Target

__all__ = ["main"]

SENDERS = 2
POLL_SECONDS = 0.1
# Longer than a simulated board takes to give up an ack (5 tries of up to 10 s).
QUIET_SECONDS = 60.0
CENTER_TOKEN_BYTES = 24


@dataclass(frozen=True, slots=True)
class Center:
    sessions: sessionmaker[Session]
    channel: DistrictChannel
    key_pem: bytes
    certificate_pem: bytes
    districts: DistrictTable
    batch_size: int


@dataclass(frozen=True, slots=True)
class Run:
    """One run; its times in seconds from the start of the fan-out."""

    acked: int  # deliveries SENT
    retries: int  # batches sent again after the channel deferred some of their nodes
    boards: HostReport
    acked_seconds: float
    shown_seconds: float
    reported_seconds: float
    bare_nodes_seconds: float
    bare_boards_seconds: float
    hosts_cpu_seconds: float

    @property
    def bare_seconds(self) -> float:
        return self.bare_nodes_seconds + self.bare_boards_seconds

    def complete(self, nodes: int, boards: int) -> bool:
        """Every node acked, and every board took the alert and shows it."""
        return self.acked == nodes and self.boards.shown == self.boards.showing == boards


def _register(sessions: sessionmaker[Session], nodes: Sequence[PlannedNode]) -> None:
    with sessions() as session:
        session.add_all(Target(channel=DISTRICT_CHANNEL, address=node.url,
                               district_code=node.district.code) for node in nodes)
        session.commit()


def _signed_message(center: Center, number: int) -> tuple[int, str, bytes]:
    """Commit the run's warning, signed with the center's key; its id, identifier and XML."""
    with center.sessions() as session:
        message_id = publish_message(
            session, areas=city_area(), sequence=number,
            sign=lambda xml: sign_alert_xml(xml, center.key_pem, center.certificate_pem))
        identifier, xml = session.execute(select(Message.identifier, Message.xml).where(
            Message.id == message_id)).one()
    return message_id, identifier, xml


def _send(center: Center, delivery_ids: list[int], deadline: float) -> int:
    """Send one batch as the worker's task would, retrying deferred nodes; the retries."""
    retries = 0
    while True:
        try:
            send_batch(center.sessions, center.channel, delivery_ids)
            return retries
        except TransientChannelError:
            pause = 2.0 ** retries
            if time.monotonic() + pause > deadline:
                return retries
            time.sleep(pause)
            retries += 1


def _push(center: Center, message_id: int, deadline: float) -> tuple[int, float, int]:
    """Fan out and send every batch; (deliveries SENT, when the last was recorded, retries)."""
    with concurrent.futures.ThreadPoolExecutor(SENDERS) as senders:
        batches: list[concurrent.futures.Future[int]] = []
        fan_out(center.sessions, message_id, center.batch_size,
                lambda _channel, ids: batches.append(senders.submit(_send, center, ids,
                                                                    deadline)),
                channels=(DISTRICT_CHANNEL,), districts=center.districts)
        retries = sum(batch.result() for batch in batches)
    acked_at = time.time()
    with center.sessions() as session:
        acked = session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.message_id == message_id,
            Delivery.status == DeliveryStatus.SENT)) or 0
    return acked, acked_at, retries


def _boards_report(hosts: Sequence[HostProcess], identifier: str, nodes: int, boards: int,
                   deadline: float) -> HostReport:
    """What the boards and receipts say once all is in, once every board has it and no
    receipt has come for ``QUIET_SECONDS`` (a board's ack that was given up is never sent
    again), or at the deadline."""
    seen, changed = (-1, -1), time.monotonic()
    while True:
        progress = total_report([host.report(identifier, look_at_boards=False)
                                 for host in hosts])
        if (progress.shown, progress.receipts) != seen:
            seen, changed = (progress.shown, progress.receipts), time.monotonic()
        settled = progress.shown == boards and (
            progress.receipts == nodes or time.monotonic() - changed > QUIET_SECONDS)
        if settled or time.monotonic() > deadline:
            return total_report([host.report(identifier, look_at_boards=True)
                                 for host in hosts])
        time.sleep(POLL_SECONDS)


async def _bare_round_trips(nodes: Sequence[PlannedNode], cap: bytes,
                            payload_bytes: int) -> tuple[float, float]:
    """Seconds of the round trips to every node's host, then to every board's, one at a time."""
    board_body = b"x" * payload_bytes

    async def one(session: aiohttp.ClientSession, url: str, body: bytes,
                  media_type: str) -> float:
        started = time.perf_counter()
        async with session.post(url, data=body,
                                headers={"Content-Type": media_type}) as response:
            await response.read()
            took = time.perf_counter() - started
        if response.status != 200:
            raise RuntimeError(f"{url}: the bare endpoint answered HTTP {response.status}")
        return took

    async with aiohttp.ClientSession() as session:
        to_nodes = [await one(session, f"{node.host.center_url}/bare", cap, CAP_MEDIA_TYPE)
                    for node in nodes]
        to_boards = [await one(session, f"{node.host.center_url}/bare", board_body,
                               "application/octet-stream")
                     for node in nodes for _ in node.devices]
    return sum(to_nodes), sum(to_boards)


def _since(moment: float | None, started: float) -> float:
    return float("nan") if moment is None else moment - started


def _run(center: Center, hosts: Sequence[HostProcess], nodes: Sequence[PlannedNode],
         number: int, timeout: float) -> Run:
    message_id, identifier, xml = _signed_message(center, number)
    boards = sum(len(node.devices) for node in nodes)
    cpu_before = sum(cpu_seconds(host.process.pid or 0) for host in hosts)
    started, deadline = time.time(), time.monotonic() + timeout
    acked, acked_at, retries = _push(center, message_id, deadline)
    report = _boards_report(hosts, identifier, len(nodes), boards, deadline)
    cpu = sum(cpu_seconds(host.process.pid or 0) for host in hosts) - cpu_before
    bare_nodes, bare_boards = asyncio.run(_bare_round_trips(nodes, xml, report.payload_bytes))
    return Run(acked, retries, report, acked_at - started, _since(report.last_shown, started),
               _since(report.last_receipt, started), bare_nodes, bare_boards, cpu)


def _ratio(bare: float, ours: float) -> str:
    return f"{bare / ours:.2f}x" if ours > 0 else "n/a"


def _describe(number: int, run: Run, nodes: int, boards: int) -> str:
    report, bare = run.boards, run.bare_seconds
    return (f"run {number}: {run.acked:,} of {nodes:,} nodes acked (SENT) after"
            f" {run.acked_seconds:.2f} s; {report.shown:,} of {boards:,} boards took it by"
            f" {run.shown_seconds:.2f} s ({report.showing:,} show it in red); {report.receipts:,}"
            f" node receipts counted every board delivered by {run.reported_seconds:.2f} s"
            f" (board acks given up so far: {report.acks_given_up});"
            f" batches sent again: {run.retries}; CPU of the hosts {run.hosts_cpu_seconds:.1f} s"
            f"\n  bare round trips in series: nodes {run.bare_nodes_seconds:.3f} s + boards"
            f" ({report.payload_bytes:,} bytes each) {run.bare_boards_seconds:.3f} s ="
            f" {bare:.3f} s; bare sum / ours: acked {_ratio(bare, run.acked_seconds)}, shown"
            f" {_ratio(bare, run.shown_seconds)}, reported {_ratio(bare, run.reported_seconds)}")


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.district_push",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=16,
                        help="nodes; beyond 16, several street-level nodes per district")
    parser.add_argument("--devices-per-node", type=int, default=50, help="LED boards per node")
    parser.add_argument("--runs", type=int, default=3, help="runs; the medians are reported")
    parser.add_argument("--processes", type=int, default=os.cpu_count() or 1,
                        help="host processes the nodes and their boards are spread over")
    parser.add_argument("--timeout", type=float, default=300.0,
                        help="seconds a run (the push, the boards, the receipts) may take before it"
                             " is reported unfinished")
    parser.add_argument("--admin-dsn", default=ADMIN_DSN)
    arguments = parser.parse_args(argv)
    for name in ("nodes", "devices_per_node", "runs", "processes"):
        if getattr(arguments, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: {getattr(arguments, name)} is below 1")
    if arguments.timeout <= 0:
        parser.error(f"--timeout: {arguments.timeout:g} is not a positive number of seconds")
    return arguments


@contextmanager
def _center(directory: Path, database_url: str, token: str) -> Iterator[Center]:
    key, certificate = generate_demo_identity(directory / "center", "Bench Warning Center")
    engine = make_engine(database_url)
    try:
        yield Center(make_session_factory(engine), DistrictChannel({"center_token": token}),
                     key.read_bytes(), certificate.read_bytes(), load_districts(DISTRICTS_FILE),
                     load_settings({}, directory).batch_size)
    finally:
        engine.dispose()


def _medians(label: str, values: Sequence[float]) -> str:
    runs = ", ".join(f"{value:.2f}" for value in values)
    return f"{label}: median {statistics.median(values):.2f} s (runs: {runs})"


def _summary(runs: Sequence[Run], nodes: int) -> list[str]:
    reported = [run for run in runs if run.boards.receipts == nodes]
    lines = [_medians("ours, every node acked", [run.acked_seconds for run in runs]),
             _medians("ours, every board took it", [run.shown_seconds for run in runs]),
             _medians("ours, every node reported all its boards delivered",
                      [run.reported_seconds for run in reported]) if reported else
             "ours, every node reported all its boards delivered: in no run",
             _medians("bare round trips in series (sum)", [run.bare_seconds for run in runs])]
    for name, counted in (("acked", runs), ("shown", runs), ("reported", reported)):
        if counted:
            ratios = [run.bare_seconds / getattr(run, f"{name}_seconds") for run in counted]
            lines.append(f"bare sum / ours ({name}): median {statistics.median(ratios):.2f}x"
                         " (above 1x: ours is faster than the round trips in series)")
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    boards = arguments.nodes * arguments.devices_per_node
    print(f"district push: {arguments.nodes:,} nodes x {arguments.devices_per_node:,} LED boards"
          f" = {boards:,} boards, in {min(arguments.processes, arguments.nodes)} host processes;"
          f" {arguments.runs} runs")
    print(machine_line(), flush=True)
    runs: list[Run] = []
    token = secrets.token_urlsafe(CENTER_TOKEN_BYTES)
    with (tempfile.TemporaryDirectory(prefix="bench-district-push-") as folder,
          scratch_database(arguments.admin_dsn) as database_url,
          _center(Path(folder), database_url, token) as center):
        nodes = plan_fleet(Path(folder), nodes=arguments.nodes,
                           devices_per_node=arguments.devices_per_node,
                           hosts=arguments.processes,
                           center_certificate=Path(folder) / "center" / "cert.pem",
                           center_token=token)
        _register(center.sessions, nodes)
        with running_hosts(nodes) as hosts:
            for number in range(1, arguments.runs + 1):
                run = _run(center, hosts, nodes, number, arguments.timeout)
                print(_describe(number, run, arguments.nodes, boards), flush=True)
                runs.append(run)
    print(machine_line())
    complete = [run for run in runs if run.complete(arguments.nodes, boards)]
    if len(complete) < len(runs):
        print(f"NOT complete in {len(runs) - len(complete)} of {len(runs)} runs"
              " (a node not acked, or a board without the alert); not counted")
    if not complete:
        return 1
    for line in _summary(complete, arguments.nodes):
        print(line)
    return 0 if len(complete) == len(runs) else 1


if __name__ == "__main__":
    sys.exit(main())
