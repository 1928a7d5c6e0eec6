"""One SMPP bind on real sockets: against smpp34's server, and a responder that makes faults.

smpp34 (a third-party SMPP 3.4 server) proves the wire format; the small
asyncio responder below answers each ``submit_sm`` as a test asks (accept,
throttle, stay silent, generic_nack, drop the connection) and records when
each PDU arrived, which is what went over the wire.
"""

from __future__ import annotations

import asyncio
import itertools
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Hashable, Iterator
from dataclasses import dataclass, field

import pytest
import smpp34
from smpplib import smpp
from smpplib.consts import OPTIONAL_PARAMS

from publisher.channels.smpp_bind import (
    Acknowledgement,
    Bind,
    BindError,
    BindSettings,
    BindState,
    InboundMessage,
    SubmitPart,
    body_key,
)
from publisher.channels.smpp_pacing import PacingPolicy
from publisher.channels.sms_encoding import (
    DATA_CODING_UCS2,
    ESM_CLASS_UDHI,
    encode_sms,
    split_user_data,
)

THROTTLED = 0x58
INVALID_COMMAND_LENGTH = 0x02
HOST = "127.0.0.1"
TLV_RECEIPTED_MESSAGE_ID = OPTIONAL_PARAMS["receipted_message_id"]
TLV_MESSAGE_STATE = OPTIONAL_PARAMS["message_state"]


