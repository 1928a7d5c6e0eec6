"""Real worker processes for the fan-out end-to-end tests.

Each installation gets its own data directory, configuration file, database
and durable memory sink; workers are ``celery -A publisher.celery_app worker``
processes in their own process group, so that ``kill -9`` takes them whole.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.base import DeliveryStatus
from publisher.channels.memory import MemorySink
from publisher.config import Settings, installation_environment, load_settings
from publisher.store.models import Delivery
from tests.integration.fanout_support import database

CELERY = Path(sys.executable).with_name("celery")


@dataclass
class Installation:
    directory: Path
    database_url: str
    broker_url: str
    batch_size: int
    delay_per_batch: float

    @property
    def sink_path(self) -> Path:
        return self.directory / "sink.db"

    @property
    def config_path(self) -> Path:
        return self.directory / "publisher.toml"

    def write_config(self) -> None:
        self.config_path.write_text(
            'channels = ["memory"]\n'
            f"batch_size = {self.batch_size}\n"
            "[channel_options.memory]\n"
            f'sink = "{self.sink_path}"\n'
            f"delay_per_batch = {self.delay_per_batch}\n",
            encoding="utf-8",
        )

    @property
    def environment(self) -> dict[str, str]:
        return installation_environment(self.directory, self.config_path, self.database_url,
                                        self.broker_url)

    def settings(self) -> Settings:
        return load_settings(self.environment, self.directory)

    def session_factory(self) -> sessionmaker[Session]:
        return database(self.database_url)

    def sink(self) -> MemorySink:
        return MemorySink(self.sink_path)

    def start_worker(self, name: str) -> subprocess.Popen[bytes]:
        log = (self.directory / f"{name}.log").open("ab")
        return subprocess.Popen(
            [str(CELERY), "-A", "publisher.celery_app", "worker", "--pool", "solo",
             "--queues", "fanout,channel.memory", "--hostname", f"{name}@%h",
             "--without-gossip", "--without-mingle", "--without-heartbeat",
             "--loglevel", "INFO"],
            env=self.environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
        )

    def worker_log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def kill_hard(process: subprocess.Popen[bytes]) -> None:
    os.killpg(process.pid, signal.SIGKILL)
    process.wait(timeout=10)


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        kill_hard(process)


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def unfinished(factory: sessionmaker[Session], message_id: int) -> int:
    with factory() as session:
        return session.scalar(
            select(func.count()).select_from(Delivery).where(
                Delivery.message_id == message_id,
                Delivery.status.not_in([status for status in DeliveryStatus
                                        if status.was_handed_over]))) or 0


def delivery_count(factory: sessionmaker[Session], message_id: int) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(Delivery)
                              .where(Delivery.message_id == message_id)) or 0
