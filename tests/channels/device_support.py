"""The device channels' test bench: HTTP stand-ins on real sockets, each in a thread of its own.

``served(app)`` runs any aiohttp application on a free port. ``PlatformStub``
is the platform as devices see it: it takes ``POST
/api/devices/{device_id}/acks`` and ``/heartbeat`` and keeps every request
as it came (device, Authorization header, JSON body), so that tests assert
what devices put on the wire. It answers with ``answer`` (200).
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from publisher.cap.districts import District, load_districts

__all__ = ["PlatformRequest", "PlatformStub", "districts", "platform", "served"]

CONFIG_DISTRICTS = Path(__file__).resolve().parents[2] / "config" / "districts.toml"


def districts(*codes: str) -> list[District]:
    table = load_districts(CONFIG_DISTRICTS)
    return [table.get(code) for code in codes]


@contextmanager
def served(app: web.Application) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1 in a thread; yields its base URL."""
    ready = threading.Event()
    port: list[int] = []
    stop: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = []

    async def main() -> None:
        stopping = asyncio.Event()
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port.append(int(runner.addresses[0][1]))
        stop.append((asyncio.get_running_loop(), stopping))
        ready.set()
        await stopping.wait()
        await runner.cleanup()

    thread = threading.Thread(target=asyncio.run, args=(main(),), daemon=True)
    thread.start()
    assert ready.wait(10), "the stand-in server did not start"
    try:
        yield f"http://127.0.0.1:{port[0]}"
    finally:
        loop, stopping = stop[0]
        loop.call_soon_threadsafe(stopping.set)
        thread.join(10)


@dataclass(frozen=True)
class PlatformRequest:
    device_id: str
    kind: str  # "acks" or "heartbeat"
    authorization: str | None
    body: Any


class PlatformStub:
    def __init__(self) -> None:
        self.requests: list[PlatformRequest] = []
        self.answer = 200
        self.url = ""
        self._lock = threading.Lock()

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/api/devices/{device_id}/{kind:acks|heartbeat}", self._take)
        return app

    async def _take(self, request: web.Request) -> web.Response:
        body = json.loads(await request.read())
        with self._lock:
            self.requests.append(PlatformRequest(
                request.match_info["device_id"], request.match_info["kind"],
                request.headers.get("Authorization"), body))
        return web.json_response({}, status=self.answer)

    def taken(self, kind: str = "acks") -> list[PlatformRequest]:
        with self._lock:
            return [request for request in self.requests if request.kind == kind]


@pytest.fixture
def platform() -> Iterator[PlatformStub]:
    """The platform's device routes, on a real socket; import it into a test module to use it."""
    stub = PlatformStub()
    with served(stub.app()) as url:
        stub.url = url
        yield stub
