"""``publisher db upgrade|current``: the schema version of the installation's database.

Every command that opens the database migrates it to the newest schema
first. In production one ``db upgrade`` runs before the processes of a new
version start (the compose file's ``migrate`` service), so that they never
race each other to migrate, and a migration that fails stops the upgrade
before anything serves on a half-migrated schema.
"""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass
from typing import Any

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from publisher.cli_errors import EXIT_INVALID, EXIT_OK, UsageError
from publisher.cli_settings import add_data_dir_option
from publisher.config import ConfigError, load_settings
from publisher.store.db import alembic_config, make_engine, upgrade_database

__all__ = ["SchemaRevisions", "add_db_commands", "schema_revisions"]


@dataclass(frozen=True, slots=True)
class SchemaRevisions:
    current: str | None  # None: no schema at all yet
    newest: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.newest


def schema_revisions(database_url: str) -> SchemaRevisions:
    """The revision the database is at, and the newest this version of the code knows."""
    newest = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    if newest is None:
        raise RuntimeError("the migrations have no head revision")
    engine = make_engine(database_url)
    try:
        with engine.connect() as connection:
            current = MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()
    return SchemaRevisions(current, newest)


def _database_url(arguments: argparse.Namespace) -> str:
    data_dir = arguments.data_dir.absolute() if arguments.data_dir else None
    try:
        settings = load_settings(os.environ, data_dir)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    settings.paths.data_dir.mkdir(parents=True, exist_ok=True)
    return settings.database_url


def _shown(revision: str | None) -> str:
    return revision or "none (an empty database)"


def _upgrade(arguments: argparse.Namespace) -> int:
    url = _database_url(arguments)
    before = schema_revisions(url).current
    upgrade_database(url)
    after = schema_revisions(url)
    if before == after.current:
        print(f"database already at the newest revision, {after.current}")
    else:
        print(f"database upgraded from {_shown(before)} to {after.current}")
    return EXIT_OK


def _current(arguments: argparse.Namespace) -> int:
    revisions = schema_revisions(_database_url(arguments))
    print(f"current: {_shown(revisions.current)}")
    print(f"newest:  {revisions.newest}")
    # A script (an upgrade, a worker's start on another machine) can wait on this.
    return EXIT_OK if revisions.up_to_date else EXIT_INVALID


def add_db_commands(commands: Any) -> None:
    database = commands.add_parser("db", help="the database schema: upgrade it, show its revision")
    actions = database.add_subparsers(dest="db_command", metavar="ACTION", required=True)

    upgrade = actions.add_parser(
        "upgrade", help="migrate the database to the newest schema (Alembic); a no-op when there")
    add_data_dir_option(upgrade)
    upgrade.set_defaults(handler=_upgrade)

    current = actions.add_parser(
        "current", help="print the database's revision and the newest; exit 1 when behind")
    add_data_dir_option(current)
    current.set_defaults(handler=_current)
