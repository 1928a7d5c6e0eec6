"""The ``publisher`` command."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from publisher.cli_agencies import add_agency_commands
from publisher.cli_apps import add_app_commands
from publisher.cli_beat import add_beat_command
from publisher.cli_cap import add_cap_commands
from publisher.cli_db import add_db_commands
from publisher.cli_demo import add_demo_command
from publisher.cli_devices import add_device_commands
from publisher.cli_district_node import add_district_node_command
from publisher.cli_eew import add_eew_commands
from publisher.cli_errors import EXIT_USAGE, UsageError
from publisher.cli_intake import add_intake_commands
from publisher.cli_nodes import add_node_commands
from publisher.cli_probe import add_probe_command
from publisher.cli_serve import add_serve_commands
from publisher.cli_sim import add_sim_command
from publisher.cli_subscribers import add_subscriber_commands
from publisher.cli_users import add_user_commands

__all__ = ["main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="publisher",
        description="Public alert publishing platform: CAP 1.2 alerts to every channel.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    add_agency_commands(commands)
    add_cap_commands(commands)
    add_db_commands(commands)
    add_app_commands(commands)
    add_beat_command(commands)
    add_demo_command(commands)
    add_device_commands(commands)
    add_district_node_command(commands)
    add_eew_commands(commands)
    add_intake_commands(commands)
    add_node_commands(commands)
    add_probe_command(commands)
    add_serve_commands(commands)
    add_sim_command(commands)
    add_subscriber_commands(commands)
    add_user_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = build_parser().parse_args(argv)
    try:
        code: int = arguments.handler(arguments)
    except UsageError as error:
        print(f"publisher: {error}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
