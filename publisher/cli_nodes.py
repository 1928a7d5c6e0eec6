"""``publisher node add|list|remove``: the district sub-center nodes the center pushes to.

``add`` prints the node's new credential alone on standard output (shown
this once; the platform keeps only its SHA-256), so that
``CREDENTIAL=$(publisher node add ...)`` works; what was added goes to
standard error. A refused field is named as the option that gave it.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from publisher.cap.districts import load_districts
from publisher.cli_errors import EXIT_OK, refused
from publisher.cli_settings import add_data_dir_option, prepared_settings
from publisher.cli_subscribers import read_text_file
from publisher.cli_users import run_in_session
from publisher.services.district_names import DistrictNames
from publisher.services.district_nodes import NodeView, add_node, list_nodes, remove_node
from publisher.services.errors import ServiceError

__all__ = ["add_node_commands"]

# The option that gives each field, for errors that name a field.
_OPTIONS = {"code": "--code", "url": "--url", "certificate_pem": "--certificate",
            "heartbeat_interval": "--heartbeat-interval", "name": "--name"}


def _fields(arguments: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {"code": arguments.code, "url": arguments.url,
                              "certificate_pem": read_text_file(arguments.certificate)}
    # Left out, they take the registry's defaults (60 s; the district's Chinese name).
    if arguments.heartbeat_interval is not None:
        fields["heartbeat_interval"] = arguments.heartbeat_interval
    if arguments.name is not None:
        fields["name"] = arguments.name
    return fields


def _add(arguments: argparse.Namespace) -> int:
    fields = _fields(arguments)
    settings = prepared_settings(arguments)
    districts = DistrictNames(load_districts(settings.paths.districts_file))

    def adding(session: Session) -> tuple[str, str, str]:
        added = add_node(session, fields, districts)
        return added.node.code, added.node.target.address, added.credential

    try:
        code, url, credential = run_in_session(settings, adding)
    except ServiceError as error:
        return refused(error, _OPTIONS)
    print(f"node {code} added at {url}; its credential (shown once) is on standard output",
          file=sys.stderr)
    print(credential)
    return EXIT_OK


def _row(view: NodeView) -> str:
    node = view.node
    heard = node.last_heard_at.isoformat(timespec="seconds") if node.last_heard_at else "-"
    health = "offline" if view.offline else "online"
    return (f"{node.code:<8}{health:<9}{heard:<27}{node.heartbeat_interval:>8}  "
            f"{node.target.address}  {node.name}")


def _list(arguments: argparse.Namespace) -> int:
    settings = prepared_settings(arguments)
    rows = run_in_session(settings, lambda session: [_row(view) for view in list_nodes(session)])
    header = f"{'CODE':<8}{'HEALTH':<9}{'LAST HEARD':<27}{'INTERVAL':>8}  URL  NAME"
    print("\n".join([header, *rows]))
    return EXIT_OK


def _remove(arguments: argparse.Namespace) -> int:
    settings = prepared_settings(arguments)
    try:
        run_in_session(settings, lambda session: remove_node(session, arguments.code))
    except ServiceError as error:
        return refused(error, _OPTIONS)
    print(f"node {arguments.code} removed; the deliveries made to it are kept")
    return EXIT_OK


def add_node_commands(commands: Any) -> None:
    node = commands.add_parser("node", help="manage the district sub-center nodes")
    node_commands = node.add_subparsers(dest="node_command", metavar="COMMAND", required=True)

    add = node_commands.add_parser(
        "add", help="register a district node; prints its credential once",
        description="Register the node of a district: fan-out pushes it the signed messages"
                    " whose areas reach the district, and it calls the center with the"
                    " credential printed here (shown this once).")
    add.add_argument("--code", required=True, metavar="CODE",
                     help="the district's GB/T 2260 code, e.g. 110105 (or a name: 朝阳)")
    add.add_argument("--url", required=True, help="the node's base URL (the center adds /api/cap)")
    add.add_argument("--certificate", required=True, type=Path, metavar="PEM",
                     help="the certificate of the district's signing key")
    add.add_argument("--name", help="for people (default: the district's Chinese name)")
    add.add_argument("--heartbeat-interval", type=int, metavar="S",
                     help="seconds between heartbeats; offline after twice this (default 60)")
    add_data_dir_option(add)
    add.set_defaults(handler=_add)

    listing = node_commands.add_parser("list", help="the nodes with their health")
    add_data_dir_option(listing)
    listing.set_defaults(handler=_list)

    remove = node_commands.add_parser(
        "remove", help="unregister a node (the deliveries made to it stay)")
    remove.add_argument("--code", required=True, metavar="CODE")
    add_data_dir_option(remove)
    remove.set_defaults(handler=_remove)
