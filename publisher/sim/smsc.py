"""An SMSC simulator: a real SMPP 3.4 server over TCP, for tests, benchmarks and the demo.

- Binds (receiver, transmitter, transceiver) check system_id and password;
  a second bind on one connection answers ESME_RALYBND.
- submit_sm is answered with a message id that stays unique across restarts
  on the same data directory. Ids are the counter in lowercase hexadecimal
  (``"1f4"``), or in decimal with ``message_id_format="decimal"``. The
  receipt text's ``id:`` field carries the same number in decimal, ten
  digits, as SMPP 3.4 Appendix B shows it, so a client must normalise.
- Every accepted part is written to the part log (SQLite, one transaction
  per batch of parts read together) before its submit_sm_resp goes out.
- Delivery receipts follow registered_delivery (1: always, 2: on failure)
  after ``dlr_delay`` seconds; a ``failure_share`` of them say UNDELIV.
- ``max_parts_per_second`` limits each bind (a token bucket with a burst of
  ``throttle_burst`` parts); above it submit_sm answers ESME_RTHROTTLED.
- Fault modes, switched at runtime with ``set_fault``: DROP closes every
  bind and each new connection, SILENT swallows every request and holds
  back deliver_sm, GENERIC_NACK answers every request with generic_nack.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import hmac
import logging
import random
import socket
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import Literal

from publisher.channels.smpp_pdu import (
    CommandId,
    MalformedPdu,
    Pdu,
    Status,
    concatenation_of,
    encode_bind_response,
    parse_bind,
    parse_short_message,
    read_pdu,
)
from publisher.sim.loop_thread import LoopThread
from publisher.sim.smsc_outbound import OutboundDispatcher, mobile_originated, receipt
from publisher.sim.smsc_session import BindType, Session, TokenBucket
from publisher.sim.smsc_state import STATE_FILE, LoggedPart, MessageIdCounter, PartLog

__all__ = ["FaultMode", "SimulatorThread", "SmscConfig", "SmscSimulator"]

log = logging.getLogger(__name__)

SMSC_SYSTEM_ID = "SMSCSIM"
_RECEIPT_ON_ANY_OUTCOME = 0x01
_RECEIPT_ON_FAILURE = 0x02
_BINDS: dict[int, BindType] = {int(bind_type.value): bind_type for bind_type in BindType}


class FaultMode(Enum):
    NONE = "none"
    DROP = "drop"
    SILENT = "silent"
    GENERIC_NACK = "generic-nack"


@dataclass(frozen=True, slots=True)
class SmscConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port, read it from SmscSimulator.port
    system_id: str = "publisher"
    password: str = field(default="secret", repr=False)  # the demo account
    dlr_delay: float = 0.5
    failure_share: float = 0.0
    max_parts_per_second: float | None = None
    throttle_burst: float | None = None  # default: a tenth of a second's parts, at least 1
    fault: FaultMode = FaultMode.NONE
    message_id_format: Literal["hex", "decimal"] = "hex"
    receipt_response_timeout: float = 5.0
    receipt_retry_interval: float = 1.0
    receipt_max_attempts: int = 20
    seed: int | None = None  # for the choice of failed receipts

    def __post_init__(self) -> None:
        if not 0 < len(self.system_id) <= 15:
            raise ValueError("system_id: 1 to 15 characters in SMPP 3.4")
        if len(self.password) > 8:
            raise ValueError("password: at most 8 characters in SMPP 3.4")
        if not 0.0 <= self.failure_share <= 1.0:
            raise ValueError(f"failure_share: {self.failure_share} is outside 0..1")
        if self.max_parts_per_second is not None and self.max_parts_per_second <= 0:
            raise ValueError(f"max_parts_per_second: {self.max_parts_per_second} is not positive")
        if self.dlr_delay < 0:
            raise ValueError(f"dlr_delay: {self.dlr_delay} is negative")

    @property
    def state_file(self) -> Path:
        return self.data_dir / STATE_FILE


@dataclass(frozen=True, slots=True)
class _Accepted:
    session: Session
    sequence: int
    number: int
    part: LoggedPart
    registered_delivery: int


class SmscSimulator:
    def __init__(self, config: SmscConfig) -> None:
        self.config = config
        self.fault = config.fault
        self._server: asyncio.Server | None = None
        self._sessions: dict[int, Session] = {}
        self._connections: set[asyncio.Task[None]] = set()
        self._session_numbers = iter(range(1, 1 << 62))
        self._accepted: list[_Accepted] = []
        self._random = random.Random(config.seed)  # noqa: S311 - a simulated outcome, not a secret
        self._counter: MessageIdCounter | None = None
        self._part_log: PartLog | None = None
        self._dispatcher = OutboundDispatcher(
            self._sessions_now,
            lambda: self.fault is not FaultMode.NONE,
            config.receipt_response_timeout, config.receipt_retry_interval,
            config.receipt_max_attempts)

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("port: the simulator is not running")
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def part_log_path(self) -> Path:
        return self.config.state_file

    @asynccontextmanager
    async def running(self) -> AsyncIterator[SmscSimulator]:
        await self.start()
        try:
            yield self
        finally:
            await self.stop()

    async def start(self) -> None:
        self._counter = MessageIdCounter(self.config.state_file)
        self._part_log = PartLog(self.config.state_file)
        self._server = await asyncio.start_server(self._serve, self.config.host, self.config.port)
        log.info("smsc simulator listening", extra={
            "host": self.config.host, "port": self.port, "system_id": self.config.system_id})

    async def stop(self) -> None:
        if self._server is None:
            return
        self._server.close()
        self._commit_accepted()
        for session in list(self._sessions.values()):
            session.abort()
        await asyncio.gather(*self._connections)
        await self._server.wait_closed()
        self._dispatcher.close()
        self._server = None
        for store in (self._counter, self._part_log):
            if store is not None:
                store.close()

    def start_in_thread(self) -> SimulatorThread:
        """Run in a thread of its own, for synchronous clients; stop with the handle's stop()."""
        return SimulatorThread(self)

    # Control API -------------------------------------------------------------

    async def set_fault(self, mode: FaultMode) -> None:
        self.fault = mode
        log.info("smsc fault mode", extra={"fault": mode.value})
        if mode is FaultMode.DROP:
            await self.drop_binds()

    async def receivers(self, system_id: str | None = None) -> int:
        """How many binds of ``system_id`` (default: the configured one) can receive now."""
        wanted = system_id or self.config.system_id
        return sum(1 for session in self._sessions.values() if session.receives_for(wanted))

    async def drop_binds(self) -> None:
        """Cut every connection at once, as a failing SMSC or network does."""
        for session in list(self._sessions.values()):
            session.abort()

    async def inject_mo(self, source_addr: str, destination_addr: str, text: str,
                        system_id: str | None = None) -> None:
        """Send a mobile-originated deliver_sm to a bound receiver; returns once it is answered."""
        acknowledged: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._dispatcher.send(system_id or self.config.system_id,
                              mobile_originated(source_addr, destination_addr, text), "mo",
                              acknowledged=acknowledged)
        await acknowledged

    # Connections ---------------------------------------------------------------

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        rate = self.config.max_parts_per_second
        throttle = (TokenBucket(rate, self.config.throttle_burst or max(1.0, rate / 10))
                    if rate else None)
        session = Session(next(self._session_numbers), writer, throttle)
        self._sessions[session.number] = session
        connection = asyncio.current_task()
        assert connection is not None
        self._connections.add(connection)
        try:
            while self.fault is not FaultMode.DROP:
                try:
                    pdu = await read_pdu(reader)
                except MalformedPdu as error:
                    log.warning("smsc bad pdu", extra={"reason": str(error)})
                    session.respond(CommandId.GENERIC_NACK, 0, status=Status.RINVCMDLEN)
                    break
                if not self._handle(session, pdu):
                    break
                await session.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            self._connections.discard(connection)
            del self._sessions[session.number]
            session.close()
            self._dispatcher.session_closed(session)
            if session.system_id is not None:
                log.info("smsc bind closed", extra={
                    "system_id": session.system_id, "session": session.number})

    def _handle(self, session: Session, pdu: Pdu) -> bool:
        """Act on one PDU; False ends the connection."""
        if pdu.is_response:
            self._dispatcher.on_response(session, pdu)
            return True
        if self.fault is FaultMode.SILENT:
            return True
        if self.fault is FaultMode.GENERIC_NACK:
            session.respond(CommandId.GENERIC_NACK, pdu.sequence, status=Status.RSYSERR)
            return True
        try:
            return self._handle_request(session, pdu)
        except MalformedPdu as error:
            log.warning("smsc bad pdu", extra={"command_id": f"0x{pdu.command_id:08X}",
                                               "reason": str(error)})
            session.respond(CommandId.GENERIC_NACK, pdu.sequence, status=Status.RINVCMDLEN)
            return True

    def _handle_request(self, session: Session, pdu: Pdu) -> bool:
        command = pdu.command_id
        if command in _BINDS:
            self._bind(session, pdu, _BINDS[command])
        elif command == CommandId.SUBMIT_SM:
            self._submit(session, pdu)
        elif command == CommandId.ENQUIRE_LINK:
            session.respond(CommandId.ENQUIRE_LINK.response, pdu.sequence)
        elif command == CommandId.UNBIND:
            bound = session.system_id is not None
            session.respond(CommandId.UNBIND.response, pdu.sequence,
                            status=Status.ROK if bound else Status.RINVBNDSTS)
            return not bound
        else:
            session.respond(CommandId.GENERIC_NACK, pdu.sequence, status=Status.RINVCMDID)
        return True

    def _bind(self, session: Session, pdu: Pdu, bind_type: BindType) -> None:
        response = CommandId(bind_type.value).response
        if session.system_id is not None:
            session.respond(response, pdu.sequence, status=Status.RALYBND)
            return
        request = parse_bind(pdu.body)
        if request.system_id != self.config.system_id:
            session.respond(response, pdu.sequence, status=Status.RINVSYSID)
            return
        if not hmac.compare_digest(request.password.encode(), self.config.password.encode()):
            log.warning("smsc bind refused", extra={"system_id": request.system_id,
                                                    "reason": "wrong password"})
            session.respond(response, pdu.sequence, status=Status.RINVPASWD)
            return
        session.bind(request.system_id, bind_type)
        session.respond(response, pdu.sequence, encode_bind_response(SMSC_SYSTEM_ID))
        log.info("smsc bound", extra={"system_id": request.system_id,
                                      "bind": bind_type.name.lower(), "session": session.number})
        if bind_type.receives:
            self._dispatcher.receiver_bound(request.system_id)

    def _submit(self, session: Session, pdu: Pdu) -> None:
        response = CommandId.SUBMIT_SM.response
        if session.system_id is None or not (session.bind_type and session.bind_type.transmits):
            session.respond(response, pdu.sequence, status=Status.RINVBNDSTS)
            return
        message = parse_short_message(pdu.body)
        if session.throttle is not None and not session.throttle.take():
            session.respond(response, pdu.sequence, status=Status.RTHROTTLED)
            return
        assert self._counter is not None
        number = self._counter.next()
        concatenation = concatenation_of(message)
        part = LoggedPart(
            message_id=self._message_id(number), system_id=session.system_id,
            source_addr=message.source_addr, destination_addr=message.destination_addr,
            data_coding=message.data_coding, esm_class=message.esm_class,
            reference=concatenation.reference if concatenation else None,
            total=concatenation.total if concatenation else None,
            sequence=concatenation.sequence if concatenation else None,
            header_length=concatenation.header_length if concatenation else 0,
            short_message=message.content, accepted_at=datetime.now(UTC),
            source_addr_ton=message.source_addr_ton, source_addr_npi=message.source_addr_npi,
            registered_delivery=message.registered_delivery)
        if not self._accepted:
            # Parts read in the same turn of the loop share one commit.
            asyncio.get_running_loop().call_soon(self._commit_accepted)
        self._accepted.append(_Accepted(session, pdu.sequence, number, part,
                                        message.registered_delivery))

    def _message_id(self, number: int) -> str:
        return f"{number:x}" if self.config.message_id_format == "hex" else str(number)

    def _commit_accepted(self) -> None:
        accepted, self._accepted = self._accepted, []
        if not accepted or self._part_log is None:
            return
        self._part_log.record([item.part for item in accepted])
        response = CommandId.SUBMIT_SM.response
        for item in accepted:
            item.session.respond(response, item.sequence,
                                 item.part.message_id.encode("ascii") + b"\x00")
            self._schedule_receipt(item)

    def _schedule_receipt(self, item: _Accepted) -> None:
        wanted = item.registered_delivery & 0x03
        if wanted not in (_RECEIPT_ON_ANY_OUTCOME, _RECEIPT_ON_FAILURE):
            return
        delivered = self._random.random() >= self.config.failure_share
        if delivered and wanted == _RECEIPT_ON_FAILURE:
            return
        done = datetime.now(UTC)
        self._dispatcher.send(item.part.system_id,
                              receipt(item.part, item.number, delivered, done), "receipt",
                              delay=self.config.dlr_delay)

    def _sessions_now(self) -> Iterator[Session]:
        return iter(list(self._sessions.values()))


class SimulatorThread(LoopThread[SmscSimulator]):
    """An SMSC simulator running on its own event loop in a daemon thread."""

    def __init__(self, simulator: SmscSimulator, start_timeout: float = 10.0) -> None:
        super().__init__(simulator, "smsc-simulator", start_timeout)

    @property
    def port(self) -> int:
        return self.simulator.port

    def set_fault(self, mode: FaultMode, timeout: float = 5.0) -> None:
        self.submit(lambda: self.simulator.set_fault(mode)).result(timeout)

    def drop_binds(self, timeout: float = 5.0) -> None:
        self.submit(self.simulator.drop_binds).result(timeout)

    def inject_mo(self, source_addr: str, destination_addr: str, text: str,
                  system_id: str | None = None) -> concurrent.futures.Future[None]:
        """Returns at once: the client must read (and answer) the deliver_sm before it resolves."""
        return self.submit(lambda: self.simulator.inject_mo(
            source_addr, destination_addr, text, system_id))

    def part_log(self) -> PartLog:
        """A reader of the part log for the calling thread."""
        return PartLog(self.simulator.part_log_path)
