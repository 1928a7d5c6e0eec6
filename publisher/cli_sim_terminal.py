"""``publisher sim terminal``: simulated MQTT terminals, many on a few broker connections.

``--count N`` terminals are spread over ``--districts`` and, within each
district, over ``--sectors`` in turn (``publisher.sim.terminal``). Their
list, with tokens, is written to ``--devices-out`` (default
``DATA_DIR/sim/terminal-devices.json``) for ``publisher device import``;
started again on the same list, the terminals keep their tokens. They verify
every message against ``--certificate`` (default: the center's, in the data
directory), ack on the broker, and log each arrival with its latency in
``DATA_DIR/sim/terminal-received.jsonl``. Each terminal sends a signed
heartbeat every ``--heartbeat-interval`` seconds (``publisher.sim
.terminal_heartbeats``; 0: none). Once connected it prints
``terminal simulator connected to HOST:PORT`` on stdout and runs until
SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import threading
from pathlib import Path
from typing import Any

from publisher.cap.districts import DistrictFileError, UnknownDistrictError, load_districts
from publisher.cap.signature_verify import load_certificates
from publisher.channels.base import ChannelError
from publisher.channels.mqtt_client import DEFAULT_HOST, DEFAULT_PORT, BrokerOptions
from publisher.channels.mqtt_protocol import SECTORS
from publisher.cli_errors import EXIT_OK, UsageError
from publisher.cli_logging import configure_logging
from publisher.cli_settings import add_data_dir_option
from publisher.config import ConfigError, Settings, load_settings
from publisher.services.signer import CERTIFICATE_FILE
from publisher.sim.device_fleet import read_tokens, write_device_list
from publisher.sim.terminal import (
    SimulatedTerminal,
    TerminalSimConfig,
    TerminalSimulator,
    place_terminals,
)
from publisher.sim.terminal_heartbeats import DEFAULT_HEARTBEAT_SECONDS, HeartbeatSender

__all__ = ["CONNECT_WAIT_SECONDS", "add_terminal_simulator"]

SIM_STATE_DIR = "sim"
CONNECT_WAIT_SECONDS = 30.0
"""Half the registry's default interval: one lost heartbeat does not make a terminal offline."""


def add_terminal_simulator(simulators: Any) -> None:
    parser = simulators.add_parser(
        "terminal", help="MQTT terminals speaking docs/protocols/mqtt.md",
        description="Terminals in schools, hospitals, control rooms...: each subscribes to its"
                    " district's and sector's alerts, verifies the signature, acks, and logs"
                    " the latency.")
    parser.add_argument("--count", type=int, default=1, metavar="N", help="how many terminals")
    parser.add_argument("--districts", default="110105", metavar="CODES",
                        help="comma-separated GB/T 2260 codes the terminals stand in, in turn")
    parser.add_argument("--sectors", default=SECTORS[0], metavar="SECTORS",
                        help=f"comma-separated sectors, in turn ({', '.join(SECTORS)})")
    parser.add_argument("--broker", default=None, metavar="HOST:PORT",
                        help="the MQTT broker (default: the mqtt channel's, else"
                             f" {DEFAULT_HOST}:{DEFAULT_PORT})")
    parser.add_argument("--connections", type=int, default=4, metavar="K",
                        help="MQTT connections the terminals share")
    parser.add_argument("--certificate", type=Path, metavar="PEM",
                        help="the center's certificate (default DATA_DIR/keys/cert.pem)")
    parser.add_argument("--test", action="store_true",
                        help="test terminals: they get Exercise and Test alerts")
    parser.add_argument("--language", default="zh-CN", help="each terminal's language")
    parser.add_argument("--devices-out", type=Path, metavar="FILE",
                        help="the device list (default DATA_DIR/sim/terminal-devices.json)")
    parser.add_argument("--seed", type=int, help="for the places")
    parser.add_argument("--heartbeat-interval", type=float, default=DEFAULT_HEARTBEAT_SECONDS,
                        metavar="S", help="seconds between each terminal's heartbeats on"
                                          f" the broker; 0: none (default"
                                          f" {DEFAULT_HEARTBEAT_SECONDS:g})")
    add_data_dir_option(parser)
    parser.set_defaults(handler=_serve)


