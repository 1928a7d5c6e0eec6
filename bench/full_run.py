"""Full-scale load run: one city-wide Actual alert, its Update and its Cancel, on every channel.

The platform as it is deployed, each part a process of its own, on a fresh
PostgreSQL database and a fresh RabbitMQ virtual host (both removed after):

- ``--subscribers`` SMS subscribers over the 16 districts of Beijing (one in
  ten reading Chinese: three UCS-2 parts), sent through an SMSC simulator
  that throttles each bind above ``--smsc-limit`` parts/s, as a carrier's
  contract does; the SMS channel opens ``--binds`` binds paced at that limit
  (``bench.sms_platform``, ``bench.sms_support``);
- ``--devices`` LED boards and IP speakers (half each) in two simulators,
  acking to the web app (``bench.device_push``);
- ``--nodes`` district nodes, each the real node app with
  ``--devices-per-node`` boards of its own (``bench.district_fleet``,
  ``bench.district_hosts``);
- ``publisher web`` (acks, the speakers' audio), one worker for the SMS queue
  (threads sharing the binds) and one for the fan-out and the device and
  district queues.

The field (the board and speaker simulators and the district hosts) runs
at a lower CPU priority (``FIELD_NICENESS``): in a city those are other
machines, and here they would otherwise take the platform's share of the
two cores. The SMSC simulator, the carrier's limit, keeps the normal one.

Where the server's autovacuum is off (this machine's CI configuration), the
run analyses the tables as autovacuum would (``bench.auto_analyze``): a
deployment's PostgreSQL does, and without statistics the receipts' lookups
turn into full scans of the growing tables.

The phases follow one another: the Actual Alert, then an Update, then a
Cancel, each enqueued once every delivery of the one before is final (a
district node's ack is final for its delivery). Reported: per phase and
channel, the time from the enqueue to 50%, 90% and 99% delivered; the SMS
parts/s the SMSC accepted against the configured limit; the peak RSS
(VmHWM) of every process started; the database's size; and the
reconciliation of every delivery row with the simulators' own records
(``bench.full_run_reconcile``). The chart of delivered over time goes to
``--out``. Exit status 1 when a target was lost or duplicated, or a phase
did not finish.

    python -m bench.full_run [--subscribers 1000000] [--devices 20000] [--nodes 16]
        [--devices-per-node 5] [--smsc-limit 250] [--binds 4] [--out docs/full_run.png]

It needs the PostgreSQL and RabbitMQ of ``.ci/run`` and ``rabbitmqctl``.
"""

from __future__ import annotations

import argparse
import math
import os
import resource
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

import psycopg
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bench.auto_analyze import (
    ANALYZE_SCALE_FACTOR,
    ANALYZE_THRESHOLD,
    NAPTIME_SECONDS,
    auto_analyze,
)
from bench.device_push import _answers, _process, _register, _wait
from bench.district_fleet import DISTRICTS_FILE, PlannedNode, plan_fleet
from bench.district_hosts import running_hosts
from bench.district_push import _register as _register_nodes
from bench.fanout_planning import ADMIN_DSN, city_area, publish_message
from bench.full_run_plot import draw_delivered
from bench.full_run_reconcile import DeviceLog, Tally, device_log, read_parts, sms_tally, tally
from bench.sms_platform import PUBLISHER, ChannelSetup, _channel_config, _libpq, _tree, sms_platform
from bench.sms_support import (
    RunningSimulator,
    city_warning,
    machine_line,
    process_rss,
    running_simulator,
)
from publisher.cap.districts import load_districts
from publisher.cap.keys import generate_demo_identity
from publisher.cap.model import Alert as CapAlert
from publisher.cap.model import MsgType, Reference
from publisher.cap.references import format_references
from publisher.cap.signing import sign_alert_xml
from publisher.celery_app import PublisherCelery, make_celery
from publisher.channels.base import DeliveryStatus
from publisher.config import installation_environment, load_settings
from publisher.local_ports import free_port
from publisher.store.db import make_engine, make_session_factory
from publisher.store.models import Message

