"""``publisher district-node``: run a district sub-center node, and manage its operators."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from aiohttp import web

from district_nodes.app import create_app
from district_nodes.config import NodeConfig, NodeConfigError, load_node_config
from district_nodes.local_alerts import DraftError, add_user
from district_nodes.store import create_schema
from publisher.cli_errors import EXIT_INVALID, EXIT_OK, EXIT_USAGE, UsageError
from publisher.cli_logging import configure_logging
from publisher.cli_users import read_password
from publisher.store.db import make_engine, make_session_factory, session_scope

__all__ = ["add_district_node_command"]


def _config(arguments: argparse.Namespace) -> NodeConfig:
    try:
        return load_node_config(arguments.config)
    except NodeConfigError as error:
        raise UsageError(str(error)) from None


def _run(arguments: argparse.Namespace) -> int:
    config = _config(arguments)
    configure_logging()
    web.run_app(create_app(config), host=config.listen_host, port=config.listen_port,
                access_log=None, print=None, shutdown_timeout=5.0)
    return EXIT_OK


def _user_add(arguments: argparse.Namespace) -> int:
    config = _config(arguments)
    password = read_password(sys.stdin)
    config.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.database_url)
    try:
        create_schema(engine)
        with session_scope(make_session_factory(engine)) as session:
            add_user(session, arguments.name, password)
    except DraftError as error:
        print(f"publisher: {error.field}: {error.reason}", file=sys.stderr)
        return EXIT_INVALID
    finally:
        engine.dispose()
    print(f"district user {arguments.name} added to node {config.code}")
    return EXIT_OK


def add_district_node_command(commands: Any) -> None:
    node = commands.add_parser("district-node", help="run a district sub-center node")
    node.add_argument("--config", type=Path, required=True, metavar="TOML",
                      help="the node's configuration, e.g. config/districts/110105.toml")
    node.set_defaults(handler=_run)
    node_commands = node.add_subparsers(dest="node_command", metavar="COMMAND")
    user = node_commands.add_parser("user", help="manage the node's district users")
    user_commands = user.add_subparsers(dest="user_command", metavar="COMMAND", required=True)
    add = user_commands.add_parser(
        "add", help="add a district user; the password is read from standard input")
    add.add_argument("name", help="the login name")
    add.set_defaults(handler=_user_add)


def main(argv: list[str] | None = None) -> int:
    """``python -m publisher.cli_district_node --config FILE``, as ``publisher district-node``."""
    parser = argparse.ArgumentParser(prog="publisher")
    add_district_node_command(parser.add_subparsers(dest="command", required=True))
    arguments = parser.parse_args(["district-node", *(sys.argv[1:] if argv is None else argv)])
    try:
        code: int = arguments.handler(arguments)
    except UsageError as error:
        print(f"publisher: {error}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
