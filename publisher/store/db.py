"""Engines, sessions and the schema version of the platform's database.

SQLite is the embedded default, PostgreSQL (psycopg 3) the production one;
both are reached through a SQLAlchemy URL and migrated by Alembic.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = ["lock_for_writing", "make_engine", "make_session_factory", "session_scope",
           "upgrade_database"]

_MIGRATIONS = Path(__file__).resolve().parent / "migrations"
# Writers queue behind each other on SQLite; this is how long one waits.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def _normalized_url(url: str) -> str:
    """psycopg 3 for PostgreSQL, whichever way the URL names it."""
    parsed = make_url(url)
    if parsed.drivername in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed.render_as_string(hide_password=False)


def _configure_sqlite(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def make_engine(url: str, **options: Any) -> Engine:
    """An engine for ``url``; SQLite files get WAL, foreign keys and a busy timeout."""
    normalized = _normalized_url(url)
    parsed = make_url(normalized)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(normalized, **options)
        event.listen(engine, "connect", _configure_sqlite)
        return engine
    options.setdefault("pool_pre_ping", True)
    # psycopg prepares a statement run five times, and PostgreSQL may then
    # keep one generic plan for it on that connection: planned while a table
    # was nearly empty (a new installation, the first batches of an alert),
    # it scans the whole table for ever after. Receipts looked up by provider
    # id took seconds per drain that way; a plan for each execution costs
    # far less.
    connect_args = dict(options.pop("connect_args", {}))
    connect_args.setdefault("options", "-c plan_cache_mode=force_custom_plan")
    return create_engine(normalized, connect_args=connect_args, **options)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    # Objects stay readable after commit: services return them to the web layer.
    return sessionmaker(engine, expire_on_commit=False)


@contextmanager
def session_scope(factory: sessionmaker[Session]) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back when it raises."""
    session = factory()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def lock_for_writing(session: Session) -> None:
    """Hold the database's write lock from now until the session's transaction ends.

    PostgreSQL locks the rows a transaction reads ``FOR UPDATE``; SQLite
    ignores that clause, and its driver starts a transaction only at the
    first write, so two writers could each read a row, decide, and write
    over the other's decision. On SQLite this takes the one write lock
    before anything is read (``BEGIN IMMEDIATE``), waiting for it as any
    writer does; a transaction that has written already holds it.
    """
    connection = session.connection()
    if connection.dialect.name != "sqlite":
        return
    if not connection.connection.dbapi_connection.in_transaction:  # type: ignore[union-attr]
        connection.exec_driver_sql("BEGIN IMMEDIATE")


def alembic_config(url: str) -> Config:
    # Imported here: a process that never migrates (a district node, a simulator)
    # would otherwise load Alembic at its start.
    from alembic.config import Config  # noqa: PLC0415

    config = Config()
    config.set_main_option("script_location", str(_MIGRATIONS))
    # ConfigParser interpolation would read "%" in a password as a directive.
    config.set_main_option("sqlalchemy.url", _normalized_url(url).replace("%", "%%"))
    return config


def upgrade_database(url: str) -> None:
    """Bring the database at ``url`` to the newest schema; a no-op when it is there."""
    from alembic import command  # noqa: PLC0415 - as in alembic_config

    engine = make_engine(url)
    try:
        with engine.begin() as connection:
            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    finally:
        engine.dispose()
