"""What the SMSC simulator keeps on disk: its message-id counter and the log of accepted parts.

Both live in one SQLite file in the simulator's data directory, so a
restarted simulator continues the ids where the last one stopped and the log
of every part it ever accepted can be reconciled against what a client sent:
zero lost, zero duplicated.

Message ids come from a counter that is reserved in blocks: the database
holds the end of the reserved block, so ids stay unique across restarts
(a crash skips at most the rest of one block) without a write per message.
"""

from __future__ import annotations

import sqlite3
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

__all__ = [
    "STATE_FILE",
    "LoggedPart",
    "MessageIdCounter",
    "PartLog",
    "ReassembledMessage",
    "decoded_text",
    "reassemble",
]

STATE_FILE = "smsc.sqlite3"
DATA_CODING_UCS2 = 0x08
_TEXT_CODECS = {0x01: "ascii", 0x03: "latin-1", DATA_CODING_UCS2: "utf-16-be"}

_SCHEMA = """
CREATE TABLE IF NOT EXISTS counter (name TEXT PRIMARY KEY, reserved_until INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS parts (
    position INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    system_id TEXT NOT NULL,
    source_addr TEXT NOT NULL,
    destination_addr TEXT NOT NULL,
    data_coding INTEGER NOT NULL,
    esm_class INTEGER NOT NULL,
    reference INTEGER,
    total INTEGER,
    sequence INTEGER,
    header_length INTEGER NOT NULL,
    short_message BLOB NOT NULL,
    accepted_at TEXT NOT NULL
);
"""
# Columns added after the first logs were written: a log kept in a data
# directory from an earlier version gains them with these defaults.
_ADDED_COLUMNS = {"source_addr_ton": "INTEGER NOT NULL DEFAULT 0",
                  "source_addr_npi": "INTEGER NOT NULL DEFAULT 0",
                  "registered_delivery": "INTEGER NOT NULL DEFAULT 0"}


def _connect(path: Path) -> sqlite3.Connection:
    path.parent.mkdir(parents=True, exist_ok=True)
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    # WAL with synchronous=NORMAL survives a killed process, which is the
    # failure a simulator meets; only a power cut can lose the last commits.
    connection.execute("PRAGMA synchronous=NORMAL")
    connection.executescript(_SCHEMA)
    present = {row[1] for row in connection.execute("PRAGMA table_info(parts)")}
    for column, declaration in _ADDED_COLUMNS.items():
        if column not in present:
            connection.execute(f"ALTER TABLE parts ADD COLUMN {column} {declaration}")
    return connection


class MessageIdCounter:
    """Unique message ids (increasing integers) that continue after a restart."""

    def __init__(self, path: Path, block: int = 1000) -> None:
        self._connection = _connect(path)
        self._block = block
        row = self._connection.execute(
            "SELECT reserved_until FROM counter WHERE name = 'message_id'").fetchone()
        self._next = self._reserved_until = int(row[0]) if row else 0

    def next(self) -> int:
        if self._next >= self._reserved_until:
            self._reserved_until = self._next + self._block
            self._connection.execute(
                "INSERT INTO counter (name, reserved_until) VALUES ('message_id', ?) "
                "ON CONFLICT (name) DO UPDATE SET reserved_until = excluded.reserved_until",
                (self._reserved_until,))
        self._next += 1
        return self._next

    def close(self) -> None:
        self._connection.close()


@dataclass(frozen=True, slots=True)
class LoggedPart:
    message_id: str
    system_id: str
    source_addr: str
    destination_addr: str
    data_coding: int
    esm_class: int
    reference: int | None
    total: int | None
    sequence: int | None
    header_length: int
    short_message: bytes
    accepted_at: datetime
    source_addr_ton: int = 0
    source_addr_npi: int = 0
    registered_delivery: int = 0

    @property
    def text_octets(self) -> bytes:
        """The message octets after the user data header."""
        return self.short_message[self.header_length:]


