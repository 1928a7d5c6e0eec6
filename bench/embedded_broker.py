"""Embedded brokers side by side: kombu's SQLAlchemy (SQLite) and filesystem transports.

For each transport, a consumer process drains a durable queue while this
process publishes to it. Two measurements, each the median of several runs:

- throughput: N messages published as fast as possible; messages per second
  from the first publish to the last consume, and the publish rate alone;
- latency: messages published one at a time, each after the previous one
  arrived; publish-to-consume time p50 and p99. An idle virtual transport
  polls, so this is dominated by the polling interval, which is printed.

Both transports keep their messages on disk and survive a restart; the
in-memory transport does not and is not a candidate.

    python -m bench.embedded_broker [--messages 2000] [--runs 5] [--polling 0.1]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kombu import Connection, Exchange, Queue

QUEUE = Queue("bench", Exchange("bench", type="direct"), routing_key="bench", durable=True)


@dataclass(frozen=True)
class Transport:
    name: str
    url: Callable[[Path], str]
    options: Callable[[Path], dict[str, Any]]


TRANSPORTS = (
    Transport("sqla+sqlite", lambda directory: f"sqla+sqlite:///{directory / 'broker.db'}",
              lambda directory: {}),
    Transport("filesystem", lambda directory: "filesystem://",
              lambda directory: {"data_folder_in": str(directory / "queue"),
                                 "data_folder_out": str(directory / "queue"),
                                 "processed_folder": str(directory / "processed"),
                                 "control_folder": str(directory / "control"),
                                 "store_processed": False}),
)


def _connection(transport: Transport, directory: Path, polling: float) -> Connection:
    options = transport.options(directory)
    for key in ("data_folder_in", "processed_folder", "control_folder"):
        if key in options:
            Path(options[key]).mkdir(parents=True, exist_ok=True)
    connection = Connection(transport.url(directory), transport_options=options)
    # The SQLAlchemy transport hands every transport option to create_engine,
    # which refuses "polling_interval"; the attribute is set on both alike.
    connection.transport.polling_interval = polling
    return connection


def _consume(transport_name: str, directory: Path, polling: float, expected: int,
             ready: Any, results: Any) -> None:
    transport = next(item for item in TRANSPORTS if item.name == transport_name)
    latencies: list[float] = []
    with _connection(transport, directory, polling) as connection:
        def on_message(body: dict[str, float], message: Any) -> None:
            latencies.append(time.time() - body["sent"])
            message.ack()

        lost = 0
        deadline = time.time() + 120
        with connection.Consumer(QUEUE, callbacks=[on_message], accept=["json"]):
            ready.set()
            while len(latencies) + lost < expected and time.time() < deadline:
                try:
                    connection.drain_events(timeout=1)
                except TimeoutError:
                    continue
                except ValueError:
                    # The filesystem transport can read a message file before
                    # its writer has filled it; that message is gone.
                    lost += 1
    results.put((time.time(), latencies, lost))


def _run(transport: Transport, messages: int, polling: float, paced: bool) -> dict[str, float]:
    with tempfile.TemporaryDirectory(prefix="broker-bench-") as name:
        directory = Path(name)
        with _connection(transport, directory, polling) as connection:
            QUEUE(connection.default_channel).declare()
        context = multiprocessing.get_context("spawn")
        ready, results = context.Event(), context.Queue()
        consumer = context.Process(target=_consume, args=(transport.name, directory, polling,
                                                          messages, ready, results))
        consumer.start()
        ready.wait(30)
        with _connection(transport, directory, polling) as connection:
            producer = connection.Producer(serializer="json")
            started = time.time()
            for index in range(messages):
                producer.publish({"index": index, "sent": time.time()}, exchange=QUEUE.exchange,
                                 routing_key="bench", declare=[QUEUE], retry=False)
                if paced:
                    # The next message only after this one has surely been picked up.
                    time.sleep(polling * 1.5)
            published = time.time()
        finished, latencies, _ = results.get(timeout=180)
        consumer.join(30)
    if not latencies:
        latencies.append(float("nan"))
    latencies.sort()
    return {
        "lost": float(messages - len(latencies)),
        "publish_per_second": messages / (published - started),
        "end_to_end_per_second": messages / (finished - started),
        "p50_ms": 1000 * latencies[len(latencies) // 2],
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))],
    }


def _median(runs: list[dict[str, float]], key: str) -> float:
    return statistics.median(run[key] for run in runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--paced", type=int, default=100, help="messages in the latency runs")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--polling", type=float, default=0.1,
                        help="seconds an idle consumer sleeps between polls")
    arguments = parser.parse_args()
    print(f"cores: {os.cpu_count()}; runs: {arguments.runs} (median); "
          f"polling interval: {arguments.polling} s")
    print(f"{'transport':<12} {'publish/s':>10} {'end-to-end/s':>13} "
          f"{'loaded p50 ms':>14} {'idle p50 ms':>12} {'idle p99 ms':>12} {'lost (all runs)':>16}")
    for transport in TRANSPORTS:
        loaded = [_run(transport, arguments.messages, arguments.polling, paced=False)
                  for _ in range(arguments.runs)]
        idle = [_run(transport, arguments.paced, arguments.polling, paced=True)
                for _ in range(arguments.runs)]
        print(f"{transport.name:<12} {_median(loaded, 'publish_per_second'):>10.0f} "
              f"{_median(loaded, 'end_to_end_per_second'):>13.0f} "
              f"{_median(loaded, 'p50_ms'):>14.1f} {_median(idle, 'p50_ms'):>12.1f} "
              f"{_median(idle, 'p99_ms'):>12.1f} "
              f"{sum(run['lost'] for run in loaded + idle):>16.0f}")


if __name__ == "__main__":
    main()
