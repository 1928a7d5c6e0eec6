"""``publisher sim smsc`` and ``publisher sim mo``: the SMSC simulator, and texts from phones.

``sim led`` (and the other device simulators) are described in ``cli_sim_devices``,
``sim wechat`` in ``cli_sim_wechat``, ``sim twilio`` in ``cli_sim_twilio``, ``sim terminal``
in ``cli_sim_terminal``.

``sim smsc`` runs the simulator as a process, for process-level tests. Its
state (message-id counter, part log) lives in ``DATA_DIR/smsc/``. Once
listening it prints ``smsc listening on HOST:PORT`` on stdout (useful with
``--port 0``), and runs until SIGINT or SIGTERM. With ``--control-port`` it
also serves its control port (``publisher.sim.smsc_control``).

``sim mo`` sends a text as if from a phone through a simulator's control
port (the one ``publisher demo`` runs, by default) and returns once the
platform's bind has acknowledged it.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import sys
import urllib.error
import urllib.request
from typing import Any

from publisher.cli_errors import EXIT_INVALID, EXIT_OK, UsageError
from publisher.cli_logging import configure_logging
from publisher.cli_settings import add_data_dir_option
from publisher.cli_sim_devices import add_device_simulator
from publisher.cli_sim_terminal import add_terminal_simulator
from publisher.cli_sim_twilio import add_twilio_simulator
from publisher.cli_sim_wechat import add_wechat_simulator
from publisher.config import ConfigError, load_settings
from publisher.sim.led import LedBoardSimulator
from publisher.sim.smsc import FaultMode, SmscConfig, SmscSimulator
from publisher.sim.smsc_control import DEFAULT_SHORT_CODE, MO_ACK_TIMEOUT, start_control
from publisher.sim.speaker import SpeakerSimulator

__all__ = ["DEFAULT_CONTROL_PORT", "SMSC_STATE_DIR", "add_sim_command", "mo_command"]

SMSC_STATE_DIR = "smsc"
DEFAULT_CONTROL_PORT = 2776


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
    smsc.add_argument("--control-port", type=int, metavar="PORT",
                      help="also serve the control port (texts from phones: sim mo)")
    add_data_dir_option(smsc)
    smsc.set_defaults(handler=_smsc)

    add_device_simulator(simulators, "led", LedBoardSimulator, default_port=8701,
                         description="LED boards speaking docs/protocols/led.md")
    add_device_simulator(simulators, "speaker", SpeakerSimulator, default_port=8702,
                         description="IP speakers speaking docs/protocols/speaker.md")
    add_wechat_simulator(simulators)
    add_twilio_simulator(simulators)
    add_terminal_simulator(simulators)

    mo = simulators.add_parser(
        "mo", help="send a text as if from a phone, through a simulator's control port")
    mo.add_argument("--control", default=f"http://127.0.0.1:{DEFAULT_CONTROL_PORT}",
                    metavar="URL", help="the simulator's control port (default: the demo's)")
    mo.add_argument("--from", dest="source", required=True, metavar="NUMBER",
                    help="the phone's number, e.g. 8613800000101")
    mo.add_argument("--to", default=DEFAULT_SHORT_CODE, metavar="ADDRESS",
                    help=f"the service number it is sent to (default {DEFAULT_SHORT_CODE})")
    mo.add_argument("text", help="the text, e.g. TD or 'DY 朝阳'")
    mo.set_defaults(handler=_mo)


def mo_command(control: str, source: str, text: str) -> list[str]:
    """The ``publisher sim mo`` arguments that send ``text`` from ``source``."""
    return ["publisher", "sim", "mo", "--control", control, "--from", source, text]


def _mo(arguments: argparse.Namespace) -> int:
    body = json.dumps({"from": arguments.source, "to": arguments.to,
                       "text": arguments.text}).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's own option
        f"{arguments.control.rstrip('/')}/mo", data=body, method="POST",
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=MO_ACK_TIMEOUT + 10) as response:  # noqa: S310
            response.read()
    except urllib.error.HTTPError as error:
        answer = json.loads(error.read() or b"{}")
        print(f"publisher: {answer.get('field', 'mo')}: {answer.get('reason', error.reason)}",
              file=sys.stderr)
        return EXIT_INVALID
    except OSError as error:
        raise UsageError(f"--control: {arguments.control} does not answer ({error})") from None
    print(f"text from {arguments.source} acknowledged by the platform's bind")
    return EXIT_OK


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
    asyncio.run(_run(SmscSimulator(config), arguments.control_port))
    return EXIT_OK


async def _run(simulator: SmscSimulator, control_port: int | None) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stopping.set)
    async with simulator.running():
        control = (None if control_port is None
                   else await start_control(simulator, simulator.config.host, control_port))
        print(f"smsc listening on {simulator.config.host}:{simulator.port}", flush=True)
        try:
            await stopping.wait()
        finally:
            if control is not None:
                await control.cleanup()