__all__ = ["main"]

PHASES = (MsgType.ALERT, MsgType.UPDATE, MsgType.CANCEL)
DEVICE_CHANNELS = ("led", "speaker")
NODE_BOARDS = "node boards"
SMS_WINDOW = 10  # outstanding parts per bind, as the paced SMS benchmark sends
SMS_THREADS = 2
DEVICE_WORKERS = 2
PUSH_CONCURRENCY = 50
# Speakers play the announcement in this share of its length: the run measures the
# platform, not minutes of audio.
PLAYBACK_SPEED = 0.01
FIELD_NICENESS = 10
POLL_SECONDS = 1.0
POLL_COST_RATIO = 20  # waits at least this many times as long as a check took
PING_SECONDS = 0.5
SHARES = (0.5, 0.9, 0.99)
CENTER_TOKEN_BYTES = 24
CITY = "110000"
# Parts per subscriber on average: nine in ten one GSM part, one in ten three UCS-2 parts.
PARTS_PER_SUBSCRIBER = 1.2


@dataclass(frozen=True, slots=True)
class Published:
    kind: MsgType
    message_id: int
    identifier: str
    reference: Reference
    enqueued_at: float  # epoch seconds
    done: bool  # every delivery final, every node's boards reached, before the timeout


@dataclass(frozen=True, slots=True)
class Center:
    sessions: sessionmaker[Session]
    celery: PublisherCelery
    key_pem: bytes
    certificate_pem: bytes
    expected: Mapping[str, int]  # deliveries each channel makes per phase
    node_boards: int
    fleet_directory: Path

    def node_board_logs(self) -> list[Path]:
        """The logs of every push the boards behind the district nodes received."""
        return sorted(self.fleet_directory.glob("host-*/boards/*-received.jsonl"))


def _as_phase(kind: MsgType, earlier: Sequence[Reference]) -> Callable[[CapAlert], CapAlert]:
    def reword(alert: CapAlert) -> CapAlert:
        worded = city_warning(alert)
        if kind is MsgType.ALERT:
            return worded
        return replace(worded, msg_type=kind, references=format_references(earlier))
    return reword


def _publish(center: Center, kind: MsgType, number: int,
             earlier: Sequence[Reference]) -> tuple[int, Reference]:
    """Commit the phase's message, signed by the center (the nodes check it); id, reference."""
    with center.sessions() as session:
        message_id = publish_message(
            session, areas=city_area(), sequence=number, reword=_as_phase(kind, earlier),
            sign=lambda xml: sign_alert_xml(xml, center.key_pem, center.certificate_pem))
        sender, identifier, sent = session.execute(
            select(Message.sender, Message.identifier, Message.sent)
            .where(Message.id == message_id)).one()
    return message_id, Reference(sender, identifier, sent)


def _settled(center: Center, message_id: int) -> dict[str, int]:
    """Deliveries of the message whose outcome is known, by channel (a node's ack is)."""
    with center.sessions() as session:
        counted = session.connection().exec_driver_sql(
            "SELECT channel, status, count(*) FROM deliveries WHERE message_id = %(id)s"
            " GROUP BY channel, status", {"id": message_id}).all()
    settled: dict[str, int] = {}
    for channel, status, count in counted:
        known = DeliveryStatus(status)
        if known.is_final or (channel == "district" and known.was_handed_over):
            settled[channel] = settled.get(channel, 0) + count
    return settled


