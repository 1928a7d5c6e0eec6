"""The tests' PostgreSQL database is emptied before each test, whatever an earlier one left."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.store.db import make_engine
from publisher.store.models import Alert
from tests.services import emptied


def test_a_session_left_open_does_not_keep_the_next_test_waiting(
        migrated_postgres_url: str) -> None:
    engine = make_engine(migrated_postgres_url)
    try:
        # Never closed, as by a test that forgot to: its read holds a lock on the table.
        forgotten = Session(engine)
        forgotten.execute(select(Alert)).all()

        assert emptied(migrated_postgres_url) == migrated_postgres_url
        forgotten.invalidate()  # its connection was ended under it: nothing to roll back
    finally:
        engine.dispose()
