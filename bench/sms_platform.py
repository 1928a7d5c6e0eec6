"""The platform under measurement for the SMS benchmarks: PostgreSQL, RabbitMQ, a worker, a warning.

``sms_platform(targets)`` makes a fresh PostgreSQL database and a fresh
RabbitMQ virtual host, and fills the database with ``targets`` SMS
subscribers spread evenly over the 16 districts of Beijing (one in a
thousand has no district code but a location in the city); one in ten reads
Chinese, the others English.

``Platform.run`` is one measured run against a simulator already listening:
the deliveries of earlier runs are emptied, a published Actual red
rainstorm warning for the whole city (GB/T 2260 110000) is committed, and
the platform's worker is started as it is deployed (``publisher worker
--queues fanout,channel.sms``, Celery's prefork pool), with the SMS channel
pointed at the simulator. Each of its processes opens the channel's binds
and records the receipts that arrive on them. Once the worker answers a
ping, the fan-out task is enqueued; the run is then followed in the
database until every delivery is final (every receipt correlated) or the
run's time is up, sampling the RSS and CPU time of the worker's processes
on the way.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy import func, select

from bench.fanout_planning import (
    ADMIN_DSN,
    add_targets,
    city_area,
    publish_message,
    scratch_database,
)
from bench.latency import virtual_host
from bench.sms_support import (
    CHINESE_EVERY,
    PASSWORD,
    SYSTEM_ID,
    AcceptedSpan,
    RunningSimulator,
    accepted_span,
    city_warning,
    command_cpu_seconds,
    cpu_seconds,
    megabytes,
    process_rss,
)
from publisher.celery_app import PublisherCelery, make_celery
from publisher.channels.base import DeliveryStatus
from publisher.config import installation_environment, load_settings
from publisher.process_control import stop_process
from publisher.store.db import make_engine, make_session_factory
from publisher.store.models import Delivery, Receipt

__all__ = [
    "ChannelSetup",
    "MeasuredRun",
    "Platform",
    "PlatformRun",
    "Sample",
    "add_platform_arguments",
    "describe_run",
    "measure_run",
    "run_timeout",
    "sms_platform",
]

PUBLISHER = Path(sys.executable).with_name("publisher")
READY_SECONDS = 60.0
PING_SECONDS = 0.5
STOP_SECONDS = 30.0
POLL_SECONDS = 0.25
LOG_TAIL_CHARACTERS = 3000
DATABASE_COMMAND = "postgres"
WORKER_LOG = "worker.log"
# The early memory sample: when this share of the targets has been handed over.
MEMORY_SAMPLE_SHARE = 0.1
_FINAL = [status for status in DeliveryStatus if status.is_final]
_HANDED_OVER = [status for status in DeliveryStatus if status.was_handed_over]


def add_platform_arguments(parser: argparse.ArgumentParser, *, binds: int,
                           concurrency: int, pool: str) -> None:
    parser.add_argument("--binds", type=int, default=binds,
                        help="binds of the SMS channel in each worker process")
    parser.add_argument("--concurrency", type=int, default=concurrency,
                        help="worker processes, each with its own binds (prefork), or"
                             " threads sharing one process and its binds (threads)")
    parser.add_argument("--pool", choices=("prefork", "threads"), default=pool,
                        help="the worker's pool (publisher worker --pool)")
    parser.add_argument("--admin-dsn", default=ADMIN_DSN,
                        help="PostgreSQL where a scratch database is made and dropped")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds a run may take before it is reported unfinished"
                             " (default: 300 + targets / 50)")


def run_timeout(arguments: argparse.Namespace) -> float:
    """Generous: a slow machine must finish, and a stuck run must not hang for ever."""
    return float(arguments.timeout or 300.0 + arguments.targets / 50)


@dataclass(frozen=True, slots=True)
class ChannelSetup:
    """The SMS channel of each worker process, and how many processes run batches."""

    window: int
    rate: float
    binds: int
    concurrency: int
    pool: str

    @property
    def processes(self) -> int:
        """Worker processes, each with its own binds."""
        return 1 if self.pool == "threads" else self.concurrency

    def describe(self) -> str:
        runs = (f"in 1 worker process of {self.concurrency} task threads"
                if self.pool == "threads" else
                f"in each of {self.concurrency} worker processes")
        return (f"{self.binds} binds, window {self.window}, rate {self.rate:,.0f} parts/s per "
                f"bind, {runs}")


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # epoch seconds
    handed_over: int
    final: int
    rss: int  # of the worker's processes, together
    cpu: float  # seconds the worker's processes have used so far


@dataclass(frozen=True, slots=True)
class PlatformRun:
    enqueued_at: float
    final_at: float  # when the last delivery became final
    statuses: Mapping[str, int]
    receipts: Mapping[str, int]
    samples: list[Sample] = field(default_factory=list)

    @property
    def worker_cpu(self) -> float:
        """CPU seconds the worker's processes used from the fan-out on (start-up left out)."""
        return self.samples[-1].cpu - self.samples[0].cpu

    @property
    def not_final(self) -> int:
        """Deliveries whose receipts were not all correlated when the run ended."""
        return sum(count for name, count in self.statuses.items()
                   if not DeliveryStatus(name).is_final)

    def rss_at(self, handed_over: int) -> int:
        """The RSS of the first sample with at least ``handed_over`` deliveries handed over."""
        return next((sample.rss for sample in self.samples
                     if sample.handed_over >= handed_over), self.samples[-1].rss)


