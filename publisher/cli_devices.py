"""``publisher device add|list|remove|import``: the boards, speakers and terminals fan-out reaches.

``add`` prints the device's new token alone on standard output (shown this
once; the platform keeps only its SHA-256), so that
``TOKEN=$(publisher device add ...)`` works; what was added goes to
standard error. A refused field is named as the option that gave it.
``import`` of a CSV file likewise keeps standard output for the tokens it
generated (``publisher device import boards.csv > tokens.csv``), as CSV.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

from publisher.cap.districts import load_districts
from publisher.channels.mqtt_protocol import SECTORS
from publisher.cli_errors import EXIT_INVALID, EXIT_OK, UsageError, refused
from publisher.cli_settings import add_data_dir_option, prepared_settings
from publisher.cli_subscribers import read_text_file
from publisher.cli_users import run_in_session
from publisher.config import Settings
from publisher.services.device_csv import COLUMNS as CSV_COLUMNS
from publisher.services.device_csv import LIST_SEPARATOR, REQUIRED_COLUMNS, import_device_csv
from publisher.services.device_health import Health
from publisher.services.device_import import import_device_list, read_device_list
from publisher.services.devices import (
    BOARD_COLOURS,
    DEFAULT_HEARTBEAT_SECONDS,
    DeviceView,
    add_device,
    device_spec,
    list_devices,
    remove_device,
)
from publisher.services.district_names import DistrictNames
from publisher.services.errors import ServiceError
from publisher.services.languages import DEFAULT_LANGUAGE
from publisher.store.models import DeviceKind

__all__ = ["add_device_commands"]

# The option that gives each field, for errors that name a field.
_OPTIONS = {
    "device_id": "DEVICE_ID", "kind": "--kind", "endpoint": "--endpoint", "sector": "--sector",
    "district_code": "--district", "lon": "--lon", "lat": "--lat", "language": "--language",
    "heartbeat_interval": "--heartbeat-interval", "is_test": "--test", "name": "--name",
    "capabilities.rows": "--rows", "capabilities.columns": "--columns",
    "capabilities.colours": "--colour", "capabilities.scrolls": "--scrolls",
    "capabilities.languages": "--shows", "capabilities.formats": "--format",
    "capabilities.volume": "--volume",
}
_CAPABILITY_OPTIONS = ("rows", "columns", "colours", "scrolls", "languages", "formats", "volume")
JSON = "json"
CSV = "csv"


def _districts(settings: Settings) -> DistrictNames:
    return DistrictNames(load_districts(settings.paths.districts_file))


def _fields(arguments: argparse.Namespace) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "device_id": arguments.device_id, "kind": arguments.kind,
        "endpoint": arguments.endpoint, "sector": arguments.sector,
        "district_code": arguments.district,
        "lon": arguments.lon, "lat": arguments.lat, "language": arguments.language,
        "heartbeat_interval": arguments.heartbeat_interval, "is_test": arguments.test,
        "name": arguments.name}
    capabilities = {key: getattr(arguments, key) for key in _CAPABILITY_OPTIONS
                    if getattr(arguments, key) is not None}
    if capabilities:
        fields["capabilities"] = capabilities
    return fields


def _add(arguments: argparse.Namespace) -> int:
    settings = prepared_settings(arguments)
    try:
        spec = device_spec(_fields(arguments), _districts(settings))
        added = run_in_session(settings, lambda session: add_device(session, spec))
    except ServiceError as error:
        return refused(error, _OPTIONS)
    print(f"{spec.kind.value} device {spec.device_id} added in {spec.district_code} at"
          f" {spec.endpoint}; its token (shown once) is on standard output", file=sys.stderr)
    print(added.token)
    return EXIT_OK


def _when(view: DeviceView) -> str:
    seen = view.device.last_seen_at
    return seen.isoformat(timespec="seconds") if seen is not None else "-"


def _health(view: DeviceView) -> str:
    if view.health is Health.NEVER_SEEN:
        return "never seen, offline" if view.offline else "never seen"
    return view.health.value


def _table(views: Sequence[DeviceView]) -> list[str]:
    rows = [("DEVICE", "KIND", "DISTRICT", "HEALTH", "LAST SEEN", "TEST", "ENDPOINT")]
    rows += [(view.device.device_id, view.device.kind.value,
              view.device.target.district_code or "-",
              _health(view),
              _when(view), "yes" if view.device.target.is_test else "no",
              view.device.target.address) for view in views]
    widths = [max(len(row[column]) for row in rows) for column in range(len(rows[0]) - 1)]
    return ["  ".join([*(cell.ljust(width) for cell, width in zip(row, widths, strict=False)),
                       row[-1]]) for row in rows]


def _list(arguments: argparse.Namespace) -> int:
    settings = prepared_settings(arguments)
    try:
        lines = run_in_session(settings, lambda session: _table(list_devices(
            session, kind=arguments.kind, offline_only=arguments.offline).items))
    except ServiceError as error:
        return refused(error, _OPTIONS)
    print("\n".join(lines))
    return EXIT_OK


def _remove(arguments: argparse.Namespace) -> int:
    settings = prepared_settings(arguments)
    try:
        run_in_session(settings, lambda session: remove_device(session, arguments.device_id))
    except ServiceError as error:
        return refused(error, _OPTIONS)
    print(f"device {arguments.device_id} removed; its deliveries are kept")
    return EXIT_OK


def _format(arguments: argparse.Namespace) -> str:
    if arguments.format is not None:
        return str(arguments.format)
    return CSV if arguments.file.suffix.lower() == f".{CSV}" else JSON


def _import_json(arguments: argparse.Namespace, text: str) -> int:
    settings = prepared_settings(arguments)
    districts = _districts(settings)
    try:
        entries = read_device_list(text)
    except ServiceError as refusal:
        print(f"publisher: {arguments.file}: {refusal.reason}", file=sys.stderr)
        return EXIT_INVALID
    report = run_in_session(settings, lambda session: import_device_list(
        session, entries, districts))
    for error in report.errors:
        print(f"{arguments.file}: {error}", file=sys.stderr)
    print(f"devices: {report.created} created, {report.updated} updated, "
          f"{report.unchanged} unchanged, {len(report.errors)} refused")
    return EXIT_OK if report.ok else EXIT_INVALID


def _token_lines(tokens: dict[str, str]) -> str:
    lines = io.StringIO()
    writer = csv.writer(lines, lineterminator="\n")
    writer.writerow(("device_id", "token"))
    writer.writerows(tokens.items())
    return lines.getvalue()


def _tokens_file(path: Path) -> TextIO:
    """A new file for the tokens, readable by the owner alone, opened before anything is
    imported: tokens generated must never be lost to a file that cannot be written."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise UsageError(f"--tokens-out: {path} exists; name a new file") from None
    except OSError as error:
        raise UsageError(f"--tokens-out: {path}: {error.strerror}") from None
    return os.fdopen(descriptor, "w", encoding="utf-8")


