"""Simulated devices (LED boards, speakers): many HTTP devices served by one aiohttp process.

Every device is served below ``/devices/<device_id>`` and speaks the device
protocol (docs/protocols/led.md, docs/protocols/speaker.md):

- ``POST /devices/<id>/messages`` takes a push: 202 ``{"accepted": <delivery>}``;
  400 ``{"error": "invalid", "field", "reason"}`` for a body the device cannot
  use; 404 for a device that is not here.
- ``GET /devices/<id>/state``: what the device holds now, for tests and the demo.
- ``GET /devices``: the devices and their endpoints (not their tokens).

``ack_delay`` seconds after a push, the device acks it to the push's
``ack_url`` with its bearer token (retrying an unreachable platform a few
times); a ``fail_share`` of pushes are acked ``failed``. With a
``platform_url`` every device sends a heartbeat every
``heartbeat_interval`` seconds, naming what it shows.

Every push received is kept (``received``) and appended to a JSON-lines log
in the data directory (``<kind>-received.jsonl``); every ack sent is kept in
``acks``.

Fault modes, for the whole simulator or for single devices (``set_fault``):
DROP cuts each connection without an answer, and for the whole simulator
also stops listening, so that connections are refused; ERROR answers 500;
OFFLINE answers nothing at all, and sends neither acks nor heartbeats.

A kind subclasses ``DeviceSimulator``: its actions and the state each acks,
``accept`` (check the kind's fields of a push and act on it), ``state`` and
``showing``; ``outcome`` when an ack needs more than the action's state.

A push with ``"priority": "interrupt"`` (an earthquake early warning) drops
what the device shows or plays for it; ``"normal"``, or none, is any other.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from abc import abstractmethod
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import Enum
from pathlib import Path
from typing import IO, Any, ClassVar, TypeVar

import aiohttp
from aiohttp import web

from publisher.channels.eew_text import INTERRUPT
from publisher.sim.device_fleet import SimulatedDevice
from publisher.sim.loop_thread import LoopThread
from publisher.sim.served import ServedSimulator

__all__ = [
    "Ack",
    "AckSent",
    "DeviceFault",
    "DeviceSimConfig",
    "DeviceSimulator",
    "DeviceSimulatorThread",
    "MessageError",
    "Received",
    "interrupts",
    "parse_time",
]

log = logging.getLogger(__name__)

S = TypeVar("S", bound="DeviceSimulator")
_HEARTBEATS_AT_ONCE = 50
_FAILED = "failed"
NORMAL = "normal"


class DeviceFault(Enum):
    NONE = "none"
    DROP = "drop"
    ERROR = "error"
    OFFLINE = "offline"


class MessageError(ValueError):
    """A push a device cannot use; ``field`` names the part at fault."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class DeviceSimConfig:
    data_dir: Path
    host: str = "127.0.0.1"
    port: int = 0  # 0: any free port, read it from the simulator's ``port``
    ack_delay: float = 0.5
    fail_share: float = 0.0
    heartbeat_interval: float = 60.0
    platform_url: str | None = None  # where heartbeats go; none without it
    fault: DeviceFault = DeviceFault.NONE
    ack_attempts: int = 5
    ack_retry_interval: float = 1.0
    request_timeout: float = 10.0  # of each ack and heartbeat
    seed: int | None = None  # for the choice of failed acks

    def __post_init__(self) -> None:
        if not 0.0 <= self.fail_share <= 1.0:
            raise ValueError(f"fail_share: {self.fail_share} is outside 0..1")
        if self.ack_delay < 0:
            raise ValueError(f"ack_delay: {self.ack_delay} is negative")
        if self.heartbeat_interval <= 0:
            raise ValueError(f"heartbeat_interval: {self.heartbeat_interval} is not positive")
        if self.ack_attempts < 1:
            raise ValueError(f"ack_attempts: {self.ack_attempts} is less than 1")


@dataclass(frozen=True, slots=True)
class Received:
    device_id: str
    body: Mapping[str, Any]
    at: datetime


@dataclass(frozen=True, slots=True)
class Ack:
    state: str
    detail: str = ""


