"""The demo's district sub-center nodes: Chaoyang, Haidian and Huairou, as processes of their own.

Each node runs ``publisher district-node`` on a configuration made from its
template in ``config/districts/`` (``DATA_DIR/districts/<code>/node.toml``:
the demo's address as the center's, the center's certificate, the node's
files beside it), with its files where the templates expect them under
``var/`` (the default data directory), made once and kept across runs:

- ``keys/``: the district's signing key and certificate (``publisher cap
  keygen``'s identity);
- ``center_token``: the bearer token the center presents, the demo
  configuration's ``channel_options.district.center_token``;
- ``credential``: the node's own credential for the center, given when the
  demo registers the node (again, with a new one, when its address or
  certificate changed or the file is gone);
- ``devices.json``: the node's boards and speakers (``NODE_DEVICES``), run
  by one LED board simulator and one speaker simulator shared by the three
  nodes, on free ports; they ack to their node, never to the center.

The nodes are registered as test targets: the demo's alerts are Exercises.
A control port (``--node-control-port``) stops and starts a node as a
flaky link does: ``POST /nodes/<code>/stop``, ``POST /nodes/<code>/start``
(answers once the node listens), ``GET /nodes``.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import threading
import time
import tomllib
import urllib.error
import urllib.request
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from aiohttp import web
from sqlalchemy.orm import Session

from publisher import local_ports
from publisher.cap.districts import District, DistrictTable, load_districts
from publisher.cap.keys import generate_demo_identity
from publisher.channels.base import PermanentChannelError
from publisher.channels.district import DistrictOptions
from publisher.cli_errors import UsageError
from publisher.config import Settings
from publisher.demo_devices import LED, SPEAKER
from publisher.process_control import stop_process
from publisher.services.district_names import DistrictNames
from publisher.services.district_nodes import DISTRICT_CHANNEL, add_node, find_node, remove_node
from publisher.services.signer import CERTIFICATE_FILE, CenterSigner
from publisher.services.users import token_digest
from publisher.sim.device_fleet import SimulatedDevice, place_devices, read_tokens
from publisher.sim.device_sim import DeviceSimConfig, DeviceSimulator, DeviceSimulatorThread
from publisher.sim.led import LED_CAPABILITIES, LedBoardSimulator
from publisher.sim.loop_thread import LoopThread
from publisher.sim.speaker import SPEAKER_CAPABILITIES, SpeakerSimulator

__all__ = ["DEFAULT_CONTROL_PORT", "DEMO_NODES", "HUAIROU", "NODE_DEVICES", "DemoNode",
           "DemoNodes", "node_options"]

DEMO_NODES = ("110105", "110108", "110116")
# The mountain district whose link the demo fails.
HUAIROU = "110116"
NODE_DEVICES = {LED: 2, SPEAKER: 1}
DEFAULT_CONTROL_PORT = 8704
NODES_DIR = "districts"
CONFIG_FILE = "node.toml"
_ACK_DELAY = 0.3
_START_SECONDS = 60.0
_STOP_GRACE_SECONDS = 10.0
_POLL_SECONDS = 0.2
_SEED = 7116


def node_options(settings: Settings) -> DistrictOptions | None:
    """The district channel's options when the configuration names it; None without it."""
    if DISTRICT_CHANNEL not in settings.channels:
        return None
    try:
        return DistrictOptions.read(settings.channel_options.get(DISTRICT_CHANNEL, {}))
    except PermanentChannelError as error:
        raise UsageError(error.reason) from None


