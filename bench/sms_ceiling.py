"""The raw SMPP ceiling: a minimal windowed smpplib loop against the simulator, nothing else.

One transceiver bind, TCP_NODELAY, one thread and one select loop that owns
the socket: ``make_pdu`` + ``send_pdu`` while fewer than ``--window`` parts
are outstanding, ``read_once`` when the socket is readable. Its own error
handler requeues a throttled or nacked part instead of raising. No
database, no Celery, no rendering: the parts are encoded once, beforehand.

It sends what the product path sends for the same number of subscribers:
one SMS per subscriber, one in ten a Chinese one of several UCS-2 parts, the
others one part, each asking for a delivery receipt, and it answers every
receipt, so the simulator does the same work for both. The rate is parts
accepted per second on the simulator's clock, from the first part to the
last (its part log); the median of ``--runs`` runs, each against a fresh
simulator in a process of its own.

    python -m bench.sms_ceiling [--targets 100000] [--runs 3] [--window 100] [--dlr-delay 5]
"""

from __future__ import annotations

import argparse
import select
import socket
import sys
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import smpplib.client
import smpplib.consts
import smpplib.smpp

from bench.sms_support import (
    DEFAULT_DLR_DELAY,
    PASSWORD,
    SYSTEM_ID,
    AcceptedSpan,
    accepted_span,
    city_warning,
    language_of,
    machine_line,
    median_line,
    parse_counts,
    run_arguments,
    running_simulator,
    sms_parts,
)

__all__ = ["CeilingRun", "Submission", "main", "measure_ceiling", "submissions"]

DEFAULT_TARGETS = 100_000
DEFAULT_WINDOW = 100
SOURCE_ADDR = "12379"
# Nothing read for this long means the simulator stopped answering: the run fails.
SILENCE_SECONDS = 30.0
_REQUEUED = frozenset({smpplib.consts.SMPP_ESME_RTHROTTLED, smpplib.consts.SMPP_ESME_RMSGQFUL})


@dataclass(frozen=True, slots=True)
class Submission:
    destination_addr: str
    short_message: bytes
    data_coding: int
    esm_class: int


def submissions(targets: int) -> Iterator[Submission]:
    """Every part the product sends to ``targets`` subscribers, in order."""
    encoded = sms_parts(city_warning())
    for index in range(targets):
        sms = encoded[language_of(index)]
        for octets in sms.parts:
            yield Submission(f"86138{index:08d}", octets, sms.data_coding, sms.esm_class)


@dataclass
class _Window:
    """The loop's book-keeping, fed by smpplib's handlers."""

    outstanding: dict[int, Submission] = field(default_factory=dict)
    retry: deque[Submission] = field(default_factory=deque)
    accepted: int = 0
    refused: int = 0
    requeued: int = 0
    receipts: int = 0

    def answered(self, pdu: Any) -> None:
        part = self.outstanding.pop(pdu.sequence, None)
        if part is None:
            return
        if pdu.status == smpplib.consts.SMPP_ESME_ROK:
            self.accepted += 1
        elif pdu.status in _REQUEUED:
            self.retry.append(part)
            self.requeued += 1
        else:
            self.refused += 1

    def error(self, pdu: Any) -> None:
        # smpplib raises by default; a submit_sm_resp with an error status
        # still reaches ``answered``, a generic_nack only comes here.
        if pdu.command == "generic_nack":
            part = self.outstanding.pop(pdu.sequence, None)
            if part is not None:
                self.retry.append(part)
                self.requeued += 1

    def receipt(self, pdu: Any) -> None:
        self.receipts += 1


@dataclass(frozen=True, slots=True)
class CeilingRun:
    span: AcceptedSpan
    refused: int
    requeued: int
    receipts: int
    simulator_cpu: float


def _connect(port: int, window: _Window) -> smpplib.client.Client:
    client = smpplib.client.Client("127.0.0.1", port, timeout=SILENCE_SECONDS,
                                   allow_unknown_opt_params=True)
    client.set_message_sent_handler(window.answered)
    client.set_error_pdu_handler(window.error)
    client.set_message_received_handler(window.receipt)
    client.connect()
    client._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client.bind_transceiver(system_id=SYSTEM_ID, password=PASSWORD)
    return client


