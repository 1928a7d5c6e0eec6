"""The journal of early warnings published before they were stored."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from publisher.services.eew_journal import EewJournal, JournalEntry


def entry(identifier: str) -> JournalEntry:
    return JournalEntry(identifier, "<alert>预警</alert>".encode(), "eew:eew@example.cn",
                        "EEW system", "EEW-1", "2026-11-29T13:00:00+08:00", 6.1, (40.3, 116.2))


def test_an_entry_survives_the_process_whole_and_goes_once_removed(tmp_path: Path) -> None:
    written = EewJournal(tmp_path / "journal")
    written.write(entry("110000-YJZX-20261129130000-0001"))
    # Another process (after a crash) reads what this one left.
    assert EewJournal(tmp_path / "journal").entries() == [
        entry("110000-YJZX-20261129130000-0001")]
    written.remove("110000-YJZX-20261129130000-0001")
    assert EewJournal(tmp_path / "journal").entries() == []


def test_what_is_in_flight_here_is_left_to_its_own_transaction(tmp_path: Path) -> None:
    journal = EewJournal(tmp_path)
    journal.write(entry("A-1"))
    journal.write(entry("A-2"))
    assert journal.entries() == []
    journal.settle("A-2")
    assert [each.identifier for each in journal.entries()] == ["A-2"]


def test_an_entry_younger_than_asked_is_left_for_a_later_round(tmp_path: Path) -> None:
    EewJournal(tmp_path).write(entry("A-1"))
    EewJournal(tmp_path).write(entry("A-2"))
    an_hour_ago = time.time() - 3600
    os.utime(tmp_path / "A-1.json", (an_hour_ago, an_hour_ago))
    reader = EewJournal(tmp_path)
    assert [each.identifier for each in reader.entries(older_than=10)] == ["A-1"]
    assert [each.identifier for each in reader.entries()] == ["A-1", "A-2"]


def test_a_half_written_entry_is_not_one(tmp_path: Path) -> None:
    (tmp_path / "A-1.json.partial").write_bytes(b'{"identifier": "A-')
    assert EewJournal(tmp_path).entries() == []


@pytest.mark.parametrize("identifier", ["", "../keys", ".hidden"])
def test_an_identifier_that_is_no_file_name_is_refused(tmp_path: Path, identifier: str) -> None:
    with pytest.raises(ValueError, match="identifier"):
        EewJournal(tmp_path).write(entry(identifier))


def test_an_unreadable_entry_is_set_aside_and_the_others_are_read(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    EewJournal(tmp_path).write(entry("A-1"))
    (tmp_path / "A-0.json").write_bytes(b'{"identifier": "A-0"}')
    assert [each.identifier for each in EewJournal(tmp_path).entries()] == ["A-1"]
    assert (tmp_path / "A-0.json.unreadable").exists()
    assert "set aside" in caplog.text
    assert [each.identifier for each in EewJournal(tmp_path).entries()] == ["A-1"]


def test_an_entry_that_could_not_be_written_leaves_nothing_behind(tmp_path: Path) -> None:
    journal = EewJournal(tmp_path)
    # A directory where the entry should go: the rename into place fails.
    (tmp_path / "A-1.json").mkdir()
    (tmp_path / "A-1.json" / "x").write_bytes(b"")
    with pytest.raises(OSError):
        journal.write(entry("A-1"))
    assert not (tmp_path / "A-1.json.partial").exists()
    (tmp_path / "A-1.json" / "x").unlink()
    (tmp_path / "A-1.json").rmdir()
    # Not left in flight: another process's entry of that name is this one's to store.
    EewJournal(tmp_path).write(entry("A-1"))
    assert [each.identifier for each in journal.entries()] == ["A-1"]
