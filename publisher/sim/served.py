"""What every HTTP simulator shares: where it listens once started, and running it for a block."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Generic, Protocol, Self, TypeVar

__all__ = ["ServedSimulator"]


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