def _write_private(path: Path, text: str) -> None:
    """Write a file that holds a secret: readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        stream.write(text)


def _toml(document: Mapping[str, Any], name: str = "") -> list[str]:
    """TOML lines of a document of tables, strings, numbers and arrays (JSON writes those)."""
    lines = [f"[{name}]"] if name else []
    tables = {key: value for key, value in document.items() if isinstance(value, Mapping)}
    lines += [f"{key} = {json.dumps(value, ensure_ascii=False)}"
              for key, value in document.items() if key not in tables]
    for key, table in tables.items():
        lines += ["", *_toml(table, f"{name}.{key}" if name else key)]
    return lines


def _answers(url: str) -> bool:
    """Whether a node listens at ``url``: its operator API refuses a stranger."""
    try:
        with urllib.request.urlopen(  # noqa: S310 - an http:// URL the demo made
                f"{url}/api/messages", timeout=2):
            return True
    except urllib.error.HTTPError as error:
        return error.code == 401
    except OSError:
        return False


class DemoNode:
    """One district node: its files, its registration and its process."""

    def __init__(self, settings: Settings, district: District, *, center_url: str,
                 free_port: bool) -> None:
        self.district = district
        self.code = district.code
        self.directory = settings.paths.data_dir / NODES_DIR / self.code
        template_path = settings.paths.config_dir / NODES_DIR / f"{self.code}.toml"
        try:
            self.template = tomllib.loads(template_path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as error:
            raise UsageError(f"{template_path}: {error}") from None
        node = self.template.get("node", {})
        self.host = str(node.get("listen_host", "127.0.0.1"))
        self.port = local_ports.free_port() if free_port else int(node.get("listen_port", 0))
        self.url = f"http://{self.host}:{self.port}"
        self.heartbeat_interval = int(node.get("heartbeat_interval", 60))
        self.center_url = center_url
        self.center_certificate = settings.paths.keys_dir / CERTIFICATE_FILE
        self.districts_file = settings.paths.districts_file
        self.config = self.directory / CONFIG_FILE
        self.log = self.directory / "node.log"
        self.devices_file = self.directory / "devices.json"
        self._process: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()
        # Counted rather than polled: a stop and start between two polls of ``running``
        # would otherwise go unseen by whoever waits for the node's return.
        self._launched = threading.Condition(self._lock)
        self._launches = 0
        self._launched_at = 0.0

    @property
    def name(self) -> str:
        return self.district.name_en

    def _credential_file(self) -> Path:
        return self.directory / "credential"

    def prepare(self, center_token: str) -> None:
        """The node's key, the center's token and its configuration, written for its start."""
        keys = self.directory / "keys"
        if not (keys / "key.pem").exists():
            generate_demo_identity(keys, f"{self.district.name_en} district node (demo)")
        _write_private(self.directory / "center_token", center_token + "\n")
        document = {**self.template,
                    "node": {**self.template.get("node", {}), "listen_host": self.host,
                             "listen_port": self.port, "public_url": self.url,
                             "data_dir": ".", "devices_file": self.devices_file.name},
                    "jurisdiction": {**self.template.get("jurisdiction", {}),
                                     "districts_file": str(self.districts_file)},
                    "center": {"url": self.center_url,
                               "certificate": str(self.center_certificate),
                               "token_file": "center_token", "credential_file": "credential"},
                    "signing": {"key": "keys/key.pem", "certificate": "keys/cert.pem"}}
        self.config.write_text(f"# Made by publisher demo from config/districts/{self.code}.toml"
                               "\n" + "\n".join(_toml(document)) + "\n", encoding="utf-8")

    def write_devices(self, entries: Sequence[Mapping[str, Any]]) -> None:
        _write_private(self.devices_file, json.dumps(list(entries), ensure_ascii=False,
                                                     indent=1) + "\n")

    def register(self, session: Session, names: DistrictNames) -> str | None:
        """Register the node as a test target; its new credential, or None when still valid."""
        certificate = (self.directory / "keys" / "cert.pem").read_text(encoding="utf-8")
        saved = (self._credential_file().read_text(encoding="utf-8").strip()
                 if self._credential_file().exists() else "")
        node = find_node(session, self.code)
        if (node is not None and node.target.address == self.url and saved
                and node.certificate_pem.strip() == certificate.strip()
                and node.credential_sha256 == token_digest(saved)):
            node.target.is_test = True
            return None
        if node is not None:
            remove_node(session, self.code)
        added = add_node(session, {"code": self.code, "url": self.url,
                                   "certificate_pem": certificate,
                                   "heartbeat_interval": self.heartbeat_interval}, names)
        added.node.target.is_test = True
        return added.credential

    def save_credential(self, credential: str) -> None:
        _write_private(self._credential_file(), credential + "\n")

    def command(self) -> list[str]:
        return [sys.executable, "-m", "publisher.cli_district_node", "--config", str(self.config)]

    @property
    def running(self) -> bool:
        process = self._process
        return process is not None and process.poll() is None

    @property
    def launches(self) -> int:
        """How many times the node's process was started."""
        return self._launches

    def wait_launched(self, after: int, timeout: float) -> float | None:
        """When (monotonic) the node was last started, once it was more than ``after`` times.

        None when it was not within ``timeout`` seconds.
        """
        with self._launched:
            if not self._launched.wait_for(lambda: self._launches > after, timeout):
                return None
            return self._launched_at

    def launch(self) -> None:
        """Start the node's process unless it runs; ``wait_listening`` waits for it."""
        with self._lock:
            if self.running:
                return
            with self.log.open("ab") as log:
                self._process = subprocess.Popen(  # noqa: S603 - our interpreter, our config
                    self.command(), stdout=log, stderr=log, stdin=subprocess.DEVNULL)
            self._launches += 1
            self._launched_at = time.monotonic()
            self._launched.notify_all()

    def wait_listening(self) -> None:
        deadline = time.monotonic() + _START_SECONDS
        while not _answers(self.url):
            process = self._process
            if process is None or process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise UsageError(f"the {self.name} node did not start on {self.url}"
                                 f" (its log: {self.log})")
            time.sleep(_POLL_SECONDS)

    def start(self) -> None:
        self.launch()
        self.wait_listening()

    def stop(self) -> None:
        with self._lock:
            if self._process is not None:
                stop_process(self._process, _STOP_GRACE_SECONDS)
                self._process = None

    def state(self) -> dict[str, Any]:
        return {"code": self.code, "name": self.name, "url": self.url, "running": self.running,
                "heartbeat_interval": self.heartbeat_interval, "config": str(self.config),
                "log": str(self.log)}


