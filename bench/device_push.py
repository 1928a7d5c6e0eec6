"""Push plus ack for 2,000 simulated LED boards, against the limit of "within seconds".

The platform as it is deployed, each part in a process of its own: the LED
board simulator (``publisher sim led --count N``, boards spread over the 16
districts of Beijing, acking as soon as a board shows a message), the web
app (``publisher web``: the device ack route) and the worker (``publisher
worker --queues fanout,channel.led``), on a fresh PostgreSQL database and a
fresh RabbitMQ virtual host. The boards are registered from the
simulator's device list through the device service, as ``publisher device
import`` registers them.

Each run publishes an Actual red rainstorm warning for the whole city (after
emptying the deliveries and receipts of the run before) and enqueues its
fan-out: the worker plans a delivery per board, pushes the batches to the
boards (``channel_options.led``: batches of the channel's size, so many
pushes at a time), each board shows the warning and acks it to the web
app, whose ack route records the receipt and marks the delivery DELIVERED.

The clock starts when the fan-out is enqueued and stops at the last
delivery's ``delivered_at``, the moment the web app recorded the last ack;
also reported is the last ``sent_at``, when the worker had recorded every
push as accepted. Untimed, after each run, every board's state
(``GET /devices/<id>/state``) must show the warning, in red: a run where
one does not is not counted. The limit: 2,000 boards in 5 s.

    python -m bench.device_push [--boards 2000] [--runs 5] [--concurrency 50]
        [--workers 2] [--limit 5]

It needs the PostgreSQL and RabbitMQ of ``.ci/run`` and ``rabbitmqctl``.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, select

from bench.fanout_planning import ADMIN_DSN, city_area, publish_message, scratch_database
from bench.latency import virtual_host
from bench.sms_support import command_cpu_seconds, cpu_seconds, machine_line
from publisher.cap.districts import load_districts
from publisher.celery_app import PublisherCelery, make_celery
from publisher.channels.base import DeliveryStatus
from publisher.channels.led import LedChannel
from publisher.config import Settings, load_settings
from publisher.local_ports import free_port
from publisher.process_control import stop_process
from publisher.services.device_import import import_device_list
from publisher.services.district_names import DistrictNames
from publisher.store.db import make_engine, make_session_factory
from publisher.store.models import Delivery, Message, Receipt

__all__ = ["main"]

PUBLISHER = Path(sys.executable).with_name("publisher")
CITY = "110000"
LIMIT_SECONDS = 5.0
READY_SECONDS = 60.0
STOP_SECONDS = 30.0
POLL_SECONDS = 0.02
STATE_READERS = 16
LOG_TAIL = 3000


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _tail(path: Path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL:]


@contextmanager
def _process(command: Sequence[str], environment: dict[str, str], log: Path) -> Iterator[
        subprocess.Popen[bytes]]:
    with log.open("wb") as output:
        process = subprocess.Popen(list(command), env=environment, stdout=output,
                                   stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        stop_process(process, STOP_SECONDS)


def _wait(ready: Any, process: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + READY_SECONDS
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not get ready:\n{_tail(log)}")
        time.sleep(0.2)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True  # an answer all the same: the app is up
    except OSError:
        return False


def _children(pid: int) -> list[int]:
    return [int(child) for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text(encoding="ascii").split()]


@dataclass(frozen=True, slots=True)
class Platform:
    settings: Settings
    celery: PublisherCelery
    simulator_url: str
    device_ids: list[str]
    pids: dict[str, int]  # the simulator, the web app and the worker, by name

    def cpu(self) -> dict[str, float]:
        """CPU seconds used so far by each part (the worker with its pool) and PostgreSQL."""
        used = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        used["worker"] += sum(map(cpu_seconds, _children(self.pids["worker"])))
        used["PostgreSQL"] = command_cpu_seconds("postgres")
        return used


def _config(directory: Path, web_url: str, concurrency: int) -> Path:
    path = directory / "publisher.toml"
    path.write_text(f'channels = ["led"]\n[channel_options.led]\ncallback_url = "{web_url}"\n'
                    f"concurrency = {concurrency}\n", encoding="utf-8")
    return path


def _register(settings: Settings, device_list: Path) -> list[str]:
    entries = json.loads(device_list.read_text(encoding="utf-8"))
    engine = make_engine(settings.database_url)
    try:
        with make_session_factory(engine)() as session:
            report = import_device_list(
                session, entries, DistrictNames(load_districts(settings.paths.districts_file)))
            session.commit()
    finally:
        engine.dispose()
    if not report.ok:
        raise RuntimeError(f"boards refused: {report.errors[:3]}")
    return [entry["device_id"] for entry in entries]


@contextmanager
def _platform(arguments: argparse.Namespace, database_url: str, broker_url: str,
              directory: Path) -> Iterator[Platform]:
    web_url = f"http://127.0.0.1:{free_port()}"
    environment = {**os.environ, "PUBLISHER_DATA_DIR": str(directory),
                   "PUBLISHER_DATABASE_URL": database_url, "PUBLISHER_BROKER_URL": broker_url,
                   "PUBLISHER_CONFIG": str(_config(directory, web_url, arguments.concurrency))}
    settings = load_settings(environment, directory)
    districts = ",".join(sorted(district.code for district in
                                load_districts(settings.paths.districts_file)
                                if district.code != CITY))
    device_list = directory / "led-devices.json"
    simulator_port = free_port()
    with ExitStack() as stack:
        simulator = stack.enter_context(_process(
            [str(PUBLISHER), "sim", "led", "--count", str(arguments.boards), "--port",
             str(simulator_port), "--districts", districts, "--ack-delay", "0", "--seed", "1",
             "--devices-out", str(device_list)], environment, directory / "sim.log"))
        simulator_url = f"http://127.0.0.1:{simulator_port}"
        _wait(lambda: _answers(f"{simulator_url}/devices"), simulator, directory / "sim.log",
              "the simulator")
        device_ids = _register(settings, device_list)
        web = stack.enter_context(_process(
            [str(PUBLISHER), "web", "--port", web_url.rsplit(":", 1)[1]], environment,
            directory / "web.log"))
        _wait(lambda: _answers(f"{web_url}/health"), web, directory / "web.log", "the web app")
        celery = make_celery(settings)
        stack.callback(celery.close)
        worker = stack.enter_context(_process(
            [str(PUBLISHER), "worker", "--queues", "fanout,channel.led", "--concurrency",
             str(arguments.workers)], environment, directory / "worker.log"))
        _wait(lambda: bool(celery.control.ping(timeout=0.5)), worker, directory / "worker.log",
              "the worker")
        yield Platform(settings, celery, simulator_url, device_ids,
                       {"simulator": simulator.pid, "web": web.pid, "worker": worker.pid})


@dataclass(frozen=True, slots=True)
class Run:
    delivered: int
    accepted_seconds: float  # enqueue to the last push recorded as accepted
    delivered_seconds: float  # enqueue to the last ack recorded
    receipts: dict[str, int]
    showing: int  # boards whose state shows the warning in red
    cpu: dict[str, float]  # CPU seconds each part used from the enqueue to the last ack


def _delivered(sessions: Any, message_id: int) -> int:
    with sessions() as session:
        return session.scalar(select(func.count()).select_from(Delivery).where(
            Delivery.message_id == message_id,
            Delivery.status == DeliveryStatus.DELIVERED)) or 0


def _shows(url: str, identifier: str) -> bool:
    with urllib.request.urlopen(url, timeout=30) as response:
        state = json.loads(response.read())
    return any(shown["identifier"] == identifier and shown["colour"] == "red"
               for shown in state["showing"])


def _showing(platform: Platform, identifier: str) -> int:
    urls = [f"{platform.simulator_url}/devices/{device_id}/state"
            for device_id in platform.device_ids]
    with concurrent.futures.ThreadPoolExecutor(STATE_READERS) as readers:
        return sum(readers.map(lambda url: _shows(url, identifier), urls))


def _seconds(moment: datetime | None, since: float) -> float:
    return float("nan") if moment is None else moment.timestamp() - since


def _run(platform: Platform, sessions: Any, number: int, timeout: float) -> Run:
    with psycopg.connect(_libpq(platform.settings.database_url)) as connection:
        connection.execute("TRUNCATE deliveries, delivery_parts, receipts")
    with sessions() as session:
        message_id = publish_message(session, areas=city_area(), sequence=number)
        identifier = session.get(Message, message_id).identifier
    boards = len(platform.device_ids)
    before = platform.cpu()
    enqueued_at = time.time()
    platform.celery.enqueue_fanout(message_id)
    deadline = time.monotonic() + timeout
    while _delivered(sessions, message_id) < boards and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
    cpu = {name: used - before[name] for name, used in platform.cpu().items()}
    with sessions() as session:
        last_sent, last_delivered = session.execute(
            select(func.max(Delivery.sent_at), func.max(Delivery.delivered_at))
            .where(Delivery.message_id == message_id)).one()
        receipts = {outcome.value: count for outcome, count in session.execute(
            select(Receipt.outcome, func.count()).group_by(Receipt.outcome))}
    return Run(_delivered(sessions, message_id), _seconds(last_sent, enqueued_at),
               _seconds(last_delivered, enqueued_at), receipts,
               _showing(platform, identifier), cpu)


def _describe(number: int, run: Run, boards: int) -> str:
    receipts = ", ".join(f"{name} {count:,}" for name, count in sorted(run.receipts.items()))
    return (f"run {number}: {run.delivered:,} of {boards:,} DELIVERED"
            f" {run.delivered_seconds:.2f} s after the fan-out was enqueued (every push"
            f" accepted after {run.accepted_seconds:.2f} s); receipts: {receipts}; boards"
            f" showing it in red: {run.showing:,}; CPU: "
            + ", ".join(f"{name} {used:.1f} s" for name, used in run.cpu.items())
            + f" (web {run.cpu['web'] / boards * 1000:.1f} ms an ack)")


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.device_push",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--boards", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5, help="runs; the median is reported")
    parser.add_argument("--concurrency", type=int, default=50,
                        help="pushes at a time per batch (channel_options.led.concurrency)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes")
    parser.add_argument("--limit", type=float, default=LIMIT_SECONDS,
                        help="seconds within which every board must show the warning")
    parser.add_argument("--timeout", type=float, default=120.0,
                        help="seconds a run may take before it is reported unfinished")
    parser.add_argument("--admin-dsn", default=ADMIN_DSN)
    arguments = parser.parse_args(argv)
    for name in ("boards", "runs", "concurrency", "workers"):
        if getattr(arguments, name) < 1:
            parser.error(f"--{name}: {getattr(arguments, name)} is below 1")
    return arguments


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    print(f"device push: {arguments.boards:,} LED boards over the 16 districts, acking at once;"
          f" batches of {LedChannel.batch_size}, {arguments.concurrency} pushes at a time per"
          f" batch, {arguments.workers} worker processes; {arguments.runs} runs")
    print(machine_line(), flush=True)
    runs: list[Run] = []
    with (scratch_database(arguments.admin_dsn) as database_url, virtual_host() as broker_url,
          tempfile.TemporaryDirectory(prefix="bench-device-push-") as folder,
          _platform(arguments, database_url, broker_url, Path(folder)) as platform):
        engine = make_engine(database_url)
        sessions = make_session_factory(engine)
        try:
            for number in range(1, arguments.runs + 1):
                run = _run(platform, sessions, number, arguments.timeout)
                print(_describe(number, run, arguments.boards), flush=True)
                runs.append(run)
        finally:
            engine.dispose()
    whole = [run.delivered_seconds for run in runs
             if run.delivered == run.showing == arguments.boards]
    if len(whole) < len(runs):
        print(f"NOT every board showed it in {len(runs) - len(whole)} of {len(runs)} runs;"
              " those are not counted")
    if not whole:
        print("goal: NOT met (no run reached every board)")
        return 1
    median = statistics.median(whole)
    accepted = statistics.median(run.accepted_seconds for run in runs)
    print(f"ours: median {median:.2f} s to every board showing it and its delivery DELIVERED"
          f" (runs: {', '.join(f'{value:.2f}' for value in whole)}); every push accepted:"
          f" median {accepted:.2f} s")
    ratio = arguments.limit / median
    print(f"goal: {arguments.boards:,} boards within {arguments.limit:g} s: limit / median ="
          f" {ratio:.2f}x, {'met' if ratio >= 1 else 'NOT met'}")
    return 0 if ratio >= 1 else 1


if __name__ == "__main__":
    sys.exit(main())
