"""Fan-out planning on PostgreSQL: resolve and enqueue a city of subscribers, against COPY.

One published Actual message whose area is the whole city (GB/T 2260 geocode
110000) meets N subscriber targets on the memory channel, spread over the 16
districts of Beijing; one in a thousand has no district code but a location
inside the city, and is reached through the district boundaries.

- ours: ``publisher.services.delivery.fan_out`` -- resolve the targets, insert
  one QUEUED delivery row per target, commit each batch, and enqueue one
  batch task per batch (to a real broker with ``--broker``, else into an
  enqueuer that only counts the calls);
- limit: a raw ``COPY`` (psycopg 3 ``cursor.copy``) of the same delivery rows
  into the same table, with the same indexes.

Each contender runs in a fresh process (peak RSS is its own); the deliveries
table is emptied before each run. The rate is the median of ``--runs``. The
RSS of ours is also sampled as the fan-out passes each 100,000 targets, to
show that it stays flat.

    python -m bench.fanout_planning [--targets 1000000] [--runs 3] [--broker amqp://...]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import resource
import statistics
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from publisher.cap import write_alert
from publisher.cap.districts import load_districts
from publisher.cap.model import Alert as CapAlert
from publisher.cap.model import Area, NamedValue, Status
from publisher.celery_app import make_celery
from publisher.config import load_settings
from publisher.sample_alert import rainstorm_red_warning
from publisher.services.delivery import fan_out
from publisher.store.db import make_engine, make_session_factory, upgrade_database
from publisher.store.models import Alert, AlertState, Delivery, Message, OutboxEntry, User

__all__ = ["main", "publish_message", "scratch_database"]

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ADMIN_DSN = "host=127.0.0.1 port=5432 user=postgres dbname=test"
CHANNEL = "memory"
CITY = "110000"
GOAL_RATIO = 0.5
SAMPLE_EVERY = 100_000
LOCATED_EVERY = 1000
# Inside the city boundary, outside no district: reached through "named" areas.
CITY_LOCATION = (116.40, 39.90)


def _district_codes() -> list[str]:
    table = load_districts(PROJECT_ROOT / "config" / "districts.toml")
    return sorted(district.code for district in table if district.code != CITY)


def _rss_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _peak_rss_bytes() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


@contextmanager
def scratch_database(admin_dsn: str = ADMIN_DSN) -> Iterator[str]:
    """A fresh, migrated PostgreSQL database; its SQLAlchemy URL. Dropped afterwards."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_dsn, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
        url = (f"postgresql+psycopg://{connection.info.user}@{connection.info.host}:"
               f"{connection.info.port}/{name}")
    try:
        upgrade_database(url)
        yield url
    finally:
        with psycopg.connect(admin_dsn, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def add_targets(url: str, count: int) -> tuple[int, int]:
    """COPY ``count`` targets spread over the districts; returns their first and last id."""
    codes = _district_codes()
    now = datetime.now(UTC)
    with psycopg.connect(_libpq(url)) as connection, connection.cursor() as cursor:
        columns = "channel, address, district_code, lon, lat, language, is_test, active, created_at"
        with cursor.copy(f"COPY targets ({columns}) FROM STDIN") as copy:
            for index in range(count):
                located = index % LOCATED_EVERY == LOCATED_EVERY - 1
                copy.write_row((
                    CHANNEL, f"+86138{index:08d}",
                    None if located else codes[index % len(codes)],
                    CITY_LOCATION[0] if located else None,
                    CITY_LOCATION[1] if located else None,
                    "zh-CN", False, True, now))
        cursor.execute("ANALYZE targets")
        row = cursor.execute("SELECT min(id), max(id), count(*) FROM targets").fetchone()
    assert row is not None
    first, last, total = row
    assert total == count == last - first + 1, "target ids are expected to be contiguous"
    return first, last


def publish_message(session: Session, *, areas: tuple[Area, ...], sequence: int = 1,
                    outbox: bool = False,
                    reword: Callable[[CapAlert], CapAlert] | None = None,
                    sign: Callable[[bytes], bytes] | None = None) -> int:
    """Commit a published Actual message (and its outbox row if asked); its id.

    ``reword`` may make it an Update or a Cancel: the row takes the kind and
    the references of the CAP message it stores.

    Unsigned unless ``sign`` is given: planning and sending read the message,
    they never verify it; district nodes do. ``reword`` changes the sample
    warning's texts before it is written.
    """
    sent = datetime.now(UTC).replace(microsecond=0)
    cap_alert = rainstorm_red_warning(sent, sequence, status=Status.ACTUAL)
    cap_alert = replace(cap_alert, infos=tuple(replace(info, areas=areas)
                                               for info in cap_alert.infos))
    if reword is not None:
        cap_alert = reword(cap_alert)
    xml = write_alert(cap_alert)
    if sign is not None:
        xml = sign(xml)
    author = session.scalar(select(User).where(User.username == "bench"))
    if author is None:
        author = User(username="bench", password_hash="not-a-login")
        session.add(author)
        session.flush()
    alert = Alert(state=AlertState.PUBLISHED, draft={}, status=cap_alert.status.value,
                  event=cap_alert.infos[0].event, author_id=author.id)
    session.add(alert)
    session.flush()
    message = Message(alert_id=alert.id, identifier=cap_alert.identifier,
                      sender=cap_alert.sender, sent=cap_alert.sent,
                      msg_type=cap_alert.msg_type.value, references=cap_alert.references,
                      status=cap_alert.status.value, xml=xml, sha256="0" * 64)
    session.add(message)
    session.flush()
    if outbox:
        session.add(OutboxEntry(message_id=message.id))
    session.commit()
    return message.id


def city_area() -> tuple[Area, ...]:
    return (Area(area_desc="北京市", geocodes=(NamedValue("GB/T 2260", CITY),)),)


@dataclass
class Outcome:
    seconds: float
    rows: int
    peak_rss: int
    batches: int = 0
    rss_samples: list[tuple[int, int]] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.rows / self.seconds


@dataclass
class _Recorder:
    """The enqueuer: counts batches and ids, samples RSS, and passes them on if asked."""

    forward: Any = None
    batches: int = 0
    ids: int = 0
    samples: list[tuple[int, int]] = field(default_factory=list)

    def __call__(self, channel: str, delivery_ids: list[int]) -> None:
        if self.forward is not None:
            self.forward(channel, delivery_ids)
        before = self.ids
        self.batches += 1
        self.ids += len(delivery_ids)
        if self.ids // SAMPLE_EVERY > before // SAMPLE_EVERY:
            self.samples.append((self.ids, _rss_bytes()))


def _run_ours(url: str, message_id: int, batch_size: int, broker: str | None) -> Outcome:
    recorder = _Recorder()
    app = None
    if broker is not None:
        settings = load_settings({"PUBLISHER_BROKER_URL": broker, "PUBLISHER_DATABASE_URL": url},
                                 PROJECT_ROOT / "var")
        app = make_celery(settings)
        recorder.forward = app.enqueue_batch
    districts = load_districts(PROJECT_ROOT / "config" / "districts.toml")
    factory = make_session_factory(make_engine(url))
    started = time.perf_counter()
    fan_out(factory, message_id, batch_size, recorder, channels=(CHANNEL,), districts=districts)
    seconds = time.perf_counter() - started
    if app is not None:
        with app.connection_for_write() as connection:
            connection.default_channel.queue_purge(f"channel.{CHANNEL}")
    return Outcome(seconds, recorder.ids, _peak_rss_bytes(), recorder.batches, recorder.samples)


def _run_copy(url: str, message_id: int, first: int, last: int) -> Outcome:
    now = datetime.now(UTC)
    with psycopg.connect(_libpq(url)) as connection, connection.cursor() as cursor:
        started = time.perf_counter()
        with cursor.copy("COPY deliveries (message_id, channel, target_id, status, attempts,"
                         " created_at, queued_at) FROM STDIN") as copy:
            for target_id in range(first, last + 1):
                copy.write_row((message_id, CHANNEL, target_id, "queued", 0, now, now))
        connection.commit()
        seconds = time.perf_counter() - started
    return Outcome(seconds, last - first + 1, _peak_rss_bytes())


def _in_fresh_process(function: Any, *arguments: Any) -> Outcome:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        outcome: Outcome = pool.apply(function, arguments)
    return outcome


def _empty_deliveries(url: str) -> None:
    with psycopg.connect(_libpq(url)) as connection:
        connection.execute("TRUNCATE deliveries, receipts")


def _reached(url: str, message_id: int) -> int:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return int(connection.scalar(select(func.count()).select_from(Delivery)
                                         .where(Delivery.message_id == message_id)) or 0)
    finally:
        engine.dispose()


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.0f} MB"


