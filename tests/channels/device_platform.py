"""The platform's side of the device protocol, for channel tests: acks in, audio out.

It serves cached announcements with the platform's own route and errors
(``publisher.web.audio``, ``publisher.web.errors``) and records every ack a
device posts, checking the device's bearer token as the platform does, on a
real socket in a thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from publisher.channels.speech import SpeechAudio
from publisher.web.audio import SPEECH
from publisher.web.audio import routes as audio_routes
from publisher.web.errors import error_middleware

__all__ = ["AckReceived", "DevicePlatform", "running_platform"]


@dataclass(frozen=True, slots=True)
class AckReceived:
    device_id: str
    body: Mapping[str, Any]


class DevicePlatform:
    def __init__(self, tokens: Mapping[str, str], speech: SpeechAudio) -> None:
        self.tokens = dict(tokens)
        self.speech = speech
        self.url = ""
        self.audio_requests: list[str] = []
        self._acks: list[AckReceived] = []
        self._lock = threading.Lock()

    def acks(self) -> list[AckReceived]:
        with self._lock:
            return list(self._acks)

    def wait_for_acks(self, count: int, timeout: float = 60.0) -> list[AckReceived]:
        """Poll until ``count`` acks arrived; generous, for a loaded machine."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            acks = self.acks()
            if len(acks) >= count:
                return acks
            time.sleep(0.05)
        raise AssertionError(f"{len(self.acks())} acks within {timeout} s, expected {count}:"
                             f" {self.acks()}")

    def application(self) -> web.Application:
        app = web.Application(middlewares=[error_middleware, self._count_audio])
        app[SPEECH] = self.speech
        app.add_routes(audio_routes)
        app.router.add_post("/api/devices/{device_id}/acks", self._ack)
        return app

    @web.middleware
    async def _count_audio(self, request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path.startswith("/audio/"):
            with self._lock:
                self.audio_requests.append(request.path)
        response: web.StreamResponse = await handler(request)
        return response

    async def _ack(self, request: web.Request) -> web.Response:
        device_id = request.match_info["device_id"]
        expected = self.tokens.get(device_id)
        if expected is None or request.headers.get("Authorization") != f"Bearer {expected}":
            return web.json_response({"error": "unauthenticated"}, status=401)
        body = await request.json()
        with self._lock:
            self._acks.append(AckReceived(device_id, body))
        return web.json_response({"recorded": body.get("delivery")}, status=202)


@contextmanager
def running_platform(tokens: Mapping[str, str], speech: SpeechAudio) -> Iterator[DevicePlatform]:
    platform = DevicePlatform(tokens, speech)
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(platform.application(), access_log=None)

    async def start() -> None:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        platform.url = f"http://127.0.0.1:{runner.addresses[0][1]}"

    thread = threading.Thread(target=loop.run_forever, name="device-platform", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    try:
        yield platform
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
