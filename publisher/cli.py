"""The ``publisher`` command.

Each command's module is imported only when it is the one run: together
they import the whole platform (Celery, the web app, the simulators), which
took several seconds before a command as small as ``cap verify`` started.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from publisher.cli_errors import EXIT_USAGE, UsageError

__all__ = ["main"]

# The module and the function adding each command group, by the commands it adds.
_COMMAND_GROUPS: dict[tuple[str, ...], tuple[str, str]] = {
    ("agency",): ("publisher.cli_agencies", "add_agency_commands"),
    ("cap",): ("publisher.cli_cap", "add_cap_commands"),
    ("db",): ("publisher.cli_db", "add_db_commands"),
    ("app",): ("publisher.cli_apps", "add_app_commands"),
    ("beat",): ("publisher.cli_beat", "add_beat_command"),
    ("demo",): ("publisher.cli_demo", "add_demo_command"),
    ("device",): ("publisher.cli_devices", "add_device_commands"),
    ("district-node",): ("publisher.cli_district_node", "add_district_node_command"),
    ("eew",): ("publisher.cli_eew", "add_eew_commands"),
    ("intake",): ("publisher.cli_intake", "add_intake_commands"),
    ("node",): ("publisher.cli_nodes", "add_node_commands"),
    ("probe",): ("publisher.cli_probe", "add_probe_command"),
    ("serve", "web", "worker"): ("publisher.cli_serve", "add_serve_commands"),
    ("sim",): ("publisher.cli_sim", "add_sim_command"),
    ("subscriber",): ("publisher.cli_subscribers", "add_subscriber_commands"),
    ("user", "token"): ("publisher.cli_users", "add_user_commands"),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of ``command``'s group alone, or of every command when it names none."""
    parser = argparse.ArgumentParser(
        prog="publisher",
        description="Public alert publishing platform: CAP 1.2 alerts to every channel.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    chosen = [group for names, group in _COMMAND_GROUPS.items() if command in names]
    for module, adder in chosen or _COMMAND_GROUPS.values():
        getattr(importlib.import_module(module), adder)(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    command = next((argument for argument in arguments if not argument.startswith("-")), None)
    parsed = build_parser(command).parse_args(arguments)
    try:
        code: int = parsed.handler(parsed)
    except UsageError as error:
        print(f"publisher: {error}", file=sys.stderr)
        return EXIT_USAGE
    return code


if __name__ == "__main__":
    sys.exit(main())