def _server_version(url: str) -> str:
    with psycopg.connect(_libpq(url)) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--targets", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=1000)
    parser.add_argument("--broker", default=None,
                        help="enqueue the batch tasks to this broker (the queue is purged"
                             " after each run); without it the enqueuer only counts them")
    parser.add_argument("--admin-dsn", default=ADMIN_DSN)
    arguments = parser.parse_args()

    with scratch_database(arguments.admin_dsn) as url:
        setup = time.perf_counter()
        first, last = add_targets(url, arguments.targets)
        engine = make_engine(url)
        with make_session_factory(engine)() as session:
            message_id = publish_message(session, areas=city_area())
        engine.dispose()
        print(f"cores: {os.cpu_count()}; Python {platform.python_version()}; "
              f"PostgreSQL {_server_version(url)}; targets: {arguments.targets:,} "
              f"(set up in {time.perf_counter() - setup:.1f} s); batch size "
              f"{arguments.batch_size}; runs: {arguments.runs} (median); enqueue: "
              f"{arguments.broker or 'counted, no broker'}")
        ours: list[Outcome] = []
        copies: list[Outcome] = []
        for run in range(arguments.runs):
            _empty_deliveries(url)
            outcome = _in_fresh_process(_run_ours, url, message_id, arguments.batch_size,
                                        arguments.broker)
            reached = _reached(url, message_id)
            assert outcome.rows == reached == arguments.targets, (outcome.rows, reached)
            ours.append(outcome)
            _empty_deliveries(url)
            copies.append(_in_fresh_process(_run_copy, url, message_id, first, last))
            samples = ", ".join(f"{done // 1000}k: {_megabytes(rss)}"
                                for done, rss in outcome.rss_samples)
            print(f"run {run + 1}: ours {outcome.rate:,.0f} targets/s "
                  f"({outcome.seconds:.1f} s, {outcome.batches} batches, peak RSS "
                  f"{_megabytes(outcome.peak_rss)}; RSS {samples or '-'}); COPY "
                  f"{copies[-1].rate:,.0f} rows/s ({copies[-1].seconds:.1f} s, peak RSS "
                  f"{_megabytes(copies[-1].peak_rss)})")
        ours_rate = statistics.median(outcome.rate for outcome in ours)
        copy_rate = statistics.median(outcome.rate for outcome in copies)
        ratio = ours_rate / copy_rate
        print(f"median: ours {ours_rate:,.0f} targets/s, COPY {copy_rate:,.0f} rows/s, "
              f"ours/COPY {ratio:.2f} (goal >= {GOAL_RATIO:.2f}: "
              f"{'met' if ratio >= GOAL_RATIO else 'NOT met'}); peak RSS ours "
              f"{_megabytes(max(outcome.peak_rss for outcome in ours))}, COPY "
              f"{_megabytes(max(outcome.peak_rss for outcome in copies))}")


if __name__ == "__main__":
    main()
