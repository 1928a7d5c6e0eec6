"""One SMPP 3.4 transceiver bind, owned by one thread and its selector loop.

smpplib's socket is not thread-safe and its client has no window, so this
module uses only smpplib's PDU classes and owns the socket itself: a single
thread connects, binds, writes ``submit_sm`` parts within a window, reads the
responses, answers ``deliver_sm`` and ``enquire_link``, and reconnects. Other
threads hand parts in through ``Bind.submit`` (a queue and a wake-up socket);
no other thread ever touches the SMPP socket.

Every part's sequence number is recorded before its PDU is written, so a
response can never arrive for a request the loop does not know yet.

A ``deliver_sm`` is answered only once what it carried is stored: the bind
hands it on (``BindEvents.received``) with an ``Acknowledgement``, and
whoever commits it passes that back to ``Bind.acknowledge``; only then does
the loop write ``deliver_sm_resp``. Until then the SMSC still holds it, so a
worker that dies first loses nothing: the SMSC delivers it again, on this
bind or another. An acknowledgement from before a reconnect is not sent, as
its sequence named a request on a connection that is gone and the SMSC sends
that ``deliver_sm`` again anyway. A delivery receipt is offered first as
what the SMSC may have sent again (``BindEvents.repeated``, by
``body_key``) and, when it is that, read no further: the first's answer
answers it. A text from a phone is not: the same words from the same phone
may well be sent twice, and each is read.

What can happen to a part, reported through ``BindEvents``:
- ``accepted(key, message_id)``: the SMSC took it (``submit_sm_resp`` OK);
- ``rejected(key, status, permanent)``: the SMSC refused it;
- ``resubmitted(key)``: its fate is unknown (the bind dropped, or the
  response timed out, while it was outstanding) and it goes out again: the
  SMSC may deliver it twice, and the channel counts that on the delivery row.
  Throttled, queue-full and ``generic_nack``-ed parts go out again too, but
  the SMSC has refused those, so they are not duplicates and not reported.
"""

from __future__ import annotations

import contextlib
import enum
import hashlib
import logging
import queue
import selectors
import socket
import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from smpplib import consts, smpp
from smpplib.client import SimpleSequenceGenerator

from publisher.channels.smpp_pacing import Pacer, PacingPolicy, default_burst
from publisher.channels.smpp_pdu import (
    CommandId,
    MalformedPdu,
    ShortMessage,
    Tag,
    encode_pdu,
    encode_short_message,
    esm_class_of,
    parse_short_message,
)

__all__ = [
    "ESM_CLASS_DELIVERY_RECEIPT",
    "TRANSIENT_STATUSES",
    "Acknowledgement",
    "Bind",
    "BindError",
    "BindEvents",
    "BindSettings",
    "BindState",
    "InboundMessage",
    "SubmitPart",
    "body_key",
]

log = logging.getLogger(__name__)

ESM_CLASS_DELIVERY_RECEIPT = 0x04
_ESM_CLASS_TYPE_MASK = 0x3C

# The SMSC asks to slow down: requeued with a new sequence, never reported.
_THROTTLE_STATUSES = frozenset({consts.SMPP_ESME_RTHROTTLED, consts.SMPP_ESME_RMSGQFUL})
# Refusals that a later attempt may overcome; every other status is permanent.
TRANSIENT_STATUSES = frozenset({
    consts.SMPP_ESME_RSYSERR, consts.SMPP_ESME_RSUBMITFAIL, consts.SMPP_ESME_RX_T_APPN,
    consts.SMPP_ESME_RUNKNOWNERR, *_THROTTLE_STATUSES,
})

_SUBMIT_SM_RESP = 0x80000004
_DELIVER_SM = 0x00000005
_DELIVER_SM_RESP = 0x80000005
_UNBIND = 0x00000006
_UNBIND_RESP = 0x80000006
_BIND_TRANSCEIVER_RESP = 0x80000009
_ENQUIRE_LINK = 0x00000015
_ENQUIRE_LINK_RESP = 0x80000015
_GENERIC_NACK = 0x80000000
_ALERT_NOTIFICATION = 0x00000102
_RESPONSE_BIT = 0x80000000

_HEADER = struct.Struct(">LLLL")
# SMPP 3.4 PDUs are small; a larger length means the stream is out of step.
_MAX_PDU_OCTETS = 70_000
_RECEIVE_OCTETS = 65_536
# SMPP 3.4 field limits, NUL included: system_id 16, password 9.
_MAX_SYSTEM_ID = 15
_MAX_PASSWORD = 8


