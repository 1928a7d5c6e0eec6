"""The ``--data-dir`` option every command shares, and the settings it leads to."""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path

from publisher.cli_errors import UsageError
from publisher.config import ConfigError, Settings, load_settings
from publisher.store.db import upgrade_database

__all__ = ["MEMORY_SINK_FILE", "add_data_dir_option", "prepared_settings"]

MEMORY_CHANNEL = "memory"
MEMORY_SINK_FILE = "memory-sink.db"


def add_data_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data-dir", type=Path, metavar="DIR",
        help="where all state lives: database, broker files, keys "
             "(default: $PUBLISHER_DATA_DIR, else ./var)",
    )


def prepared_settings(arguments: argparse.Namespace,
                      environ: Mapping[str, str] = os.environ) -> Settings:
    """Settings for the chosen data directory, whose database is migrated to the newest schema."""
    data_dir: Path | None = arguments.data_dir
    try:
        settings = load_settings(environ, data_dir.absolute() if data_dir else None)
    except ConfigError as error:
        raise UsageError(str(error)) from None
    settings.paths.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade_database(settings.database_url)
    return _with_memory_sink(settings)


def _with_memory_sink(settings: Settings) -> Settings:
    """The memory channel's sink in the data directory, unless configured.

    The web process, the worker and a test reading what was handed over are
    separate processes: an in-memory sink would be invisible to all but one.
    """
    options = settings.channel_options.get(MEMORY_CHANNEL, {})
    if MEMORY_CHANNEL not in settings.channels or "sink" in options:
        return settings
    sink = settings.paths.data_dir / MEMORY_SINK_FILE
    return replace(settings, channel_options={**settings.channel_options,
                                              MEMORY_CHANNEL: {**options, "sink": str(sink)}})
