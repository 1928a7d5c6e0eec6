"""Fixtures for the real services of this machine: PostgreSQL and RabbitMQ.

A test that needs one skips with the reason when it is unreachable, except
under CI (``CI=true``), where a missing service is a failure: CI starts them.

Isolation:
- PostgreSQL: a fresh database per test session (per xdist worker), dropped after.
- RabbitMQ: a fresh virtual host per test session, made and removed with
  ``rabbitmqctl`` (this machine runs the broker locally and as root); queue
  names are then free of clashes with any other run. Without ``rabbitmqctl``
  the default vhost is used and the tests that need isolation skip.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.keys import generate_demo_identity
from publisher.config import Settings, load_settings
from publisher.services.signer import CenterSigner
from publisher.store.db import make_engine, make_session_factory, upgrade_database
from publisher.store.models import Base

__all__ = [
    "center_settings",
    "center_signer",
    "database_url",
    "fresh_postgres_database",
    "fresh_rabbitmq_vhost",
    "migrated_postgres_url",
    "postgres_url",
    "rabbitmq_url",
    "require_rabbitmqctl",
    "require_service",
    "session_factory",
]

POSTGRES_HOST = os.environ.get("PUBLISHER_TEST_POSTGRES_HOST", "127.0.0.1")
POSTGRES_PORT = int(os.environ.get("PUBLISHER_TEST_POSTGRES_PORT", "5432"))
RABBITMQ_HOST = os.environ.get("PUBLISHER_TEST_RABBITMQ_HOST", "127.0.0.1")
RABBITMQ_PORT = int(os.environ.get("PUBLISHER_TEST_RABBITMQ_PORT", "5672"))
# Longer than any test holds a lock on the tables; past it, a test setting up fails and says why.
TRUNCATE_LOCK_SECONDS = 60


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1.0):
            return True
    except OSError:
        return False


def require_service(name: str, host: str, port: int) -> None:
    """Skip (or fail under CI) when the service is not listening."""
    if _reachable(host, port):
        return
    reason = f"{name} is not reachable at {host}:{port}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must start it", pytrace=False)
    pytest.skip(reason)


def _unique(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@contextmanager
def fresh_postgres_database(prefix: str) -> Iterator[str]:
    """SQLAlchemy URL of a new PostgreSQL database named after ``prefix``, dropped after."""
    require_service("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    import psycopg

    admin = f"host={POSTGRES_HOST} port={POSTGRES_PORT} user=postgres dbname=test"
    database = _unique(prefix)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    try:
        yield f"postgresql+psycopg://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{database}"
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a fresh PostgreSQL database, dropped at the end of the session."""
    with fresh_postgres_database("publisher_test") as url:
        yield url


def _rabbitmqctl(*arguments: str) -> None:
    subprocess.run(["rabbitmqctl", *arguments], check=True, capture_output=True, timeout=60)


def require_rabbitmqctl() -> None:
    """Skip (or fail under CI) without RabbitMQ or the ``rabbitmqctl`` that makes virtual hosts."""
    require_service("RabbitMQ", RABBITMQ_HOST, RABBITMQ_PORT)
    if shutil.which("rabbitmqctl") is None:
        reason = "rabbitmqctl is not installed: no isolated virtual host can be made"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(reason, pytrace=False)
        pytest.skip(reason)


@contextmanager
def fresh_rabbitmq_vhost(prefix: str) -> Iterator[str]:
    """AMQP URL (guest/guest) of a new virtual host named after ``prefix``, deleted after."""
    require_rabbitmqctl()
    vhost = _unique(prefix)
    _rabbitmqctl("add_vhost", vhost)
    try:
        _rabbitmqctl("set_permissions", "-p", vhost, "guest", ".*", ".*", ".*")
        yield f"amqp://guest:guest@{RABBITMQ_HOST}:{RABBITMQ_PORT}/{vhost}"
    finally:
        _rabbitmqctl("delete_vhost", vhost)