def _run_phase(center: Center, kind: MsgType, number: int, earlier: Sequence[Reference],
               timeout: float) -> Published:
    message_id, reference = _publish(center, kind, number, earlier)
    enqueued_at = time.time()
    center.celery.enqueue_fanout(message_id)
    deadline = time.monotonic() + timeout
    while True:
        checked_at = time.monotonic()
        settled = _settled(center, message_id)
        # A Cancel clears the boards instead of showing: their own logs count either.
        boards = len(set(device_log(center.node_board_logs()).devices(reference.identifier)))
        done = (all(settled.get(channel, 0) >= count
                    for channel, count in center.expected.items())
                and boards >= center.node_boards)
        if done or time.monotonic() > deadline:
            print(f"{kind.value}: {'every delivery final' if done else 'NOT finished'} after"
                  f" {time.time() - enqueued_at:.1f} s; settled {settled}, node boards"
                  f" {boards:,}", flush=True)
            return Published(kind, message_id, reference.identifier, reference, enqueued_at,
                              done)
        # Counting a million deliveries takes the database a while: the run's own checks
        # must not take the platform's share of the machine.
        time.sleep(max(POLL_SECONDS, POLL_COST_RATIO * (time.monotonic() - checked_at)))


# --- what the run measured -------------------------------------------------------------


def _delivered_times(center: Center, message_id: int) -> dict[str, list[float]]:
    """Epoch seconds of each delivery of the message, by channel: when its receipt or ack
    made it DELIVERED, for a district node when it acked (SENT)."""
    with center.sessions() as session:
        rows = session.connection().exec_driver_sql(
            "SELECT channel, extract(epoch FROM CASE WHEN channel = 'district' THEN sent_at"
            " ELSE delivered_at END) FROM deliveries WHERE message_id = %(id)s AND"
            " (status = 'delivered' OR (channel = 'district' AND status = 'sent'))"
            " ORDER BY 2", {"id": message_id}).all()
    times: dict[str, list[float]] = {}
    for channel, moment in rows:
        times.setdefault(channel, []).append(float(moment))
    return times


def _time_to(times: Sequence[float], expected: int, share: float, since: float) -> str:
    needed = max(1, math.ceil(expected * share))
    return f"{times[needed - 1] - since:.1f} s" if len(times) >= needed else "not reached"


def _targets(center: Center, message_id: int, channel: str, *, acked: bool = False) -> list[str]:
    """The addresses of the message's delivery rows on ``channel`` (only those a district
    node acked, if asked)."""
    with center.sessions() as session:
        return list(session.connection().exec_driver_sql(
            "SELECT t.address FROM deliveries d JOIN targets t ON t.id = d.target_id"
            " WHERE d.message_id = %(id)s AND d.channel = %(channel)s"
            " AND (NOT %(acked)s OR d.status IN ('sent', 'delivered'))",
            {"id": message_id, "channel": channel, "acked": acked}).scalars())


def _unplanned(center: Center, message_id: int, channels: Sequence[str]) -> int:
    """Targets of ``channels`` the fan-out made no delivery row for: lost before sending."""
    with center.sessions() as session:
        return int(session.connection().exec_driver_sql(
            "SELECT count(*) FROM targets t WHERE t.channel = ANY(%(channels)s) AND t.active"
            " AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.target_id = t.id"
            " AND d.message_id = %(id)s)",
            {"id": message_id, "channels": list(channels)}).scalar_one())


def _with_unplanned(counted: Tally, unplanned: int) -> Tally:
    return replace(counted, expected=counted.expected + unplanned,
                   lost=counted.lost + unplanned)


def _device_id(address: str) -> str:
    return address.rstrip("/").rsplit("/", 1)[1]


def _reconcile(center: Center, phases: Sequence[Published], smsc: RunningSimulator,
               devices: DeviceLog, node_boards: DeviceLog,
               nodes: Sequence[PlannedNode]) -> dict[tuple[str, str], Tally]:
    parts = read_parts(smsc.part_log_path)
    boards = [device.device_id for node in nodes for device in node.devices]
    tallies: dict[tuple[str, str], Tally] = {}
    for index, phase in enumerate(phases):
        end = (datetime.fromtimestamp(phases[index + 1].enqueued_at, UTC)
               if index + 1 < len(phases) else None)
        start = datetime.fromtimestamp(phase.enqueued_at, UTC)
        kind = phase.kind.value
        # SMPP carries E.164 without its "+" (the international type of number says it).
        tallies[(kind, "sms")] = _with_unplanned(sms_tally(
            parts, start, end, [address.removeprefix("+")
                                for address in _targets(center, phase.message_id, "sms")]),
            _unplanned(center, phase.message_id, ["sms"]))
        tallies[(kind, "led + speaker")] = _with_unplanned(tally(
            [_device_id(address) for channel in DEVICE_CHANNELS
             for address in _targets(center, phase.message_id, channel)],
            devices.devices(phase.identifier)),
            _unplanned(center, phase.message_id, DEVICE_CHANNELS))
        tallies[(kind, NODE_BOARDS)] = tally(boards, node_boards.devices(phase.identifier))
        # A node that took the push twice shows as a board with it twice, above.
        tallies[(kind, "district nodes")] = tally(
            [node.url for node in nodes],
            _targets(center, phase.message_id, "district", acked=True))
    return tallies