class BindError(Exception):
    """A bind that cannot be made or used; ``field`` names the setting or step at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


class _LinkDown(Exception):
    """The link is gone or unusable; the loop closes it and reconnects."""


class BindState(enum.Enum):
    STARTING = "starting"
    CONNECTING = "connecting"
    BOUND = "bound"
    DOWN = "down"
    STOPPED = "stopped"


@dataclass(frozen=True, slots=True)
class BindSettings:
    """One transceiver bind to one SMSC; times in seconds, rates in parts per second."""

    host: str
    port: int
    system_id: str
    password: str = field(repr=False)
    system_type: str = ""
    name: str = "smpp"
    window: int = 10
    rate: float = 100.0
    burst: float | None = None
    pacing: PacingPolicy = field(default_factory=PacingPolicy)
    response_timeout: float = 10.0
    enquire_link_interval: float = 30.0
    enquire_link_timeout: float = 10.0
    connect_timeout: float = 5.0
    reconnect_initial: float = 0.2
    reconnect_max: float = 30.0
    unbind_timeout: float = 1.0
    max_nacks_per_part: int = 3

    @property
    def smsc(self) -> str:
        """Which SMSC, and which account on it, the bind talks to."""
        return f"{self.system_id}@{self.host}:{self.port}"

    def __post_init__(self) -> None:
        if not self.system_id or len(self.system_id) > _MAX_SYSTEM_ID:
            raise BindError("system_id", f"must be 1..{_MAX_SYSTEM_ID} characters")
        if len(self.password) > _MAX_PASSWORD:
            raise BindError("password", f"must be at most {_MAX_PASSWORD} characters")
        if self.window < 1:
            raise BindError("window", f"{self.window} must be at least 1")
        for name in ("rate", "response_timeout", "enquire_link_interval",
                     "enquire_link_timeout", "connect_timeout", "reconnect_initial",
                     "unbind_timeout"):
            if getattr(self, name) <= 0:
                raise BindError(name, f"{getattr(self, name)} must be positive")
        if self.reconnect_max < self.reconnect_initial:
            raise BindError("reconnect_max", f"{self.reconnect_max} is below reconnect_initial"
                                             f" {self.reconnect_initial}")


@dataclass(frozen=True, slots=True)
class SubmitPart:
    """One ``submit_sm``: one part of an encoded SMS to one number.

    ``key`` is opaque to the bind and comes back in every event about the part.
    """

    key: Hashable
    destination_addr: str
    short_message: bytes
    data_coding: int
    esm_class: int = 0
    source_addr: str = ""
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    dest_addr_ton: int = 1  # international: numbers are E.164
    dest_addr_npi: int = 1  # ISDN (E.164)
    registered_delivery: int = 1
    use_message_payload: bool = False


@dataclass(frozen=True, slots=True)
class Acknowledgement:
    """What answers one ``deliver_sm``: its bind, the connection it came on, its sequence."""

    bind: str
    connection: int
    sequence: int


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """A ``deliver_sm``: a delivery receipt or a mobile-originated message.

    ``acknowledgement`` goes back to ``Bind.acknowledge`` once it is stored;
    ``arrived_at`` is ``time.monotonic()`` when it came, so the time
    the SMSC waits for that answer can be told.
    """

    bind: str
    source_addr: str
    destination_addr: str
    esm_class: int
    data_coding: int
    short_message: bytes
    message_payload: bytes | None
    receipted_message_id: str | None
    message_state: int | None
    network_error_code: bytes | None
    acknowledgement: Acknowledgement
    arrived_at: float

    @property
    def is_receipt(self) -> bool:
        return _is_receipt_class(self.esm_class)


class BindEvents(Protocol):
    """What the bind reports; called on the bind's own thread, so each call must be quick."""

    def accepted(self, key: Hashable, message_id: str) -> None: ...

    def rejected(self, key: Hashable, command_status: int, permanent: bool) -> None: ...

    def resubmitted(self, key: Hashable) -> None: ...

    def repeated(self, key: int, acknowledgement: Acknowledgement) -> bool:
        """Whether the ``deliver_sm`` with body ``key`` repeats one taken before.

        If so, the bind reads it no further: it is answered with the one it
        repeats (``Bind.acknowledge``), at once if that one is stored already.
        """

    def received(self, message: InboundMessage) -> None:
        """Store ``message``, then ``Bind.acknowledge`` it; the SMSC waits for that answer.

        Raising makes the bind answer ESME_RX_T_APPN, so the SMSC delivers it again.
        """

    def refused(self, key: int) -> None:
        """The ``deliver_sm`` with body ``key`` was answered with an error: not taken."""


