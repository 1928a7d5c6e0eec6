"""The SMSC simulator on real sockets, driven by smpplib as an ESME would drive a carrier's SMSC."""

from __future__ import annotations

import asyncio
import re
import socket
import sqlite3
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest
import smpplib.client
import smpplib.command
import smpplib.consts
import smpplib.exceptions
import smpplib.smpp

from publisher.channels.smpp_pdu import CommandId, Status
from publisher.sim import FaultMode, SimulatorThread, SmscConfig, SmscSimulator
from publisher.sim.smsc_state import STATE_FILE, PartLog

SYSTEM_ID = "alerts"
PASSWORD = "s3cret"  # the simulator's test account
RECEIPT_TEXT = re.compile(
    r"^id:(?P<id>\d{10}) sub:001 dlvrd:(?P<dlvrd>\d{3}) submit date:\d{10} done date:\d{10} "
    r"stat:(?P<stat>[A-Z]{7}) err:\d{3} text:(?P<text>.*)$")


@pytest.fixture
def config(tmp_path: Path) -> SmscConfig:
    return SmscConfig(data_dir=tmp_path / "smsc", system_id=SYSTEM_ID, password=PASSWORD,
                      dlr_delay=0.05, receipt_response_timeout=0.3,
                      receipt_retry_interval=0.05, seed=7)


@pytest.fixture
def start(config: SmscConfig) -> Iterator[Callable[..., SimulatorThread]]:
    handles: list[SimulatorThread] = []

    def started(**changes: Any) -> SimulatorThread:
        handle = SmscSimulator(replace(config, **changes)).start_in_thread()
        handles.append(handle)
        return handle

    yield started
    for handle in handles:
        handle.stop()


@dataclass
class Esme:
    """An smpplib client that keeps what it read: responses, errors and deliver_sm."""

    client: smpplib.client.Client
    sent: list[Any] = field(default_factory=list)
    errors: list[Any] = field(default_factory=list)
    delivered: list[Any] = field(default_factory=list)

    def submit(self, text: bytes = b"hello", destination: str = "8613800000001",
               **fields: Any) -> int:
        pdu = smpplib.smpp.make_pdu(
            "submit_sm", client=self.client, source_addr_ton=5, source_addr="12379",
            dest_addr_ton=1, destination_addr=destination, short_message=text,
            registered_delivery=fields.pop("registered_delivery", 1), **fields)
        self.client.send_pdu(pdu)
        sequence: int = pdu.sequence
        return sequence

    def read(self, until: Callable[[Esme], bool], timeout: float = 5.0) -> None:
        deadline = time.monotonic() + timeout
        while not until(self):
            if time.monotonic() > deadline:
                raise AssertionError(f"not read in {timeout} s: sent={len(self.sent)} "
                                     f"errors={len(self.errors)} delivered={len(self.delivered)}")
            self.client.read_once(auto_send_enquire_link=False)


def esme(port: int, bind: str = "transceiver", password: str = PASSWORD) -> Esme:
    client = smpplib.client.Client("127.0.0.1", port, timeout=5, allow_unknown_opt_params=True)
    reader = Esme(client)
    # smpplib passes an error submit_sm_resp to both handlers; only acceptances count as sent.
    client.set_message_sent_handler(
        lambda pdu: reader.sent.append(pdu) if pdu.status == Status.ROK else None)
    client.set_error_pdu_handler(reader.errors.append)
    client.set_message_received_handler(lambda pdu: reader.delivered.append(pdu))
    client.connect()
    try:
        getattr(client, f"bind_{bind}")(system_id=SYSTEM_ID, password=password)
    except Exception:
        client.disconnect()
        raise
    return reader


@pytest.fixture
def clients() -> Iterator[Callable[..., Esme]]:
    opened: list[Esme] = []

    def opened_esme(port: int, bind: str = "transceiver") -> Esme:
        opened.append(esme(port, bind))
        return opened[-1]

    yield opened_esme
    for each in opened:
        each.client.disconnect()