def _sms_rate(smsc: RunningSimulator, phases: Sequence[Published]) -> list[tuple[str, float]]:
    """Parts/s the SMSC accepted in each phase, from its first part to its last."""
    parts = read_parts(smsc.part_log_path)
    rates = []
    for index, phase in enumerate(phases):
        end = phases[index + 1].enqueued_at if index + 1 < len(phases) else math.inf
        moments = [part.accepted_at.timestamp() for part in parts
                   if phase.enqueued_at <= part.accepted_at.timestamp() < end]
        span = max(moments) - min(moments) if len(moments) > 1 else 0.0
        rates.append((phase.kind.value, len(moments) / span if span else math.nan))
    return rates


def _peaks(processes: Mapping[str, int]) -> list[tuple[str, int]]:
    """Each process started, with its pool's children (the workers'), and its peak RSS."""
    peaks = []
    for name, pid in processes.items():
        for number, member in enumerate(_tree(pid)):
            peaks.append((name if number == 0 else f"{name} child {number}",
                          process_rss(member, "VmHWM")))
    peaks.append(("this driver", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024))
    return peaks


def _database_size(database_url: str) -> int:
    with psycopg.connect(_libpq(database_url)) as connection:
        row = connection.execute("SELECT pg_database_size(current_database())").fetchone()
    assert row is not None
    return int(row[0])


# --- the processes -------------------------------------------------------------------------


def _config(directory: Path, smsc_port: int, setup: ChannelSetup, web_url: str,
            center_token: str) -> Path:
    path = directory / "publisher.toml"
    channels = ["sms", *DEVICE_CHANNELS, "district"]
    path.write_text(
        _channel_config(smsc_port, setup).replace('channels = ["sms"]',
                                                  f"channels = {channels!r}".replace("'", '"'))
        + f'[channel_options.led]\ncallback_url = "{web_url}"\nconcurrency = {PUSH_CONCURRENCY}\n'
        f'[channel_options.speaker]\ncallback_url = "{web_url}"\n'
        f'audio_dir = "{directory / "audio"}"\nconcurrency = {PUSH_CONCURRENCY}\n'
        f'[channel_options.district]\ncenter_token = "{center_token}"\n', encoding="utf-8")
    return path


@dataclass(frozen=True, slots=True)
class Started:
    """A process started and not yet waited for: everything boots at once, which on a busy
    machine saves most of the set-up time."""

    name: str
    process: subprocess.Popen[bytes]
    log: Path
    ready: Callable[[], bool]

    def wait(self) -> int:
        _wait(self.ready, self.process, self.log, self.name)
        return self.process.pid


def _start(stack: ExitStack, name: str, command: Sequence[str], environment: dict[str, str],
           directory: Path, ready: Callable[[], bool]) -> Started:
    log = directory / f"{name.replace(' ', '-')}.log"
    process = stack.enter_context(_process([str(PUBLISHER), *command], environment, log))
    return Started(name, process, log, ready)


