"""``publisher subscriber import FILE.csv``: subscribers in bulk, every refused row reported."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from publisher.cap.districts import load_districts
from publisher.cli_errors import EXIT_INVALID, EXIT_OK, UsageError
from publisher.cli_settings import add_data_dir_option, prepared_settings
from publisher.cli_users import run_in_session
from publisher.services.district_names import DistrictNames
from publisher.services.subscriber_import import (
    COLUMNS,
    DISTRICT_SEPARATOR,
    ROWS_PER_COMMIT,
    import_subscribers,
)

__all__ = ["add_subscriber_commands", "read_text_file"]


def read_text_file(path: Path) -> str:
    """A file given on the command line, as UTF-8 text; UsageError when it cannot be read."""
    try:
        # utf-8-sig: spreadsheets save CSV with a byte order mark.
        return path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except UnicodeDecodeError as error:
        raise UsageError(f"{path}: not UTF-8 text (byte {error.start})") from None


def _import(arguments: argparse.Namespace) -> int:
    text = read_text_file(arguments.file)
    settings = prepared_settings(arguments)
    districts = DistrictNames(load_districts(settings.paths.districts_file))
    report = run_in_session(settings, lambda session: import_subscribers(
        session, text, districts=districts, commit_every=ROWS_PER_COMMIT))
    for error in report.errors:
        print(f"{arguments.file}: {error}", file=sys.stderr)
    print(f"subscribers: {report.created} created, {report.updated} updated, "
          f"{report.unchanged} unchanged, {report.merged} duplicate rows merged, "
          f"{len(report.errors)} refused")
    return EXIT_OK if report.ok else EXIT_INVALID


def add_subscriber_commands(commands: Any) -> None:
    subscriber = commands.add_parser("subscriber", help="manage SMS and WeChat subscribers")
    subscriber_commands = subscriber.add_subparsers(dest="subscriber_command", metavar="COMMAND",
                                                    required=True)
    load = subscriber_commands.add_parser(
        "import", help="add or update subscribers from a CSV file",
        description=f"CSV with a header row; columns: {', '.join(COLUMNS)} (district: "
                    f"several separated by {DISTRICT_SEPARATOR}). "
                    "Valid rows are imported, each refused row is reported with its "
                    "row number, column and reason (exit status 1).")
    load.add_argument("file", type=Path, metavar="FILE.csv", help="the CSV file (UTF-8)")
    add_data_dir_option(load)
    load.set_defaults(handler=_import)