@dataclass(frozen=True, slots=True)
class AckSent:
    device_id: str
    delivery: str
    state: str
    detail: str
    status: int | None  # the platform's HTTP answer to the last attempt; None: unreachable
    attempts: int


def parse_time(value: Any, field: str) -> datetime | None:
    """An ISO time with its offset, or None for null; raises MessageError naming ``field``."""
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        moment = None
    if moment is None or moment.utcoffset() is None:
        raise MessageError(field, f"{value!r} is not an ISO time with an offset, nor null")
    return moment


def _text(body: Mapping[str, Any], field: str) -> str:
    value = body.get(field)
    if not isinstance(value, str) or not value.strip():
        raise MessageError(field, "required: a non-empty string")
    return value


def _check_common(body: Any, actions: Mapping[str, str]) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise MessageError("body", "must be a JSON object")
    _text(body, "delivery")
    _text(body, "identifier")
    if body.get("action") not in actions:
        raise MessageError("action", f"{body.get('action')!r} is not one of"
                                     f" {', '.join(actions)}")
    references = body.get("references", [])
    if not isinstance(references, list) or not all(isinstance(item, str)
                                                   for item in references):
        raise MessageError("references", "must be a list of identifiers")
    parse_time(body.get("expires"), "expires")
    if body.get("priority", NORMAL) not in (NORMAL, INTERRUPT):
        raise MessageError("priority", f"{body['priority']!r} is not {NORMAL} or {INTERRUPT}")
    if not _text(body, "ack_url").startswith(("http://", "https://")):
        raise MessageError("ack_url", f"{body['ack_url']!r} is not an http(s) URL")
    return body


def interrupts(message: Mapping[str, Any]) -> bool:
    """Whether the push drops what the device shows or plays (an earthquake early warning)."""
    return message.get("priority") == INTERRUPT


def _refused(field: str, reason: str, status: int = 400) -> web.Response:
    return web.json_response({"error": "invalid" if status == 400 else "unknown",
                              "field": field, "reason": reason}, status=status)


