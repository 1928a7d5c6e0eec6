"""``publisher sim led``, ``publisher sim speaker``: simulated devices, many in one process.

``--count N`` devices are spread over ``--districts`` (``device_fleet``) and
served on one port (``device_sim``). Their list, with tokens and the
capabilities the simulated devices have (the kind's, under
``--capabilities``), is written to ``--devices-out`` (default
``DATA_DIR/sim/<kind>-devices.json``) for ``publisher device import``;
started again on the same list, the devices keep their tokens. A kind may
add options of its own (``KindOptions``): the speakers' ``--playback-speed``.
What they receive is logged in ``DATA_DIR/sim/``. Once listening it prints
``<kind> simulator listening on HOST:PORT`` on stdout and runs until SIGINT
or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import signal
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from publisher.cap.districts import DistrictFileError, UnknownDistrictError, load_districts
from publisher.cli_errors import EXIT_OK, UsageError
from publisher.cli_logging import configure_logging
from publisher.cli_settings import add_data_dir_option
from publisher.config import ConfigError, Settings, load_settings
from publisher.sim.device_fleet import (
    SimulatedDevice,
    place_devices,
    read_tokens,
    write_device_list,
)
from publisher.sim.device_sim import DeviceFault, DeviceSimConfig, DeviceSimulator
from publisher.sim.led import LED_CAPABILITIES, LedBoardSimulator
from publisher.sim.speaker import SPEAKER_CAPABILITIES, SpeakerSimulator

__all__ = ["SIM_STATE_DIR", "KindOptions", "add_device_simulator"]

SIM_STATE_DIR = "sim"


@dataclass(frozen=True, slots=True)
class KindOptions:
    """Options of one kind's command, and the keyword arguments they give its simulator."""

    add: Callable[[argparse.ArgumentParser], None]
    read: Callable[[argparse.Namespace], dict[str, Any]]


def _add_playback_speed(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--playback-speed", type=float, default=1.0, metavar="X",
                        help="each announcement plays its duration times X before the ack:"
                             " 1 is real time, 0 acks as soon as the audio is in")


# What a device of each kind is listed with: what the simulated device has.
_CAPABILITIES: Mapping[str, Mapping[str, Any]] = {
    LedBoardSimulator.kind: LED_CAPABILITIES, SpeakerSimulator.kind: SPEAKER_CAPABILITIES}
_KIND_OPTIONS: Mapping[str, KindOptions] = {
    SpeakerSimulator.kind: KindOptions(
        _add_playback_speed,
        lambda arguments: {"playback_speed": arguments.playback_speed})}


def add_device_simulator(simulators: Any, kind: str, simulator: type[DeviceSimulator], *,
                         default_port: int, description: str) -> None:
    """Add ``publisher sim <kind>`` for ``simulator`` to the ``sim`` subcommands."""
    parser = simulators.add_parser(kind, help=description)
    parser.add_argument("--count", type=int, default=1, metavar="N", help="how many devices")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=default_port, help="0 picks a free port")
    parser.add_argument("--districts", default="110105", metavar="CODES",
                        help="comma-separated GB/T 2260 codes the devices stand in, in turn")
    parser.add_argument("--ack-delay", type=float, default=0.5, metavar="S",
                        help="seconds from a push to its ack")
    parser.add_argument("--fail-share", type=float, default=0.0, metavar="F",
                        help="share of pushes acked as failed, 0..1")
    parser.add_argument("--platform-url", metavar="URL",
                        help="where heartbeats go (none without it), e.g. http://127.0.0.1:8080")
    parser.add_argument("--heartbeat-interval", type=float, default=60.0, metavar="S")
    parser.add_argument("--language", default="zh-CN", help="each device's first language")
    parser.add_argument("--capabilities", type=_json_object, default={}, metavar="JSON",
                        help=f"over the {kind} defaults, e.g. '{{\"rows\": 3}}'")
    kind_options = _KIND_OPTIONS.get(kind)
    if kind_options is not None:
        kind_options.add(parser)
    parser.add_argument("--devices-out", type=Path, metavar="FILE",
                        help=f"the device list (default DATA_DIR/sim/{kind}-devices.json)")
    parser.add_argument("--fault", choices=[mode.value for mode in DeviceFault],
                        default=DeviceFault.NONE.value, help="start in this fault mode")
    parser.add_argument("--seed", type=int, help="for places and failed acks")
    add_data_dir_option(parser)
    parser.set_defaults(handler=functools.partial(_serve, simulator))


def _json_object(text: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"not JSON: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError("must be a JSON object")
    return value


def _settings(arguments: argparse.Namespace) -> Settings:
    try:
        return load_settings(os.environ,
                             arguments.data_dir.absolute() if arguments.data_dir else None)
    except ConfigError as error:
        raise UsageError(str(error)) from None


def _devices(arguments: argparse.Namespace, kind: str, settings: Settings,
             devices_out: Path) -> list[SimulatedDevice]:
    try:
        table = load_districts(settings.paths.districts_file)
        districts = [table.get(code.strip()) for code in arguments.districts.split(",")
                     if code.strip()]
        capabilities = {**_CAPABILITIES.get(kind, {}), **arguments.capabilities}
        return place_devices(kind, arguments.count, districts, language=arguments.language,
                             capabilities=capabilities,
                             tokens=read_tokens(devices_out), seed=arguments.seed)
    except UnknownDistrictError as error:
        raise UsageError(f"--districts: {error}") from None
    except (DistrictFileError, ValueError) as error:
        raise UsageError(str(error)) from None


def _serve(simulator_class: type[DeviceSimulator], arguments: argparse.Namespace) -> int:
    kind = simulator_class.kind
    settings = _settings(arguments)
    data_dir = settings.paths.data_dir / SIM_STATE_DIR
    devices_out = arguments.devices_out or data_dir / f"{kind}-devices.json"
    devices = _devices(arguments, kind, settings, devices_out)
    try:
        config = DeviceSimConfig(
            data_dir=data_dir, host=arguments.host, port=arguments.port,
            ack_delay=arguments.ack_delay, fail_share=arguments.fail_share,
            heartbeat_interval=arguments.heartbeat_interval,
            platform_url=arguments.platform_url, fault=DeviceFault(arguments.fault),
            seed=arguments.seed)
        kind_options = _KIND_OPTIONS.get(kind)
        simulator = simulator_class(config, devices,
                                    **(kind_options.read(arguments) if kind_options else {}))
    except ValueError as error:
        raise UsageError(str(error)) from None
    configure_logging()
    asyncio.run(_run(simulator, devices_out))
    return EXIT_OK


async def _run(simulator: DeviceSimulator, devices_out: Path) -> None:
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signal_number in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signal_number, stopping.set)
    async with simulator.running():
        write_device_list(devices_out, list(simulator.devices.values()), simulator.base_url)
        print(f"{simulator.kind} simulator listening on {simulator.config.host}:"
              f"{simulator.port}; {len(simulator.devices)} devices listed in {devices_out}",
              flush=True)
        await stopping.wait()