def test_bind_checks_the_password_and_refuses_a_second_bind(
        start: Callable[..., SimulatorThread], clients: Callable[..., Esme]) -> None:
    smsc = start()
    with pytest.raises(smpplib.exceptions.PDUError) as refused:
        esme(smsc.port, password="wrong")
    assert refused.value.args[1] == Status.RINVPASWD

    bound = clients(smsc.port).client
    # smpplib refuses a second bind itself, so it goes out as raw octets.
    bound._socket.sendall(smpplib.smpp.make_pdu(
        "bind_transceiver", client=bound, system_id=SYSTEM_ID, password=PASSWORD).generate())
    again = bound.read_pdu()
    assert (again.command, again.status) == ("bind_transceiver_resp", Status.RALYBND)


def test_message_ids_are_unique_and_continue_after_a_restart(
        start: Callable[..., SimulatorThread], clients: Callable[..., Esme]) -> None:
    runs: list[list[str]] = []
    for _ in range(2):
        smsc = start()
        sender = clients(smsc.port, "transmitter")
        for _ in range(5):
            sender.submit(registered_delivery=0)
        sender.read(lambda e: len(e.sent) == 5)
        runs.append([pdu.message_id.decode() for pdu in sender.sent])
        smsc.stop()

    numbers = [int(message_id, 16) for message_id in runs[0] + runs[1]]
    assert len(set(numbers)) == 10
    assert min(int(message_id, 16) for message_id in runs[1]) > max(
        int(message_id, 16) for message_id in runs[0])


@pytest.mark.parametrize(("failure_share", "state", "stat"),
                         [(0.0, 2, "DELIVRD"), (1.0, 5, "UNDELIV")])
def test_receipt_carries_receipted_message_id_and_message_state(
        start: Callable[..., SimulatorThread], clients: Callable[..., Esme],
        failure_share: float, state: int, stat: str) -> None:
    smsc = start(failure_share=failure_share)
    transceiver = clients(smsc.port)
    transceiver.submit(b"Rainstorm warning")
    transceiver.read(lambda e: len(e.delivered) == 1)

    message_id = transceiver.sent[0].message_id.decode()
    receipt = transceiver.delivered[0]
    assert receipt.esm_class == 0x04
    assert receipt.receipted_message_id.decode() == message_id
    assert receipt.message_state == state
    fields = RECEIPT_TEXT.match(receipt.short_message.decode())
    assert fields is not None, receipt.short_message
    assert int(fields["id"]) == int(message_id, 16)
    assert (fields["stat"], fields["text"]) == (stat, "Rainstorm warning")


def test_receipt_goes_to_another_bind_of_the_system_id_and_is_resent_until_answered(
        start: Callable[..., SimulatorThread], clients: Callable[..., Esme]) -> None:
    smsc = start(dlr_delay=0.2)
    submitter = clients(smsc.port)
    submitter.submit()
    submitter.read(lambda e: len(e.sent) == 1)
    # The submitter never reads again, so a receipt sent to it goes unanswered
    # and must be resent to the other transceiver.
    other = clients(smsc.port)
    other.read(lambda e: len(e.delivered) == 1)
    assert other.delivered[0].receipted_message_id == submitter.sent[0].message_id


def test_throttle_answers_0x58_above_the_limit_and_accepts_again_after(
        start: Callable[..., SimulatorThread], clients: Callable[..., Esme]) -> None:
    smsc = start(max_parts_per_second=20, throttle_burst=3)
    sender = clients(smsc.port, "transmitter")
    for _ in range(10):
        sender.submit(registered_delivery=0)
    sender.read(lambda e: len(e.sent) + len(e.errors) == 10)
    assert len(sender.sent) <= 4
    assert {pdu.status for pdu in sender.errors} == {Status.RTHROTTLED}

    time.sleep(0.2)
    sender.submit(registered_delivery=0)
    sender.read(lambda e: len(e.sent) + len(e.errors) == 11)
    assert sender.sent[-1].status == Status.ROK
    assert len(smsc.part_log().parts()) == len(sender.sent)