@dataclass(slots=True)
class _Outstanding:
    part: SubmitPart
    sent_at: float


class _NoSequences:
    """The sequence source for parsing: a parsed request must not use up one of ours."""

    sequence = 0

    def next_sequence(self) -> int:
        return 0


_PARSING = _NoSequences()


def _parse(raw: bytes) -> Any:
    return smpp.parse_pdu(raw, client=_PARSING, allow_unknown_opt_params=True)


def _c_string(octets: bytes) -> str:
    return octets.split(b"\0", 1)[0].decode("latin-1")


def body_key(smsc: str, body: bytes) -> int:
    """A PDU's body (the octets after its header) from ``smsc``, as a 64-bit hash.

    An SMSC sends a ``deliver_sm`` again with the same body under a new
    sequence. Two SMSCs can send the same body for different messages (each
    numbers its message ids its own way, and a receipt's dates are to the
    minute), so the SMSC is part of the key. Two different keys collide with
    a chance of about one in 10^19.
    """
    digest = hashlib.blake2b(smsc.encode(), digest_size=8)
    digest.update(b"\0")
    digest.update(body)
    return int.from_bytes(digest.digest(), "big")


def _is_receipt_class(esm_class: int) -> bool:
    return esm_class & _ESM_CLASS_TYPE_MASK == ESM_CLASS_DELIVERY_RECEIPT


def _is_receipt(body: bytes) -> bool:
    """Whether a deliver_sm body is a delivery receipt; one too short to tell is not."""
    try:
        return _is_receipt_class(esm_class_of(body))
    except MalformedPdu:
        return False


def _inbound(bind: str, raw: bytes, acknowledgement: Acknowledgement,
             arrived_at: float) -> InboundMessage:
    message = parse_short_message(raw[_HEADER.size:])
    tlvs = message.tlvs
    receipted = tlvs.get(Tag.RECEIPTED_MESSAGE_ID)
    state = tlvs.get(Tag.MESSAGE_STATE)
    return InboundMessage(
        bind=bind,
        source_addr=message.source_addr,
        destination_addr=message.destination_addr,
        esm_class=message.esm_class,
        data_coding=message.data_coding,
        short_message=message.short_message,
        message_payload=tlvs.get(Tag.MESSAGE_PAYLOAD),
        receipted_message_id=None if receipted is None else _c_string(receipted),
        message_state=state[0] if state else None,
        network_error_code=tlvs.get(Tag.NETWORK_ERROR_CODE),
        acknowledgement=acknowledgement, arrived_at=arrived_at)


