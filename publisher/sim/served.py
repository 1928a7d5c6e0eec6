"""What every HTTP simulator shares: where it listens once started, and running it for a block.

``CallingBackSimulator`` adds what a provider's API simulator shares: its
routes served on an aiohttp runner, a client session for its calls back to
the platform (receipts, events), the tasks of those calls, cancelled when it
stops, and a rate limit over the last second.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable
from contextlib import asynccontextmanager
from typing import ClassVar, Generic, Protocol, Self, TypeVar

import aiohttp
from aiohttp import web

__all__ = ["CallingBackSimulator", "ServedSimulator"]

log = logging.getLogger(__name__)


class _Listening(Protocol):
    @property
    def host(self) -> str: ...


Config = TypeVar("Config", bound=_Listening)


class ServedSimulator(ABC, Generic[Config]):
    """An HTTP simulator; ``start`` sets ``_port`` to the port it got."""

    config: Config
    _port: int | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("port: the simulator is not running")
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self.config.host}:{self.port}"

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Self]:
        try:
            await self.start()
            yield self
        finally:
            await self.stop()

    @abstractmethod
    async def start(self) -> None: ...

    @abstractmethod
    async def stop(self) -> None: ...


class _CallingBack(_Listening, Protocol):
    @property
    def port(self) -> int: ...

    @property
    def request_timeout(self) -> float: ...

    @property
    def max_per_second(self) -> float | None: ...


CallingConfig = TypeVar("CallingConfig", bound=_CallingBack)


class CallingBackSimulator(ServedSimulator[CallingConfig]):
    """A provider's API that calls the platform back; subclasses add their routes."""

    kind: ClassVar[str]
    """What the log says is listening: ``"<kind> simulator listening"``."""

    def __init__(self, config: CallingConfig) -> None:
        self.config = config
        self._runner: web.AppRunner | None = None
        self._client: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._recent: collections.deque[float] = collections.deque()

    @abstractmethod
    def add_routes(self, router: web.UrlDispatcher) -> None: ...

    async def start(self) -> None:
        self._client = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=self.config.request_timeout))
        app = web.Application()
        self.add_routes(app.router)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.config.host, self.config.port).start()
        self._port = int(self._runner.addresses[0][1])
        log.info("%s simulator listening", self.kind,
                 extra={"host": self.config.host, "port": self._port})

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._client is not None:
            await self._client.close()
            self._client = None

    @property
    def client(self) -> aiohttp.ClientSession:
        if self._client is None:
            raise RuntimeError("client: the simulator is not running")
        return self._client

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _over_rate(self) -> bool:
        """Whether a request now is above ``max_per_second``; one that is not is counted."""
        if self.config.max_per_second is None:
            return False
        now = time.monotonic()
        while self._recent and self._recent[0] <= now - 1.0:
            self._recent.popleft()
        if len(self._recent) >= self.config.max_per_second:
            return True
        self._recent.append(now)
        return False
