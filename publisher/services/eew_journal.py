"""The early warnings that went out before the database held them: one file each, on disk.

The terminals' fast path publishes an early warning while the transaction
that stores it is still committing (docs/eew.md, "Published, then stored").
So that a warning the terminals got is never one the center has no record
of, its signed message is first written here, flushed to the disk
(``fsync``: 0.2 ms on an idle disk, 6 to 18 ms on one busy with
PostgreSQL's WAL, docs/benchmarks.md), and removed once the transaction
has committed. An entry still here means the process or the database failed
in between: ``eew_recovery`` stores it, at the web process's start and
every few seconds after.

An entry is ``<identifier>.json`` in the journal's directory: the signed XML
and what the audit entry of its publication names (the sender's account, the
sender's own identifier and sent, the quake). It is written to a temporary
file first and renamed, so a crash leaves a whole entry or none. One that
cannot be read all the same (a damaged disk, a hand's edit) is renamed
``.unreadable`` and logged as an error: a person must look at it, and the
others are stored meanwhile.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["JOURNAL_DIRECTORY", "EewJournal", "JournalEntry"]

JOURNAL_DIRECTORY = "eew/journal"
_SUFFIX = ".json"
_PARTIAL = ".partial"
_UNREADABLE = ".unreadable"

log = logging.getLogger("publisher.eew")


@dataclass(frozen=True, slots=True)
class JournalEntry:
    identifier: str
    xml: bytes
    sender_actor: str
    """The audit log's name of the automatic sender, ``eew:<sender>``."""
    sender_name: str
    origin: str
    origin_sent: str
    magnitude: float
    epicentre: tuple[float, float]

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "xml": self.xml.decode("utf-8"),
                "epicentre": list(self.epicentre)}

    @classmethod
    def of_json(cls, data: dict[str, Any]) -> JournalEntry:
        lat, lon = data["epicentre"]
        return cls(str(data["identifier"]), str(data["xml"]).encode("utf-8"),
                   str(data["sender_actor"]), str(data["sender_name"]), str(data["origin"]),
                   str(data["origin_sent"]),
                   float(data["magnitude"]), (float(lat), float(lon)))


class EewJournal:
    """The journal in ``directory``, made on first write.

    What this process wrote and has not removed yet is in flight: its
    transaction may still commit, so ``entries`` leaves it out.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._in_flight: set[str] = set()
        self._lock = threading.Lock()

    def _path(self, identifier: str) -> Path:
        if not identifier or "/" in identifier or identifier.startswith("."):
            raise ValueError(f"identifier: {identifier!r} cannot name a journal entry")
        return self.directory / f"{identifier}{_SUFFIX}"

    def write(self, entry: JournalEntry) -> None:
        """Keep ``entry`` on disk; once this returns, a crash does not lose it."""
        self.directory.mkdir(parents=True, exist_ok=True)
        final = self._path(entry.identifier)
        with self._lock:
            self._in_flight.add(entry.identifier)
        partial = final.with_name(final.name + _PARTIAL)
        try:
            with partial.open("wb") as file:
                file.write(json.dumps(entry.as_json(), ensure_ascii=False).encode("utf-8"))
                file.flush()
                os.fsync(file.fileno())
            partial.replace(final)
            _sync_directory(self.directory)
        except OSError:
            # Not kept, so never published from here: nothing is left for recovery to store.
            for leftover in (partial, final):
                with contextlib.suppress(OSError):
                    leftover.unlink(missing_ok=True)
            self.settle(entry.identifier)
            raise

    def remove(self, identifier: str) -> None:
        self._path(identifier).unlink(missing_ok=True)
        with self._lock:
            self._in_flight.discard(identifier)

    def settle(self, identifier: str) -> None:
        """No longer in flight, but kept: its transaction failed, and recovery stores it."""
        with self._lock:
            self._in_flight.discard(identifier)

    def counts(self) -> tuple[int, int]:
        """How many entries wait to be stored, and how many were set aside unreadable."""
        if not self.directory.is_dir():
            return 0, 0
        names = [path.name for path in self.directory.iterdir()]
        return (sum(name.endswith(_SUFFIX) for name in names),
                sum(name.endswith(_UNREADABLE) for name in names))

    def entries(self, *, older_than: float = 0.0) -> list[JournalEntry]:
        """The whole entries written at least ``older_than`` seconds ago, oldest first.

        A half-written entry (``.partial``) is not one: its warning never went out.
        """
        if not self.directory.is_dir():
            return []
        now = time.time()
        with self._lock:
            in_flight = {f"{identifier}{_SUFFIX}" for identifier in self._in_flight}
        written = []
        for path in self.directory.glob(f"*{_SUFFIX}"):
            if path.name in in_flight:
                continue
            try:
                moment = path.stat().st_mtime
            except FileNotFoundError:  # stored and removed meanwhile
                continue
            if now - moment >= older_than:
                written.append((moment, path))
        entries = []
        for _, path in sorted(written):
            try:
                entries.append(JournalEntry.of_json(json.loads(path.read_bytes())))
            except FileNotFoundError:
                continue
            except (ValueError, KeyError, TypeError) as error:
                _set_aside(path, error)
        return entries


def _set_aside(path: Path, error: Exception) -> None:
    """Keep an entry no process can read for a person, out of every later round."""
    kept = path.with_name(path.name + _UNREADABLE)
    path.replace(kept)
    log.error("early-warning journal entry unreadable, set aside for the duty officer: %s",
              error, extra={"path": str(kept)})


def _sync_directory(directory: Path) -> None:
    # The rename is durable only once the directory itself is flushed.
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)