@pytest.fixture(scope="session")
def rabbitmq_url() -> Iterator[str]:
    """AMQP URL of a fresh virtual host (guest/guest), deleted at the end of the session."""
    with fresh_rabbitmq_vhost("publisher-test") as url:
        yield url


# --- Store: migrated databases, one per test, on SQLite and on PostgreSQL ---


@pytest.fixture(scope="session")
def migrated_postgres_url(postgres_url: str) -> str:
    upgrade_database(postgres_url)
    return postgres_url


@pytest.fixture(scope="session")
def _migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "publisher.db"
    url = f"sqlite:///{path}"
    upgrade_database(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        # Folds the WAL into the file, so that a copy of the file is the whole database.
        connection.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@functools.cache
def _identity(common_name: str) -> Path:
    directory = Path(tempfile.mkdtemp(prefix="publisher-identity-"))
    generate_demo_identity(directory, common_name)
    return directory


def shared_identity(directory: Path, common_name: str) -> tuple[Path, Path]:
    """The test process's key and certificate for ``common_name``, copied into ``directory``
    as ``generate_demo_identity`` writes them: a key made and checked for each test cost
    0.4 s of its set-up. Tests that need a key of their own still make one."""
    shutil.copytree(_identity(common_name), directory, dirs_exist_ok=True)
    return directory / "key.pem", directory / "cert.pem"


def copied_database(sqlite_template: Path, path: Path) -> str:
    """The URL of ``path``, made a copy of the migrated ``sqlite_template``."""
    shutil.copyfile(sqlite_template, path)
    return f"sqlite:///{path}"


def with_center_identity(settings: Settings) -> Settings:
    """``settings``, whose keys directory now holds the process's center identity."""
    shared_identity(settings.paths.keys_dir, "Beijing Warning Center (test)")
    return settings


def fresh_installation(data_dir: Path, sqlite_template: Path) -> Settings:
    """Settings of a new installation in ``data_dir``, on the project's configuration: its
    SQLite database a copy of ``sqlite_template`` (migrated), its keys the process's
    center identity."""
    settings = load_settings({}, data_dir=data_dir)
    database = make_url(settings.database_url).database
    assert database is not None, settings.database_url
    copied_database(sqlite_template, Path(database))
    return with_center_identity(settings)


def installation_with(data_dir: Path, **changes: Any) -> Settings:
    """Settings of a new installation in ``data_dir`` with ``changes``, its database
    migrated, its keys the process's center identity."""
    settings = replace(load_settings({}, data_dir=data_dir), **changes)
    upgrade_database(settings.database_url)
    return with_center_identity(settings)


def emptied(url: str) -> str:
    tables = ", ".join(table.name for table in Base.metadata.sorted_tables)
    engine = make_engine(url)
    with engine.begin() as connection:
        # A session an earlier test never closed is rolled back only once the garbage
        # collector frees it, which may never come while this process waits on the
        # TRUNCATE below for that session's locks: a test process hung so.
        connection.execute(text(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            " AND state LIKE 'idle in transaction%'"))
        connection.execute(text(f"SET LOCAL lock_timeout = '{TRUNCATE_LOCK_SECONDS}s'"))
        # TRUNCATE fires no row triggers, so the immutable messages go too.
        connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    engine.dispose()
    return url


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """URL of an empty, migrated database: a SQLite file, or the session's PostgreSQL emptied."""
    if request.param == "postgresql":
        return emptied(request.getfixturevalue("migrated_postgres_url"))
    return copied_database(request.getfixturevalue("_migrated_sqlite_template"),
                           tmp_path / "publisher.db")


@pytest.fixture
def session_factory(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="session")
def center_settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Settings of a fresh installation: project config, data in a temporary directory."""
    return load_settings({}, data_dir=tmp_path_factory.mktemp("center"))


@pytest.fixture(scope="session")
def center_signer(center_settings: Settings) -> CenterSigner:
    return CenterSigner.load_or_create(center_settings)