def _import_csv(arguments: argparse.Namespace, text: str) -> int:
    settings = prepared_settings(arguments)
    districts = _districts(settings)
    with (contextlib.nullcontext(sys.stdout) if arguments.tokens_out is None
          else _tokens_file(arguments.tokens_out)) as tokens_file:
        report = run_in_session(settings, lambda session: import_device_csv(
            session, text, districts))
        if report.tokens or arguments.tokens_out is not None:
            tokens_file.write(_token_lines(report.tokens))
    for error in report.errors:
        print(f"{arguments.file}: {error}", file=sys.stderr)
    where = f" (their tokens in {arguments.tokens_out})" \
        if report.tokens and arguments.tokens_out else ""
    print(f"devices: {report.created} created{where}, {report.updated} updated, "
          f"{report.unchanged} unchanged, {report.refused} refused", file=sys.stderr)
    return EXIT_OK if report.ok else EXIT_INVALID


def _import(arguments: argparse.Namespace) -> int:
    text = read_text_file(arguments.file)
    if _format(arguments) == CSV:
        return _import_csv(arguments, text)
    if arguments.tokens_out is not None:
        raise UsageError("--tokens-out: a device list in JSON carries its tokens; only a CSV"
                         " import generates any")
    return _import_json(arguments, text)