class DeviceSimulator(ServedSimulator[DeviceSimConfig]):
    """Devices of one kind behind one HTTP server; see the module's documentation."""

    kind: ClassVar[str]
    # Each action a push may name, and the state the device acks once it has done it.
    actions: ClassVar[Mapping[str, str]]

    def __init__(self, config: DeviceSimConfig, devices: Sequence[SimulatedDevice]) -> None:
        self.config = config
        self.devices = {device.device_id: device for device in devices}
        if len(self.devices) != len(devices):
            raise ValueError("devices: a device id is given twice")
        self.fault = config.fault
        self.device_faults: dict[str, DeviceFault] = {}
        self.received: list[Received] = []
        self.acks: list[AckSent] = []
        self.heartbeats: list[tuple[str, int | None]] = []
        self._random = random.Random(config.seed)  # noqa: S311 - a simulated outcome
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None
        self._client: aiohttp.ClientSession | None = None
        self._log: IO[str] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._faults_changed = asyncio.Event()
        self._stopping = False

    # The kind's part ----------------------------------------------------------

    @abstractmethod
    def accept(self, device: SimulatedDevice, message: Mapping[str, Any]) -> None:
        """Check the kind's fields of a push (raise MessageError) and act on it."""

    async def outcome(self, device: SimulatedDevice, message: Mapping[str, Any]) -> Ack:
        """What the device acks for a push it accepted: by default, its action's state."""
        return Ack(self.actions[message["action"]])

    @abstractmethod
    def state(self, device_id: str) -> dict[str, Any]:
        """What the device holds now, as JSON."""

    @abstractmethod
    def showing(self, device_id: str) -> list[str]:
        """The identifiers the device has on air now, for its heartbeat."""

    # Running -------------------------------------------------------------------

    @property
    def log_path(self) -> Path:
        return self.config.data_dir / f"{self.kind}-received.jsonl"

    def endpoint(self, device_id: str) -> str:
        return f"{self.base_url}/devices/{device_id}"

    async def start(self) -> None:
        self.config.data_dir.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("a", encoding="utf-8")
        self._faults_changed = asyncio.Event()
        self._stopping = False
        # Each simulated device stands for a device with its own connection: the
        # time an ack waits for one of the shared pool's connections is not the
        # device's, so only connecting and reading the answer are timed.
        self._client = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(
            total=None, sock_connect=self.config.request_timeout,
            sock_read=self.config.request_timeout))
        app = web.Application()
        app.router.add_post("/devices/{device_id}/messages", self._message)
        app.router.add_get("/devices/{device_id}/state", self._state)
        app.router.add_get("/devices", self._list)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        await self._listen(self.config.port)
        if self.fault is DeviceFault.DROP:
            await self._stop_listening()
        if self.config.platform_url:
            self._spawn(self._heartbeats())
        log.info("device simulator listening", extra={
            "kind": self.kind, "host": self.config.host, "port": self.port,
            "devices": len(self.devices)})

    async def stop(self) -> None:
        """Stop serving and release what ``start`` opened, however far it got."""
        self._stopping = True
        self._wake_held()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = self._site = None
        if self._client is not None:
            await self._client.close()
            self._client = None
        if self._log is not None:
            self._log.close()
            self._log = None

    async def _listen(self, port: int) -> None:
        assert self._runner is not None
        self._site = web.TCPSite(self._runner, self.config.host, port)
        await self._site.start()
        self._port = int(self._runner.addresses[0][1])

    async def _stop_listening(self) -> None:
        if self._site is not None:
            await self._site.stop()
            self._site = None

    def start_in_thread(self) -> DeviceSimulatorThread[DeviceSimulator]:
        """Run in a thread of its own, for synchronous clients; stop with the handle's stop()."""
        return DeviceSimulatorThread(self)

    # Control -------------------------------------------------------------------

    def fault_of(self, device_id: str) -> DeviceFault:
        if self.fault is not DeviceFault.NONE:
            return self.fault
        return self.device_faults.get(device_id, DeviceFault.NONE)

    async def set_fault(self, mode: DeviceFault, device_ids: Sequence[str] | None = None) -> None:
        """Switch the fault mode of the whole simulator, or of ``device_ids`` only."""
        if device_ids is None:
            self.fault = mode
            if mode is DeviceFault.DROP:
                await self._stop_listening()
            elif self._site is None and self._runner is not None:
                await self._listen(self.port)
        else:
            for device_id in device_ids:
                self._device(device_id)
                self.device_faults[device_id] = mode
        log.info("device simulator fault mode", extra={
            "kind": self.kind, "fault": mode.value, "devices": device_ids or "all"})
        self._wake_held()

    def _wake_held(self) -> None:
        self._faults_changed.set()
        self._faults_changed = asyncio.Event()

    def _device(self, device_id: str) -> SimulatedDevice:
        device = self.devices.get(device_id)
        if device is None:
            raise KeyError(f"device_id: {device_id!r} is not a device of this simulator")
        return device

    # Requests ------------------------------------------------------------------

    async def _message(self, request: web.Request) -> web.StreamResponse:
        device = self.devices.get(request.match_info["device_id"])
        if device is None:
            return _refused("device_id", f"{request.match_info['device_id']!r} is not here",
                            status=404)
        fault = self.fault_of(device.device_id)
        if fault is DeviceFault.OFFLINE:
            await self._hold(device.device_id)
        if fault in (DeviceFault.OFFLINE, DeviceFault.DROP):
            return _cut(request)
        if fault is DeviceFault.ERROR:
            return web.json_response({"error": "fault", "reason": "simulated device error"},
                                     status=500)
        try:
            message = _check_common(json.loads(await request.read()), self.actions)
            self.accept(device, message)
        except ValueError as error:  # MessageError, or a body that is no JSON
            field, reason = ((error.field, error.reason) if isinstance(error, MessageError)
                             else ("body", f"not JSON: {error}"))
            return _refused(field, reason)
        self._record(device, message)
        self._spawn(self._ack_later(device, message))
        return web.json_response({"accepted": message["delivery"]}, status=202)

    async def _hold(self, device_id: str) -> None:
        """Keep a request unanswered, as a dead device would, until the device comes back."""
        while self.fault_of(device_id) is DeviceFault.OFFLINE and not self._stopping:
            await self._faults_changed.wait()

    async def _state(self, request: web.Request) -> web.Response:
        device_id = request.match_info["device_id"]
        if device_id not in self.devices:
            return _refused("device_id", f"{device_id!r} is not here", status=404)
        return web.json_response(self.state(device_id))

    async def _list(self, request: web.Request) -> web.Response:
        return web.json_response([{key: value for key, value in
                                   device.entry(self.base_url).items() if key != "token"}
                                  for device in self.devices.values()])

    def _record(self, device: SimulatedDevice, message: Mapping[str, Any]) -> None:
        received = Received(device.device_id, message, datetime.now(UTC))
        self.received.append(received)
        if self._log is not None:
            self._log.write(json.dumps({"device_id": device.device_id,
                                        "at": received.at.isoformat(), "message": message},
                                       ensure_ascii=False) + "\n")
            self._log.flush()

    # Acks and heartbeats -------------------------------------------------------

    def _spawn(self, coroutine: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _ack_later(self, device: SimulatedDevice, message: Mapping[str, Any]) -> None:
        await asyncio.sleep(self.config.ack_delay)
        if self._random.random() < self.config.fail_share:
            ack = Ack(_FAILED, "simulated failure")
        else:
            ack = await self.outcome(device, message)
        body = {"delivery": message["delivery"], "state": ack.state, "detail": ack.detail}
        status, attempts = None, 0
        while attempts < self.config.ack_attempts:
            if self.fault_of(device.device_id) is DeviceFault.OFFLINE:
                return
            if attempts:
                await asyncio.sleep(self.config.ack_retry_interval)
            attempts += 1
            status = await self._post(message["ack_url"], device,
                                      {**body, "at": datetime.now(UTC).isoformat()})
            if status is not None and status < 500:
                break
        self.acks.append(AckSent(device.device_id, message["delivery"], ack.state, ack.detail,
                                 status, attempts))
        if status is None or status >= 300:
            log.warning("device ack not taken", extra={
                "device_id": device.device_id, "alert_identifier": message["identifier"],
                "status": status})

    async def _post(self, url: str, device: SimulatedDevice, body: Mapping[str, Any]
                    ) -> int | None:
        assert self._client is not None
        try:
            async with self._client.post(
                    url, json=body, headers={"Authorization": f"Bearer {device.token}"}
            ) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def _heartbeats(self) -> None:
        slots = asyncio.Semaphore(_HEARTBEATS_AT_ONCE)
        base = str(self.config.platform_url).rstrip("/")

        async def beat(device: SimulatedDevice) -> None:
            async with slots:
                status = await self._post(
                    f"{base}/api/devices/{device.device_id}/heartbeat", device,
                    {"at": datetime.now(UTC).isoformat(),
                     "showing": self.showing(device.device_id)})
            self.heartbeats.append((device.device_id, status))

        while True:
            await asyncio.gather(*(beat(device) for device in self.devices.values()
                                   if self.fault_of(device.device_id) is DeviceFault.NONE))
            await asyncio.sleep(self.config.heartbeat_interval)


def _cut(request: web.Request) -> web.StreamResponse:
    """Close the connection without an answer, as a device that drops off the network."""
    if request.transport is not None:
        request.transport.abort()
    return web.StreamResponse()


class DeviceSimulatorThread(LoopThread[S]):
    """A device simulator running on its own event loop in a daemon thread."""

    def __init__(self, simulator: S, start_timeout: float = 10.0) -> None:
        super().__init__(simulator, f"{simulator.kind}-simulator", start_timeout)

    @property
    def port(self) -> int:
        return self.simulator.port

    @property
    def base_url(self) -> str:
        return self.simulator.base_url

    def set_fault(self, mode: DeviceFault, device_ids: Sequence[str] | None = None,
                  timeout: float = 10.0) -> None:
        self.submit(lambda: self.simulator.set_fault(mode, device_ids)).result(timeout)

    def state(self, device_id: str) -> dict[str, Any]:
        return self.call(lambda: self.simulator.state(device_id))

    def received(self) -> list[Received]:
        return self.call(lambda: list(self.simulator.received))

    def acks(self) -> list[AckSent]:
        return self.call(lambda: list(self.simulator.acks))
