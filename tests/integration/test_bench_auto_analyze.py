"""The full run's stand-in for autovacuum's analyze, on a real PostgreSQL."""

from __future__ import annotations

import time

import psycopg
import pytest

from bench.auto_analyze import AutoAnalyze
from bench.sms_platform import _libpq

pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)

PROBE = "auto_analyze_probe"


def test_a_table_is_analysed_once_enough_of_it_changed(database_url: str) -> None:
    dsn = _libpq(database_url)
    analyser = AutoAnalyze(dsn)
    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(f"CREATE TABLE {PROBE} (id integer)")
        try:
            connection.execute(f"INSERT INTO {PROBE} SELECT generate_series(1, 40)")
            time.sleep(1.5)  # the server publishes a backend's counts at most once a second
            assert PROBE not in analyser.round()  # 40 rows changed: under the 50 of the rule

            connection.execute(f"INSERT INTO {PROBE} SELECT generate_series(41, 200)")
            deadline = time.monotonic() + 10
            while PROBE not in analyser.round():
                assert time.monotonic() < deadline, f"{PROBE} not analysed"
                time.sleep(0.5)
            assert PROBE not in analyser.round()  # nothing changed since
            row = connection.execute("SELECT reltuples FROM pg_class WHERE relname = %s",
                                     (PROBE,)).fetchone()
            assert row is not None and row[0] == 200
        finally:
            connection.execute(f"DROP TABLE {PROBE}")
