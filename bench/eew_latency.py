"""Earthquake early warning: from ``POST /api/eew`` to the first terminal, board, speaker and SMS.

The platform runs as deployed, on PostgreSQL and RabbitMQ: ``publisher web``
(the EEW route, the device acks, the terminals' ack listener) and ``publisher
worker`` on the fan-out, SMS, LED, speaker and MQTT queues (prefork, with the
early-warning lane beside its pool). Around it, each in a process of its own:
the SMSC simulator, LED boards and speakers (``publisher sim led / speaker``,
acking at once; speakers play at speed 0), and ``--terminals`` MQTT terminals
(``publisher sim terminal``, in ``--terminal-processes`` processes, each for
its share of the districts) on a Mosquitto of the benchmark's own with
``set_tcp_nodelay true`` (``bench.mosquitto``; ``--mqtt-port`` names another
broker instead), each verifying the center's signature before it acks.

Each run first starts an ordinary red rainstorm warning to ``--targets`` SMS
subscribers (the whole city, an Actual: the test devices get it too, and are
showing it when the warning comes) and waits until it is being handed over; then,
while that fan-out runs, it measures a bare MQTT publish-to-receive (QoS 1, on
the same broker), a center-signed message published straight to one topic
group of the same simulated terminals, to its first ack, and one published to
every group, to the first and p99 ack (``bench.eew_mqtt``), then posts a
signed early warning (an Exercise for the whole city) as the automatic
sender. The warning reaches the test devices and
``--test-subscribers`` test SMS subscribers. Measured from just before the
POST: the first and the 99th-percentile terminal ack as it reaches a
subscriber of ``acks/+`` beside the platform's (received), and as the
platform recorded it (the delivery's ``delivered_at``); the first board and
speaker acks (recorded); and the first ``submit_sm`` of the warning at the
SMSC. The warnings are
cancelled at the end, which also clears their retained messages on the broker.
Medians over ``--runs`` runs; the core count and load are printed.

    python -m bench.eew_latency [--targets 100000] [--terminals 1000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import statistics
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psycopg
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from bench.device_push import _answers, _process, _register, _wait
from bench.eew_mqtt import AckWatch, bare_round_trip, p99, signed_fan_out, signed_round_trip
from bench.fanout_planning import city_area, publish_message
from bench.mosquitto import private_mosquitto
from bench.sms_platform import sms_platform
from bench.sms_support import (
    PASSWORD,
    SYSTEM_ID,
    RunningSimulator,
    city_warning,
    machine_line,
    running_simulator,
)
from publisher.cap.districts import load_districts
from publisher.cap.eew import Quake
from publisher.cap.model import Status
from publisher.celery_app import make_celery
from publisher.channels.base import DeliveryStatus
from publisher.channels.mqtt import TopicGroup
from publisher.channels.mqtt_client import BrokerOptions, MqttConnection
from publisher.config import Settings, load_settings
from publisher.local_ports import free_port
from publisher.services.eew_terminals import CONNECTIONS as FAST_PATH_CONNECTIONS
from publisher.services.signer import CERTIFICATE_FILE, CenterSigner
from publisher.services.users import create_token, create_user
from publisher.sim.eew_sender import build_eew_alert, post_eew, sender_identity
from publisher.store.db import make_engine, make_session_factory
from publisher.store.models import Delivery, Role

PUBLISHER = Path(sys.executable).with_name("publisher")
CITY = "110000"
QUAKE = Quake(40.3, 116.2, 6.1)
SECTORS = ("school", "hospital", "newsroom", "rail", "water", "power", "gas", "heat", "telecom")
TEST_PREFIX = "+86139"
# Sichuan's release system, as reported: a terminal, an app, broadcast terminals.
SICHUAN = {"terminal": 0.002, "app": 0.065, "broadcast": 1.5}
UNDER_WAY = 2000  # rainstorm deliveries handed over (or, after the first run, waiting)
RUN_SECONDS = 60.0
# After the peers: the platform's listener records their acks (as unknown) before the POST.
SETTLE_SECONDS = 5.0
READY_SECONDS = 120.0
LANE_READY_LINE = b"early-warning recordings ready"
WORKER_QUEUES = "fanout,channel.sms,channel.sms.eew,channel.led,channel.speaker,channel.mqtt"


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.eew_latency",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=100_000,
                        help="SMS subscribers of the fan-out running meanwhile")
    parser.add_argument("--terminals", type=int, default=1000)
    parser.add_argument("--boards", type=int, default=50)
    parser.add_argument("--speakers", type=int, default=20)
    parser.add_argument("--test-subscribers", type=int, default=200)
    parser.add_argument("--terminal-processes", type=int, default=4,
                        help="terminal simulators, each with its share of the districts")
    parser.add_argument("--connections", type=int, default=2,
                        help="MQTT connections the terminals of each simulator share")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--mqtt-port", type=int,
                        help="an MQTT broker already running on the loopback (default: a"
                             " Mosquitto of the benchmark's own, with set_tcp_nodelay)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep the platform's files and logs in DIR (default: removed)")
    return parser.parse_args(argv)


# --- the platform -----------------------------------------------------------------------


def _config(directory: Path, web_url: str, smsc_port: int, mqtt_port: int,
            ack_client_id: str) -> Path:
    path = directory / "publisher.toml"
    path.write_text(
        'channels = ["sms", "led", "speaker", "mqtt"]\n'
        f'[channel_options.sms]\nhost = "127.0.0.1"\nport = {smsc_port}\n'
        f'system_id = "{SYSTEM_ID}"\npassword = "{PASSWORD}"\nsource_addr = "12379"\n'
        "message_id_base = 16\nwindow = 100\nrate = 2000\nbinds = 1\n"
        f'[channel_options.led]\ncallback_url = "{web_url}"\nconcurrency = 50\n'
        f'[channel_options.speaker]\ncallback_url = "{web_url}"\nconcurrency = 50\n'
        f'[channel_options.mqtt]\nhost = "127.0.0.1"\nport = {mqtt_port}\n'
        f'ack_client_id = "{ack_client_id}"\n',
        encoding="utf-8")
    return path


def _end_session(port: int, client_id: str) -> None:
    """A clean start under ``client_id`` ends its persistent session on the broker."""
    ending = MqttConnection(BrokerOptions("127.0.0.1", port), client_id)
    ending.start()
    ending.wait_connected(10)
    ending.close()


def _test_subscribers(database_url: str, count: int, codes: Sequence[str]) -> None:
    columns = "channel, address, district_code, language, is_test, active, created_at"
    with (psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as db,
          db.cursor().copy(f"COPY targets ({columns}) FROM STDIN") as copy):
        for index in range(count):
            copy.write_row(("sms", f"{TEST_PREFIX}{index:08d}", codes[index % len(codes)],
                            "zh-CN", True, True, datetime.now(UTC)))


def _approver_token(sessions: sessionmaker[Session]) -> str:
    with sessions() as session:
        create_user(session, "bench-approver", "bench approver password", [Role.APPROVER])
        token = create_token(session, "bench-approver", "bench")
        session.commit()
    return token


@dataclass
class Platform:
    settings: Settings
    sessions: sessionmaker[Session]
    web_url: str
    smsc: RunningSimulator
    arrivals: list[Path]  # the terminal simulators' logs of what each terminal took
    approver_token: str
    acks: AckWatch
    signer: CenterSigner
    peer_groups: list[TopicGroup]  # every group of the terminals; the first for round trips


def _device_simulator(stack: ExitStack, kind: str, count: int, codes: str,
                      environment: dict[str, str], directory: Path) -> list[dict[str, object]]:
    """``publisher sim <kind>`` in a process of its own; its devices, as test devices."""
    port = free_port()
    devices = directory / f"{kind}-devices.json"
    extra = ["--playback-speed", "0"] if kind == "speaker" else []
    log = directory / f"sim-{kind}.log"
    process = stack.enter_context(_process(
        [str(PUBLISHER), "sim", kind, "--count", str(count), "--port", str(port),
         "--districts", codes, "--ack-delay", "0", "--seed", "1", "--devices-out",
         str(devices), *extra], environment, log))
    _wait(lambda: _answers(f"http://127.0.0.1:{port}/devices"), process, log,
          f"the {kind} simulator")
    return [{**entry, "is_test": True}
            for entry in json.loads(devices.read_text(encoding="utf-8"))]


def _terminal_simulators(stack: ExitStack, arguments: argparse.Namespace, codes: list[str],
                         environment: dict[str, str], directory: Path,
                         certificate: Path) -> tuple[list[dict[str, object]], list[Path]]:
    """``--terminal-processes`` terminal simulators, each for its share of the districts."""
    entries: list[dict[str, object]] = []
    arrivals = []
    processes = min(arguments.terminal_processes, len(codes))
    for number in range(processes):
        share = codes[number::processes]
        count = arguments.terminals // processes + (number < arguments.terminals % processes)
        devices = directory / f"terminal-devices-{number}.json"
        log = directory / f"sim-terminal-{number}.log"
        data_dir = directory / f"terminals-{number}"
        process = stack.enter_context(_process(
            [str(PUBLISHER), "sim", "terminal", "--count", str(count),
             "--districts", ",".join(share), "--sectors", ",".join(SECTORS), "--test",
             "--broker", f"127.0.0.1:{arguments.mqtt_port}",
             "--connections", str(arguments.connections), "--seed", str(number),
             "--certificate", str(certificate), "--devices-out", str(devices),
             "--data-dir", str(data_dir)], environment, log))
        _wait(lambda log=log: b"terminal simulator connected" in log.read_bytes(), process, log,
              "a terminal simulator")
        entries += json.loads(devices.read_text(encoding="utf-8"))
        arrivals.append(data_dir / "sim" / "terminal-received.jsonl")
    return entries, arrivals


@contextmanager
def _platform(arguments: argparse.Namespace, database_url: str, broker_url: str,
              smsc: RunningSimulator, directory: Path) -> Iterator[Platform]:
    web_url = f"http://127.0.0.1:{free_port()}"
    # Its own persistent session, ended at the end: the default is one per host, and
    # another installation on this broker holds it.
    ack_client_id = f"bench-eew-acks-{uuid.uuid4().hex[:12]}"
    environment = {**os.environ, "PUBLISHER_DATA_DIR": str(directory),
                   "PUBLISHER_DATABASE_URL": database_url, "PUBLISHER_BROKER_URL": broker_url,
                   "PUBLISHER_CONFIG": str(_config(directory, web_url, smsc.port,
                                                   arguments.mqtt_port, ack_client_id))}
    settings = load_settings(environment, directory)
    codes = [district.code for district in load_districts(settings.paths.districts_file)
             if district.code != CITY]
    sender_identity(directory)
    signer = CenterSigner.load_or_create(settings)
    engine = make_engine(database_url)
    sessions = make_session_factory(engine)
    with ExitStack() as stack:
        stack.callback(engine.dispose)
        stack.callback(_end_session, arguments.mqtt_port, ack_client_id)
        terminals, arrivals = _terminal_simulators(
            stack, arguments, codes, environment, directory,
            settings.paths.keys_dir / CERTIFICATE_FILE)
        devices = directory / "devices.json"
        devices.write_text(json.dumps([
            *_device_simulator(stack, "led", arguments.boards, ",".join(codes), environment,
                               directory),
            *_device_simulator(stack, "speaker", arguments.speakers, ",".join(codes),
                               environment, directory),
            *terminals]), encoding="utf-8")
        _register(settings, devices)
        _test_subscribers(database_url, arguments.test_subscribers, codes)
        token = _approver_token(sessions)
        web = stack.enter_context(_process(
            [str(PUBLISHER), "web", "--port", web_url.rsplit(":", 1)[1]], environment,
            directory / "web.log"))
        _wait(lambda: _answers(f"{web_url}/health"), web, directory / "web.log", "the web app")
        worker_log = directory / "worker.log"
        worker = stack.enter_context(_process(
            [str(PUBLISHER), "worker", "--queues", WORKER_QUEUES, "--concurrency", "2"],
            environment, worker_log))
        _wait(lambda: LANE_READY_LINE in worker_log.read_bytes(), worker, worker_log,
              "the worker's early-warning lane")
        acks = stack.enter_context(AckWatch(arguments.mqtt_port))
        yield Platform(settings, sessions, web_url, smsc, arrivals, token, acks, signer,
                       sorted({(str(each["district_code"]), str(each["sector"]), True)
                               for each in terminals}))


# --- one run ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Run:
    bare_mqtt: float  # median publish-to-receive, seconds
    signed_peer: float | None  # median signed publish to the first ack, same terminals
    fan_out_first: float | None  # a signed publish to every group: first and p99 ack
    fan_out_p99: float | None
    verify: float  # the platform's signature verification of the warning, seconds
    accepted: float  # POST to the 201 answer
    ack_first: float | None  # terminal acks as received beside the platform
    ack_p99: float | None
    acks_received: int
    terminal_first: float | None  # terminal acks as recorded (delivered_at)
    terminal_p99: float | None
    terminals_acked: int
    arrival_first: float | None  # the terminal simulator's own arrival (and ack) times
    arrival_p99: float | None
    board_first: float | None
    speaker_first: float | None
    sms_first: float | None
    alert_id: int
    timings: dict[str, float]  # the platform's own, from its answer


def _waiting(sessions: sessionmaker[Session], channel: str) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.channel == channel,
            Delivery.status.in_([DeliveryStatus.QUEUED, DeliveryStatus.PENDING]))) or 0


def _fanout_running(sessions: sessionmaker[Session], rainstorm: int, number: int) -> bool:
    """This run's rainstorm is being handed over, or an earlier one's still waits in the queue.

    On a busy machine a run's 100,000 SMS can outlast the run: the next
    rainstorm then queues behind them, and the fan-out in flight is theirs.
    """
    return _handed_over(sessions, rainstorm) >= UNDER_WAY or (
        number > 1 and _waiting(sessions, "sms") >= UNDER_WAY)


def _handed_over(sessions: sessionmaker[Session], message_id: int) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.message_id == message_id,
            Delivery.status.not_in([DeliveryStatus.QUEUED, DeliveryStatus.PENDING,
                                    DeliveryStatus.SENDING]))) or 0


def _acks(sessions: sessionmaker[Session], message_id: int, channel: str) -> list[float]:
    with sessions() as session:
        moments = session.scalars(select(Delivery.delivered_at).where(
            Delivery.message_id == message_id, Delivery.channel == channel,
            Delivery.delivered_at.is_not(None)))
        return sorted(moment.timestamp() for moment in moments if moment is not None)


def _ack_counts(sessions: sessionmaker[Session], message_id: int) -> dict[str, int]:
    with sessions() as session:
        return {channel: count for channel, count in session.execute(
            select(Delivery.channel, func.count()).where(
                Delivery.message_id == message_id, Delivery.delivered_at.is_not(None))
            .group_by(Delivery.channel))}


def _first_test_submit(smsc: RunningSimulator, since: float) -> float | None:
    """When the SMSC accepted the first part to a test subscriber since ``since``."""
    # The simulator's part log (SQLite), read for the test numbers alone: the whole
    # log holds every part of the fan-outs, far too many to read every poll.
    prefix = TEST_PREFIX.removeprefix("+")
    with closing(sqlite3.connect(smsc.part_log_path)) as log:
        moments = [datetime.fromisoformat(accepted).timestamp() for (accepted,) in log.execute(
            "SELECT accepted_at FROM parts WHERE destination_addr LIKE ?", (f"{prefix}%",))]
    recent = [moment for moment in moments if moment >= since]
    return min(recent) if recent else None


def _arrivals(paths: Sequence[Path], identifier: str, since: float) -> list[float]:
    """When each terminal took the message, after verifying it (the simulators' logs)."""
    lines = [line for path in paths if path.exists()
             for line in path.read_text(encoding="utf-8").splitlines()]
    moments = (json.loads(line) for line in lines)
    return sorted(datetime.fromisoformat(arrival["at"]).timestamp() - since
                  for arrival in moments if arrival["identifier"] == identifier)


def _run(platform: Platform, number: int, arguments: argparse.Namespace) -> Run:
    with platform.sessions() as session:
        rainstorm = publish_message(session, areas=city_area(), sequence=number,
                                    reword=city_warning)
    celery = make_celery(platform.settings)
    try:
        celery.enqueue_fanout(rainstorm)
    finally:
        celery.close()
    deadline = time.monotonic() + READY_SECONDS
    while not _fanout_running(platform.sessions, rainstorm, number):
        if time.monotonic() > deadline:
            raise RuntimeError("the rainstorm fan-out did not get under way")
        time.sleep(0.1)
    bare = bare_round_trip(arguments.mqtt_port)
    peer = signed_round_trip(arguments.mqtt_port, platform.signer.sign,
                             platform.peer_groups[0], platform.acks, number)
    fan_out = signed_fan_out(arguments.mqtt_port, platform.signer.sign, platform.peer_groups,
                             platform.acks, number * 100 + 50, connections=FAST_PATH_CONNECTIONS,
                             terminals=arguments.terminals)
    time.sleep(SETTLE_SECONDS)
    identity = sender_identity(platform.settings.paths.data_dir)
    signed = identity.sign(build_eew_alert(QUAKE, status=Status.EXERCISE, districts=(CITY,)))
    started = time.time()
    answer = post_eew(f"{platform.web_url}/api/eew", signed)
    accepted = time.time() - started
    if answer.status != 201:
        raise RuntimeError(f"the warning was refused: {answer.body}")
    message_id = answer.body["message"]["id"]
    wanted = {"mqtt": arguments.terminals, "led": arguments.boards,
              "speaker": arguments.speakers}
    deadline = time.monotonic() + RUN_SECONDS
    # Light polling while the platform works (counts, and the test numbers' parts only):
    # the benchmark shares the machine's cores with what it measures.
    sms = None
    while True:
        counts = _ack_counts(platform.sessions, message_id)
        sms = sms or _first_test_submit(platform.smsc, started)
        done = all(counts.get(channel, 0) >= count for channel, count in wanted.items())
        if (done and sms is not None) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    acks = {channel: _acks(platform.sessions, message_id, channel) for channel in wanted}
    terminal = [moment - started for moment in acks["mqtt"]]
    identifier = answer.body["message"]["identifier"]
    arrived = _arrivals(platform.arrivals, identifier, started)
    received = [moment - started for moment in platform.acks.arrivals(identifier)]
    return Run(bare, peer, *fan_out, answer.body["timings"]["verify_ms"] / 1000, accepted,
               received[0] if received else None, p99(received), len(received),
               terminal[0] if terminal else None, p99(terminal), len(terminal),
               arrived[0] if arrived else None, p99(arrived),
               acks["led"][0] - started if acks["led"] else None,
               acks["speaker"][0] - started if acks["speaker"] else None,
               sms - started if sms is not None else None, answer.body["alert"]["id"],
               answer.body["timings"])


def _cancel(platform: Platform, alert_id: int) -> None:
    request = urllib.request.Request(
        f"{platform.web_url}/api/alerts/{alert_id}/cancel", method="POST",
        data=json.dumps({"reason": "benchmark over"}).encode(),
        headers={"Content-Type": "application/json",
                 "Authorization": f"Bearer {platform.approver_token}"})
    with urllib.request.urlopen(request, timeout=30):
        pass


# --- the report ---------------------------------------------------------------------------


def _seconds(value: float | None) -> str:
    return "not reached" if value is None else f"{value * 1000:,.1f} ms"


def _median(values: Sequence[float | None]) -> float | None:
    present = [value for value in values if value is not None]
    return statistics.median(present) if len(present) == len(values) else None


def _describe(number: int, run: Run) -> str:
    return (f"run {number}: bare MQTT {_seconds(run.bare_mqtt)}; signed publish to first ack"
            f" {_seconds(run.signed_peer)}; signed publish to every group, acks first"
            f" {_seconds(run.fan_out_first)}, p99 {_seconds(run.fan_out_p99)};"
            f" terminal acks received first"
            f" {_seconds(run.ack_first)}, p99 {_seconds(run.ack_p99)} ({run.acks_received});"
            f" recorded first {_seconds(run.terminal_first)}, p99 {_seconds(run.terminal_p99)}"
            f" ({run.terminals_acked} acked; at the terminals first"
            f" {_seconds(run.arrival_first)}, p99 {_seconds(run.arrival_p99)});"
            f" board {_seconds(run.board_first)}; speaker"
            f" {_seconds(run.speaker_first)}; SMS submit_sm {_seconds(run.sms_first)};"
            f" POST answered {_seconds(run.accepted)} (the platform's timings, ms:"
            f" {json.dumps(run.timings)})")


def _report(runs: list[Run], arguments: argparse.Namespace) -> None:
    bare = statistics.median(run.bare_mqtt for run in runs)
    verify = statistics.median(run.verify for run in runs)
    peer = _median([run.signed_peer for run in runs])
    fan_out_p99 = _median([run.fan_out_p99 for run in runs])
    first = _median([run.ack_first for run in runs])
    received_p99 = _median([run.ack_p99 for run in runs])
    recorded_p99 = _median([run.terminal_p99 for run in runs])
    print(f"medians of {len(runs)} runs ({arguments.terminals} terminals, {arguments.boards}"
          f" boards, {arguments.speakers} speakers, {arguments.test_subscribers} test SMS"
          f" subscribers; {arguments.targets:,} SMS in flight):")
    for name, values in (("first terminal ack received", [run.ack_first for run in runs]),
                         ("p99 terminal ack received", [run.ack_p99 for run in runs]),
                         ("first terminal ack recorded", [run.terminal_first for run in runs]),
                         ("p99 terminal ack recorded", [run.terminal_p99 for run in runs]),
                         ("first arrival at a terminal", [run.arrival_first for run in runs]),
                         ("p99 arrival at the terminals", [run.arrival_p99 for run in runs]),
                         ("first board ack", [run.board_first for run in runs]),
                         ("first speaker ack", [run.speaker_first for run in runs]),
                         ("first SMS submit_sm", [run.sms_first for run in runs]),
                         ("POST answered", [run.accepted for run in runs])):
        print(f"  {name}: {_seconds(_median(values))}")
    print(f"  bare MQTT publish-to-receive: {_seconds(bare)}; signature verification:"
          f" {_seconds(verify)}; a center-signed message published straight to the"
          f" terminals, to its first ack: {_seconds(peer)}; published to every group, to"
          f" the p99 ack: {_seconds(fan_out_p99)}")
    print(f"  Sichuan: terminal {SICHUAN['terminal'] * 1000:g} ms, app"
          f" {SICHUAN['app'] * 1000:g} ms, broadcast {SICHUAN['broadcast'] * 1000:g} ms")
    budget = 2 * bare + verify
    if first is not None:
        print(f"goal: first terminal ack received <= 2 x bare MQTT + verification"
              f" ({_seconds(budget)}): {_seconds(first)}, ratio {first / budget:.1f},"
              f" {'met' if first <= budget else 'NOT met'}")
        if peer is not None:
            print(f"  ratio to the signed publish-to-ack through the same terminals:"
                  f" {first / peer:.1f}")
    for name, value in (("received", received_p99), ("recorded", recorded_p99)):
        if value is not None:
            print(f"goal: p99 of {arguments.terminals} terminal acks {name} < 1 s:"
                  f" {_seconds(value)}, {'met' if value < 1 else 'NOT met'}")
    if received_p99 is not None and fan_out_p99 is not None:
        print(f"  ratio of the p99 received to the signed publish to every group through the"
              f" same terminals: {received_p99 / fan_out_p99:.1f}")


@contextmanager
def _folder(kept: Path | None) -> Iterator[Path]:
    if kept is not None:
        kept.mkdir(parents=True, exist_ok=True)
        yield kept.absolute()
        return
    with tempfile.TemporaryDirectory(prefix="bench-eew-") as folder:
        yield Path(folder)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    print(machine_line(), flush=True)
    runs: list[Run] = []
    with ExitStack() as broker:
        if arguments.mqtt_port is None:
            arguments.mqtt_port = broker.enter_context(private_mosquitto())
            print(f"MQTT: a Mosquitto of the benchmark's own with set_tcp_nodelay, port"
                  f" {arguments.mqtt_port}", flush=True)
        else:
            print(f"MQTT: the broker on port {arguments.mqtt_port}", flush=True)
        _measure(arguments, runs)
    _report(runs, arguments)
    return 0


def _measure(arguments: argparse.Namespace, runs: list[Run]) -> None:
    with (sms_platform(arguments.targets) as base,
          running_simulator(dlr_delay=5.0) as smsc,
          _folder(arguments.keep) as folder,
          _platform(arguments, base.database_url, base.broker_url, smsc, folder) as platform):
        for number in range(1, arguments.runs + 1):
            runs.append(_run(platform, number, arguments))
            print(_describe(number, runs[-1]), flush=True)
        for run in runs:
            _cancel(platform, run.alert_id)
        time.sleep(5)  # the Cancels clear the retained warnings on the broker


if __name__ == "__main__":
    sys.exit(main())
