"""Running an HTTP simulator from the command line until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import signal
from collections.abc import Callable
from typing import Any

from publisher.cli_errors import EXIT_OK, UsageError
from publisher.cli_logging import configure_logging
from publisher.sim.served import ServedSimulator

__all__ = ["add_served_parser", "serve_until_signalled"]


def add_served_parser(simulators: Any, name: str, description: str,
                      default_port: int) -> argparse.ArgumentParser:
    """``publisher sim NAME`` with its ``--host`` and ``--port``; the caller adds the rest."""
    parser: argparse.ArgumentParser = simulators.add_parser(name, help=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port, help="0 picks a free port")
    return parser


def serve_until_signalled(name: str, simulator: Callable[[], ServedSimulator[Any]]) -> int:
    """Make the simulator and serve it until a signal; once listening, say where on stdout.

    A ``ValueError`` while making it (its configuration refused) is a usage error.
    """
    try:
        made = simulator()
    except ValueError as error:
        raise UsageError(str(error)) from None
    configure_logging()
    asyncio.run(_run(name, made))
    return EXIT_OK


async def _run(name: str, simulator: ServedSimulator[Any]) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stopping.set)
    async with simulator.running():
        print(f"{name} simulator listening on {simulator.config.host}:{simulator.port}",
              flush=True)
        await stopping.wait()
