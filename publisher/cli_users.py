"""``publisher user add`` and ``publisher token create``: accounts and API tokens."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Callable
from typing import Any, TextIO, TypeVar

from sqlalchemy.orm import Session

from publisher.cli_errors import EXIT_OK, UsageError, refused
from publisher.cli_settings import add_data_dir_option, prepared_settings
from publisher.config import Settings
from publisher.services.errors import ServiceError
from publisher.services.users import create_token, create_user
from publisher.store.db import make_engine, make_session_factory, session_scope
from publisher.store.models import Role

__all__ = ["add_user_commands", "read_password", "run_in_session"]

T = TypeVar("T")


def read_password(stream: TextIO) -> str:
    """Twice at a terminal, without echo; one line when piped."""
    if stream.isatty():
        first = getpass.getpass("Password: ")
        if getpass.getpass("Password again: ") != first:
            raise UsageError("the two passwords differ")
        return first
    line = stream.readline()
    if not line:
        raise UsageError("no password on standard input")
    return line.rstrip("\r\n")


def run_in_session(settings: Settings, work: Callable[[Session], T]) -> T:
    """Run ``work(session)`` in one transaction on the installation's database."""
    engine = make_engine(settings.database_url)
    try:
        with session_scope(make_session_factory(engine)) as session:
            return work(session)
    finally:
        engine.dispose()


def _user_add(arguments: argparse.Namespace) -> int:
    settings = prepared_settings(arguments)
    password = read_password(sys.stdin)
    try:
        run_in_session(settings, lambda session: create_user(
            session, arguments.name, password, arguments.roles, arguments.display_name))
    except ServiceError as error:
        return refused(error)
    print(f"user {arguments.name} added with roles {', '.join(sorted(arguments.roles))}")
    return EXIT_OK


def _token_create(arguments: argparse.Namespace) -> int:
    settings = prepared_settings(arguments)
    try:
        token = run_in_session(settings, lambda session: create_token(
            session, arguments.name, arguments.label))
    except ServiceError as error:
        return refused(error)
    # Only the token on standard output, so that TOKEN=$(publisher token create ...) works.
    print(token)
    return EXIT_OK


def add_user_commands(commands: Any) -> None:
    user = commands.add_parser("user", help="manage staff accounts")
    user_commands = user.add_subparsers(dest="user_command", metavar="COMMAND", required=True)
    add = user_commands.add_parser(
        "add", help="add a user; the password is read from standard input")
    add.add_argument("name", help="the login name")
    add.add_argument("--role", dest="roles", action="append", required=True,
                     choices=[role.value for role in Role], help="a role; repeat for more")
    add.add_argument("--display-name", default="", help="the name shown to colleagues")
    add_data_dir_option(add)
    add.set_defaults(handler=_user_add)

    token = commands.add_parser("token", help="manage API tokens")
    token_commands = token.add_subparsers(dest="token_command", metavar="COMMAND", required=True)
    create = token_commands.add_parser("create", help="print a new bearer token for a user")
    create.add_argument("name", help="the user the token acts for")
    create.add_argument("--label", default="api", help="what the token is for (default: api)")
    add_data_dir_option(create)
    create.set_defaults(handler=_token_create)