def _last_progress(samples: Sequence[Sample]) -> float:
    """When the last delivery became final (within the polling interval)."""
    last = samples[-1]
    return next(sample.at for sample in samples if sample.final == last.final)


def _tree(pid: int) -> Iterator[int]:
    # The prefork pool's children hold the binds and run the batches.
    yield pid
    for task in Path(f"/proc/{pid}/task").iterdir():
        for child in (task / "children").read_text(encoding="ascii").split():
            yield from _tree(int(child))


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _make_sms_targets(url: str, first: int) -> None:
    with psycopg.connect(_libpq(url)) as connection:
        connection.execute(
            "UPDATE targets SET channel = 'sms', language = CASE WHEN (id - %s) %% %s = 0"
            " THEN 'zh-CN' ELSE 'en-US' END", (first, CHINESE_EVERY))
        connection.execute("ANALYZE targets")


def _channel_config(port: int, setup: ChannelSetup) -> str:
    return (f'channels = ["sms"]\n[channel_options.sms]\nhost = "127.0.0.1"\nport = {port}\n'
            f'system_id = "{SYSTEM_ID}"\npassword = "{PASSWORD}"\nsource_addr = "12379"\n'
            f"message_id_base = 16\nwindow = {setup.window}\nrate = {setup.rate}\n"
            f"binds = {setup.binds}\n")


class Platform:
    def __init__(self, database_url: str, broker_url: str, targets: int) -> None:
        self.database_url = database_url
        self.broker_url = broker_url
        self.targets = targets
        self._engine = make_engine(database_url)
        self._sessions = make_session_factory(self._engine)
        self._runs = 0

    def close(self) -> None:
        self._engine.dispose()

    def run(self, smsc_port: int, setup: ChannelSetup, timeout: float) -> PlatformRun:
        """One run, until every receipt is correlated or ``timeout`` seconds have passed."""
        self._runs += 1
        with psycopg.connect(_libpq(self.database_url)) as connection:
            connection.execute("TRUNCATE deliveries, delivery_parts, receipts CASCADE")
        with self._sessions() as session:
            message_id = publish_message(session, areas=city_area(), sequence=self._runs,
                                         reword=city_warning)
        with tempfile.TemporaryDirectory(prefix="bench-sms-") as folder:
            directory = Path(folder)
            (directory / "publisher.toml").write_text(_channel_config(smsc_port, setup),
                                                      encoding="utf-8")
            environment = installation_environment(directory, directory / "publisher.toml",
                                                   self.database_url, self.broker_url)
            app = make_celery(load_settings(environment, directory))
            with _worker(app, environment, directory, setup) as pid:
                enqueued_at = time.time()
                app.enqueue_fanout(message_id)
                samples = self._follow(message_id, pid, enqueued_at + timeout)
            app.close()
        return PlatformRun(enqueued_at, _last_progress(samples), self._statuses(message_id),
                           self._receipt_outcomes(), samples)

    def _follow(self, message_id: int, pid: int, deadline: float) -> list[Sample]:
        """Samples until every delivery is final, or until ``deadline`` (epoch seconds)."""
        samples: list[Sample] = []
        while True:
            statuses = self._statuses(message_id)
            final = sum(statuses.get(status.value, 0) for status in _FINAL)
            handed_over = sum(statuses.get(status.value, 0) for status in _HANDED_OVER)
            processes = list(_tree(pid))
            samples.append(Sample(time.time(), handed_over, final,
                                  sum(map(process_rss, processes)),
                                  sum(map(cpu_seconds, processes))))
            if final >= self.targets or samples[-1].at > deadline:
                return samples
            time.sleep(POLL_SECONDS)

    def _statuses(self, message_id: int) -> dict[str, int]:
        with self._sessions() as session:
            rows = session.execute(select(Delivery.status, func.count())
                                   .where(Delivery.message_id == message_id)
                                   .group_by(Delivery.status)).all()
        return {status.value: count for status, count in rows}

    def _receipt_outcomes(self) -> dict[str, int]:
        with self._sessions() as session:
            rows = session.execute(select(Receipt.outcome, func.count())
                                   .group_by(Receipt.outcome)).all()
        return {outcome.value: count for outcome, count in rows}


