"""``publisher eew simulate``: post a signed earthquake early warning as the automatic sender.

It signs with the demo sender's identity in ``<data_dir>/eew/`` (made on
first use; ``config/eew.toml`` registers its certificate) and posts to
``POST /api/eew``. It prints the platform's answer: the published alert and
its timings, or the refusal with its field. An Exercise by default: it
reaches test targets only; ``--status Actual`` reaches everyone.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from publisher.cap.eew import EewError, Quake, quake_of
from publisher.cap.model import Status
from publisher.cli_errors import EXIT_INVALID, EXIT_OK, UsageError
from publisher.cli_settings import add_data_dir_option
from publisher.config import load_paths
from publisher.sim.eew_sender import build_eew_alert, post_eew, sender_identity

__all__ = ["add_eew_commands"]

DEFAULT_URL = "http://127.0.0.1:8080"
_EEW_PATH = "/api/eew"


def _epicentre(text: str) -> tuple[float, float]:
    lat, comma, lon = text.partition(",")
    try:
        if not comma:
            raise ValueError(text)
        return float(lat), float(lon)
    except ValueError:
        raise argparse.ArgumentTypeError(f'{text!r} is not "lat,lon"') from None


def _quake(arguments: argparse.Namespace) -> Quake:
    lat, lon = arguments.epicentre
    quake = Quake(lat, lon, arguments.magnitude)
    try:
        # The sender's own check of what it is about to sign.
        quake_of(build_eew_alert(quake).infos[0])
    except EewError as error:
        option = "--magnitude" if error.field.endswith("MAGNITUDE") else "--epicentre"
        raise UsageError(f"{option}: {error.reason}") from None
    return quake


def _simulate(arguments: argparse.Namespace) -> int:
    quake = _quake(arguments)
    data_dir = arguments.data_dir.absolute() if arguments.data_dir else None
    identity = sender_identity(load_paths(data_dir=data_dir).data_dir)
    alert = build_eew_alert(quake, status=Status(arguments.status),
                            districts=arguments.district or ("110000",))
    answer = post_eew(arguments.url.rstrip("/") + _EEW_PATH, identity.sign(alert))
    shown: dict[str, Any] = answer.body
    if answer.status != 201:
        print(f"publisher: refused ({answer.status}): {shown.get('field')}: "
              f"{shown.get('reason')}", file=sys.stderr)
        return EXIT_INVALID
    print(json.dumps({"alert": shown["alert"]["id"],
                      "identifier": shown["message"]["identifier"],
                      "status": shown["message"]["status"], "fanout": shown["fanout"],
                      "timings": shown["timings"]}, ensure_ascii=False))
    return EXIT_OK


def add_eew_commands(commands: Any) -> None:
    eew = commands.add_parser("eew", help="earthquake early warnings from the automatic sender")
    actions = eew.add_subparsers(dest="eew_command", metavar="ACTION", required=True)
    simulate = actions.add_parser(
        "simulate", help="post a signed early warning as the demo's seismic network")
    simulate.add_argument("--magnitude", type=float, required=True, help="e.g. 6.1")
    simulate.add_argument("--epicentre", type=_epicentre, required=True, metavar="LAT,LON",
                          help="e.g. 40.3,116.2")
    simulate.add_argument("--status", choices=("Actual", "Exercise", "Test"),
                          default="Exercise", help="default Exercise: test targets only")
    simulate.add_argument("--district", action="append", metavar="CODE",
                          help="a GB/T 2260 code the warning names (repeatable; default"
                               " 110000, the whole city)")
    simulate.add_argument("--url", default=DEFAULT_URL,
                          help=f"the platform (default {DEFAULT_URL})")
    add_data_dir_option(simulate)
    simulate.set_defaults(handler=_simulate)