@dataclass(frozen=True, slots=True)
class ReassembledMessage:
    """One message as its parts arrived: joined when complete, with what is missing or repeated."""

    destination_addr: str
    reference: int | None
    total: int
    parts: tuple[LoggedPart, ...]
    missing: tuple[int, ...]
    duplicates: tuple[int, ...]

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def octets(self) -> bytes:
        """The text octets of the first copy of each sequence number, in order."""
        first: dict[int, LoggedPart] = {}
        for part in self.parts:
            first.setdefault(part.sequence or 1, part)
        return b"".join(first[number].text_octets for number in sorted(first))

    @property
    def text(self) -> str | None:
        """The decoded text for UCS-2, IA5 and Latin-1; None otherwise or when incomplete."""
        if not self.complete:
            return None
        return decoded_text(self.octets, self.parts[0].data_coding)


def decoded_text(octets: bytes, data_coding: int) -> str | None:
    codec = _TEXT_CODECS.get(data_coding)
    return octets.decode(codec, errors="replace") if codec else None


def reassemble(parts: Iterable[LoggedPart]) -> list[ReassembledMessage]:
    """Group parts by (destination, reference); single-part messages stand alone, in log order."""
    groups: dict[tuple[str, int], list[LoggedPart]] = defaultdict(list)
    messages: list[ReassembledMessage | tuple[str, int]] = []
    for part in parts:
        if part.reference is None or part.total is None:
            messages.append(ReassembledMessage(part.destination_addr, None, 1, (part,), (), ()))
            continue
        key = (part.destination_addr, part.reference)
        if key not in groups:
            messages.append(key)
        groups[key].append(part)
    return [item if isinstance(item, ReassembledMessage) else _joined(item, groups[item])
            for item in messages]


def _joined(key: tuple[str, int], parts: Sequence[LoggedPart]) -> ReassembledMessage:
    total = max(part.total or 1 for part in parts)
    counts: dict[int, int] = defaultdict(int)
    for part in parts:
        counts[part.sequence or 1] += 1
    missing = tuple(number for number in range(1, total + 1) if number not in counts)
    duplicates = tuple(sorted(number for number, count in counts.items() if count > 1))
    return ReassembledMessage(key[0], key[1], total, tuple(parts), missing, duplicates)


class PartLog:
    """The append-only log of every message part the simulator accepted.

    Open it from any thread or process; each instance has its own connection.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._connection = _connect(path)

    def record(self, parts: Sequence[LoggedPart]) -> None:
        """Append the parts in one transaction: durable when this returns."""
        with self._connection:
            self._connection.execute("BEGIN")
            self._connection.executemany(
                "INSERT INTO parts (message_id, system_id, source_addr, destination_addr, "
                "data_coding, esm_class, reference, total, sequence, header_length, "
                "short_message, accepted_at, source_addr_ton, source_addr_npi, "
                "registered_delivery) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(part.message_id, part.system_id, part.source_addr, part.destination_addr,
                  part.data_coding, part.esm_class, part.reference, part.total, part.sequence,
                  part.header_length, part.short_message, part.accepted_at.isoformat(),
                  part.source_addr_ton, part.source_addr_npi, part.registered_delivery)
                 for part in parts])

    def parts(self) -> list[LoggedPart]:
        rows = self._connection.execute(
            "SELECT message_id, system_id, source_addr, destination_addr, data_coding, "
            "esm_class, reference, total, sequence, header_length, short_message, accepted_at, "
            "source_addr_ton, source_addr_npi, registered_delivery FROM parts ORDER BY position")
        return [LoggedPart(
            message_id=row[0], system_id=row[1], source_addr=row[2], destination_addr=row[3],
            data_coding=row[4], esm_class=row[5], reference=row[6], total=row[7],
            sequence=row[8], header_length=row[9], short_message=bytes(row[10]),
            accepted_at=datetime.fromisoformat(row[11]).astimezone(UTC),
            source_addr_ton=row[12], source_addr_npi=row[13], registered_delivery=row[14])
            for row in rows]

    def reassembled_messages(self) -> list[ReassembledMessage]:
        return reassemble(self.parts())

    def close(self) -> None:
        self._connection.close()
