"""What the SMS benchmarks share: the simulator in a process of its own, the messages, the verdicts.

The SMSC simulator runs in a spawned process, so that it never shares an
interpreter (and its lock) with the client measured against it. Every part
it accepts goes to its part log; rates are read from that log, on the
simulator's own clock: parts accepted, from the first to the last.

The messages are those of a city-wide red rainstorm warning: an English SMS
that fits one part, and a Chinese one (with the carriers' signature and the
unsubscribe hint) that needs several UCS-2 parts. One subscriber in
``CHINESE_EVERY`` reads Chinese.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from publisher.cap.model import Alert, Status
from publisher.channels.sms_encoding import EncodedSms, encode_sms
from publisher.channels.sms_text import render_sms
from publisher.sample_alert import rainstorm_red_warning
from publisher.sim.smsc import SmscConfig, SmscSimulator
from publisher.sim.smsc_state import STATE_FILE, PartLog, reassemble

__all__ = [
    "CHINESE_EVERY",
    "DEFAULT_DLR_DELAY",
    "PASSWORD",
    "SYSTEM_ID",
    "AcceptedSpan",
    "RunningSimulator",
    "accepted_span",
    "city_warning",
    "command_cpu_seconds",
    "cpu_seconds",
    "language_of",
    "machine_line",
    "median_line",
    "megabytes",
    "parse_counts",
    "process_rss",
    "run_arguments",
    "running_simulator",
    "sms_parts",
    "verdict",
]

SYSTEM_ID = "publisher"
PASSWORD = "secret"  # the simulator's demo account
CHINESE_EVERY = 10
START_SECONDS = 30.0
# Receipts of a reachable handset come seconds after the submit on real networks.
DEFAULT_DLR_DELAY = 5.0
STOP_SECONDS = 30.0

# The official guidance that goes with a red rainstorm signal: long enough
# that the Chinese SMS needs several parts, as real ones do.
CHINESE_INSTRUCTION = (
    "政府及相关部门按照职责做好防暴雨应急和抢险工作；停止集会、停课、停业（除特殊行业外）；"
    "做好山洪、滑坡、泥石流等灾害的防御和抢险工作；远离低洼地带和地下空间，切勿涉水行车。")
ENGLISH_HEADLINE = "Red rainstorm warning for Beijing"
ENGLISH_INSTRUCTION = "Stay indoors; keep away from low ground and basements."


def city_warning(alert: Alert | None = None) -> Alert:
    """The benchmarks' warning: ``alert`` (by default the sample one) with their wording."""
    base = alert or rainstorm_red_warning(datetime.now(UTC).replace(microsecond=0),
                                          status=Status.ACTUAL)
    infos = tuple(
        replace(info, instruction=CHINESE_INSTRUCTION) if info.language == "zh-CN"
        else replace(info, headline=ENGLISH_HEADLINE, instruction=ENGLISH_INSTRUCTION)
        for info in base.infos)
    return replace(base, infos=infos)


def language_of(index: int) -> str:
    return "zh-CN" if index % CHINESE_EVERY == 0 else "en-US"


def sms_parts(alert: Alert) -> dict[str, EncodedSms]:
    """The encoded SMS of ``alert`` by reader language, as the SMS channel renders it."""
    return {language: encode_sms(render_sms(alert, "Alert", language), reference=1)
            for language in ("zh-CN", "en-US")}


# --- the simulator in a process of its own -----------------------------------------


@dataclass(frozen=True, slots=True)
class RunningSimulator:
    port: int
    pid: int
    data_dir: Path

    @property
    def part_log_path(self) -> Path:
        return self.data_dir / STATE_FILE

    def cpu_seconds(self) -> float:
        """User and system time the simulator process has used so far."""
        return cpu_seconds(self.pid)


def _serve(config: SmscConfig, ports: Any, stop: Any) -> None:
    handle = SmscSimulator(config).start_in_thread()
    ports.put(handle.port)
    stop.wait()
    handle.stop()


