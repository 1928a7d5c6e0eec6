"""One ESME connection to the SMSC simulator: its bind, its throughput budget, its writes."""

from __future__ import annotations

import asyncio
import time
from enum import Enum
from typing import TYPE_CHECKING

from publisher.channels.smpp_pdu import CommandId, Status, encode_pdu

if TYPE_CHECKING:
    from publisher.sim.smsc_outbound import Outbound

__all__ = ["BindType", "Session", "TokenBucket"]


class BindType(Enum):
    RECEIVER = CommandId.BIND_RECEIVER
    TRANSMITTER = CommandId.BIND_TRANSMITTER
    TRANSCEIVER = CommandId.BIND_TRANSCEIVER

    @property
    def receives(self) -> bool:
        return self is not BindType.TRANSMITTER

    @property
    def transmits(self) -> bool:
        return self is not BindType.RECEIVER


class TokenBucket:
    """Parts per second with a burst allowance; refilled continuously from a monotonic clock."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = burst
        self._updated = time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self._tokens = min(self.burst, self._tokens + (now - self._updated) * self.rate)
        self._updated = now
        if self._tokens < 1:
            return False
        self._tokens -= 1
        return True


class Session:
    def __init__(self, number: int, writer: asyncio.StreamWriter,
                 throttle: TokenBucket | None) -> None:
        self.number = number
        self.throttle = throttle
        self.system_id: str | None = None
        self.bind_type: BindType | None = None
        # Requests this side sent (deliver_sm), by sequence, until their response arrives.
        self.outstanding: dict[int, Outbound] = {}
        self._writer = writer
        self._sequence = 0

    @property
    def is_open(self) -> bool:
        return not self._writer.is_closing()

    def receives_for(self, system_id: str) -> bool:
        return (self.is_open and self.system_id == system_id
                and self.bind_type is not None and self.bind_type.receives)

    def bind(self, system_id: str, bind_type: BindType) -> None:
        self.system_id, self.bind_type = system_id, bind_type

    def respond(self, command_id: int, sequence: int, body: bytes = b"",
                status: int = Status.ROK) -> None:
        if self.is_open:
            self._writer.write(encode_pdu(command_id, sequence, body, status))

    def request(self, command_id: int, body: bytes) -> int:
        """Send a request of this side's own; returns its sequence number."""
        # Sequence numbers run 1..0x7FFFFFFF (SMPP 3.4 section 3.2).
        self._sequence = self._sequence % 0x7FFF_FFFF + 1
        self.respond(command_id, self._sequence, body)
        return self._sequence

    async def drain(self) -> None:
        if self.is_open:
            await self._writer.drain()

    def close(self) -> None:
        self._writer.close()

    def abort(self) -> None:
        """Drop the connection at once, without flushing what is still buffered."""
        self._writer.transport.abort()
