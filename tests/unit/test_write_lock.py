"""``lock_for_writing``: on SQLite, the write lock is held from before the first read."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from publisher.store.db import (
    lock_for_writing,
    make_engine,
    make_session_factory,
    upgrade_database,
)


def _other_writer_gets_the_lock(path: Path) -> bool:
    other = sqlite3.connect(path, timeout=0.05, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        assert "locked" in str(error)
        return False
    else:
        other.execute("ROLLBACK")
        return True
    finally:
        other.close()


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "store.db"
    upgrade_database(f"sqlite:///{path}")
    return path


def test_a_session_that_locks_keeps_every_other_writer_out_until_it_ends(
        database: Path) -> None:
    engine = make_engine(f"sqlite:///{database}")
    sessions = make_session_factory(engine)
    try:
        with sessions() as session:
            lock_for_writing(session)
            assert not _other_writer_gets_the_lock(database)
            session.execute(text("SELECT count(*) FROM deliveries"))
            assert not _other_writer_gets_the_lock(database)
            session.commit()
            assert _other_writer_gets_the_lock(database)
    finally:
        engine.dispose()


def test_a_session_that_has_written_already_holds_the_lock(database: Path) -> None:
    engine = make_engine(f"sqlite:///{database}")
    sessions = make_session_factory(engine)
    try:
        with sessions() as session:
            session.execute(text("DELETE FROM receipts"))
            lock_for_writing(session)
            assert not _other_writer_gets_the_lock(database)
            session.rollback()
        assert _other_writer_gets_the_lock(database)
    finally:
        engine.dispose()