def test_fault_generic_nack_answers_every_request(
        start: Callable[..., SimulatorThread], clients: Callable[..., Esme]) -> None:
    smsc = start()
    sender = clients(smsc.port)
    smsc.set_fault(FaultMode.GENERIC_NACK)
    sender.submit()
    sender.read(lambda e: len(e.errors) == 1)
    assert (sender.errors[0].command, sender.errors[0].status) == ("generic_nack",
                                                                   Status.RSYSERR)
    smsc.set_fault(FaultMode.NONE)
    sender.submit()
    sender.read(lambda e: len(e.sent) == 1)


def test_fault_silent_swallows_requests(
        start: Callable[..., SimulatorThread], clients: Callable[..., Esme]) -> None:
    smsc = start()
    sender = clients(smsc.port)
    smsc.set_fault(FaultMode.SILENT)
    sender.client._socket.settimeout(0.3)
    sender.submit()
    with pytest.raises(socket.timeout):
        sender.client.read_pdu()
    smsc.set_fault(FaultMode.NONE)
    sender.client._socket.settimeout(5)
    sender.submit()
    sender.read(lambda e: len(e.sent) == 1)
    assert len(smsc.part_log().parts()) == 1


def test_fault_drop_closes_binds_until_cleared(
        start: Callable[..., SimulatorThread], clients: Callable[..., Esme]) -> None:
    smsc = start()
    sender = clients(smsc.port)
    smsc.set_fault(FaultMode.DROP)
    with pytest.raises(smpplib.exceptions.ConnectionError):
        sender.client.read_pdu()
    with pytest.raises((smpplib.exceptions.ConnectionError, ConnectionError)):
        esme(smsc.port)
    smsc.set_fault(FaultMode.NONE)
    again = clients(smsc.port)
    again.submit()
    again.read(lambda e: len(e.sent) == 1)


@pytest.mark.parametrize(("text", "data_coding", "codec"),
                         [("SUB 110105", 0x00, "ascii"), ("DY 朝阳", 0x08, "utf-16-be")])
def test_mo_injection_reaches_a_bound_receiver(
        start: Callable[..., SimulatorThread], clients: Callable[..., Esme],
        text: str, data_coding: int, codec: str) -> None:
    smsc = start()
    receiver = clients(smsc.port, "receiver")
    answered = smsc.inject_mo("8613800000002", "12379", text)
    receiver.read(lambda e: len(e.delivered) == 1)
    answered.result(timeout=5)

    mo = receiver.delivered[0]
    assert (mo.esm_class, mo.data_coding) == (0x00, data_coding)
    assert (mo.source_addr.decode(), mo.destination_addr.decode()) == ("8613800000002", "12379")
    assert mo.short_message.decode(codec) == text


def _ucs2_parts(text: str, reference: int, per_part: int = 67) -> list[bytes]:
    chunks = [text[i:i + per_part] for i in range(0, len(text), per_part)]
    return [bytes((0x06, 0x08, 0x04)) + reference.to_bytes(2, "big")
            + bytes((len(chunks), number)) + chunk.encode("utf-16-be")
            for number, chunk in enumerate(chunks, start=1)]


def test_part_log_reassembles_ucs2_concatenation_and_flags_duplicates_and_gaps(
        start: Callable[..., SimulatorThread], clients: Callable[..., Esme]) -> None:
    smsc = start()
    sender = clients(smsc.port, "transmitter")
    text = "【北京市预警信息发布中心】北京市气象台发布暴雨红色预警信号，" * 5
    parts = _ucs2_parts(text, reference=0x1234)
    assert len(parts) == 3
    for part in [*parts, parts[1]]:
        sender.submit(part, esm_class=0x40, data_coding=0x08, registered_delivery=0)
    broken = _ucs2_parts(text, reference=0x0099)
    sender.submit(broken[0], destination="8613800000009", esm_class=0x40, data_coding=0x08,
                  registered_delivery=0)
    sender.read(lambda e: len(e.sent) == 5)

    part_log = smsc.part_log()
    logged = part_log.parts()
    assert [part.message_id for part in logged] == [pdu.message_id.decode()
                                                   for pdu in sender.sent]
    assert [(p.reference, p.total, p.sequence) for p in logged[:4]] == [
        (0x1234, 3, 1), (0x1234, 3, 2), (0x1234, 3, 3), (0x1234, 3, 2)]
    whole, partial = part_log.reassembled_messages()
    assert (whole.destination_addr, whole.reference) == ("8613800000001", 0x1234)
    assert (whole.missing, whole.duplicates, whole.text) == ((), (2,), text)
    assert (partial.missing, partial.duplicates, partial.text) == ((2, 3), (), None)
    part_log.close()


