"""``publisher beat``: the scheduler alone sends the periodic tasks to the fanout queue of
a real RabbitMQ, and stops cleanly on SIGTERM as a container stop sends it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from kombu import Connection, Exchange, Queue

from publisher.celery_app import FANOUT_QUEUE, TASK_EXCHANGE
from publisher.process_control import stop_process
from tests.services import migrated_postgres_url, postgres_url, rabbitmq_url

__all__ = ["migrated_postgres_url", "postgres_url", "rabbitmq_url"]

PERIODIC_TASKS = {"publisher.relay_outbox", "publisher.expire_alerts",
                  "publisher.notify_agencies", "publisher.district_heartbeat"}
# The shortest period of the schedule is 10 s; a loaded machine gets ample room.
FIRST_TASK_SECONDS = 90.0
STOP_SECONDS = 30.0


def _fanout_queue() -> Queue:
    # Declared as Celery declares it, so that what beat sends has somewhere to wait.
    return Queue(FANOUT_QUEUE, Exchange(TASK_EXCHANGE.name, type="direct"),
                 routing_key=FANOUT_QUEUE)


def _first_task(broker_url: str, deadline: float, beat: subprocess.Popen[bytes]) -> str | None:
    with Connection(broker_url) as connection:
        queue = _fanout_queue()(connection.default_channel)
        while time.monotonic() < deadline and beat.poll() is None:
            message = queue.get(no_ack=True)
            if message is not None:
                return str(message.headers["task"])
            time.sleep(0.5)
    return None


def test_beat_sends_the_periodic_tasks_and_stops_on_sigterm(
        tmp_path: Path, rabbitmq_url: str, migrated_postgres_url: str) -> None:
    with Connection(rabbitmq_url) as connection:
        queue = _fanout_queue()(connection.default_channel)
        queue.declare()
        # Whatever an earlier test of this session left there is not the scheduler's.
        queue.purge()
    environment = {**os.environ, "PUBLISHER_DATABASE_URL": migrated_postgres_url,
                   "PUBLISHER_BROKER_URL": rabbitmq_url, "PUBLISHER_CHANNELS": "memory"}
    log = tmp_path / "beat.log"
    with log.open("wb") as output:
        beat = subprocess.Popen(
            [sys.executable, "-m", "publisher.cli", "beat", "--data-dir", str(tmp_path)],
            env=environment, stdout=output, stderr=subprocess.STDOUT)
        try:
            task = _first_task(rabbitmq_url, time.monotonic() + FIRST_TASK_SECONDS, beat)
            assert task in PERIODIC_TASKS, log.read_text(errors="replace")
            beat.send_signal(signal.SIGTERM)
            code = beat.wait(timeout=STOP_SECONDS)
        finally:
            stop_process(beat, STOP_SECONDS)
    assert code == 0, log.read_text(errors="replace")
    # The schedule is kept in the data directory, so that a restart does not resend it all.
    assert any(path.name.startswith("beat-schedule") for path in tmp_path.iterdir())
