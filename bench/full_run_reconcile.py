"""Reconciliation of the full run: every delivery row against what the simulators received.

Each simulator keeps its own record of what reached it, independent of the
platform's database:

- the SMSC its part log (SQLite), whose parts are joined back into messages
  per destination (``reassemble``); the phases of the run follow one
  another, so the parts of a phase are those accepted between its enqueue
  and the next phase's;
- the LED and speaker simulators, and the boards behind the district
  nodes, a JSON-lines log of every push received (``<kind>-received.jsonl``),
  each line naming the device and the message's identifier.

A target the delivery rows name and its simulator never received is lost;
a target that received the message more than once (or an SMS with a part
twice) is a duplicate; a receiver the rows do not name is unexpected.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from publisher.sim.smsc_state import LoggedPart, PartLog, reassemble

__all__ = [
    "DeviceLog",
    "Tally",
    "device_log",
    "read_parts",
    "sms_tally",
    "tally",
]


@dataclass(frozen=True, slots=True)
class Tally:
    """One channel of one phase: targets expected, and what their simulator saw of them."""

    expected: int
    once: int
    lost: int
    duplicated: int
    unexpected: int

    @property
    def exact(self) -> bool:
        return self.lost == self.duplicated == self.unexpected == 0

    def __str__(self) -> str:
        return (f"{self.expected:,} expected, {self.once:,} received once, lost {self.lost:,},"
                f" duplicated {self.duplicated:,}, unexpected {self.unexpected:,}")


def tally(expected: Collection[str], received: Iterable[str]) -> Tally:
    """Count ``received`` (one entry per arrival) against the ``expected`` receivers."""
    counts = Counter(received)
    wanted = set(expected)
    return Tally(
        expected=len(wanted),
        once=sum(counts[receiver] == 1 for receiver in wanted),
        lost=sum(counts[receiver] == 0 for receiver in wanted),
        duplicated=sum(count - 1 for receiver, count in counts.items()
                       if receiver in wanted and count > 1),
        unexpected=sum(count for receiver, count in counts.items() if receiver not in wanted))


def read_parts(part_log: Path) -> list[LoggedPart]:
    log = PartLog(part_log)
    try:
        return log.parts()
    finally:
        log.close()


def sms_tally(parts: Sequence[LoggedPart], start: datetime, end: datetime | None,
              expected: Collection[str]) -> Tally:
    """The SMS of one phase: parts accepted from ``start`` until ``end`` (None: the last)."""
    window = [part for part in parts
              if part.accepted_at >= start and (end is None or part.accepted_at < end)]
    messages = reassemble(window)
    # An SMS with a part missing never reached its reader: only complete ones count, and
    # a part accepted twice is the text sent twice, whatever the handset shows.
    arrived = [message.destination_addr for message in messages if message.complete]
    repeated = [message.destination_addr for message in messages
                for _ in message.duplicates]
    return tally(expected, arrived + repeated)


@dataclass(frozen=True, slots=True)
class DeviceLog:
    """Every push a device simulator logged: (identifier, device id, when) in arrival order."""

    arrivals: list[tuple[str, str, datetime]]

    def devices(self, identifier: str) -> list[str]:
        return [device for about, device, _ in self.arrivals if about == identifier]

    def first_arrivals(self, identifier: str) -> list[datetime]:
        """When each device first received ``identifier``."""
        first: dict[str, datetime] = {}
        for about, device, moment in self.arrivals:
            if about == identifier:
                first.setdefault(device, moment)
        return sorted(first.values())


def device_log(paths: Iterable[Path]) -> DeviceLog:
    arrivals = []
    for path in paths:
        with path.open(encoding="utf-8") as lines:
            for line in lines:
                entry = json.loads(line)
                arrivals.append((entry["message"]["identifier"], entry["device_id"],
                                 datetime.fromisoformat(entry["at"])))
    return DeviceLog(arrivals)