class Recorder:
    """The channel's side of the bind: every event it reported, in order."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.accepts: list[tuple[Hashable, str]] = []
        self.rejects: list[tuple[Hashable, int, bool]] = []
        self.resubmits: list[Hashable] = []
        self.messages: list[InboundMessage] = []
        self.refusals: list[int] = []
        self.offered: list[int] = []

    def accepted(self, key: Hashable, message_id: str) -> None:
        with self._lock:
            self.accepts.append((key, message_id))

    def rejected(self, key: Hashable, command_status: int, permanent: bool) -> None:
        with self._lock:
            self.rejects.append((key, command_status, permanent))

    def resubmitted(self, key: Hashable) -> None:
        with self._lock:
            self.resubmits.append(key)

    def repeated(self, key: int, acknowledgement: Acknowledgement) -> bool:
        with self._lock:
            self.offered.append(key)
        return False  # every deliver_sm read and handed on, copies too

    def received(self, message: InboundMessage) -> None:
        with self._lock:
            self.messages.append(message)

    def refused(self, key: int) -> None:
        with self._lock:
            self.refusals.append(key)

    def accepted_keys(self) -> list[Hashable]:
        with self._lock:
            return [key for key, _ in self.accepts]

    def settled(self) -> int:
        with self._lock:
            return len(self.accepts) + len(self.rejects)


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.005)


# -- the responder -------------------------------------------------------------

@dataclass(frozen=True)
class Answer:
    """How the responder answers one submit_sm."""

    kind: str  # accept | status | silent | nack | nack-unsequenced | drop
    status: int = 0


ACCEPT = Answer("accept")


@dataclass
class Received:
    at: float
    connection: int
    sequence: int
    text: str
    answer: Answer


Policy = Callable[[int, int, str], Answer]  # (submit index, connection, text) -> answer


def _always_accept(index: int, connection: int, text: str) -> Answer:
    return ACCEPT


@dataclass
class Responder:
    """A tiny SMPP 3.4 server whose answers to submit_sm the test chooses."""

    policy: Policy = _always_accept
    answer_in_batches_of: int = 1
    silent_connections: frozenset[int] = frozenset()
    submits: list[Received] = field(default_factory=list)
    enquire_links: list[tuple[float, int]] = field(default_factory=list)
    binds: int = 0
    unbinds: int = 0
    unanswered_submits: int = 0
    pushed_after_bind: tuple[bytes, ...] = ()
    pushed_after_first_bind: tuple[bytes, ...] = ()
    answers_to_pushed: list[tuple[int, int, int]] = field(default_factory=list)
    port: int = 0

    def accepted_texts(self) -> Counter[str]:
        return Counter(item.text for item in list(self.submits) if item.answer == ACCEPT)

    async def session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connection = self.binds
        held: list[bytes] = []
        try:
            while True:
                header = await reader.readexactly(16)
                length, command_id, status, sequence = struct.unpack(">LLLL", header)
                body = await reader.readexactly(length - 16)
                silent = connection in self.silent_connections
                if command_id == 0x09:
                    self.binds += 1
                    writer.write(_pdu(0x80000009, 0, sequence, b"SIM\0"))
                    writer.write(b"".join(self.pushed_after_bind))
                    if self.binds == 1:
                        writer.write(b"".join(self.pushed_after_first_bind))
                elif command_id == 0x15:
                    self.enquire_links.append((time.monotonic(), connection))
                    if not silent:
                        writer.write(_pdu(0x80000015, 0, sequence))
                elif command_id == 0x06:
                    self.unbinds += 1
                    writer.write(_pdu(0x80000006, 0, sequence))
                    await writer.drain()
                    return
                elif command_id == 0x04 and silent:
                    self.unanswered_submits += 1
                elif command_id & 0x80000000:
                    self.answers_to_pushed.append((command_id, status, sequence))
                elif command_id == 0x04:
                    response = self._answer(connection, sequence, header + body)
                    if response is None:
                        return
                    held.append(response)
                    if len(held) >= self.answer_in_batches_of:
                        writer.write(b"".join(held))
                        held.clear()
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            return
        finally:
            writer.close()

    def _answer(self, connection: int, sequence: int, raw: bytes) -> bytes | None:
        submitted = smpp34.decode(raw)
        assert isinstance(submitted, smpp34.SubmitSm)
        text = submitted.short_message.decode("ascii")
        index = len(self.submits)
        answer = self.policy(index, connection, text)
        self.submits.append(Received(time.monotonic(), connection, sequence, text, answer))
        if answer.kind == "accept":
            return _pdu(0x80000004, 0, sequence, f"id{index:x}\0".encode())
        if answer.kind == "status":
            return _pdu(0x80000004, answer.status, sequence)
        if answer.kind == "nack":
            return _pdu(0x80000000, answer.status, sequence)
        if answer.kind == "nack-unsequenced":
            return _pdu(0x80000000, answer.status, 0)
        if answer.kind == "silent":
            return b""
        return None  # drop


def _pdu(command_id: int, status: int, sequence: int, body: bytes = b"") -> bytes:
    return struct.pack(">LLLL", 16 + len(body), command_id, status, sequence) + body


@pytest.fixture
def event_loop_thread() -> Iterator[asyncio.AbstractEventLoop]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    yield loop

    async def finish() -> None:
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    asyncio.run_coroutine_threadsafe(finish(), loop).result(5)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(5)
    loop.close()


@pytest.fixture
def serve(event_loop_thread: asyncio.AbstractEventLoop) -> Iterator[Callable[[Responder],
                                                                           Responder]]:
    servers: list[asyncio.Server] = []

    def start(responder: Responder) -> Responder:
        server = asyncio.run_coroutine_threadsafe(
            asyncio.start_server(responder.session, HOST, 0), event_loop_thread).result(5)
        servers.append(server)
        responder.port = server.sockets[0].getsockname()[1]
        return responder

    yield start

    async def close() -> None:
        for server in servers:
            server.close()
            await server.wait_closed()

    asyncio.run_coroutine_threadsafe(close(), event_loop_thread).result(5)


@pytest.fixture
def binds() -> Iterator[list[Bind]]:
    started: list[Bind] = []
    yield started
    for bind in started:
        if bind.state is not BindState.STOPPED:
            bind.stop(drain_timeout=0.5)


def start_bind(binds: list[Bind], port: int, events: Recorder, **overrides: object) -> Bind:
    settings: dict[str, object] = {"host": HOST, "port": port, "system_id": "publisher",
                                   "password": "secret", "name": "test", "rate": 1000.0,
                                   "reconnect_initial": 0.05, "reconnect_max": 0.2}
    settings.update(overrides)
    bind = Bind(BindSettings(**settings), events)  # type: ignore[arg-type]
    binds.append(bind)
    bind.start()
    return bind


def text_parts(count: int) -> list[SubmitPart]:
    return [SubmitPart(key=("delivery", index), destination_addr="8613800138000",
                       short_message=f"part-{index}".encode(), data_coding=0)
            for index in range(count)]


def key_of(text: str) -> Hashable:
    return ("delivery", int(text.removeprefix("part-")))


def assert_each_accepted_once(events: Recorder, parts: list[SubmitPart]) -> None:
    counts = Counter(events.accepted_keys())
    assert set(counts) == {part.key for part in parts}
    assert max(counts.values()) == 1


def send_all(serve: Callable[[Responder], Responder], binds: list[Bind], policy: Policy,
             count: int, **settings: object) -> tuple[Responder, Recorder, list[SubmitPart]]:
    """Send ``count`` parts through one bind to a responder and wait for every answer."""
    responder = serve(Responder(policy=policy))
    events = Recorder()
    parts = text_parts(count)
    start_bind(binds, responder.port, events, **settings).submit(parts)
    wait_until(lambda: events.settled() == len(parts), 10, "every answer")
    return responder, events, parts


# -- against smpp34's server ----------------------------------------------------

LONG_CHINESE = ("北京市气象台发布暴雨红色预警信号：预计未来三小时本市大部分地区将出现特大暴雨，"
                "请市民避免外出，远离河道、低洼地区和地下空间，注意防范城市内涝和山洪地质灾害。"
                "回复TD退订")


def test_interoperates_with_smpp34_ucs2_long_message_and_receipt(
        event_loop_thread: asyncio.AbstractEventLoop, binds: list[Bind]) -> None:
    encoded = encode_sms(LONG_CHINESE, 0x1234)
    assert encoded.part_count >= 2
    received: list[smpp34.SubmitSmEvent] = []
    receipt_answers: list[int] = []

    async def smsc(server: smpp34.Server) -> None:
        esme: smpp34.Esme | None = None
        while True:
            event = await server.next()
            if isinstance(event, smpp34.Esme):
                esme = event
            elif isinstance(event, smpp34.SubmitSmEvent):
                received.append(event)
                event.accept(f"A{len(received):04X}")
                if len(received) == encoded.part_count and esme is not None:
                    answer = await esme.deliver_sm(
                        "8613800138000", b"id:A0001 stat:DELIVRD", source_addr="8613800138000",
                        esm_class=0x04,
                        tlvs=[smpp34.Tlv(TLV_RECEIPTED_MESSAGE_ID, b"A0001\0"),
                              smpp34.Tlv(TLV_MESSAGE_STATE, bytes([2]))])
                    receipt_answers.append(answer.command_status)

    async def open_server() -> tuple[smpp34.Server, int]:
        for port in range(27800, 27900):
            server = smpp34.Server(HOST, port, system_id="SMSC")
            try:
                await server.start()
            except Exception:  # the port is taken: smpp34 reports it as a plain error
                continue
            asyncio.get_running_loop().create_task(smsc(server))
            return server, port
        raise AssertionError("no free port for smpp34's server")

    server, port = asyncio.run_coroutine_threadsafe(open_server(), event_loop_thread).result(5)
    try:
        events = Recorder()
        bind = start_bind(binds, port, events)
        parts = [SubmitPart(key=(7, index), destination_addr="8613800138000", short_message=part,
                            data_coding=encoded.data_coding, esm_class=encoded.esm_class,
                            source_addr="12379")
                 for index, part in enumerate(encoded.parts)]
        bind.submit(parts)
        wait_until(lambda: len(events.messages) == 1, 5, "the receipt")
        time.sleep(0.2)
        assert receipt_answers == []  # not before it is stored
        bind.acknowledge([events.messages[0].acknowledgement])
        wait_until(lambda: len(receipt_answers) == 1, 5, "the answer to the receipt")
        bind.stop()
    finally:
        async def close() -> None:
            await server.stop()

        asyncio.run_coroutine_threadsafe(close(), event_loop_thread).result(5)

    # smpp34 answers concurrently: the ids follow the order it took the parts in.
    index_of = {part: index for index, part in enumerate(encoded.parts)}
    given = {(7, index_of[event.short_message]): f"A{order + 1:04X}"
             for order, event in enumerate(received)}
    assert sorted(events.accepts) == sorted(given.items())
    assert sorted(event.short_message for event in received) == sorted(encoded.parts)
    assert {(event.data_coding, event.esm_class, event.registered_delivery, event.source_addr)
            for event in received} == {(DATA_CODING_UCS2, ESM_CLASS_UDHI, 1, "12379")}
    text = "".join(split_user_data(ESM_CLASS_UDHI, part)[1].decode("utf-16-be")
                   for part in sorted(event.short_message for event in received))
    assert text == LONG_CHINESE
    receipt = events.messages[0]
    assert receipt.is_receipt
    assert (receipt.receipted_message_id, receipt.message_state) == ("A0001", 2)
    assert receipt.short_message == b"id:A0001 stat:DELIVRD"
    assert receipt_answers == [0]


# -- pacing and windowing ---------------------------------------------------------

def test_paces_at_the_configured_rate_without_releasing_a_window_at_once(
        serve: Callable[[Responder], Responder], binds: list[Bind]) -> None:
    # Answers come back ten at a time: the whole window is freed at once.
    responder = serve(Responder(answer_in_batches_of=10))
    events = Recorder()
    parts = text_parts(400)
    bind = start_bind(binds, responder.port, events, rate=200.0, window=10)
    bind.submit(parts)
    wait_until(lambda: events.settled() == len(parts), 10, "every answer")

    arrivals = [item.at for item in responder.submits]
    measured = (len(arrivals) - 1) / (arrivals[-1] - arrivals[0])
    # Never faster than the rate. Slower only by what a busy machine takes from the
    # bind's thread (165 parts/s seen with the whole suite on two cores); a pacer that
    # waited twice as long as it should would still fail.
    assert 120.0 <= measured <= 220.0
    # A full window sent at once would land ten parts within a millisecond or two;
    # paced, ten parts span nine gaps of 5 ms (less the jitter of their arrival times).
    spans = [later - earlier for earlier, later in zip(arrivals, arrivals[9:], strict=False)]
    assert min(spans) > 0.01
    assert_each_accepted_once(events, parts)


def test_keeps_at_most_a_window_outstanding(
        serve: Callable[[Responder], Responder], binds: list[Bind]) -> None:
    silent_until_stop = serve(Responder(silent_connections=frozenset({0})))
    events = Recorder()
    bind = start_bind(binds, silent_until_stop.port, events, window=4, rate=1000.0,
                      response_timeout=30.0)
    bind.submit(text_parts(20))
    time.sleep(0.3)
    assert silent_until_stop.unanswered_submits == 4
    leftovers = bind.stop(drain_timeout=0.2)
    assert len(events.resubmits) == 4
    assert len(leftovers) == 20


# -- throttling ----------------------------------------------------------------------

def test_throttle_lowers_the_rate_then_recovers_and_loses_nothing(
        serve: Callable[[Responder], Responder], binds: list[Bind]) -> None:
    def every_fifth_at_first(index: int, connection: int, text: str) -> Answer:
        return Answer("status", THROTTLED) if index < 100 and index % 5 == 4 else ACCEPT

    responder = serve(Responder(policy=every_fifth_at_first))
    events = Recorder()
    parts = text_parts(300)
    bind = start_bind(binds, responder.port, events, rate=200.0,
                      pacing=PacingPolicy(hold_seconds=0.2, recovery_seconds=0.4))
    rates: list[float] = []
    bind.submit(parts)
    while events.settled() < len(parts):
        rates.append(bind.current_rate())
        time.sleep(0.01)
        assert len(rates) < 1500, "the bind did not finish within 15 s"

    assert_each_accepted_once(events, parts)
    assert events.rejects == [] and events.resubmits == []
    assert responder.accepted_texts() == Counter(part.short_message.decode() for part in parts)
    throttled = [item.text for item in responder.submits if item.answer != ACCEPT]
    assert len(throttled) == 20
    assert min(rates) <= 100.0
    during = [item.at for item in responder.submits[:100]]
    throttled_rate = (len(during) - 1) / (during[-1] - during[0])
    assert throttled_rate >= 70.0  # slowed, not collapsed
    assert rates[-1] == 200.0
    # Back at the full rate on the wire too: faster than while throttled (a busy
    # machine slows both alike, so the two are compared rather than timed).
    last = [item.at for item in responder.submits[-60:]]
    assert (len(last) - 1) / (last[-1] - last[0]) >= 1.5 * throttled_rate


# -- drops, timeouts, nacks ------------------------------------------------------------

def test_a_bind_dropped_mid_window_resubmits_the_outstanding_parts_once(
        serve: Callable[[Responder], Responder], binds: list[Bind]) -> None:
    def drop_after_twenty(index: int, connection: int, text: str) -> Answer:
        if connection == 0 and 20 <= index < 25:
            return Answer("silent")
        return Answer("drop") if connection == 0 and index == 25 else ACCEPT

    responder, events, parts = send_all(serve, binds, drop_after_twenty, 60, window=10)

    assert_each_accepted_once(events, parts)
    assert responder.binds == 2
    unanswered = {key_of(item.text) for item in responder.submits[20:26]}
    resubmitted = Counter(events.resubmits)
    assert unanswered <= set(resubmitted)
    assert max(resubmitted.values()) == 1
    first_link_accepted = {key_of(item.text) for item in responder.submits
                           if item.connection == 0 and item.answer == ACCEPT}
    assert not first_link_accepted & set(resubmitted)
    assert all(count == 1 for count in responder.accepted_texts().values())


def test_a_response_timeout_resubmits_with_a_new_sequence(
        serve: Callable[[Responder], Responder], binds: list[Bind]) -> None:
    def first_unanswered(index: int, connection: int, text: str) -> Answer:
        return Answer("silent") if index == 0 else ACCEPT

    responder, events, parts = send_all(serve, binds, first_unanswered, 5, response_timeout=0.3)

    assert_each_accepted_once(events, parts)
    assert events.resubmits == [("delivery", 0)]
    attempts = [item for item in responder.submits if item.text == "part-0"]
    assert len(attempts) == 2
    assert attempts[0].sequence != attempts[1].sequence
    # Noted on arrival at the SMSC, the first possibly late on a busy machine: the gap
    # is the bind's 0.3 s timeout give or take that.
    assert attempts[1].at - attempts[0].at >= 0.25
    assert responder.binds == 1


def test_generic_nack_requeues_the_part_it_names_and_gives_up_after_three(
        serve: Callable[[Responder], Responder], binds: list[Bind]) -> None:
    nacked_once: set[str] = set()

    def nacks(index: int, connection: int, text: str) -> Answer:
        if text == "part-1" and text not in nacked_once:
            nacked_once.add(text)
            return Answer("nack", INVALID_COMMAND_LENGTH)
        if text == "part-2":
            return Answer("nack", INVALID_COMMAND_LENGTH)
        return ACCEPT

    responder, events, parts = send_all(serve, binds, nacks, 6)

    assert events.rejects == [(("delivery", 2), INVALID_COMMAND_LENGTH, True)]
    assert Counter(events.accepted_keys()) == Counter(
        part.key for part in parts if part.key != ("delivery", 2))
    assert events.resubmits == []
    texts = Counter(item.text for item in responder.submits)
    assert (texts["part-1"], texts["part-2"]) == (2, 3)


def test_an_unsequenced_generic_nack_resubmits_everything_outstanding(
        serve: Callable[[Responder], Responder], binds: list[Bind]) -> None:
    def nack_the_fourth(index: int, connection: int, text: str) -> Answer:
        if index == 3:
            return Answer("nack-unsequenced", INVALID_COMMAND_LENGTH)
        return Answer("silent") if index < 3 else ACCEPT

    responder, events, parts = send_all(serve, binds, nack_the_fourth, 4, window=4)

    assert_each_accepted_once(events, parts)
    assert Counter(events.resubmits) == Counter(part.key for part in parts)
    assert len(responder.submits) == 8


# -- the link ----------------------------------------------------------------------------

def test_enquire_link_goes_out_on_its_own_timer_and_a_silent_link_is_replaced(
        serve: Callable[[Responder], Responder], binds: list[Bind]) -> None:
    responder = serve(Responder(silent_connections=frozenset({0})))
    events = Recorder()
    bind = start_bind(binds, responder.port, events, enquire_link_interval=0.1,
                      enquire_link_timeout=0.2)
    wait_until(lambda: responder.binds == 2, 3, "a second bind after the silent one")
    wait_until(lambda: sum(1 for _, link in responder.enquire_links if link == 1) >= 5, 3,
               "enquire_link on the second bind")
    second = [at for at, link in responder.enquire_links if link == 1]
    gaps = [later - earlier for earlier, later in itertools.pairwise(second)]
    assert all(0.07 <= gap <= 0.3 for gap in gaps)
    assert bind.state is BindState.BOUND
    parts = text_parts(3)
    bind.submit(parts)
    wait_until(lambda: events.settled() == 3, 3, "the parts on the second bind")
    assert_each_accepted_once(events, parts)


def test_stop_drains_unbinds_and_returns_what_was_never_sent(
        serve: Callable[[Responder], Responder], binds: list[Bind]) -> None:
    responder = serve(Responder())
    events = Recorder()
    parts = text_parts(50)
    bind = start_bind(binds, responder.port, events, rate=20.0)
    bind.submit(parts)
    time.sleep(0.3)
    leftovers = bind.stop(drain_timeout=1.0)

    assert responder.unbinds == 1
    assert bind.state is BindState.STOPPED
    accepted = set(events.accepted_keys())
    assert 3 <= len(accepted) <= 12
    assert accepted | {part.key for part in leftovers} == {part.key for part in parts}
    assert not accepted & {part.key for part in leftovers}
    assert events.resubmits == []


def test_reconnects_with_backoff_until_the_smsc_listens(binds: list[Bind],
                                                       serve: Callable[[Responder], Responder]
                                                       ) -> None:
    responder = serve(Responder())
    port = responder.port
    events = Recorder()
    refused = start_bind(binds, 1, events, connect_timeout=0.2)  # nothing listens on port 1
    time.sleep(0.3)
    assert refused.state in (BindState.DOWN, BindState.CONNECTING)
    assert refused.stop(drain_timeout=0.1) == []
    bind = start_bind(binds, port, events)
    wait_until(lambda: bind.state is BindState.BOUND, 3, "the bind")


class RefusingRecorder(Recorder):
    """A channel whose receipt store is down for the first message it is handed."""

    def received(self, message: InboundMessage) -> None:
        super().received(message)
        if len(self.messages) == 1:
            raise RuntimeError("receipt store unavailable")


def deliver(sequence: int, text: bytes, esm_class: int) -> bytes:
    pdu = smpp.make_pdu("deliver_sm", client=None, sequence=sequence,
                        source_addr="8613800138000", destination_addr="12379",
                        esm_class=esm_class, short_message=text,
                        receipted_message_id="A0001" if esm_class else None,
                        message_state=2 if esm_class else None)
    pdu.sequence = sequence
    return bytes(pdu.generate())


def test_answers_every_pdu_the_smsc_sends(serve: Callable[[Responder], Responder],
                                         binds: list[Bind]) -> None:
    responder = serve(Responder(pushed_after_bind=(
        deliver(901, b"id:A0001 stat:DELIVRD", 0x04),
        deliver(902, b"DY 110105", 0x00),
        _pdu(0x00000015, 0, 903),  # enquire_link
        _pdu(0x00000008, 0, 904, b"\0" * 8),  # cancel_sm: not for an ESME
    )))
    events = RefusingRecorder()
    bind = start_bind(binds, responder.port, events)
    wait_until(lambda: len(responder.answers_to_pushed) == 3, 3, "three answers")
    time.sleep(0.2)
    assert len(responder.answers_to_pushed) == 3  # the text waits until it is stored
    bind.acknowledge([events.messages[1].acknowledgement])
    wait_until(lambda: len(responder.answers_to_pushed) == 4, 3, "four answers")

    assert sorted(responder.answers_to_pushed, key=lambda answer: answer[2]) == [
        (0x80000005, 0x64, 901),  # deliver_sm_resp ESME_RX_T_APPN: the SMSC retries
        (0x80000005, 0x00, 902),
        (0x80000015, 0x00, 903),
        (0x80000000, 0x03, 904),  # generic_nack ESME_RINVCMDID
    ]
    receipt, mobile_originated = events.messages
    receipt_key = body_key(bind.settings.smsc, deliver(901, b"id:A0001 stat:DELIVRD", 0x04)[16:])
    # Only the receipt is offered as a possible copy: a text is read however often it comes.
    assert events.offered == [receipt_key]
    assert events.refusals == [receipt_key]
    assert receipt.is_receipt and not mobile_originated.is_receipt
    assert (receipt.receipted_message_id, receipt.message_state) == ("A0001", 2)
    assert (mobile_originated.source_addr, mobile_originated.short_message) == (
        "8613800138000", b"DY 110105")
    assert mobile_originated.bind == "test"


def test_an_acknowledgement_from_a_dropped_connection_is_not_sent(
        serve: Callable[[Responder], Responder], binds: list[Bind]) -> None:
    # The SMSC unbinds right after its receipt, then sends it again on the
    # next connection, under the same sequence number.
    unbind = _pdu(0x00000006, 0, 902)
    responder = serve(Responder(
        pushed_after_bind=(deliver(901, b"id:A0001 stat:DELIVRD", 0x04),),
        pushed_after_first_bind=(unbind,)))
    events = Recorder()
    bind = start_bind(binds, responder.port, events)
    wait_until(lambda: len(events.messages) == 2, 3, "the receipt, twice")
    before_drop, repeated = events.messages
    assert before_drop.acknowledgement.connection != repeated.acknowledgement.connection

    bind.acknowledge([before_drop.acknowledgement])
    time.sleep(0.3)
    assert responder.answers_to_pushed == [(0x80000006, 0x00, 902)]  # only the unbind_resp

    bind.acknowledge([repeated.acknowledgement, repeated.acknowledgement])
    wait_until(lambda: len(responder.answers_to_pushed) == 2, 3, "the receipt answered")
    time.sleep(0.2)
    assert responder.answers_to_pushed == [(0x80000006, 0x00, 902), (0x80000005, 0x00, 901)]


def test_settings_hide_the_password_and_refuse_what_smpp_cannot_carry() -> None:
    settings = BindSettings(host=HOST, port=2775, system_id="publisher", password="s3cr3t")
    assert "s3cr3t" not in repr(settings)
    wrong: list[tuple[str, object]] = [("system_id", "x" * 16), ("password", "x" * 9),
                                       ("window", 0), ("rate", 0.0), ("reconnect_max", 0.1)]
    for field_name, value in wrong:
        values: dict[str, object] = {"host": HOST, "port": 2775, "system_id": "publisher",
                                     "password": "secret", field_name: value}
        with pytest.raises(BindError) as raised:
            BindSettings(**values)  # type: ignore[arg-type]
        assert raised.value.field == field_name
