"""``publisher sim smsc``: the SMSC simulator as a process, for the demo and process-level tests.

Its state (message-id counter, part log) lives in ``DATA_DIR/smsc/``. Once
listening it prints ``smsc listening on HOST:PORT`` on stdout (useful with
``--port 0``), and runs until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
from typing import Any

from publisher.cli_errors import EXIT_OK, UsageError
from publisher.cli_logging import configure_logging
from publisher.cli_settings import add_data_dir_option
from publisher.config import ConfigError, load_settings
from publisher.sim.smsc import FaultMode, SmscConfig, SmscSimulator

__all__ = ["add_sim_command"]

SMSC_STATE_DIR = "smsc"


def add_sim_command(commands: Any) -> None:
    sim = commands.add_parser("sim", help="run a device simulator")
    simulators = sim.add_subparsers(dest="simulator", metavar="SIMULATOR", required=True)
    smsc = simulators.add_parser("smsc", help="an SMSC speaking SMPP 3.4")
    smsc.add_argument("--host", default="127.0.0.1")
    smsc.add_argument("--port", type=int, default=2775, help="0 picks a free port")
    smsc.add_argument("--system-id", default="publisher")
    smsc.add_argument("--password", default="secret",  # the demo account
                      help="at most 8 characters (SMPP 3.4)")
    smsc.add_argument("--dlr-delay", type=float, default=0.5, metavar="S",
                      help="seconds from acceptance to the delivery receipt")
    smsc.add_argument("--failure-share", type=float, default=0.0, metavar="F",
                      help="share of receipts that say UNDELIV, 0..1")
    smsc.add_argument("--max-parts-per-second", type=float, metavar="N",
                      help="per bind; above it submit_sm answers ESME_RTHROTTLED")
    smsc.add_argument("--message-id-format", choices=("hex", "decimal"), default="hex")
    smsc.add_argument("--fault", choices=[mode.value for mode in FaultMode],
                      default=FaultMode.NONE.value, help="start in this fault mode")
    smsc.add_argument("--seed", type=int, help="for the choice of failed receipts")
    add_data_dir_option(smsc)
    smsc.set_defaults(handler=_smsc)


def _config(arguments: argparse.Namespace) -> SmscConfig:
    try:
        data_dir = load_settings(
            os.environ, arguments.data_dir.absolute() if arguments.data_dir else None,
        ).paths.data_dir
        return SmscConfig(
            data_dir=data_dir / SMSC_STATE_DIR, host=arguments.host, port=arguments.port,
            system_id=arguments.system_id, password=arguments.password,
            dlr_delay=arguments.dlr_delay, failure_share=arguments.failure_share,
            max_parts_per_second=arguments.max_parts_per_second,
            message_id_format=arguments.message_id_format, fault=FaultMode(arguments.fault),
            seed=arguments.seed)
    except (ConfigError, ValueError) as error:
        raise UsageError(str(error)) from None


def _smsc(arguments: argparse.Namespace) -> int:
    config = _config(arguments)
    configure_logging()
    asyncio.run(_run(SmscSimulator(config)))
    return EXIT_OK


async def _run(simulator: SmscSimulator) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stopping.set)
    async with simulator.running():
        print(f"smsc listening on {simulator.config.host}:{simulator.port}", flush=True)
        await stopping.wait()
