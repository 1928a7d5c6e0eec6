"""``publisher serve``, ``publisher web`` and ``publisher worker``: run the platform.

``serve`` is the embedded, all-in-one form: the web app in this process and
one Celery worker (every queue, with the periodic scheduler embedded) as its
child, on SQLite and the SQLite broker under the data directory. ``web`` and
``worker`` run the same parts apart, as production does.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from aiohttp import web

from publisher.celery_app import make_celery
from publisher.cli_errors import EXIT_INVALID, EXIT_OK, UsageError
from publisher.cli_logging import configure_logging
from publisher.cli_settings import add_data_dir_option, prepared_settings
from publisher.config import Settings
from publisher.process_control import stop_process
from publisher.web.app import create_app

__all__ = ["AppContext", "add_address_options", "add_serve_commands", "run_web"]

# A resource that lives as long as the web app (aiohttp's cleanup context).
AppContext = Callable[[web.Application], AsyncIterator[None]]

log = logging.getLogger("publisher.serve")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080
BEAT_SCHEDULE_FILE = "beat-schedule"
WORKER_POOLS = ("prefork", "threads", "solo")
# A warm shutdown lets the worker finish the batch in hand; after this it is killed
# and acks_late hands the batch to the next worker.
WORKER_STOP_SECONDS = 20.0


def _worker_command(settings: Settings) -> list[str]:
    return [sys.executable, "-m", "publisher.cli", "worker", "--beat",
            "--data-dir", str(settings.paths.data_dir)]


class SupervisedWorker:
    """The worker as a resource of the web app: started with it, stopped with it.

    If the worker dies on its own, serve stops too, with an error, rather
    than go on accepting alerts that nothing would deliver.
    """

    def __init__(self, settings: Settings, environment: Mapping[str, str] | None = None) -> None:
        self.settings = settings
        self.environment = environment
        self.died = False

    async def __call__(self, _app: web.Application) -> AsyncIterator[None]:
        # Our own interpreter and arguments: nothing from outside reaches the command line.
        process = subprocess.Popen(_worker_command(self.settings),  # noqa: S603
                                   env=self.environment)
        log.info("worker started", extra={"pid": process.pid})

        async def watch() -> None:
            code = await asyncio.to_thread(process.wait)
            self.died = True
            log.error("worker exited on its own; stopping", extra={"exit_code": code})
            os.kill(os.getpid(), signal.SIGTERM)

        watcher = asyncio.get_running_loop().create_task(watch())
        yield
        watcher.cancel()
        await asyncio.to_thread(stop_process, process, WORKER_STOP_SECONDS)
        log.info("worker stopped", extra={"exit_code": process.returncode})


def run_web(settings: Settings, host: str, port: int, *, with_worker: bool,
            worker_environment: Mapping[str, str] | None = None,
            contexts: Sequence[AppContext] = ()) -> int:
    """Serve until stopped; ``contexts`` start after the worker and stop before it."""
    configure_logging()
    app = create_app(settings)
    worker = SupervisedWorker(settings, worker_environment) if with_worker else None
    if worker is not None:
        app.cleanup_ctx.append(worker)
    app.cleanup_ctx.extend(contexts)
    print(f"publisher: listening on http://{host}:{port} "
          f"(data in {settings.paths.data_dir})", flush=True)
    web.run_app(app, host=host, port=port, print=None)
    return EXIT_INVALID if worker is not None and worker.died else EXIT_OK


def _serve(arguments: argparse.Namespace) -> int:
    return run_web(prepared_settings(arguments), arguments.host, arguments.port,
                    with_worker=True)


def _web(arguments: argparse.Namespace) -> int:
    return run_web(prepared_settings(arguments), arguments.host, arguments.port,
                    with_worker=False)


def _worker(arguments: argparse.Namespace) -> int:
    configure_logging()
    settings = prepared_settings(arguments)
    celery = make_celery(settings)
    argv = ["worker", "--loglevel", "INFO"]
    if arguments.queues:
        known = sorted(queue.name for queue in celery.conf.task_queues or ())
        unknown = [name for name in arguments.queues.split(",") if name not in known]
        if unknown:
            raise UsageError(f"--queues: unknown queue {unknown[0]!r} (known: {', '.join(known)})")
        argv += ["--queues", arguments.queues]
    if arguments.concurrency:
        argv += ["--concurrency", str(arguments.concurrency)]
    if arguments.pool:
        argv += ["--pool", arguments.pool]
    if arguments.name:
        argv += ["--hostname", arguments.name]
    if arguments.beat:
        argv += ["--beat", "--schedule", str(settings.paths.data_dir / BEAT_SCHEDULE_FILE)]
    try:
        celery.worker_main(argv)
    except SystemExit as stopped:
        return stopped.code if isinstance(stopped.code, int) else EXIT_INVALID
    return EXIT_OK


def add_address_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default=DEFAULT_HOST, help=f"default {DEFAULT_HOST}")
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"default {DEFAULT_PORT}")
    add_data_dir_option(parser)


def add_serve_commands(commands: Any) -> None:
    serve = commands.add_parser(
        "serve", help="run the web app and a worker with its scheduler, embedded")
    add_address_options(serve)
    serve.set_defaults(handler=_serve)

    web_command = commands.add_parser("web", help="run the web app alone")
    add_address_options(web_command)
    web_command.set_defaults(handler=_web)

    worker = commands.add_parser("worker", help="run a Celery worker")
    worker.add_argument("--queues", metavar="A,B",
                        help="comma-separated queues to consume (default: all)")
    worker.add_argument("--beat", action="store_true",
                        help="also run the periodic scheduler (outbox relay, expiry); "
                             "exactly one per installation")
    worker.add_argument("--concurrency", type=int, metavar="N",
                        help="worker processes, or threads with --pool threads"
                             " (default: one per CPU)")
    worker.add_argument("--pool", choices=WORKER_POOLS,
                        help="prefork (the default): a process per task; threads: tasks"
                             " share one process and its SMS binds, so that one batch"
                             " is sent while the one before is recorded (docs/sms.md)")
    worker.add_argument("--name", metavar="NAME",
                        help="the worker's node name (default celery@HOST); each worker on"
                             " one host needs its own, e.g. sms@%%h")
    add_data_dir_option(worker)
    worker.set_defaults(handler=_worker)