def _add_parser(commands: Any) -> None:
    add = commands.add_parser(
        "add", help="register a board, speaker or terminal; prints its token once",
        description="Register an LED board, a speaker or an MQTT terminal. Capabilities left"
                    " out take the defaults of its kind (a board: 2 rows of 12 CJK characters,"
                    " every colour, no scrolling; a speaker: audio/wav at volume 80). A"
                    " terminal has a --sector instead of an --endpoint: it listens on the"
                    " broker, on its district's and sector's topics.")
    add.add_argument("device_id", metavar="DEVICE_ID", help="e.g. led-110105-01")
    add.add_argument("--kind", required=True, choices=[kind.value for kind in DeviceKind])
    add.add_argument("--endpoint", metavar="URL",
                     help="a board's or speaker's: where the platform pushes messages"
                          " (it adds /messages)")
    add.add_argument("--sector", choices=SECTORS,
                     help="a terminal's: what it protects; names its topics")
    add.add_argument("--district", required=True, metavar="CODE",
                     help="its GB/T 2260 district, e.g. 110105 (or a name: 朝阳, Chaoyang)")
    add.add_argument("--lon", required=True, type=float, help="longitude, WGS 84 degrees")
    add.add_argument("--lat", required=True, type=float, help="latitude, WGS 84 degrees")
    add.add_argument("--language", default=DEFAULT_LANGUAGE,
                     help=f"the language it shows or speaks first (default {DEFAULT_LANGUAGE})")
    add.add_argument("--heartbeat-interval", type=int, default=DEFAULT_HEARTBEAT_SECONDS,
                     metavar="S", help="offline once silent longer than this (default"
                                       f" {DEFAULT_HEARTBEAT_SECONDS})")
    add.add_argument("--test", action="store_true",
                     help="a test device: Exercise and Test alerts reach only these")
    add.add_argument("--name", default="", help="where it stands, for people")
    board = add.add_argument_group("an LED board")
    board.add_argument("--rows", type=int, help="rows of text")
    board.add_argument("--columns", type=int, help="CJK characters a row (two cells each)")
    board.add_argument("--colour", dest="colours", action="append", choices=BOARD_COLOURS,
                       help="a colour it shows; repeat for more")
    board.add_argument("--scrolls", action="store_true", default=None,
                       help="it can scroll text")
    speaker = add.add_argument_group("a speaker")
    speaker.add_argument("--format", dest="formats", action="append", metavar="MEDIA_TYPE",
                         help="an audio format it plays, e.g. audio/wav; repeat for more")
    speaker.add_argument("--volume", type=int, help="0 to 100")
    add.add_argument("--shows", dest="languages", action="append", metavar="LANGUAGE",
                     help="a language it can show or speak; repeat for more")
    add_data_dir_option(add)
    add.set_defaults(handler=_add)


def add_device_commands(commands: Any) -> None:
    device = commands.add_parser("device", help="manage LED boards, speakers and terminals")
    device_commands = device.add_subparsers(dest="device_command", metavar="COMMAND",
                                            required=True)
    _add_parser(device_commands)

    listing = device_commands.add_parser("list", help="devices with their health")
    listing.add_argument("--kind", choices=[kind.value for kind in DeviceKind])
    listing.add_argument("--offline", action="store_true",
                         help="only those silent longer than their heartbeat interval")
    add_data_dir_option(listing)
    listing.set_defaults(handler=_list)

    remove = device_commands.add_parser(
        "remove", help="unregister a device (its delivery history stays)")
    remove.add_argument("device_id", metavar="DEVICE_ID")
    add_data_dir_option(remove)
    remove.set_defaults(handler=_remove)

    load = device_commands.add_parser(
        "import", help="add or update devices from a device list (JSON) or a CSV file",
        description="JSON: an array of devices as `publisher sim led|speaker|terminal` writes"
                    " it: device_id, kind, endpoint (a terminal: sector), token, district_code,"
                    " lon, lat, language, capabilities. CSV (a file ending .csv, or --format"
                    f" csv): a header row; columns {', '.join(CSV_COLUMNS)} (required:"
                    f" {', '.join(REQUIRED_COLUMNS)}; lists separated by {LIST_SEPARATOR});"
                    " a new device without a token gets one, printed once on standard output"
                    " as CSV (device_id,token), or written to --tokens-out. Known devices are"
                    " updated (endpoint, sector, location, token); valid entries are applied,"
                    " each refused one is reported with its index or row and its field (exit"
                    " status 1).")
    load.add_argument("file", type=Path, metavar="FILE")
    load.add_argument("--format", choices=(JSON, CSV),
                      help="the file's format (default: csv for a name ending .csv, else json)")
    load.add_argument("--tokens-out", type=Path, metavar="FILE",
                      help="CSV: write the generated tokens to this new file (mode 600)"
                           " instead of standard output")
    add_data_dir_option(load)
    load.set_defaults(handler=_import)
