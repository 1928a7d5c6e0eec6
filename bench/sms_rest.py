"""Texts per second through the SMS channel's REST route, against the simulator's own ceiling.

The Twilio simulator runs as its own process (``publisher sim twilio``), its
status callbacks off. In each run the same simulator first serves a bare
aiohttp client: ``--concurrency`` requests in flight, each the same form,
basic auth, connection reuse, nothing else (the ceiling); then the
``sms`` channel sends a batch of ``--targets`` subscribers over one REST
route with the same concurrency and a rate far above it (the product:
rendering, the client's pacing and outcomes, the results). The goal is the
product at 80% of the ceiling or more; the medians of ``--runs`` are
reported with the machine's cores and load.

    python -m bench.sms_rest --targets 5000 --runs 3
"""

from __future__ import annotations

import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import aiohttp

from bench.sms_support import (
    city_warning,
    language_of,
    machine_line,
    median_line,
    parse_counts,
    run_arguments,
    verdict,
)
from publisher.cap.writer import write_alert
from publisher.channels.base import DeliveryStatus, OutgoingMessage, TargetRef
from publisher.channels.registry import create_channel
from publisher.channels.sms import SmsChannel

__all__ = ["main"]

ACCOUNT_SID = "AC" + "5" * 32
AUTH_TOKEN = "bench-auth-token"  # the simulator's account for this run
GOAL = 0.8
START_SECONDS = 30.0


@contextmanager
def _simulator() -> Iterator[str]:
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("publisher")), "sim", "twilio", "--port", "0",
         "--account-sid", ACCOUNT_SID, "--auth-token", AUTH_TOKEN],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        if "listening on" not in line:
            raise RuntimeError(f"the simulator did not start: {line!r}")
        yield "http://" + line.rsplit(" ", 1)[1].strip()
    finally:
        process.terminate()
        process.wait(START_SECONDS)


def _number(index: int) -> str:
    return f"+86139{index:08d}"


async def _ceiling(base_url: str, count: int, concurrency: int) -> float:
    url = f"{base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Messages.json"
    headers = {"Authorization": aiohttp.encode_basic_auth(ACCOUNT_SID, AUTH_TOKEN)}
    body = "Red rainstorm warning for Beijing. Stay indoors. Reply STOP to unsubscribe"
    numbers = iter(range(count))
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency),
                                     headers=headers) as session:
        async def worker() -> None:
            for index in numbers:
                async with session.post(url, data={"To": _number(index), "From": "+12379",
                                                   "Body": body}) as response:
                    await response.read()
                    if response.status != 201:
                        raise RuntimeError(f"ceiling: HTTP {response.status}")

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return count / (time.perf_counter() - started)


def _product(base_url: str, count: int, concurrency: int) -> float:
    alert = city_warning()
    message = OutgoingMessage(1, alert, write_alert(alert), alert.msg_type.value,
                              alert.status.value)
    targets = [TargetRef(index, index, _number(index), language_of(index), False)
               for index in range(1, count + 1)]
    channel = create_channel("sms", {"routes": [{
        "name": "rest", "priority": 0, "kind": "twilio", "base_url": base_url,
        "account_sid": ACCOUNT_SID, "auth_token": AUTH_TOKEN, "from": "+12379",
        "concurrency": concurrency, "rate": 1_000_000}]})
    assert isinstance(channel, SmsChannel)
    try:
        channel.send(message, targets[:concurrency])  # the connections and the loop, warm
        started = time.perf_counter()
        results = channel.send(message, targets)
        elapsed = time.perf_counter() - started
    finally:
        channel.close()
    sent = sum(1 for result in results if result.status is DeliveryStatus.SENT)
    if sent != count:
        raise RuntimeError(f"product: {count - sent} of {count} texts not taken")
    return count / elapsed


def main(argv: Sequence[str] | None = None) -> int:
    parser = run_arguments("bench.sms_rest", __doc__.splitlines()[0], 5000)
    parser.add_argument("--concurrency", type=int, default=50, help="requests in flight")
    arguments = parse_counts(parser, argv, "concurrency")
    ceilings: list[float] = []
    products: list[float] = []
    with _simulator() as base_url:
        for _ in range(arguments.runs):
            ceilings.append(asyncio.run(_ceiling(base_url, arguments.targets,
                                                 arguments.concurrency)))
            products.append(_product(base_url, arguments.targets, arguments.concurrency))
    ratios = [product / ceiling for product, ceiling in zip(products, ceilings, strict=True)]
    print(machine_line())
    print(f"{arguments.targets} texts per run, concurrency {arguments.concurrency},"
          f" {arguments.runs} runs")
    print(median_line("ceiling (bare aiohttp client)", ceilings, "texts/s"))
    print(median_line("product (sms channel, REST route)", products, "texts/s"))
    print(verdict("product / ceiling", statistics.median(ratios), GOAL))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
