"""The demo's LED boards and speakers: their simulators, in threads, and their registration.

A handful of each kind in three districts (``DEMO_FLEET``): Chaoyang, where
the device walk-through's alert goes, and Haidian and Dongcheng, where it
must not. One board in each district is a large one (``LARGE_BOARD``), so
that the alert is laid out for two sizes. Each kind's simulator runs in a
thread of the demo's process at the port the demo was given, acks
``ACK_DELAY`` seconds after a push and sends its devices' heartbeats to the
demo's web app; its device list (with the tokens) is written where
``publisher sim`` writes one, ``DATA_DIR/sim/<kind>-devices.json``.

The devices are registered as test devices (the demo's alerts are
Exercises) through the device service, as ``publisher device import``
registers a device list, and only once the SMS walk-through has run: its
alert goes to Chaoyang and Haidian, and must not reach them. For the same
reason the demo devices an earlier run left registered are taken out when
the demo starts (``withdraw``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from publisher.cap.districts import DistrictTable, load_districts
from publisher.cli_errors import UsageError
from publisher.cli_sim_devices import SIM_STATE_DIR
from publisher.config import Settings
from publisher.services.device_import import DeviceImportReport, import_device_list
from publisher.services.devices import find_device, remove_device
from publisher.services.district_names import DistrictNames
from publisher.sim.device_fleet import (
    SimulatedDevice,
    place_devices,
    read_tokens,
    write_device_list,
)
from publisher.sim.device_sim import DeviceSimConfig, DeviceSimulator, DeviceSimulatorThread
from publisher.sim.led import LED_CAPABILITIES, LedBoardSimulator
from publisher.sim.speaker import SPEAKER_CAPABILITIES, SpeakerSimulator

__all__ = [
    "ACK_DELAY",
    "DEFAULT_PORTS",
    "DEMO_FLEET",
    "LARGE_BOARD",
    "LED",
    "SPEAKER",
    "DemoDevices",
]

LED = LedBoardSimulator.kind
SPEAKER = SpeakerSimulator.kind
DEFAULT_PORTS = {LED: 8701, SPEAKER: 8702}
# (district, boards, speakers)
DEMO_FLEET = (("110105", 3, 2), ("110108", 2, 1), ("110101", 1, 1))
LARGE_BOARD: Mapping[str, Any] = {"rows": 4, "columns": 16}
ACK_DELAY = 0.5
HEARTBEAT_SECONDS = 20.0
_SEED = 2026


def _fleet(kind: str, table: DistrictTable, tokens: Mapping[str, str]) -> list[SimulatedDevice]:
    capabilities = LED_CAPABILITIES if kind == LED else SPEAKER_CAPABILITIES
    devices: list[SimulatedDevice] = []
    for number, (code, boards, speakers) in enumerate(DEMO_FLEET):
        count = boards if kind == LED else speakers
        placed = place_devices(kind, count, [table.get(code)], capabilities=capabilities,
                               tokens=tokens, seed=_SEED + number)
        if kind == LED:
            placed[-1] = replace(placed[-1], capabilities={**capabilities, **LARGE_BOARD})
        devices += placed
    return devices


class DemoDevices:
    """The simulators of the configured device kinds, running; ``stop`` ends them."""

    def __init__(self, settings: Settings, kinds: Sequence[str], platform_url: str,
                 ports: Mapping[str, int], *, playback_speed: float) -> None:
        self.table = load_districts(settings.paths.districts_file)
        self.data_dir = settings.paths.data_dir / SIM_STATE_DIR
        self.simulators: dict[str, DeviceSimulatorThread[DeviceSimulator]] = {}
        try:
            for kind in kinds:
                config = DeviceSimConfig(data_dir=self.data_dir, port=ports[kind],
                                         ack_delay=ACK_DELAY,
                                         heartbeat_interval=HEARTBEAT_SECONDS,
                                         platform_url=platform_url)
                self.simulators[kind] = self._start(kind, config, playback_speed)
        except BaseException:
            self.stop()
            raise

    def _start(self, kind: str, config: DeviceSimConfig,
               playback_speed: float) -> DeviceSimulatorThread[DeviceSimulator]:
        devices = _fleet(kind, self.table, read_tokens(self.device_list(kind)))
        simulator: DeviceSimulator = (
            LedBoardSimulator(config, devices) if kind == LED
            else SpeakerSimulator(config, devices, playback_speed=playback_speed))
        try:
            running = simulator.start_in_thread()
        except OSError as error:
            raise UsageError(f"--{kind}-port: the {kind} simulator cannot listen on"
                             f" {config.host}:{config.port} ({error})") from None
        write_device_list(self.device_list(kind), devices, running.base_url)
        return running

    def device_list(self, kind: str) -> Path:
        return self.data_dir / f"{kind}-devices.json"

    @property
    def kinds(self) -> list[str]:
        return list(self.simulators)

    def devices(self, kind: str) -> list[SimulatedDevice]:
        return list(self.simulators[kind].simulator.devices.values())

    def district_name(self, device: SimulatedDevice) -> str:
        return self.table.get(device.district_code).name_en

    def state(self, kind: str, device_id: str) -> dict[str, Any]:
        return self.simulators[kind].state(device_id)

    def state_url(self, kind: str, device_id: str) -> str:
        return f"{self.simulators[kind].simulator.endpoint(device_id)}/state"

    def withdraw(self, session: Session) -> int:
        """Unregister the demo's devices that an earlier run left registered; how many."""
        withdrawn = 0
        for kind in self.kinds:
            for device in self.devices(kind):
                if find_device(session, device.device_id) is not None:
                    remove_device(session, device.device_id)
                    withdrawn += 1
        return withdrawn

    def register(self, session: Session, names: DistrictNames) -> DeviceImportReport:
        """Register every demo device as a test device, as ``publisher device import`` does."""
        entries = [{**device.entry(self.simulators[kind].base_url), "is_test": True}
                   for kind in self.kinds for device in self.devices(kind)]
        return import_device_list(session, entries, names)

    def stop(self) -> None:
        for running in self.simulators.values():
            running.stop()