def _submit(client: smpplib.client.Client, window: _Window, part: Submission) -> None:
    pdu = smpplib.smpp.make_pdu(
        "submit_sm", client=client, source_addr_ton=smpplib.consts.SMPP_TON_ALNUM,
        source_addr=SOURCE_ADDR, dest_addr_ton=smpplib.consts.SMPP_TON_INTL,
        dest_addr_npi=smpplib.consts.SMPP_NPI_ISDN, destination_addr=part.destination_addr,
        esm_class=part.esm_class, registered_delivery=1, data_coding=part.data_coding,
        short_message=part.short_message)
    # Recorded before it is written: its response cannot come before we know it.
    window.outstanding[pdu.sequence] = part
    client.send_pdu(pdu)


def _read(client: smpplib.client.Client) -> None:
    readable, _, _ = select.select([client._socket], [], [], SILENCE_SECONDS)
    if not readable:
        raise TimeoutError(f"the simulator sent nothing for {SILENCE_SECONDS} s")
    client.read_once(auto_send_enquire_link=False)


def _run_loop(client: smpplib.client.Client, window: _Window, parts: Iterator[Submission],
              limit: int, receipt_wait: float) -> None:
    sent_all = False
    while not sent_all or window.outstanding or window.retry:
        while len(window.outstanding) < limit:
            if window.retry:
                _submit(client, window, window.retry.popleft())
                continue
            part = next(parts, None)
            if part is None:
                sent_all = True
                break
            _submit(client, window, part)
        if window.outstanding:
            _read(client)
    # Every receipt answered, as the product does, so that no run leaves work behind.
    deadline = time.monotonic() + receipt_wait
    while window.receipts < window.accepted and time.monotonic() < deadline:
        _read(client)


def measure_ceiling(targets: int, window_size: int = DEFAULT_WINDOW,
                    dlr_delay: float = DEFAULT_DLR_DELAY) -> CeilingRun:
    """One run: a fresh simulator, every part of ``targets`` subscribers through one bind."""
    parts = submissions(targets)
    with running_simulator(dlr_delay=dlr_delay) as simulator:
        window = _Window()
        client = _connect(simulator.port, window)
        try:
            _run_loop(client, window, parts, window_size, receipt_wait=dlr_delay + 30.0)
            client.unbind()
        finally:
            client.disconnect()
        simulator_cpu = simulator.cpu_seconds()
        span = accepted_span(simulator)
    return CeilingRun(span, window.refused, window.requeued, window.receipts, simulator_cpu)


def describe(run: CeilingRun) -> str:
    span = run.span
    return (f"{span.rate:,.0f} parts/s ({span.parts:,} parts of {span.messages:,} messages in "
            f"{span.seconds:.2f} s; refused {run.refused}, requeued {run.requeued}, receipts "
            f"{run.receipts:,}; incomplete {span.incomplete}, duplicated {span.duplicated}; "
            f"simulator CPU {run.simulator_cpu:.1f} s)")


def _arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = run_arguments("bench.sms_ceiling", __doc__.splitlines()[0], DEFAULT_TARGETS)
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    return parse_counts(parser, argv, "window")


def main(argv: Sequence[str] | None = None) -> int:
    arguments = _arguments(argv)
    print(f"raw SMPP ceiling: smpplib {version('smpplib')}, one bind, window "
          f"{arguments.window}, {arguments.targets:,} subscribers (1 in 10 Chinese), "
          f"{arguments.runs} runs, receipts after {arguments.dlr_delay} s")
    print(machine_line())
    rates = []
    for run in range(arguments.runs):
        outcome = measure_ceiling(arguments.targets, arguments.window, arguments.dlr_delay)
        rates.append(outcome.span.rate)
        print(f"run {run + 1}: {describe(outcome)}", flush=True)
    print(median_line("raw ceiling", rates, "parts/s"))
    print(f"at the end: {machine_line()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