def _raw_exchange(port: int, pdu: bytes) -> tuple[int, int, int]:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as connection:
        connection.sendall(pdu)
        header = connection.recv(16)
    length, command_id, status, sequence = struct.unpack(">IIII", header)
    assert length == 16
    return command_id, status, sequence


@pytest.mark.parametrize(("pdu", "status", "sequence"), [
    (struct.pack(">IIII", 16, 0x0000_0111, 0, 42), Status.RINVCMDID, 42),  # unknown command
    (struct.pack(">IIII", 20, CommandId.BIND_TRANSCEIVER, 0, 43) + b"ab\x00c",
     Status.RINVCMDLEN, 43),  # body ends inside the bind's fields
    (struct.pack(">IIII", 8, CommandId.ENQUIRE_LINK, 0, 44), Status.RINVCMDLEN, 0),
])
def test_generic_nack_for_unknown_commands_and_bad_pdus(
        start: Callable[..., SimulatorThread], pdu: bytes, status: int, sequence: int) -> None:
    smsc = start()
    assert _raw_exchange(smsc.port, pdu) == (CommandId.GENERIC_NACK, status, sequence)


@pytest.mark.asyncio
async def test_async_api_runs_on_the_callers_loop(config: SmscConfig) -> None:
    unconnected = smpplib.client.Client("127.0.0.1", 0, allow_unknown_opt_params=True)
    bind = smpplib.smpp.make_pdu("bind_transceiver", client=unconnected,
                                 system_id=SYSTEM_ID, password=PASSWORD).generate()
    async with SmscSimulator(config).running() as smsc:
        reader, writer = await asyncio.open_connection("127.0.0.1", smsc.port)
        writer.write(bind)
        _, command_id, status, _ = struct.unpack(">IIII", (await reader.readexactly(16)))
        assert (command_id, status) == (CommandId.BIND_TRANSCEIVER.response, Status.ROK)
        writer.close()


def test_command_line_simulator_binds_and_stops(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "publisher.cli", "sim", "smsc", "--port", "0",
         "--data-dir", str(tmp_path), "--system-id", SYSTEM_ID, "--password", PASSWORD],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        listening = re.search(r":(\d+)$", process.stdout.readline().strip())
        assert listening is not None
        client = esme(int(listening[1]), "transmitter")
        client.submit()
        client.read(lambda e: len(e.sent) == 1)
        client.client.disconnect()
    finally:
        process.terminate()
        assert process.wait(timeout=10) == 0
    assert (tmp_path / "smsc" / "smsc.sqlite3").exists()


def test_a_part_log_from_before_the_sender_columns_opens_and_keeps_its_parts(
        tmp_path: Path) -> None:
    path = tmp_path / STATE_FILE
    with sqlite3.connect(path) as old:
        old.executescript(
            "CREATE TABLE parts (position INTEGER PRIMARY KEY AUTOINCREMENT,"
            " message_id TEXT NOT NULL, system_id TEXT NOT NULL, source_addr TEXT NOT NULL,"
            " destination_addr TEXT NOT NULL, data_coding INTEGER NOT NULL,"
            " esm_class INTEGER NOT NULL, reference INTEGER, total INTEGER, sequence INTEGER,"
            " header_length INTEGER NOT NULL, short_message BLOB NOT NULL,"
            " accepted_at TEXT NOT NULL);"
            "INSERT INTO parts VALUES (1, '1', 'publisher', '12379', '8613800000101', 0, 0,"
            " NULL, NULL, NULL, 0, x'6869', '2026-11-28T08:00:00+00:00');")
    log = PartLog(path)
    try:
        [part] = log.parts()
        assert (part.short_message, part.registered_delivery) == (b"hi", 0)
    finally:
        log.close()
