"""Stream fan-out to 1,000 and 10,000 connected app clients, against a bare aiohttp SSE broadcast.

The product: the web app (``create_app``, the ``/api/stream`` route and its
shared poller) in a process of its own on a fresh SQLite installation, one
registered stream app, and N connections of that app opened by client
processes (``--processes``, each holding N / processes connections). When
every client has its stream open, this process publishes an Actual warning
for the whole city and hands it to the app through the ``app`` channel (the
event appended, the delivery SENT), as a worker would. The clock starts
just before publishing and stops when the last client has read the event
(wall clocks of one machine). Also reported: the server's RSS before the
clients connect, with them connected, after they left, and its peak
(``VmHWM``).

The peer, measured in the same run: a bare aiohttp server that keeps every
SSE response in a set and writes one frame of the same size to each when
asked (``POST /broadcast``), with the same client processes. The ratio is
product time over bare time; a run where a client misses its event is not
counted.

    python -m bench.app_stream [--clients 1000 10000] [--runs 3] [--processes 4]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from bench.fanout_planning import city_area, publish_message
from bench.sms_support import machine_line
from publisher.channels.app_push import AppChannel
from publisher.config import load_settings
from publisher.local_ports import free_port
from publisher.services.app_events import AppHandOver, latest_event_id
from publisher.services.apps import AppFilters, AppSpec, register_app
from publisher.services.delivery import fan_out, send_batch
from publisher.store.db import make_engine, make_session_factory, session_scope, upgrade_database
from publisher.store.models import AppDeliveryMode

READY_TIMEOUT = 300.0
EVENT_TIMEOUT = 120.0
HOST = "127.0.0.1"


def _raise_file_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _memory(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in KiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


# --- the servers, each run as ``python -m bench.app_stream serve-...`` ---


def _serve_product(data_dir: str, port: int) -> None:
    from publisher.web.app import create_app

    _raise_file_limit()
    settings = load_settings({}, data_dir=Path(data_dir))
    web.run_app(create_app(settings), host=HOST, port=port, print=None,
                access_log=None, backlog=4096, shutdown_timeout=2)


def _serve_bare(port: int) -> None:
    _raise_file_limit()
    streams: set[web.StreamResponse] = set()

    async def stream(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b"retry: 2000\n\n")
        streams.add(response)
        try:
            while True:
                await asyncio.sleep(3600)
        finally:
            streams.discard(response)

    async def broadcast(request: web.Request) -> web.Response:
        data = await request.read()
        frame = b"id: 1\nevent: alert\ndata: " + data + b"\n\n"
        for response in list(streams):
            try:
                await response.write(frame)
            except ConnectionResetError:
                streams.discard(response)
        return web.Response(text=str(len(streams)))

    application = web.Application()
    application.router.add_get("/sse", stream)
    application.router.add_post("/broadcast", broadcast)
    application.router.add_get("/health", lambda _request: _ok())
    web.run_app(application, host=HOST, port=port, print=None, access_log=None, backlog=4096,
                shutdown_timeout=2)


async def _ok() -> web.Response:
    return web.Response(text="ok")


# --- the clients, run as ``python -m bench.app_stream clients URL COUNT CREDENTIAL`` ---


async def _clients(url: str, count: int, credential: str) -> None:
    _raise_file_limit()
    connected = 0
    all_connected = asyncio.Event()
    headers = {"Authorization": f"Bearer {credential}"}

    async def one(http: aiohttp.ClientSession) -> tuple[float, int]:
        nonlocal connected
        async with http.get(url, headers=headers) as response:
            await response.content.readline()
            connected += 1
            if connected == count:
                all_connected.set()
            async for line in response.content:
                if line.startswith(b"data:"):
                    return time.time(), len(line)
        raise EOFError("the stream ended before its event")

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=None, sock_connect=60)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        tasks = [asyncio.create_task(one(http)) for _ in range(count)]
        await all_connected.wait()
        print("ready", flush=True)
        results = await asyncio.gather(*tasks, return_exceptions=True)
    received = [result for result in results if isinstance(result, tuple)]
    print(json.dumps({"times": [moment for moment, _ in received],
                      "size": max((size for _, size in received), default=0),
                      "missed": count - len(received)}), flush=True)


# --- the run ---


@dataclass(frozen=True)
class RunResult:
    seconds: float
    hand_over_seconds: float
    missed: int
    size: int
    memory: dict[str, int]


def _wait_for(url: str) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@contextmanager
def _server(*arguments: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen([sys.executable, "-m", "bench.app_stream", *arguments])
    try:
        yield process
    finally:
        process.terminate()
        process.wait(timeout=60)


def _start_clients(url: str, count: int, processes: int,
                   credential: str) -> list[subprocess.Popen[str]]:
    shares = [count // processes + (1 if index < count % processes else 0)
              for index in range(processes)]
    started = [subprocess.Popen([sys.executable, "-m", "bench.app_stream", "clients", url,
                                 str(share), credential], stdout=subprocess.PIPE, text=True)
               for share in shares if share]
    for client in started:
        assert client.stdout is not None
        if client.stdout.readline().strip() != "ready":
            raise RuntimeError("a client process did not connect")
    return started


def _collect(clients: list[subprocess.Popen[str]], started: float) -> tuple[float, int, int]:
    times: list[float] = []
    missed = size = 0
    for client in clients:
        output, _ = client.communicate(timeout=EVENT_TIMEOUT)
        found = json.loads(output.strip().splitlines()[-1])
        times += found["times"]
        missed += found["missed"]
        size = max(size, found["size"])
    return max(times) - started, missed, size


class ProductInstallation:
    """A fresh SQLite installation with one stream app, and what hands it messages."""

    def __init__(self, data_dir: Path) -> None:
        self.settings = load_settings({}, data_dir=data_dir)
        upgrade_database(self.settings.database_url)
        self.sessions = make_session_factory(make_engine(self.settings.database_url))
        with session_scope(self.sessions) as session:
            spec = AppSpec("bench-app", AppDeliveryMode.STREAM, None, AppFilters())
            self.credential = register_app(session, spec).credential
        self.channel = AppChannel({"hand_over": AppHandOver(self.sessions)})
        self.sequence = 0

    def latest(self) -> int:
        with session_scope(self.sessions) as session:
            return latest_event_id(session)

    def hand_over_a_warning(self) -> None:
        self.sequence += 1
        with self.sessions() as session:
            message_id = publish_message(session, areas=city_area(),
                                         sequence=self.sequence)
            session.commit()
        batches: list[list[int]] = []
        fan_out(self.sessions, message_id, 100, lambda _channel, ids: batches.append(ids),
                channels=("app",))
        for delivery_ids in batches:
            send_batch(self.sessions, self.channel, delivery_ids)


def run_product(installation: ProductInstallation, count: int, processes: int) -> RunResult:
    port = free_port()
    base = f"http://{HOST}:{port}"
    with _server("serve-product", str(installation.settings.paths.data_dir), str(port)) as server:
        _wait_for(f"{base}/health")
        before = _memory(server.pid)
        # Connect after the latest event: each client waits for the next one only.
        clients = _start_clients(f"{base}/api/stream?after={installation.latest()}", count,
                                 processes,
                                 installation.credential)
        connected = _memory(server.pid)
        started = time.time()
        installation.hand_over_a_warning()
        handed = time.time() - started
        seconds, missed, size = _collect(clients, started)
        time.sleep(2)
        after = _memory(server.pid)
    return RunResult(seconds, handed, missed, size, {
        "rss_before_kib": before["VmRSS"], "rss_connected_kib": connected["VmRSS"],
        "rss_after_kib": after["VmRSS"], "peak_kib": after["VmHWM"]})


def run_bare(count: int, processes: int, size: int) -> RunResult:
    port = free_port()
    base = f"http://{HOST}:{port}"
    with _server("serve-bare", str(port)) as server:
        _wait_for(f"{base}/health")
        before = _memory(server.pid)
        clients = _start_clients(f"{base}/sse", count, processes, "-")
        connected = _memory(server.pid)
        body = json.dumps({"padding": "x" * max(0, size - 24)}).encode()
        started = time.time()
        request = urllib.request.Request(f"{base}/broadcast", data=body, method="POST")
        with urllib.request.urlopen(request, timeout=EVENT_TIMEOUT):
            pass
        seconds, missed, _ = _collect(clients, started)
        after = _memory(server.pid)
    return RunResult(seconds, 0.0, missed, size, {
        "rss_before_kib": before["VmRSS"], "rss_connected_kib": connected["VmRSS"],
        "rss_after_kib": after["VmRSS"], "peak_kib": after["VmHWM"]})


def measure(count: int, runs: int, processes: int, data_dir: Path) -> dict[str, Any]:
    installation = ProductInstallation(data_dir)
    product: list[RunResult] = []
    bare: list[RunResult] = []
    for _ in range(runs):
        product.append(run_product(installation, count, processes))
        bare.append(run_bare(count, processes, product[-1].size))
    counted = [(mine, peer) for mine, peer in zip(product, bare, strict=True)
               if not mine.missed and not peer.missed]
    if not counted:
        raise RuntimeError(f"{count} clients: every run had a client missing its event")
    mine_seconds = statistics.median(mine.seconds for mine, _ in counted)
    peer_seconds = statistics.median(peer.seconds for _, peer in counted)
    return {
        "clients": count, "runs": len(counted), "cores": os.cpu_count(),
        "product_seconds": [round(mine.seconds, 3) for mine, _ in counted],
        "bare_seconds": [round(peer.seconds, 3) for _, peer in counted],
        "product_median": round(mine_seconds, 3), "bare_median": round(peer_seconds, 3),
        "ratio": round(mine_seconds / peer_seconds, 2),
        "product_hand_over_seconds": [round(mine.hand_over_seconds, 3) for mine, _ in counted],
        "event_bytes": product[-1].size,
        "product_memory_kib": product[-1].memory, "bare_memory_kib": bare[-1].memory,
    }


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "serve-product":
        _serve_product(sys.argv[2], int(sys.argv[3]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "serve-bare":
        _serve_bare(int(sys.argv[2]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "clients":
        asyncio.run(_clients(sys.argv[2], int(sys.argv[3]), sys.argv[4]))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--processes", type=int, default=4)
    arguments = parser.parse_args()
    print(machine_line())
    for count in arguments.clients:
        with tempfile.TemporaryDirectory(prefix="app-stream-") as directory:
            print(json.dumps(measure(count, arguments.runs, arguments.processes,
                                     Path(directory))), flush=True)


if __name__ == "__main__":
    main()
