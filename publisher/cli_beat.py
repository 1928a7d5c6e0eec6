"""``publisher beat``: the periodic scheduler alone, as production runs it.

It sends the periodic tasks (outbox relay, expiry, agency notices, district
heartbeats) to the ``fanout`` queue, for whichever worker takes them.
Exactly one runs per installation, however many workers there are: two
would send every periodic task twice. ``publisher worker --beat`` embeds the
same scheduler in a worker instead, for an installation of one machine.
"""

from __future__ import annotations

import argparse
from typing import Any

from publisher.celery_app import make_celery
from publisher.cli_errors import EXIT_INVALID, EXIT_OK
from publisher.cli_logging import configure_logging
from publisher.cli_serve import BEAT_SCHEDULE_FILE
from publisher.cli_settings import add_data_dir_option, prepared_settings

__all__ = ["add_beat_command"]


def _beat(arguments: argparse.Namespace) -> int:
    configure_logging()
    settings = prepared_settings(arguments)
    celery = make_celery(settings)
    # The schedule file keeps when each task last ran, so a restart does not send them all at once.
    argv = ["beat", "--loglevel", "INFO",
            "--schedule", str(settings.paths.data_dir / BEAT_SCHEDULE_FILE)]
    try:
        code = celery.start(argv)
    except SystemExit as stopped:
        return stopped.code if isinstance(stopped.code, int) else EXIT_INVALID
    return code if isinstance(code, int) else EXIT_OK


def add_beat_command(commands: Any) -> None:
    beat = commands.add_parser(
        "beat", help="run the periodic scheduler alone; exactly one per installation")
    add_data_dir_option(beat)
    beat.set_defaults(handler=_beat)