@dataclass(frozen=True, slots=True)
class MeasuredRun:
    """A run of the platform, with what the simulator saw of it."""

    span: AcceptedSpan
    platform: PlatformRun
    simulator_cpu: float
    database_cpu: float

    @property
    def receipts_seconds(self) -> float:
        """From the first part accepted until every delivery was final."""
        return self.platform.final_at - self.span.first.timestamp()

    @property
    def end_to_end_seconds(self) -> float:
        """From enqueueing the fan-out until the last part was accepted."""
        return self.span.last.timestamp() - self.platform.enqueued_at

    def memory(self, targets: int) -> tuple[int, int, int]:
        """Worker RSS when a tenth of ``targets`` was handed over, when all were, at the end."""
        early = self.platform.rss_at(max(1, int(targets * MEMORY_SAMPLE_SHARE)))
        return early, self.platform.rss_at(targets), self.platform.samples[-1].rss

    def memory_growth(self, targets: int) -> float:
        """How much more RSS the worker had later than at a tenth of the way (0.1: 10%)."""
        early, handed_over, end = self.memory(targets)
        return max(handed_over, end) / early - 1


def measure_run(platform: Platform, simulator: RunningSimulator, port: int,
                setup: ChannelSetup, timeout: float) -> MeasuredRun:
    """One run of ``platform`` with its binds to ``port`` (the simulator, or a relay to it)."""
    database_before = command_cpu_seconds(DATABASE_COMMAND)
    outcome = platform.run(port, setup, timeout)
    return MeasuredRun(accepted_span(simulator), outcome, simulator.cpu_seconds(),
                       command_cpu_seconds(DATABASE_COMMAND) - database_before)


def _counts(counts: Mapping[str, int]) -> str:
    return ", ".join(f"{name} {count:,}" for name, count in sorted(counts.items()))


def _correlated(run: MeasuredRun) -> str:
    if not run.platform.not_final:
        return f"every receipt correlated {run.receipts_seconds:.1f} s after the first part"
    waited = run.platform.samples[-1].at - run.span.first.timestamp()
    return (f"NOT every receipt correlated: {run.platform.not_final:,} deliveries not final "
            f"{waited:.0f} s after the first part, when the run gave up (the last one became "
            f"final after {run.receipts_seconds:.1f} s)")


def describe_run(run: MeasuredRun, targets: int) -> str:
    span = run.span
    early, handed_over, end = run.memory(targets)
    return (f"{span.rate:,.0f} parts/s ({span.parts:,} parts of {span.messages:,} messages in "
            f"{span.seconds:.2f} s; incomplete {span.incomplete}, duplicated {span.duplicated}); "
            f"{_correlated(run)}; "
            f"fan-out enqueued to last part {run.end_to_end_seconds:.1f} s; deliveries: "
            f"{_counts(run.platform.statuses)}; receipts: {_counts(run.platform.receipts)}; "
            f"worker RSS {megabytes(early)} at {MEMORY_SAMPLE_SHARE:.0%} of targets handed "
            f"over, {megabytes(handed_over)} at 100%, {megabytes(end)} with every receipt "
            f"in; CPU: "
            f"worker {run.platform.worker_cpu:.1f} s, simulator {run.simulator_cpu:.1f} s, "
            f"PostgreSQL (every database) {run.database_cpu:.1f} s")


def _tail(directory: Path) -> str:
    log = directory / WORKER_LOG
    return log.read_text(encoding="utf-8", errors="replace")[-LOG_TAIL_CHARACTERS:]


def _answers_ping(app: PublisherCelery) -> bool:
    return bool(app.control.ping(timeout=PING_SECONDS))


@contextmanager
def _worker(app: PublisherCelery, environment: dict[str, str], directory: Path,
            setup: ChannelSetup) -> Iterator[int]:
    """``publisher worker`` on the fan-out and SMS queues; its pid once it answers a ping."""
    with (directory / WORKER_LOG).open("wb") as output:
        process = subprocess.Popen(
            [str(PUBLISHER), "worker", "--queues", "fanout,channel.sms",
             "--concurrency", str(setup.concurrency), "--pool", setup.pool],
            env=environment, stdout=output, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + READY_SECONDS
        while not _answers_ping(app):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not get ready:\n{_tail(directory)}")
        yield process.pid
    finally:
        stop_process(process, STOP_SECONDS)


@contextmanager
def sms_platform(targets: int, admin_dsn: str = ADMIN_DSN) -> Iterator[Platform]:
    """A database with ``targets`` SMS subscribers and a virtual host; both removed afterwards."""
    with scratch_database(admin_dsn) as database_url, virtual_host() as broker_url:
        first, _last = add_targets(database_url, targets)
        _make_sms_targets(database_url, first)
        platform = Platform(database_url, broker_url, targets)
        try:
            yield platform
        finally:
            platform.close()