@contextmanager
def running_simulator(*, dlr_delay: float, max_parts_per_second: float | None = None,
                      throttle_burst: float | None = None) -> Iterator[RunningSimulator]:
    """A fresh simulator (new part log) in a spawned process; stopped afterwards."""
    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="bench-smsc-") as folder:
        config = SmscConfig(data_dir=Path(folder), system_id=SYSTEM_ID, password=PASSWORD,
                            dlr_delay=dlr_delay, max_parts_per_second=max_parts_per_second,
                            throttle_burst=throttle_burst)
        ports, stop = context.Queue(), context.Event()
        process = context.Process(target=_serve, args=(config, ports, stop), daemon=True)
        process.start()
        try:
            port = ports.get(timeout=START_SECONDS)
            assert process.pid is not None
            yield RunningSimulator(port, process.pid, Path(folder))
        finally:
            stop.set()
            process.join(STOP_SECONDS)
            if process.is_alive():
                process.kill()
                process.join()


@dataclass(frozen=True, slots=True)
class AcceptedSpan:
    """What the simulator accepted: how many parts, from when to when (its clock)."""

    parts: int
    first: datetime
    last: datetime
    messages: int
    incomplete: int
    duplicated: int

    @property
    def seconds(self) -> float:
        return (self.last - self.first).total_seconds()

    @property
    def rate(self) -> float:
        return self.parts / self.seconds if self.seconds > 0 else float("nan")


def accepted_span(simulator: RunningSimulator) -> AcceptedSpan:
    """Read the part log: the span of acceptance, and the messages joined from their parts."""
    log = PartLog(simulator.part_log_path)
    try:
        parts = log.parts()
    finally:
        log.close()
    if not parts:
        raise RuntimeError("the simulator accepted no part")
    times = [part.accepted_at for part in parts]
    messages = reassemble(parts)
    return AcceptedSpan(len(parts), min(times), max(times), len(messages),
                        sum(not message.complete for message in messages),
                        sum(bool(message.duplicates) for message in messages))


# --- measuring and reporting ---------------------------------------------------------


def _stat(pid: int | str) -> tuple[str, list[str]]:
    # The command name is in parentheses and may hold spaces; the fields follow it.
    text = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    name, fields = text.split("(", 1)[1].rsplit(")", 1)
    return name, fields.split()


def cpu_seconds(pid: int, *, reaped_children: bool = False) -> float:
    """User and system time of a process so far, with its reaped children's if asked."""
    fields = _stat(pid)[1]
    ticks = int(fields[11]) + int(fields[12])
    if reaped_children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def command_cpu_seconds(command: str) -> float:
    """CPU time of every process named ``command`` and of its reaped children (PostgreSQL's)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name, _ = _stat(entry.name)
            if name == command:
                total += cpu_seconds(int(entry.name), reaped_children=True)
        except (OSError, IndexError):
            continue  # it ended meanwhile
    return total


def process_rss(pid: int, field: str = "VmRSS") -> int:
    """Resident set size of a process, in bytes; its peak so far with ``field="VmHWM"``."""
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"process {pid}: no {field} in its status")


def megabytes(size: float) -> str:
    return f"{size / 2**20:.0f} MB"


def run_arguments(module: str, description: str, targets: int) -> argparse.ArgumentParser:
    """The options every SMS benchmark takes: how many subscribers, runs, and the receipt delay."""
    parser = argparse.ArgumentParser(prog=f"python -m {module}", description=description)
    parser.add_argument("--targets", type=int, default=targets, help="subscribers")
    parser.add_argument("--runs", type=int, default=3, help="runs; the medians are reported")
    parser.add_argument("--dlr-delay", type=float, default=DEFAULT_DLR_DELAY,
                        help="seconds from acceptance to receipt, in the simulator")
    return parser


def parse_counts(parser: argparse.ArgumentParser, argv: Sequence[str] | None,
                 *counts: str) -> argparse.Namespace:
    """Parse, and refuse a count below one (``--targets``, ``--runs`` and ``counts``)."""
    arguments = parser.parse_args(argv)
    for name in ("targets", "runs", *counts):
        if getattr(arguments, name) < 1:
            parser.error(f"--{name.replace('_', '-')}: {getattr(arguments, name)} is below 1")
    return arguments


def machine_line() -> str:
    load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
    return (f"machine: {os.cpu_count()} cores, Python {platform.python_version()}, "
            f"load average {load} at {time.strftime('%Y-%m-%d %H:%M')}")


def median_line(name: str, values: Sequence[float], unit: str) -> str:
    runs = ", ".join(f"{value:,.0f}" for value in values)
    return f"{name}: median {statistics.median(values):,.0f} {unit} (runs: {runs})"


def verdict(what: str, ratio: float, goal: float) -> str:
    return (f"goal: {what} >= {goal:.0%}: {ratio:.0%}, "
            f"{'met' if ratio >= goal else 'NOT met'}")