class Bind:
    """One transceiver bind; ``start`` it, ``submit`` parts from any thread, ``stop`` it."""

    def __init__(self, settings: BindSettings, events: BindEvents, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.settings = settings
        self._events = events
        self._clock = clock
        self._sequences = SimpleSequenceGenerator()
        self._pacer = Pacer(settings.rate, burst=self._burst(settings),
                            policy=settings.pacing, now=clock())
        self._inbound: queue.SimpleQueue[SubmitPart] = queue.SimpleQueue()
        self._pending: deque[SubmitPart] = deque()
        self._outstanding: dict[int, _Outstanding] = {}
        self._nacks: dict[Hashable, int] = {}
        self._acknowledged: queue.SimpleQueue[Acknowledgement] = queue.SimpleQueue()
        # The connection (counted from 1) and the deliver_sm sequences on it
        # handed on and not answered yet.
        self._connection = 0
        self._awaiting: set[int] = set()
        self._wake_reader, self._wake_writer = socket.socketpair()
        self._wake_reader.setblocking(False)
        self._wake_writer.setblocking(False)
        self._stopping = threading.Event()
        self._drain_deadline = 0.0
        self._thread: threading.Thread | None = None
        self._state = BindState.STARTING
        self._socket: socket.socket | None = None
        self._selector: selectors.BaseSelector | None = None
        self._received = bytearray()
        self._unsent = bytearray()
        self._enquire_sequence: int | None = None
        self._enquire_sent_at = 0.0
        self._next_enquire_at = 0.0
        self._unbind_sequence: int | None = None
        self._unbind_sent_at = 0.0
        self._unbound = False

    @staticmethod
    def _burst(settings: BindSettings) -> float:
        if settings.burst is not None:
            return settings.burst
        # Half a window at most: a window of responses never releases itself at once.
        return max(1.0, min(default_burst(settings.rate), settings.window / 2))

    # -- the API for other threads --------------------------------------------

    @property
    def state(self) -> BindState:
        return self._state

    def current_rate(self) -> float:
        """The pacing rate in force now, in parts per second (lowered after throttling)."""
        return self._pacer.rate(self._clock())

    def start(self) -> None:
        if self._thread is not None:
            raise BindError("bind", f"{self.settings.name} is already started")
        self._thread = threading.Thread(target=self._run, name=f"smpp-{self.settings.name}",
                                        daemon=True)
        self._thread.start()

    def submit(self, parts: Iterable[SubmitPart]) -> None:
        """Queue parts for sending; thread-safe, never blocks on the network."""
        if self._stopping.is_set():
            raise BindError("bind", f"{self.settings.name} is stopping")
        for part in parts:
            self._inbound.put(part)
        self._wake()

    def acknowledge(self, acknowledgements: Iterable[Acknowledgement]) -> None:
        """Answer these ``deliver_sm`` with status 0: what they carried is stored. Thread-safe.

        One whose connection has dropped since, or that was answered already, is skipped.
        """
        for acknowledgement in acknowledgements:
            self._acknowledged.put(acknowledgement)
        self._wake()

    def stop(self, drain_timeout: float = 5.0) -> list[SubmitPart]:
        """Wait up to ``drain_timeout`` for outstanding responses, unbind, close.

        Returns the parts that were never sent (and those whose fate stayed
        unknown, already reported as resubmitted), for another bind to send.
        """
        self._drain_deadline = self._clock() + drain_timeout
        self._stopping.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(drain_timeout + self.settings.unbind_timeout
                              + self.settings.connect_timeout + 1.0)
            if self._thread.is_alive():
                raise BindError("bind", f"{self.settings.name} did not stop in time")
        leftovers = list(self._pending)
        self._pending.clear()
        while True:
            try:
                leftovers.append(self._inbound.get_nowait())
            except queue.Empty:
                break
        self._wake_reader.close()
        self._wake_writer.close()
        self._state = BindState.STOPPED
        return leftovers

    def _wake(self) -> None:
        # A full wake-up buffer wakes the loop all the same.
        with contextlib.suppress(OSError):
            self._wake_writer.send(b"\0")

    # -- the loop thread --------------------------------------------------------

    def _run(self) -> None:
        delay = self.settings.reconnect_initial
        while not self._stopping.is_set():
            self._state = BindState.CONNECTING
            try:
                self._connect()
            except (OSError, BindError, _LinkDown) as error:
                self._state = BindState.DOWN
                log.warning("smpp bind failed", extra={**self._log_context(), "error": str(error),
                                                        "retry_in": delay})
                self._stopping.wait(delay)
                delay = min(self.settings.reconnect_max, delay * 2)
                continue
            delay = self.settings.reconnect_initial
            try:
                self._serve()
            except (_LinkDown, OSError) as error:
                log.warning("smpp link down", extra={**self._log_context(), "error": str(error),
                                                      "outstanding": len(self._outstanding)})
            finally:
                self._close()
        self._state = BindState.STOPPED

    def _log_context(self) -> dict[str, object]:
        return {"bind": self.settings.name, "host": self.settings.host,
                "port": self.settings.port}

    def _connect(self) -> None:
        settings = self.settings
        sock = socket.create_connection((settings.host, settings.port),
                                        timeout=settings.connect_timeout)
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            request = smpp.make_pdu("bind_transceiver", client=self._sequences,
                                    system_id=settings.system_id, password=settings.password,
                                    system_type=settings.system_type)
            sock.sendall(request.generate())
            response = self._read_bind_response(sock, request.sequence)
        except BaseException:
            sock.close()
            raise
        if response.command != "bind_transceiver_resp" or response.status != consts.SMPP_ESME_ROK:
            sock.close()
            raise BindError("bind_transceiver", f"refused by {response.command} with status"
                                                f" 0x{response.status:02X}")
        sock.setblocking(False)
        self._socket = sock
        self._connection += 1
        self._selector = selectors.DefaultSelector()
        self._selector.register(sock, selectors.EVENT_READ)
        self._selector.register(self._wake_reader, selectors.EVENT_READ)
        now = self._clock()
        self._next_enquire_at = now + settings.enquire_link_interval
        self._unbind_sequence = None
        self._unbound = False
        self._state = BindState.BOUND
        log.info("smpp bound", extra=self._log_context())

    def _read_bind_response(self, sock: socket.socket, sequence: int) -> Any:
        # What follows the response in the same read stays in the buffer for the loop.
        self._received.clear()
        while True:
            chunk = sock.recv(_RECEIVE_OCTETS)
            if not chunk:
                raise BindError("bind_transceiver", "the SMSC closed the connection")
            self._received += chunk
            for raw in self._complete_pdus(self._received):
                command_id, _, response_sequence = struct.unpack(">LLL", raw[4:16])
                if (command_id in (_BIND_TRANSCEIVER_RESP, _GENERIC_NACK)
                        and response_sequence == sequence):
                    return _parse(raw)

    @staticmethod
    def _complete_pdus(buffer: bytearray) -> Iterable[bytes]:
        while len(buffer) >= 4:
            (length,) = struct.unpack(">L", buffer[:4])
            if not _HEADER.size <= length <= _MAX_PDU_OCTETS:
                raise _LinkDown(f"command_length {length} is out of range")
            if len(buffer) < length:
                return
            raw = bytes(buffer[:length])
            del buffer[:length]
            yield raw

    def _serve(self) -> None:
        selector = self._selector
        assert selector is not None
        for raw in self._complete_pdus(self._received):
            self._handle(raw)
        while True:
            now = self._clock()
            self._take_inbound()
            self._answer_acknowledged()
            if self._stopping.is_set() and self._unbind_finished(now):
                return
            self._check_timers(now)
            send_wait = self._send_ready(now)
            self._flush()
            timeout = min(send_wait, self._next_timer(now) - now)
            for key, mask in selector.select(max(0.0, timeout)):
                if key.fileobj is self._wake_reader:
                    self._drain_wake()
                    continue
                if mask & selectors.EVENT_READ:
                    self._receive()
                self._flush()

    def _take_inbound(self) -> None:
        while True:
            try:
                self._pending.append(self._inbound.get_nowait())
            except queue.Empty:
                return

    def _answer_acknowledged(self) -> None:
        while True:
            try:
                acknowledgement = self._acknowledged.get_nowait()
            except queue.Empty:
                return
            if (acknowledgement.connection == self._connection
                    and acknowledgement.sequence in self._awaiting):
                self._awaiting.discard(acknowledgement.sequence)
                self._respond(_DELIVER_SM_RESP, acknowledgement.sequence)

    def _drain_wake(self) -> None:
        try:
            while self._wake_reader.recv(4096):
                pass
        except BlockingIOError:
            pass

    def _unbind_finished(self, now: float) -> bool:
        """While stopping: unbind once nothing is outstanding (or the drain time is up)."""
        if self._unbind_sequence is None:
            if self._outstanding and now < self._drain_deadline:
                return False
            # What was stored before the stop is answered before the unbind.
            self._answer_acknowledged()
            request = smpp.make_pdu("unbind", client=self._sequences)
            self._unbind_sequence = request.sequence
            self._unbind_sent_at = now
            self._write(request.generate())
            return False
        return self._unbound or now >= self._unbind_sent_at + self.settings.unbind_timeout

    def _next_timer(self, now: float) -> float:
        deadlines = [self._next_enquire_at]
        if self._enquire_sequence is not None:
            deadlines.append(self._enquire_sent_at + self.settings.enquire_link_timeout)
        if self._outstanding:
            oldest = next(iter(self._outstanding.values()))
            deadlines.append(oldest.sent_at + self.settings.response_timeout)
        if self._stopping.is_set():
            deadlines.append(now + 0.05 if self._unbind_sequence is None
                             else self._unbind_sent_at + self.settings.unbind_timeout)
        return min(deadlines)

    def _check_timers(self, now: float) -> None:
        settings = self.settings
        if (self._enquire_sequence is not None
                and now >= self._enquire_sent_at + settings.enquire_link_timeout):
            raise _LinkDown(f"no enquire_link_resp within {settings.enquire_link_timeout} s")
        if now >= self._next_enquire_at:
            self._next_enquire_at = now + settings.enquire_link_interval
            if self._enquire_sequence is None:
                request = smpp.make_pdu("enquire_link", client=self._sequences)
                self._enquire_sequence = request.sequence
                self._enquire_sent_at = now
                self._write(request.generate())
        expired = []
        for sequence, entry in self._outstanding.items():
            if now < entry.sent_at + settings.response_timeout:
                break
            expired.append(sequence)
        if expired:
            log.warning("smpp response timeout", extra={**self._log_context(),
                                                         "parts": len(expired)})
            self._resubmit([self._outstanding.pop(sequence) for sequence in expired])

    def _send_ready(self, now: float) -> float:
        """Send what the window and the pacer allow; seconds until the next chance."""
        if self._stopping.is_set():
            return self.settings.unbind_timeout
        while self._pending and len(self._outstanding) < self.settings.window:
            wait = self._pacer.wait(now)
            if wait > 0:
                return wait
            self._pacer.take(now)
            self._send_part(self._pending.popleft(), now)
        return self.settings.response_timeout

    def _send_part(self, part: SubmitPart, now: float) -> None:
        payload = part.use_message_payload
        body = encode_short_message(ShortMessage(
            source_addr=part.source_addr, destination_addr=part.destination_addr,
            esm_class=part.esm_class, data_coding=part.data_coding,
            short_message=b"" if payload else part.short_message,
            registered_delivery=part.registered_delivery,
            source_addr_ton=part.source_addr_ton, source_addr_npi=part.source_addr_npi,
            dest_addr_ton=part.dest_addr_ton, dest_addr_npi=part.dest_addr_npi,
            tlvs={Tag.MESSAGE_PAYLOAD: part.short_message} if payload else {}))
        sequence = self._sequences.next_sequence()
        self._outstanding[sequence] = _Outstanding(part=part, sent_at=now)
        self._write(encode_pdu(CommandId.SUBMIT_SM, sequence, body))

    def _write(self, octets: bytes) -> None:
        # Sent by the loop once per round: the parts the pacer released and
        # the answers to a chunk of receipts go out in as few segments as
        # the socket takes, not one system call each.
        self._unsent += octets

    def _flush(self) -> None:
        sock = self._socket
        selector = self._selector
        assert sock is not None and selector is not None
        if self._unsent:
            try:
                sent = sock.send(self._unsent)
            except BlockingIOError:
                sent = 0
            except OSError as error:
                raise _LinkDown(f"send failed: {error}") from error
            del self._unsent[:sent]
        interest = selectors.EVENT_READ | (selectors.EVENT_WRITE if self._unsent else 0)
        if selector.get_key(sock).events != interest:
            selector.modify(sock, interest)

    def _receive(self) -> None:
        sock = self._socket
        assert sock is not None
        try:
            chunk = sock.recv(_RECEIVE_OCTETS)
        except BlockingIOError:
            return
        except OSError as error:
            raise _LinkDown(f"receive failed: {error}") from error
        if not chunk:
            raise _LinkDown("the SMSC closed the connection")
        self._received += chunk
        for raw in self._complete_pdus(self._received):
            self._handle(raw)

    def _respond(self, command_id: int, sequence: int, status: int = consts.SMPP_ESME_ROK
                 ) -> None:
        # A response is a header and at most an empty message_id: packed here,
        # as building it through smpplib costs more than the receipt it answers.
        body = b"\0" if command_id == _DELIVER_SM_RESP else b""
        self._write(_HEADER.pack(_HEADER.size + len(body), command_id, status, sequence) + body)

    def _handle(self, raw: bytes) -> None:
        _, command_id, status, sequence = _HEADER.unpack(raw[:_HEADER.size])
        if command_id == _SUBMIT_SM_RESP:
            self._submit_answered(sequence, status, raw)
        elif command_id == _DELIVER_SM:
            self._deliver(sequence, raw)
        elif command_id == _ENQUIRE_LINK_RESP and sequence == self._enquire_sequence:
            self._enquire_sequence = None
        elif command_id == _GENERIC_NACK:
            self._nacked(sequence, status)
        elif command_id == _ENQUIRE_LINK:
            self._respond(_ENQUIRE_LINK_RESP, sequence)
        elif command_id == _UNBIND:
            self._respond(_UNBIND_RESP, sequence)
            self._flush()
            raise _LinkDown("the SMSC unbound")
        elif command_id == _UNBIND_RESP and sequence == self._unbind_sequence:
            self._unbound = True
        elif command_id == _ALERT_NOTIFICATION or command_id & _RESPONSE_BIT:
            log.debug("smpp pdu ignored", extra={**self._log_context(),
                                                  "command_id": f"0x{command_id:08X}"})
        else:
            self._respond(_GENERIC_NACK, sequence, consts.SMPP_ESME_RINVCMDID)

    def _submit_answered(self, sequence: int, status: int, raw: bytes) -> None:
        entry = self._outstanding.pop(sequence, None)
        if entry is None:
            # The answer to a request already timed out and resubmitted.
            log.info("smpp late submit_sm_resp", extra={**self._log_context(),
                                                        "sequence": sequence})
            return
        now = self._clock()
        key = entry.part.key
        if status == consts.SMPP_ESME_ROK:
            self._pacer.accepted(now, entry.sent_at)
            self._nacks.pop(key, None)
            self._events.accepted(key, _c_string(raw[_HEADER.size:]))
        elif status in _THROTTLE_STATUSES:
            self._pacer.throttled(now, entry.sent_at)
            self._pending.appendleft(entry.part)
        else:
            self._nacks.pop(key, None)
            self._events.rejected(key, status, status not in TRANSIENT_STATUSES)

    def _nacked(self, sequence: int, status: int) -> None:
        if sequence == 0:
            # The SMSC could not tell which request it refuses: any outstanding
            # one may or may not have been taken.
            log.warning("smpp generic_nack without a sequence",
                        extra={**self._log_context(), "status": status,
                               "outstanding": len(self._outstanding)})
            self._resubmit(list(self._outstanding.values()))
            self._outstanding.clear()
            return
        if sequence == self._enquire_sequence:
            self._enquire_sequence = None  # an answer all the same: the link is alive
            return
        entry = self._outstanding.pop(sequence, None)
        if entry is None:
            return
        if status in _THROTTLE_STATUSES:
            self._pacer.throttled(self._clock(), entry.sent_at)
            self._pending.appendleft(entry.part)
            return
        key = entry.part.key
        nacks = self._nacks.get(key, 0) + 1
        if nacks >= self.settings.max_nacks_per_part:
            self._nacks.pop(key, None)
            self._events.rejected(key, status, True)
            return
        self._nacks[key] = nacks
        self._pending.appendleft(entry.part)

    def _deliver(self, sequence: int, raw: bytes) -> None:
        """Hand a deliver_sm on; it is answered once acknowledged, or now if it is refused.

        One the SMSC sent again is read no further (``BindEvents.repeated``).
        """
        acknowledgement = Acknowledgement(self.settings.name, self._connection, sequence)
        body = raw[_HEADER.size:]
        key = body_key(self.settings.smsc, body)
        # Awaited before it is handed on: the acknowledgement may come back at once.
        self._awaiting.add(sequence)
        if _is_receipt(body) and self._events.repeated(key, acknowledgement):
            return
        try:
            message = _inbound(self.settings.name, raw, acknowledgement, time.monotonic())
        except Exception:
            log.exception("smpp deliver_sm unreadable", extra=self._log_context())
            self._refuse(key, sequence, consts.SMPP_ESME_RX_P_APPN)
            return
        try:
            self._events.received(message)
        except Exception:
            log.exception("smpp deliver_sm not taken", extra=self._log_context())
            self._refuse(key, sequence, consts.SMPP_ESME_RX_T_APPN)

    def _refuse(self, key: int, sequence: int, status: int) -> None:
        self._events.refused(key)
        self._awaiting.discard(sequence)
        self._respond(_DELIVER_SM_RESP, sequence, status)

    def _resubmit(self, entries: list[_Outstanding]) -> None:
        """Parts whose fate is unknown go out again, first, and are reported."""
        for entry in entries:
            self._events.resubmitted(entry.part.key)
        self._pending.extendleft(reversed([entry.part for entry in entries]))

    def _close(self) -> None:
        if self._outstanding:
            self._resubmit(list(self._outstanding.values()))
            self._outstanding.clear()
        if self._selector is not None:
            self._selector.close()
            self._selector = None
        if self._socket is not None:
            self._socket.close()
            self._socket = None
        self._received.clear()
        self._unsent.clear()
        # Unanswered on a connection that is gone: the SMSC sends them again.
        self._awaiting.clear()
        self._enquire_sequence = None
        if not self._stopping.is_set():
            self._state = BindState.DOWN