_NODES = web.AppKey("nodes", dict)


def _refused(status: int, error: str, field: str, reason: str) -> web.Response:
    return web.json_response({"error": error, "field": field, "reason": reason}, status=status)


def _node(request: web.Request) -> DemoNode | None:
    found: DemoNode | None = request.app[_NODES].get(request.match_info["code"])
    return found


async def _list(request: web.Request) -> web.Response:
    return web.json_response({"nodes": [node.state() for node in request.app[_NODES].values()]})


async def _stop(request: web.Request) -> web.Response:
    node = _node(request)
    if node is None:
        return _refused(404, "not_found", "code", "not one of the demo's nodes")
    await asyncio.to_thread(node.stop)
    return web.json_response(node.state())


async def _start(request: web.Request) -> web.Response:
    node = _node(request)
    if node is None:
        return _refused(404, "not_found", "code", "not one of the demo's nodes")
    try:
        await asyncio.to_thread(node.start)
    except UsageError as error:
        return _refused(502, "unavailable", "code", str(error))
    return web.json_response(node.state())


class _Control:
    """The control port, on a loop of its own: it lasts as long as its ``running()``."""

    def __init__(self, nodes: Sequence[DemoNode], host: str, port: int) -> None:
        self.app = web.Application()
        self.app[_NODES] = {node.code: node for node in nodes}
        self.app.router.add_get("/nodes", _list)
        self.app.router.add_post("/nodes/{code}/stop", _stop)
        self.app.router.add_post("/nodes/{code}/start", _start)
        self.host, self.port = host, port

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        runner = web.AppRunner(self.app, access_log=None)
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
            self.port = runner.addresses[0][1]
            yield
        finally:
            await runner.cleanup()