def _device_simulator(stack: ExitStack, kind: str, count: int, environment: dict[str, str],
                      directory: Path) -> tuple[Started, Path, Path]:
    """``publisher sim <kind>``; its device list and its log of every push received."""
    port, data_dir = free_port(), directory / f"sim-{kind}"
    device_list = directory / f"{kind}-devices.json"
    districts = ",".join(sorted(district.code for district in load_districts(DISTRICTS_FILE)
                                if district.code != CITY))
    extra = ["--playback-speed", str(PLAYBACK_SPEED)] if kind == "speaker" else []
    started = _start(
        stack, f"{kind} simulator",
        ["sim", kind, "--count", str(count), "--port", str(port), "--districts", districts,
         "--ack-delay", "0", "--seed", "1", "--devices-out", str(device_list), "--data-dir",
         str(data_dir), *extra], environment, directory,
        lambda: _answers(f"http://127.0.0.1:{port}/devices"))
    return started, device_list, data_dir / "sim" / f"{kind}-received.jsonl"


def _worker(stack: ExitStack, celery: PublisherCelery, name: str, arguments: Sequence[str],
            environment: dict[str, str], directory: Path) -> Started:
    """``publisher worker`` under a node name of its own, ready when it answers a ping."""
    node = f"{name.split()[0]}@{socket.gethostname()}"
    return _start(stack, name, ["worker", "--name", node, *arguments], environment, directory,
                  lambda: bool(celery.control.ping(destination=[node], timeout=PING_SECONDS)))


@dataclass(frozen=True, slots=True)
class Fleet:
    center: Center
    smsc: RunningSimulator
    nodes: list[PlannedNode]
    device_logs: list[Path]
    processes: dict[str, int]  # every process started, by name


def _counts(arguments: argparse.Namespace) -> dict[str, int]:
    leds = (arguments.devices + 1) // 2
    return {"sms": arguments.subscribers, "led": leds, "speaker": arguments.devices - leds,
            "district": arguments.nodes}


def _fleet(stack: ExitStack, arguments: argparse.Namespace, database_url: str,
           broker_url: str, directory: Path) -> Fleet:
    limit = float(arguments.smsc_limit)
    smsc = stack.enter_context(running_simulator(dlr_delay=arguments.dlr_delay,
                                                 max_parts_per_second=limit))
    token = secrets.token_urlsafe(CENTER_TOKEN_BYTES)
    web_port = free_port()
    setup = ChannelSetup(window=SMS_WINDOW, rate=limit, binds=arguments.binds,
                         concurrency=SMS_THREADS, pool="threads")
    config = _config(directory, smsc.port, setup, f"http://127.0.0.1:{web_port}", token)
    environment = installation_environment(directory, config, database_url, broker_url)
    settings = load_settings(environment, directory)
    celery = make_celery(settings)
    stack.callback(celery.close)
    counts = _counts(arguments)
    simulators = {kind: _device_simulator(stack, kind, counts[kind], environment, directory)
                  for kind in DEVICE_CHANNELS}
    starting = [
        _start(stack, "web", ["web", "--port", str(web_port)], environment, directory,
               lambda: _answers(f"http://127.0.0.1:{web_port}/health")),
        _worker(stack, celery, "sms worker", ["--queues", "channel.sms", "--pool", "threads",
                                              "--concurrency", str(SMS_THREADS)],
                environment, directory),
        _worker(stack, celery, "devices worker (fan-out, devices, nodes)",
                ["--queues", "fanout,channel.led,channel.speaker,channel.district",
                 "--concurrency", str(DEVICE_WORKERS)], environment, directory)]
    # The keys and the node hosts are made while the processes above boot.
    key, certificate = generate_demo_identity(directory / "center", "Bench Warning Center")
    (directory / "fleet").mkdir()
    nodes = plan_fleet(directory / "fleet", nodes=arguments.nodes,
                       devices_per_node=arguments.devices_per_node, hosts=os.cpu_count() or 1,
                       center_certificate=certificate, center_token=token)
    engine = make_engine(database_url)
    stack.callback(engine.dispose)
    sessions = make_session_factory(engine)
    _register_nodes(sessions, nodes)
    hosts = stack.enter_context(running_hosts(nodes))
    processes = {"SMSC simulator": smsc.pid}
    for started, device_list, _ in simulators.values():
        processes[started.name] = started.wait()
        os.setpriority(os.PRIO_PROCESS, started.process.pid, FIELD_NICENESS)
        _register(settings, device_list)
    processes |= {started.name: started.wait() for started in starting}
    for host in hosts:
        processes[f"district host {host.host.number}"] = host.process.pid or 0
        if host.process.pid:
            os.setpriority(os.PRIO_PROCESS, host.process.pid, FIELD_NICENESS)
    center = Center(sessions, celery, key.read_bytes(), certificate.read_bytes(),
                    {channel: count for channel, count in counts.items() if count},
                    arguments.nodes * arguments.devices_per_node, directory / "fleet")
    return Fleet(center, smsc, nodes, [log for _, _, log in simulators.values()], processes)


