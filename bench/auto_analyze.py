"""PostgreSQL's autovacuum analyze, done by the benchmark where the server has autovacuum off.

A deployment's PostgreSQL runs autovacuum (the default): it analyses a table
once more rows changed since the last analyze than 50 plus a tenth of the
table, looking once a minute. The planner then knows how large the tables
of a city-wide alert are (a million deliveries, as many parts and
receipts), and finds the few rows a receipt names through their indexes.
This machine's PostgreSQL has autovacuum off (its CI configuration): those
tables are never analysed, and once they hold a few hundred thousand rows
the planner's guesses for ``= ANY(array)`` lookups of a thousand receipts
turn into parallel full scans, each a good part of a second (seen in the
1,000,000-subscriber run: the worker answered the SMSC's receipts tens of
seconds late).

``AutoAnalyze`` stands in for the part of autovacuum that keeps statistics,
with its default rule and interval; the vacuuming (dead rows, visibility
map) is not done. It does nothing where the server runs autovacuum itself.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

__all__ = ["AutoAnalyze", "auto_analyze"]

log = logging.getLogger(__name__)

# PostgreSQL's defaults: autovacuum_naptime, autovacuum_analyze_threshold and
# autovacuum_analyze_scale_factor.
NAPTIME_SECONDS = 60.0
ANALYZE_THRESHOLD = 50
ANALYZE_SCALE_FACTOR = 0.1

_DUE = """
SELECT s.schemaname, s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
WHERE s.n_mod_since_analyze > %s + %s * greatest(c.reltuples, 0) ORDER BY s.relname
"""


class AutoAnalyze:
    """Analyses the database's tables that autovacuum would, every ``naptime`` seconds."""

    def __init__(self, dsn: str, naptime: float = NAPTIME_SECONDS) -> None:
        self._dsn = dsn
        self._naptime = naptime
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="auto-analyze", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._thread.join()

    def round(self) -> list[str]:
        """Analyse what is due now; the tables analysed."""
        with psycopg.connect(self._dsn, autocommit=True) as connection:
            due = connection.execute(_DUE, (ANALYZE_THRESHOLD, ANALYZE_SCALE_FACTOR)).fetchall()
            for schema, table in due:
                connection.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, table)))
        return [table for _, table in due]

    def _run(self) -> None:
        while not self._stopping.wait(self._naptime):
            try:
                self.round()
            except psycopg.Error as error:
                log.warning("auto-analyze round failed: %s", error)


def _server_analyses(dsn: str) -> bool:
    with psycopg.connect(dsn) as connection:
        row = connection.execute("SHOW autovacuum").fetchone()
    return row is not None and row[0] == "on"


@contextmanager
def auto_analyze(dsn: str, naptime: float = NAPTIME_SECONDS) -> Iterator[AutoAnalyze | None]:
    """An ``AutoAnalyze`` running while inside, or None where the server's autovacuum runs."""
    if _server_analyses(dsn):
        yield None
        return
    analyser = AutoAnalyze(dsn, naptime)
    analyser.start()
    try:
        yield analyser
    finally:
        analyser.stop()
