"""A fake district node on a real loopback socket: it records what the center sends it.

It checks what a node checks (the center's bearer token, the signature
against the center's certificate) and answers as the contract says.
"""

from __future__ import annotations

import asyncio
import json
import threading
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from cryptography import x509

from publisher.cap.reader import read_alert
from publisher.cap.signature_verify import verify_alert_xml

CENTER_TOKEN = "center-token-for-the-district-tests"


@dataclass
class FakeNode:
    code: str
    center_certificate: x509.Certificate
    pushes: list[bytes] = field(default_factory=list)
    heartbeats: list[dict[str, Any]] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    port: int = 0
    _loop: asyncio.AbstractEventLoop | None = None
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _authorised(self, request: web.Request) -> bool:
        if request.headers.get("Authorization") != f"Bearer {CENTER_TOKEN}":
            self.refused.append("token")
            return False
        return True

    async def _cap(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self._authorised(request) or not verify_alert_xml(
                body, [self.center_certificate]).valid:
            self.refused.append("signature")
            return web.json_response({"error": "forbidden"}, status=403)
        alert = read_alert(body).alert
        assert alert is not None
        duplicate = body in self.pushes
        self.pushes.append(body)
        return web.json_response({"ack": "duplicate" if duplicate else "accepted",
                                  "sender": alert.sender, "identifier": alert.identifier,
                                  "sent": alert.sent.isoformat(), "node": self.code})

    async def _heartbeat(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"error": "forbidden"}, status=403)
        self.heartbeats.append(json.loads(await request.read()))
        return web.json_response({"node": self.code, "cursor": 0, "missing": 0})

    def start(self) -> FakeNode:
        ready = threading.Event()
        app = web.Application()
        app.router.add_post("/api/cap", self._cap)
        app.router.add_post("/api/heartbeat", self._heartbeat)

        async def serve() -> None:
            self._runner = web.AppRunner(app)
            await self._runner.setup()
            site = web.TCPSite(self._runner, "127.0.0.1", 0)
            await site.start()
            self.port = self._runner.addresses[0][1]
            ready.set()

        self._loop = asyncio.new_event_loop()
        threading.Thread(target=self._loop.run_forever, daemon=True).start()
        asyncio.run_coroutine_threadsafe(serve(), self._loop)
        assert ready.wait(30), "the fake node did not start"
        return self

    def stop(self) -> None:
        if self._loop is None or self._runner is None:
            return
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(30)
        self._loop.call_soon_threadsafe(self._loop.stop)