# --- the report ------------------------------------------------------------------------------


def _report_timings(fleet: Fleet, phases: Sequence[Published], node_boards: DeviceLog,
                    started: float) -> tuple[dict[str, list[float]], dict[str, int]]:
    """Print the time to each share per phase and channel; the chart's lines and totals."""
    lines: dict[str, list[float]] = {}
    totals: dict[str, int] = {}
    expected = {**fleet.center.expected, NODE_BOARDS: fleet.center.node_boards}
    for phase in phases:
        times = _delivered_times(fleet.center, phase.message_id)
        times[NODE_BOARDS] = [moment.timestamp()
                              for moment in node_boards.first_arrivals(phase.identifier)]
        for channel, count in expected.items():
            if not count:
                continue
            reached = times.get(channel, [])
            shares = ", ".join(f"{share:.0%} {_time_to(reached, count, share, phase.enqueued_at)}"
                               for share in SHARES)
            print(f"  {phase.kind.value:<6} {channel:<14} {len(reached):>9,} of {count:,}"
                  f" delivered; {shares}")
            lines.setdefault(channel, []).extend(moment - started for moment in reached)
            totals[channel] = totals.get(channel, 0) + count
    return {channel: sorted(times) for channel, times in lines.items()}, totals


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.full_run",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=1_000_000, help="SMS subscribers")
    parser.add_argument("--devices", type=int, default=20_000,
                        help="LED boards and IP speakers, half each")
    parser.add_argument("--nodes", type=int, default=16, help="district nodes")
    parser.add_argument("--devices-per-node", type=int, default=5,
                        help="LED boards behind each district node")
    parser.add_argument("--smsc-limit", type=float, default=250.0,
                        help="parts/s per bind the SMSC accepts (and the channel is paced at)")
    parser.add_argument("--binds", type=int, default=4, help="SMPP binds to the SMSC")
    parser.add_argument("--dlr-delay", type=float, default=5.0,
                        help="seconds from acceptance to the delivery report, in the SMSC")
    parser.add_argument("--out", type=Path, default=Path("docs/full_run.png"),
                        help="the chart of delivered over time (PNG)")
    parser.add_argument("--phase-timeout", type=float, default=None,
                        help="seconds a phase may take before it is reported unfinished"
                             " (default: 600 + twice the SMS at the configured limit)")
    parser.add_argument("--admin-dsn", default=ADMIN_DSN)
    arguments = parser.parse_args(argv)
    for name in ("subscribers", "devices", "nodes", "devices_per_node", "binds"):
        if getattr(arguments, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: {getattr(arguments, name)} is below 1")
    if arguments.smsc_limit <= 0:
        parser.error(f"--smsc-limit: {arguments.smsc_limit:g} is not a positive rate")
    if arguments.phase_timeout is None:
        arguments.phase_timeout = 600.0 + 2 * (arguments.subscribers * PARTS_PER_SUBSCRIBER
                                               / (arguments.binds * arguments.smsc_limit))
    return arguments


def _print_header(arguments: argparse.Namespace) -> None:
    ceiling = arguments.binds * arguments.smsc_limit
    print(f"full run: {arguments.subscribers:,} SMS subscribers (1 in 10 Chinese); SMSC limit"
          f" {arguments.binds} binds x {arguments.smsc_limit:g} parts/s = {ceiling:,.0f}"
          f" parts/s; {arguments.devices:,} LED boards and speakers; {arguments.nodes} district"
          f" nodes x {arguments.devices_per_node} boards; phases: Alert, Update, Cancel")
    print(machine_line(), flush=True)


def _run(arguments: argparse.Namespace) -> int:
    failures, began = 0, time.monotonic()
    with ExitStack() as stack:
        platform = stack.enter_context(sms_platform(arguments.subscribers, arguments.admin_dsn))
        if stack.enter_context(auto_analyze(_libpq(platform.database_url))) is not None:
            print("PostgreSQL's autovacuum is off on this server: the run analyses the tables as"
                  f" it would (every {NAPTIME_SECONDS:g} s, those with more than"
                  f" {ANALYZE_THRESHOLD} rows + {ANALYZE_SCALE_FACTOR:.0%} changed)", flush=True)
        directory = Path(stack.enter_context(tempfile.TemporaryDirectory(
            prefix="bench-full-run-")))
        fleet = _fleet(stack, arguments, platform.database_url, platform.broker_url, directory)
        print(f"ready after {time.monotonic() - began:.0f} s: "
              + ", ".join(f"{name} pid {pid}" for name, pid in fleet.processes.items()),
              flush=True)
        phases: list[Published] = []
        for number, kind in enumerate(PHASES, start=1):
            phases.append(_run_phase(fleet.center, kind, number,
                                     [phase.reference for phase in phases],
                                     arguments.phase_timeout))
        failures += sum(not phase.done for phase in phases)
        peaks = _peaks(fleet.processes)
        size = _database_size(platform.database_url)
        print(f"at the end: {machine_line()}")
        node_boards = device_log(fleet.center.node_board_logs())
        devices = device_log(path for path in fleet.device_logs if path.exists())
        started = phases[0].enqueued_at
        print("time from each phase's enqueue to a share of its deliveries:")
        lines, totals = _report_timings(fleet, phases, node_boards, started)
        ceiling = arguments.binds * arguments.smsc_limit
        for kind, rate in _sms_rate(fleet.smsc, phases):
            print(f"SMS sustained, {kind}: {rate:,.0f} parts/s accepted by the SMSC, against the"
                  f" configured limit {ceiling:,.0f} parts/s: {rate / ceiling:.0%}")
        print("peak RSS (VmHWM) per process:")
        for name, peak in peaks:
            print(f"  {name:<40} {peak / 2**20:>7,.0f} MB")
        print(f"database size: {size / 2**20:,.0f} MB")
        tallies = _reconcile(fleet.center, phases, fleet.smsc, devices, node_boards,
                             fleet.nodes)
        print("reconciliation of the delivery rows with the simulators' records:")
        for (kind, channel), counted in tallies.items():
            print(f"  {kind:<6} {channel:<14} {counted}")
        lost = sum(counted.lost for counted in tallies.values())
        duplicated = sum(counted.duplicated + counted.unexpected for counted in tallies.values())
        print(f"lost targets: {lost}; duplicated (or unexpected) deliveries: {duplicated}")
        failures += lost + duplicated
        draw_delivered(arguments.out, f"Full run: {arguments.subscribers:,} SMS subscribers,"
                       f" {arguments.devices:,} devices, {arguments.nodes} district nodes",
                       lines, totals,
                       [(phase.kind.value, phase.enqueued_at - started) for phase in phases])
        print(f"chart: {arguments.out}")
    return 1 if failures else 0


def _stop_on_sigterm(signal_number: int, _frame: FrameType | None) -> None:
    # Unwind like an error, so that every process, the database and the virtual host go too.
    raise SystemExit(128 + signal_number)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    _print_header(arguments)
    earlier = signal.signal(signal.SIGTERM, _stop_on_sigterm)
    try:
        return _run(arguments)
    finally:
        signal.signal(signal.SIGTERM, earlier)


if __name__ == "__main__":
    sys.exit(main())