def _placed(kind: str, district: District, tokens: Mapping[str, str],
            seed: int) -> list[SimulatedDevice]:
    capabilities = LED_CAPABILITIES if kind == LED else SPEAKER_CAPABILITIES
    return place_devices(kind, NODE_DEVICES[kind], [district], capabilities=capabilities,
                         tokens=tokens, seed=seed)


class DemoNodes:
    """The three nodes, their device simulators and the control port; ``stop`` ends them all."""

    def __init__(self, settings: Settings, options: DistrictOptions, center_url: str, *,
                 free_ports: bool, control_port: int, playback_speed: float) -> None:
        self.table: DistrictTable = load_districts(settings.paths.districts_file)
        self.nodes = [DemoNode(settings, self.table.get(code), center_url=center_url,
                               free_port=free_ports) for code in DEMO_NODES]
        # The nodes trust the center's certificate: it must exist before they start.
        CenterSigner.load_or_create(settings)
        for node in self.nodes:
            node.prepare(options.center_token)
        self.simulators: dict[str, DeviceSimulatorThread[DeviceSimulator]] = {}
        self._control: LoopThread[_Control] | None = None
        try:
            self._start_simulators(settings, playback_speed)
            self._control = self._start_control(control_port)
        except BaseException:
            self.stop()
            raise

    def _start_control(self, port: int) -> LoopThread[_Control]:
        try:
            return LoopThread(_Control(self.nodes, "127.0.0.1", port), "demo-node-control")
        except OSError as error:
            raise UsageError(f"--node-control-port: cannot listen on 127.0.0.1:{port}"
                             f" ({error})") from None

    def _start_simulators(self, settings: Settings, playback_speed: float) -> None:
        placed: dict[str, dict[str, list[SimulatedDevice]]] = {}
        for number, node in enumerate(self.nodes):
            tokens = read_tokens(node.devices_file)
            placed[node.code] = {kind: _placed(kind, node.district, tokens, _SEED + number)
                                 for kind in NODE_DEVICES}
        for kind in NODE_DEVICES:
            config = DeviceSimConfig(data_dir=settings.paths.data_dir / NODES_DIR / "simulators",
                                     ack_delay=_ACK_DELAY)
            devices = [device for node in self.nodes for device in placed[node.code][kind]]
            simulator: DeviceSimulator = (
                LedBoardSimulator(config, devices) if kind == LED
                else SpeakerSimulator(config, devices, playback_speed=playback_speed))
            self.simulators[kind] = simulator.start_in_thread()
        for node in self.nodes:
            node.write_devices([device.entry(self.simulators[kind].base_url)
                                for kind in NODE_DEVICES for device in placed[node.code][kind]])

    def register(self, session: Session) -> dict[str, str]:
        """Register every node (see ``DemoNode.register``); the new credentials by code."""
        names = DistrictNames(self.table)
        fresh = {node.code: node.register(session, names) for node in self.nodes}
        return {code: credential for code, credential in fresh.items() if credential}

    def save_credentials(self, credentials: Mapping[str, str]) -> None:
        for node in self.nodes:
            if node.code in credentials:
                node.save_credential(credentials[node.code])

    def start(self) -> None:
        """Start the three at once; returns when all of them listen."""
        for node in self.nodes:
            node.launch()
        for node in self.nodes:
            node.wait_listening()

    def node(self, code: str) -> DemoNode:
        return next(node for node in self.nodes if node.code == code)

    def devices(self, code: str, kind: str) -> list[SimulatedDevice]:
        return [device for device in self.simulators[kind].simulator.devices.values()
                if device.district_code == code]

    def state(self, kind: str, device_id: str) -> dict[str, Any]:
        return self.simulators[kind].state(device_id)

    def state_url(self, kind: str, device_id: str) -> str:
        return f"{self.simulators[kind].simulator.endpoint(device_id)}/state"

    @property
    def control_url(self) -> str:
        assert self._control is not None
        return f"http://127.0.0.1:{self._control.simulator.port}"

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
        if self._control is not None:
            self._control.stop()
        for running in self.simulators.values():
            running.stop()
