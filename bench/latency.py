"""Latency from publishing to the first send, on RabbitMQ with the memory channel.

One Celery worker process (solo pool, prefetch 1, acks late: the settings of
``publisher.celery_app``) serves the ``fanout`` and ``channel.memory`` queues
of a fresh RabbitMQ virtual host, with a fresh PostgreSQL database. Samples
alternate between the two contenders, so both see the same conditions:

- ours: a published Actual message reaching ``--targets`` subscribers is
  committed with its outbox row; the clock starts when that commit returns.
  The outbox relay enqueues the fan-out; the worker plans it, claims the
  first batch and hands it to the memory channel itself (the channel declares
  ``inline_first_batch``); the clock stops at the first hand-over the memory
  sink records;
- limit: a bare Celery task round trip on the same worker, from just before
  ``send_task`` to the first line of the task.

    python -m bench.latency [--samples 200] [--targets 10]

It needs ``rabbitmqctl`` (to make and remove the virtual host).
"""

from __future__ import annotations

import argparse
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from bench.fanout_planning import ADMIN_DSN, publish_message, scratch_database
from publisher.cap.model import Area, NamedValue
from publisher.celery_app import PublisherCelery, make_celery
from publisher.channels.memory import MemorySink
from publisher.config import load_settings
from publisher.services.outbox import relay_outbox
from publisher.store.db import make_engine, make_session_factory
from publisher.store.models import Target

__all__ = ["main", "virtual_host"]

RABBITMQ = "guest:guest@127.0.0.1:5672"
CHAOYANG = "110105"
GOAL_RATIO = 2.0
HOP_TASK = "bench.hop"
WAIT_SECONDS = 30.0
POLL_SECONDS = 0.01
CELERY = Path(sys.executable).with_name("celery")
_HOPS_FILE = "PUBLISHER_BENCH_HOPS"


def _hop_started(sequence: int) -> None:
    started = time.time()
    with sqlite3.connect(os.environ[_HOPS_FILE], timeout=30) as hops:
        hops.execute("INSERT INTO hops VALUES (?, ?)", (sequence, started))


def worker_app() -> PublisherCelery:
    """The worker's app: the platform's, plus the bare task of the limit."""
    app = make_celery(load_settings())
    app.task(name=HOP_TASK)(_hop_started)
    return app


def __getattr__(name: str) -> PublisherCelery:
    # ``celery -A bench.latency worker`` reads ``app``: built at start-up, not at import.
    if name != "app":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    built = worker_app()
    globals()["app"] = built
    return built


@contextmanager
def virtual_host() -> Iterator[str]:
    """A fresh RabbitMQ virtual host (guest may use it); its AMQP URL. Deleted afterwards."""
    name = f"bench-{uuid.uuid4().hex[:12]}"
    subprocess.run(["rabbitmqctl", "add_vhost", name], check=True, capture_output=True)
    try:
        subprocess.run(["rabbitmqctl", "set_permissions", "-p", name, "guest", ".*", ".*", ".*"],
                       check=True, capture_output=True)
        yield f"amqp://{RABBITMQ}/{name}"
    finally:
        subprocess.run(["rabbitmqctl", "delete_vhost", name], check=True, capture_output=True)


@contextmanager
def _worker(environment: dict[str, str], log: Path) -> Iterator[None]:
    with log.open("wb") as output:
        process = subprocess.Popen(
            [str(CELERY), "-A", "bench.latency", "worker", "--pool", "solo",
             "--queues", "fanout,channel.memory", "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--loglevel", "WARNING"],
            env=environment, stdout=output, stderr=subprocess.STDOUT)
    try:
        yield
    finally:
        process.terminate()
        process.wait(timeout=30)


def _wait_for(read: Callable[[], float | None], what: str) -> float:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        found = read()
        if found is not None:
            return found
        # Only the pace: the times compared are those the worker and the sink recorded.
        time.sleep(POLL_SECONDS)
    raise TimeoutError(f"no {what} within {WAIT_SECONDS} s")


