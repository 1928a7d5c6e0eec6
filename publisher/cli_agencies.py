"""``publisher agency add|load|list|remove``: the agencies that submit through the intake.

``add`` and ``load`` print each new agency's credential alone on standard
output (shown this once; the platform keeps only its SHA-256), with its
webhook secret on the next line; what was added goes to standard error.
Changes are audited as ``system:publisher agency``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from publisher.cli_errors import EXIT_INVALID, EXIT_OK, refused
from publisher.cli_settings import add_data_dir_option, prepared_settings
from publisher.cli_table import print_table
from publisher.cli_users import run_in_session
from publisher.demo_agencies import CLI_ACTOR
from publisher.services.agencies import (
    agency_json,
    find_agency,
    list_agencies,
    register_agency,
    remove_agency,
)
from publisher.services.agencies_file import AgencyFileError, read_agencies_file
from publisher.services.errors import ServiceError

__all__ = ["add_agency_commands", "refused"]


def _register(settings: Any, entries: list[dict[str, Any]]) -> int:
    def registering(session: Session) -> list[tuple[str, str, str]]:
        added = []
        for fields in entries:
            if find_agency(session, fields.get("code", "")) is not None:
                print(f"agency {fields['code']} is registered already; left as it is",
                      file=sys.stderr)
                continue
            registered = register_agency(session, CLI_ACTOR, fields)
            added.append((registered.agency.code, registered.credential,
                          registered.webhook_secret))
        return added

    try:
        added = run_in_session(settings, registering)
    except ServiceError as error:
        return refused(error)
    for code, credential, secret in added:
        print(f"agency {code} added; its credential and webhook secret (shown once) are on"
              " standard output", file=sys.stderr)
        print(credential)
        print(secret)
    return EXIT_OK


def _add(arguments: argparse.Namespace) -> int:
    permissions: dict[str, Any] = {"event_codes": arguments.event_code,
                                   "districts": arguments.district,
                                   "statuses": arguments.status}
    if arguments.channel:
        permissions["channels"] = arguments.channel
    fields = {"code": arguments.code, "name": arguments.name, "sender": arguments.sender,
              "contact": arguments.contact, "direct_publish": arguments.direct,
              "webhook_url": arguments.webhook_url, "members": arguments.member,
              "certificates": [path.read_text(encoding="ascii")
                               for path in arguments.certificate],
              "permissions": permissions}
    return _register(prepared_settings(arguments), [fields])


def _load(arguments: argparse.Namespace) -> int:
    settings = prepared_settings(arguments)
    try:
        entries = read_agencies_file(arguments.file, settings.paths.data_dir)
    except AgencyFileError as error:
        print(f"publisher: {error}", file=sys.stderr)
        return EXIT_INVALID
    return _register(settings, entries)


def _list(arguments: argparse.Namespace) -> int:
    settings = prepared_settings(arguments)
    agencies = run_in_session(settings, lambda session: [
        agency_json(agency) for agency in list_agencies(session, CLI_ACTOR)])
    rows = [("AGENCY", "SENDER", "EVENT CODES", "DISTRICTS", "STATUSES", "CHANNELS", "POLICY")]
    rows += [(agency["code"], agency["sender"],
              ",".join(agency["permissions"]["event_codes"]),
              ",".join(agency["permissions"]["districts"]),
              ",".join(agency["permissions"]["statuses"]),
              ",".join(agency["permissions"]["channels"] or ["any"]),
              "direct" if agency["direct_publish"] else "approval") for agency in agencies]
    print_table(rows)
    return EXIT_OK


def _remove(arguments: argparse.Namespace) -> int:
    settings = prepared_settings(arguments)
    try:
        run_in_session(settings, lambda session: remove_agency(session, CLI_ACTOR,
                                                               arguments.code))
    except ServiceError as error:
        return refused(error)
    print(f"agency {arguments.code} removed; its alerts are kept")
    return EXIT_OK


def add_agency_commands(commands: Any) -> None:
    parser = commands.add_parser("agency", help="the agencies that submit signed CAP")
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="register an agency; prints its credential once")
    add.add_argument("code")
    add.add_argument("--name", required=True)
    add.add_argument("--sender", required=True, help="the CAP sender its messages carry")
    add.add_argument("--contact", default="")
    add.add_argument("--certificate", type=Path, action="append", required=True,
                     help="a PEM certificate it signs with (repeat)")
    add.add_argument("--event-code", action="append", default=[], metavar="NAME=VALUE",
                     help="an event code it may publish (repeat)")
    add.add_argument("--district", action="append", default=[], metavar="CODE",
                     help="a GB/T 2260 code of its area (repeat)")
    add.add_argument("--status", action="append", default=[],
                     help="a CAP status it may submit (repeat)")
    add.add_argument("--channel", action="append", default=[],
                     help="a channel it may ask for (repeat; default: it does not choose)")
    add.add_argument("--direct", action="store_true",
                     help="publish its alerts directly, without the center's approval")
    add.add_argument("--webhook-url", help="where its notifications are posted")
    add.add_argument("--member", action="append", default=[], metavar="USERNAME",
                     help="a user who belongs to it (repeat)")
    add_data_dir_option(add)
    add.set_defaults(handler=_add)
    load = actions.add_parser("load", help="register the agencies of a TOML file")
    load.add_argument("file", type=Path)
    add_data_dir_option(load)
    load.set_defaults(handler=_load)
    listing = actions.add_parser("list", help="the registered agencies")
    add_data_dir_option(listing)
    listing.set_defaults(handler=_list)
    remove = actions.add_parser("remove", help="remove an agency; its alerts stay")
    remove.add_argument("code")
    add_data_dir_option(remove)
    remove.set_defaults(handler=_remove)
