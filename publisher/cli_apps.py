"""``publisher app add|list|remove|listen``: the app backends alerts are pushed to.

``add`` prints the app's credential alone on standard output (shown this
once; the platform keeps only its SHA-256), and for a webhook app its
signing secret on the next line; what was added goes to standard error.
``listen`` is the demo app: it follows the stream and prints each alert
once (``publisher.sim.app_client``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from pathlib import Path
from typing import Any

from publisher.cli_errors import EXIT_OK, refused
from publisher.cli_settings import add_data_dir_option, prepared_settings
from publisher.cli_table import print_table
from publisher.cli_users import run_in_session
from publisher.services.actors import Actor
from publisher.services.apps import (
    app_json,
    app_spec,
    list_apps,
    register_app_audited,
    remove_app_audited,
)
from publisher.services.errors import ServiceError
from publisher.sim.app_client import AppClient

__all__ = ["add_app_commands"]

_ACTOR = Actor.system("publisher app")


def _add(arguments: argparse.Namespace) -> int:
    fields = {"name": arguments.name, "mode": arguments.mode,
              "webhook_url": arguments.webhook_url, "districts": arguments.district,
              "languages": arguments.language, "severities": arguments.severity,
              "statuses": arguments.status}
    settings = prepared_settings(arguments)
    try:
        spec = app_spec(fields)
        credential, secret = run_in_session(settings, lambda session: _registered(session, spec))
    except ServiceError as error:
        return refused(error)
    print(f"app {spec.name} added ({spec.mode.value}); its credential (shown once) is on"
          " standard output" + (", its webhook secret on the next line" if secret else ""),
          file=sys.stderr)
    print(credential)
    if secret:
        print(secret)
    return EXIT_OK


def _registered(session: Any, spec: Any) -> tuple[str, str | None]:
    registered = register_app_audited(session, _ACTOR, spec)
    return registered.credential, registered.webhook_secret


def _list(arguments: argparse.Namespace) -> int:
    settings = prepared_settings(arguments)
    apps = run_in_session(settings, lambda session: [app_json(app)
                                                     for app in list_apps(session)])
    rows = [("APP", "MODE", "DISTRICTS", "LANGUAGES", "SEVERITIES", "STATUSES", "WEBHOOK")]
    rows += [(app["name"], app["mode"], ",".join(app["districts"]) or "all",
              ",".join(app["languages"]) or "all", ",".join(app["severities"]) or "all",
              ",".join(app["statuses"]), app["webhook_url"] or "-") for app in apps]
    print_table(rows)
    return EXIT_OK


def _remove(arguments: argparse.Namespace) -> int:
    settings = prepared_settings(arguments)
    try:
        run_in_session(settings, lambda session: remove_app_audited(session, _ACTOR,
                                                                    arguments.name))
    except ServiceError as error:
        return refused(error)
    print(f"app {arguments.name} removed; its deliveries are kept")
    return EXIT_OK


def _show(document: dict[str, Any]) -> None:
    card = next(iter(document["cards"].values()))
    print(f"[app] event {document['event']}: {document['msg_type']} {document['status']}"
          f" {card['level']} {card['headline']} ({document['identifier']})", flush=True)


def _listen(arguments: argparse.Namespace) -> int:
    credential = arguments.credential_file.read_text(encoding="utf-8").strip()
    client = AppClient(arguments.url.rstrip("/"), credential, arguments.cursor_file, _show)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(client.follow())
    return EXIT_OK


def add_app_commands(commands: Any) -> None:
    parser = commands.add_parser("app", help="the app backends alerts are pushed to")
    actions = parser.add_subparsers(dest="action", required=True)
    add = actions.add_parser("add", help="register an app; prints its credential once")
    add.add_argument("name")
    add.add_argument("--mode", choices=("stream", "webhook"), default="stream")
    add.add_argument("--webhook-url", help="a webhook app's http(s) URL")
    add.add_argument("--district", action="append", default=[], metavar="CODE",
                     help="a GB/T 2260 code the app follows (repeat; default: the whole city)")
    add.add_argument("--language", action="append", default=[],
                     help="zh-CN or en-US: the cards it gets (repeat; default: both)")
    add.add_argument("--severity", action="append", default=[],
                     help="a CAP severity of the Alerts it wants (repeat; default: all)")
    add.add_argument("--status", action="append", default=[],
                     help="a CAP status it wants (repeat; default: Actual)")
    add_data_dir_option(add)
    add.set_defaults(handler=_add)
    listing = actions.add_parser("list", help="the registered apps")
    add_data_dir_option(listing)
    listing.set_defaults(handler=_list)
    remove = actions.add_parser("remove", help="unregister an app; its deliveries stay")
    remove.add_argument("name")
    add_data_dir_option(remove)
    remove.set_defaults(handler=_remove)
    listen = actions.add_parser("listen", help="the demo app: print each streamed alert once")
    listen.add_argument("--url", default="http://127.0.0.1:8080", help="the platform's base URL")
    listen.add_argument("--credential-file", type=Path, required=True)
    listen.add_argument("--cursor-file", type=Path, required=True,
                        help="where the last handled event id is kept across restarts")
    listen.set_defaults(handler=_listen)