def _heartbeats(arguments: argparse.Namespace,
                simulator: TerminalSimulator) -> contextlib.AbstractContextManager[object]:
    """The heartbeats' sender, running for the block; nothing when the interval is 0."""
    if arguments.heartbeat_interval < 0:
        raise UsageError(f"--heartbeat-interval: {arguments.heartbeat_interval:g} is negative")
    if arguments.heartbeat_interval == 0:
        return contextlib.nullcontext()
    sender = HeartbeatSender(list(simulator.terminals.values()), simulator.connections,
                             arguments.heartbeat_interval)
    return sender.running()


def _settings(arguments: argparse.Namespace) -> Settings:
    try:
        return load_settings(os.environ,
                             arguments.data_dir.absolute() if arguments.data_dir else None)
    except ConfigError as error:
        raise UsageError(str(error)) from None


def _broker(arguments: argparse.Namespace, settings: Settings) -> BrokerOptions:
    options = dict(settings.channel_options.get("mqtt", {}))
    if arguments.broker:
        host, _, port = arguments.broker.rpartition(":")
        if not host or not port.isdigit():
            raise UsageError(f"--broker: {arguments.broker!r} is not HOST:PORT")
        options |= {"host": host, "port": int(port)}
    try:
        return BrokerOptions.read(options, where="--broker")
    except ChannelError as error:
        raise UsageError(error.reason) from None


def _terminals(arguments: argparse.Namespace, settings: Settings,
               devices_out: Path) -> list[SimulatedTerminal]:
    try:
        table = load_districts(settings.paths.districts_file)
        districts = [table.get(code.strip()) for code in arguments.districts.split(",")
                     if code.strip()]
        sectors = [sector.strip() for sector in arguments.sectors.split(",") if sector.strip()]
        return place_terminals(arguments.count, districts, sectors, language=arguments.language,
                               is_test=arguments.test, tokens=read_tokens(devices_out),
                               seed=arguments.seed)
    except UnknownDistrictError as error:
        raise UsageError(f"--districts: {error}") from None
    except (DistrictFileError, ValueError) as error:
        raise UsageError(str(error)) from None


def _config(arguments: argparse.Namespace, settings: Settings,
            data_dir: Path) -> TerminalSimConfig:
    certificate = arguments.certificate or settings.paths.keys_dir / CERTIFICATE_FILE
    try:
        return TerminalSimConfig(
            broker=_broker(arguments, settings), trusted=load_certificates([certificate]),
            log_path=data_dir / "terminal-received.jsonl", connections=arguments.connections,
            client_prefix=f"terminal-sim-{os.getpid()}")
    except FileNotFoundError:
        raise UsageError(f"--certificate: {certificate} does not exist (start the platform"
                         " once to make the center's identity, or name its certificate)"
                         ) from None
    except ValueError as error:
        raise UsageError(str(error)) from None


def _serve(arguments: argparse.Namespace) -> int:
    settings = _settings(arguments)
    data_dir = settings.paths.data_dir / SIM_STATE_DIR
    devices_out = arguments.devices_out or data_dir / "terminal-devices.json"
    simulator = TerminalSimulator(_config(arguments, settings, data_dir),
                                  _terminals(arguments, settings, devices_out))
    configure_logging()
    stopping = threading.Event()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signal_number, lambda *_: stopping.set())
    heartbeats = _heartbeats(arguments, simulator)
    with simulator.running():
        write_device_list(devices_out, list(simulator.terminals.values()), "")
        broker = simulator.config.broker.address
        if not simulator.wait_connected(CONNECT_WAIT_SECONDS):
            raise UsageError(f"--broker: {broker} not reached within"
                             f" {CONNECT_WAIT_SECONDS:g} s")
        with heartbeats:
            print(f"terminal simulator connected to {broker}; {len(simulator.terminals)}"
                  f" terminals listed in {devices_out}", flush=True)
            stopping.wait()
    return EXIT_OK
