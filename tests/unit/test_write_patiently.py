"""Writes kept in hand while the database is unavailable: a SQLite file locked by another
connection stands for a database that cannot take the write now."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from publisher.store.patience import FIRST_PAUSE_SECONDS, LONGEST_PAUSE_SECONDS, write_patiently


@pytest.fixture
def database(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "patience.db"
    with sqlite3.connect(path) as setup:
        setup.execute("CREATE TABLE handed (id INTEGER PRIMARY KEY, provider_id TEXT)")
    yield path


def _engine(path: Path) -> Engine:
    # No busy wait of its own: a locked database is refused at once.
    return create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})


def _insert(row_id: int) -> Callable[[Session], int]:
    def write(session: Session) -> int:
        session.execute(text("INSERT INTO handed (id, provider_id) VALUES (:id, 'p')"),
                        {"id": row_id})
        return row_id
    return write


def _rows(path: Path) -> list[int]:
    with sqlite3.connect(path) as reading:
        return [row for (row,) in reading.execute("SELECT id FROM handed ORDER BY id")]


def test_a_write_refused_while_the_database_is_locked_is_written_once_it_is_free(
        database: Path) -> None:
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    pauses: list[float] = []

    def pause(seconds: float) -> None:
        pauses.append(seconds)
        if len(pauses) == 2:
            holder.execute("COMMIT")

    with Session(_engine(database)) as session:
        assert write_patiently(session, _insert(1), what="test", pause=pause) == 1
    holder.close()
    assert pauses == [FIRST_PAUSE_SECONDS, 2 * FIRST_PAUSE_SECONDS]
    assert _rows(database) == [1]


def test_a_statement_the_database_refuses_is_not_tried_again(database: Path) -> None:
    pauses: list[float] = []
    with Session(_engine(database)) as session:
        write_patiently(session, _insert(1), what="test", pause=pauses.append)
        with pytest.raises(IntegrityError):
            write_patiently(session, _insert(1), what="test", pause=pauses.append)
    assert pauses == []
    assert _rows(database) == [1]


class _Clock:
    """Time that passes only while the write pauses."""

    def __init__(self) -> None:
        self.now = 0.0
        self.pauses: list[float] = []

    def __call__(self) -> float:
        return self.now

    def pause(self, seconds: float) -> None:
        self.pauses.append(seconds)
        self.now += seconds


def test_it_gives_up_with_the_error_once_its_patience_is_spent(database: Path) -> None:
    holder = sqlite3.connect(database, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    clock = _Clock()
    try:
        with Session(_engine(database)) as session, pytest.raises(OperationalError,
                                                                   match="locked"):
            write_patiently(session, _insert(1), what="test", patience=60.0,
                            pause=clock.pause, clock=clock)
    finally:
        holder.close()
    # Doubling from the first pause, never longer than the longest, within the patience.
    assert clock.pauses[:3] == [FIRST_PAUSE_SECONDS, 2 * FIRST_PAUSE_SECONDS,
                                4 * FIRST_PAUSE_SECONDS]
    assert max(clock.pauses) == LONGEST_PAUSE_SECONDS
    assert 60.0 - LONGEST_PAUSE_SECONDS < clock.now <= 60.0
    assert _rows(database) == []
