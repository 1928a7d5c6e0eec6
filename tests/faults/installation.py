"""An installation for the fault cases: real channels, real services, workers as processes.

Each case writes its own configuration (the channels and their options,
pointing at simulators on free ports), on its own PostgreSQL database and
RabbitMQ virtual host (``tests/faults/conftest.py``), and starts workers as
deployed: ``publisher worker --queues ... --pool solo``, each in its own
process group so that ``kill -9`` takes it whole. A solo worker holds one
batch at a time, so a kill leaves at most one batch in doubt.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.channels.base import DeliveryStatus
from publisher.config import installation_environment
from publisher.store.db import make_engine, make_session_factory, upgrade_database
from publisher.store.models import Delivery

__all__ = ["FaultInstallation", "answers", "status_counts"]

POLL_SECONDS = 0.2


def _toml_value(value: Any) -> str:
    # Strings, numbers, booleans and lists of them: JSON spells them as TOML does.
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value, ensure_ascii=False)


@dataclass
class FaultInstallation:
    directory: Path
    database_url: str
    broker_url: str
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return self.directory / "publisher.toml"

    def configure(self, channels: Sequence[str], options: Mapping[str, Mapping[str, Any]],
                  *, batch_size: int) -> None:
        lines = [f"channels = {_toml_value(list(channels))}", f"batch_size = {batch_size}"]
        for channel, table in options.items():
            lines.append(f"[channel_options.{channel}]")
            lines += [f"{key} = {_toml_value(value)}" for key, value in table.items()]
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    @property
    def environment(self) -> dict[str, str]:
        return installation_environment(self.directory, self.config_path, self.database_url,
                                        self.broker_url)

    @cached_property
    def session_factory(self) -> sessionmaker[Session]:
        upgrade_database(self.database_url)
        return make_session_factory(make_engine(self.database_url))

    def start_worker(self, name: str, queues: Sequence[str]) -> subprocess.Popen[bytes]:
        """``publisher worker`` on ``queues``, one task at a time, logging to ``<name>.log``."""
        return self.start(name, "worker", "--pool", "solo", "--queues", ",".join(queues))

    def start(self, name: str, *arguments: str) -> subprocess.Popen[bytes]:
        """``publisher <arguments>`` of this installation, in a process group of its own,
        logging to ``<name>.log``."""
        with (self.directory / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "publisher.cli", *arguments,
                 "--data-dir", str(self.directory)],
                env=self.environment, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        self.workers[name] = process
        return process

    def worker_log(self, name: str) -> str:
        path = self.directory / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        """The tail of every worker's log, for a failure's message."""
        return "\n".join(f"--- {name}\n{self.worker_log(name)[-3000:]}" for name in self.workers)

    def wait(self, condition: Callable[[], bool], timeout: float, what: str,
             state: Callable[[], object] = lambda: "") -> None:
        """Poll ``condition`` until ``timeout``; fails naming ``what`` and ``state()``,
        with the workers' logs."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(f"not within {timeout} s: {what}; {state()}\n{self.logs()}")
            time.sleep(POLL_SECONDS)


def answers(url: str) -> bool:
    """Whether anything answers HTTP at ``url``, an error status included."""
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def status_counts(factory: sessionmaker[Session], message_id: int) -> dict[DeliveryStatus, int]:
    with factory() as session:
        return dict(session.execute(
            select(Delivery.status, func.count()).where(Delivery.message_id == message_id)
            .group_by(Delivery.status)).all())