def _one_value(path: Path, query: str, *arguments: int) -> Callable[[], float | None]:
    def read() -> float | None:
        with sqlite3.connect(path, timeout=30) as connection:
            row = connection.execute(query, arguments).fetchone()
        return None if row is None or row[0] is None else float(row[0])
    return read


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def _summary(name: str, values: list[float]) -> str:
    return (f"{name:<32} p50 {_percentile(values, 0.5) * 1000:7.2f} ms   "
            f"p99 {_percentile(values, 0.99) * 1000:7.2f} ms   "
            f"mean {statistics.fmean(values) * 1000:7.2f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--targets", type=int, default=10)
    parser.add_argument("--admin-dsn", default=ADMIN_DSN)
    arguments = parser.parse_args()

    with (tempfile.TemporaryDirectory(prefix="bench-latency-") as folder,
          scratch_database(arguments.admin_dsn) as database_url, virtual_host() as broker_url):
        directory = Path(folder)
        sink, hops = directory / "sink.db", directory / "hops.db"
        MemorySink(sink).close()
        with sqlite3.connect(hops) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("CREATE TABLE hops (sequence INTEGER PRIMARY KEY, started REAL)")
        config = directory / "publisher.toml"
        config.write_text(f'channels = ["memory"]\n[channel_options.memory]\nsink = "{sink}"\n',
                          encoding="utf-8")
        environment = {**os.environ, "PUBLISHER_CONFIG": str(config),
                       "PUBLISHER_DATA_DIR": str(directory),
                       "PUBLISHER_DATABASE_URL": database_url,
                       "PUBLISHER_BROKER_URL": broker_url, _HOPS_FILE: str(hops)}
        app = make_celery(load_settings(environment, directory))
        engine = make_engine(database_url)
        factory = make_session_factory(engine)
        with factory() as session:
            session.add_all(Target(channel="memory", address=f"+8613900{index:06d}",
                                   district_code=CHAOYANG) for index in range(arguments.targets))
            session.commit()
        area = (Area(area_desc="朝阳区", geocodes=(NamedValue("GB/T 2260", CHAOYANG),)),)
        enqueue_fanout = app.fanout_enqueuer(retry=False)
        ours: list[float] = []
        bare: list[float] = []
        with _worker(environment, directory / "worker.log"):
            # The first round warms the worker's connections and caches; not counted.
            for sample in range(arguments.samples + 1):
                sent = time.time()
                app.send_task(HOP_TASK, args=(sample,))
                started = _wait_for(_one_value(hops, "SELECT started FROM hops WHERE sequence = ?",
                                               sample), "bare task")
                with factory() as session:
                    message_id = publish_message(session, areas=area, sequence=sample + 1,
                                                 outbox=True)
                    published = time.time()
                    relay_outbox(session, enqueue_fanout, message_id=message_id)
                    session.commit()
                first_send = _wait_for(_one_value(
                    sink, "SELECT min(at) FROM handovers WHERE message_id = ?", message_id),
                    "hand-over")
                _wait_for(_one_value(
                    sink, "SELECT CASE WHEN count(*) = ? THEN 1 END FROM handovers"
                    " WHERE message_id = ?", arguments.targets, message_id), "whole batch")
                if sample:
                    bare.append(started - sent)
                    ours.append(first_send - published)
        engine.dispose()
    ratio = _percentile(ours, 0.99) / _percentile(bare, 0.99)
    print(f"cores: {os.cpu_count()}; samples: {arguments.samples} each, alternating; "
          f"targets per message: {arguments.targets}; worker: solo pool, prefetch 1, acks late")
    print(_summary("bare Celery round trip", bare))
    print(_summary("publish -> first send (ours)", ours))
    print(f"p99 ours / p99 bare: {ratio:.2f} (goal <= {GOAL_RATIO:.1f}: "
          f"{'met' if ratio <= GOAL_RATIO else 'NOT met'}); p50 ratio "
          f"{_percentile(ours, 0.5) / _percentile(bare, 0.5):.2f}")


if __name__ == "__main__":
    main()
