"""The migrations make exactly the models' schema, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Column, Integer, MetaData, Table, inspect

from publisher.store.db import make_engine, upgrade_database
from publisher.store.models import Base


def _differences(url: str, metadata: MetaData) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_migrated_schema_is_the_models_schema(database_url: str) -> None:
    assert _differences(database_url, Base.metadata) == []


def test_the_comparison_sees_a_table_the_migrations_lack(database_url: str) -> None:
    extended = MetaData()
    for table in Base.metadata.sorted_tables:
        table.to_metadata(extended)
    Table("not_migrated", extended, Column("id", Integer, primary_key=True))
    assert [difference[0] for difference in _differences(database_url, extended)] \
        == ["add_table"]


def test_upgrading_twice_changes_nothing(database_url: str) -> None:
    upgrade_database(database_url)
    engine = make_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert tables == {*Base.metadata.tables, "alembic_version"}


def test_a_fresh_sqlite_file_is_created_and_migrated(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/nested/dir/publisher.db"
    upgrade_database(url)
    assert _differences(url, Base.metadata) == []
