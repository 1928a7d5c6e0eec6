"""``publisher db upgrade|current`` on SQLite and on a fresh PostgreSQL database."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text

from publisher.cli import main
from publisher.cli_errors import EXIT_INVALID, EXIT_OK, EXIT_USAGE
from publisher.store.db import alembic_config, make_engine
from tests.services import POSTGRES_HOST, POSTGRES_PORT, require_service

VERSIONS = Path(__file__).resolve().parents[2] / "publisher" / "store" / "migrations" / "versions"
# Revisions are numbered in order: the newest is the highest number.
NEWEST = max(path.name[:4] for path in VERSIONS.glob("[0-9][0-9][0-9][0-9]_*.py"))
OLDER = f"{int(NEWEST) - 1:04d}"


def _run(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    code = main(list(arguments))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _stored_revision(url: str) -> str:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            return str(connection.execute(text("SELECT version_num FROM alembic_version"))
                       .scalar_one())
    finally:
        engine.dispose()


@pytest.fixture
def empty_postgres_url(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A PostgreSQL database of its own, with no schema, named in PUBLISHER_DATABASE_URL."""
    require_service("PostgreSQL", POSTGRES_HOST, POSTGRES_PORT)
    import psycopg

    admin = f"host={POSTGRES_HOST} port={POSTGRES_PORT} user=postgres dbname=test"
    database = f"publisher_db_cli_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{database}"')
    url = f"postgresql://postgres@{POSTGRES_HOST}:{POSTGRES_PORT}/{database}"
    monkeypatch.setenv("PUBLISHER_DATABASE_URL", url)
    try:
        yield url
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


def test_an_empty_sqlite_database_is_behind_until_upgraded(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data_dir = ["--data-dir", str(tmp_path)]
    code, out, _ = _run(capsys, "db", "current", *data_dir)
    assert code == EXIT_INVALID
    assert "current: none" in out and f"newest:  {NEWEST}" in out

    code, out, _ = _run(capsys, "db", "upgrade", *data_dir)
    assert code == EXIT_OK
    assert out.strip() == f"database upgraded from none (an empty database) to {NEWEST}"
    assert _stored_revision(f"sqlite:///{tmp_path / 'publisher.db'}") == NEWEST

    code, out, _ = _run(capsys, "db", "upgrade", *data_dir)
    assert (code, out.strip()) == (EXIT_OK, f"database already at the newest revision, {NEWEST}")
    code, out, _ = _run(capsys, "db", "current", *data_dir)
    assert (code, f"current: {NEWEST}" in out) == (EXIT_OK, True)


def test_a_database_one_revision_behind_is_upgraded_from_there(
        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'publisher.db'}"
    engine = make_engine(url)
    with engine.begin() as connection:
        config = alembic_config(url)
        config.attributes["connection"] = connection
        command.upgrade(config, OLDER)
    engine.dispose()

    code, out, _ = _run(capsys, "db", "current", "--data-dir", str(tmp_path))
    assert (code, f"current: {OLDER}" in out) == (EXIT_INVALID, True)
    code, out, _ = _run(capsys, "db", "upgrade", "--data-dir", str(tmp_path))
    assert (code, out.strip()) == (EXIT_OK, f"database upgraded from {OLDER} to {NEWEST}")


def test_postgresql_is_upgraded_from_nothing_to_the_newest(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, empty_postgres_url: str) -> None:
    code, out, _ = _run(capsys, "db", "upgrade", "--data-dir", str(tmp_path))
    assert code == EXIT_OK
    assert out.strip() == f"database upgraded from none (an empty database) to {NEWEST}"
    assert _stored_revision(empty_postgres_url) == NEWEST
    # The data directory holds no database of its own when a URL is configured.
    assert not (tmp_path / "publisher.db").exists()
    code, _, _ = _run(capsys, "db", "current", "--data-dir", str(tmp_path))
    assert code == EXIT_OK


def test_a_wrong_setting_is_a_usage_error_naming_it(
        capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PUBLISHER_BATCH_SIZE", "ten")
    code, _, err = _run(capsys, "db", "upgrade", "--data-dir", str(tmp_path))
    assert code == EXIT_USAGE
    assert "batch_size: 'ten' is not a whole number" in err
