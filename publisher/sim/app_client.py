"""A demo app backend: follows the platform's app stream, prints each alert once, acks it.

It keeps its cursor (the last event id it handled) in a file, written after
each event is printed and acked, so that after a restart it resumes with
the next event: nothing missed, nothing printed twice. A dropped
connection is opened again after a pause that doubles up to
``MAX_PAUSE_SECONDS``, with jitter.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

__all__ = ["AppClient", "StreamClosed"]

log = logging.getLogger(__name__)

FIRST_PAUSE_SECONDS = 0.5
MAX_PAUSE_SECONDS = 15.0


class StreamClosed(Exception):
    """The server ended the stream."""


@dataclass
class AppClient:
    base_url: str
    credential: str
    cursor_file: Path
    show: Callable[[dict[str, Any]], None]

    def cursor(self) -> int:
        try:
            return int(self.cursor_file.read_text(encoding="ascii").strip() or 0)
        except FileNotFoundError:
            return 0

    def _keep(self, event_id: int) -> None:
        # Written whole and then renamed: a crash never leaves half a cursor.
        partial = self.cursor_file.with_suffix(".partial")
        partial.write_text(f"{event_id}\n", encoding="ascii")
        partial.replace(self.cursor_file)

    @property
    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.credential}"}

    async def follow(self) -> None:
        """Follow the stream until cancelled, reconnecting after every drop."""
        pause = FIRST_PAUSE_SECONDS
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_read=60)) as http:
            while True:
                try:
                    await self._read(http)
                    pause = FIRST_PAUSE_SECONDS
                except (aiohttp.ClientError, TimeoutError, StreamClosed) as error:
                    log.info("app stream dropped", extra={"reason": str(error)})
                await asyncio.sleep(pause * random.uniform(0.5, 1.0))  # noqa: S311 - jitter
                pause = min(pause * 2, MAX_PAUSE_SECONDS)

    async def _read(self, http: aiohttp.ClientSession) -> None:
        headers = {**self._headers, "Last-Event-ID": str(self.cursor())}
        async with http.get(f"{self.base_url}/api/stream", headers=headers) as response:
            if response.status != 200:
                raise StreamClosed(f"HTTP {response.status}: {await response.text()}")
            fields: dict[str, str] = {}
            async for raw in response.content:
                line = raw.decode("utf-8").rstrip("\r\n")
                if line:
                    name, _, value = line.partition(": ")
                    fields[name] = value
                    continue
                if "data" in fields:
                    await self._handle(http, int(fields["id"]), json.loads(fields["data"]))
                fields.clear()
        raise StreamClosed("the server ended the stream")

    async def _handle(self, http: aiohttp.ClientSession, event_id: int,
                      document: dict[str, Any]) -> None:
        if event_id <= self.cursor():
            return
        self.show(document)
        async with http.post(f"{self.base_url}/api/stream/acks", headers=self._headers,
                             json={"events": [event_id]}) as response:
            response.raise_for_status()
        self._keep(event_id)
