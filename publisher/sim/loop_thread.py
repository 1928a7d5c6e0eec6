"""A simulator on its own event loop in a daemon thread, for synchronous clients and tests."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from typing import Any, Generic, Protocol, TypeVar

__all__ = ["LoopThread", "Runnable"]

T = TypeVar("T")


class Runnable(Protocol):
    """A simulator: it runs for as long as its ``running()`` context lasts."""

    def running(self) -> AbstractAsyncContextManager[Any]: ...


S = TypeVar("S", bound=Runnable)


class LoopThread(Generic[S]):
    """Runs ``simulator`` until ``stop()``; its loop runs what ``submit`` hands it."""

    def __init__(self, simulator: S, name: str, start_timeout: float = 10.0) -> None:
        self.simulator = simulator
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),), name=name,
                                        daemon=True)
        self._thread.start()
        if not self._ready.wait(start_timeout):
            raise TimeoutError(f"{name}: not started within {start_timeout} s")
        if self._error is not None:
            raise self._error

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        try:
            async with self.simulator.running():
                self._ready.set()
                await self._stopping.wait()
        except BaseException as error:
            if self._ready.is_set():
                raise
            # A simulator that cannot start says why to whoever is starting it.
            self._error = error
            self._ready.set()

    def submit(self, coroutine: Callable[[], Awaitable[T]]) -> concurrent.futures.Future[T]:
        """Run a coroutine on the simulator's loop; the caller waits on the future when it likes."""
        assert self._loop is not None

        async def call() -> T:
            return await coroutine()

        return asyncio.run_coroutine_threadsafe(call(), self._loop)

    def call(self, function: Callable[[], T], timeout: float = 10.0) -> T:
        """Run ``function`` on the simulator's loop, where its state lives, and return its value."""
        async def run() -> T:
            return function()

        return self.submit(run).result(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        if self._loop is not None and self._stopping is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout)
