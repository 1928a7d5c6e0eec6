"""A district node as a real process, a stand-in center that signs CAP, and simulated boards.

``FakeCenter`` serves the center's side of the node link (the catch-up
stream, receipts, local alerts) on a real socket and keeps what it was
sent; it signs alerts with a test key and pushes them to the node as the
center's ``district`` channel does. ``NodeProcess`` writes the node's
configuration and secrets and runs ``publisher district-node`` on a free
loopback port.
"""

from __future__ import annotations

import base64
import contextlib
import dataclasses
import json
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web

from publisher.cap.model import Alert, MsgType
from publisher.cap.reader import read_alert
from publisher.cap.signing import sign_alert_xml
from publisher.cap.writer import format_datetime, write_alert
from publisher.local_ports import free_port
from publisher.process_control import stop_process
from publisher.sample_alert import rainstorm_red_warning
from publisher.sim.device_fleet import place_devices, write_device_list
from publisher.sim.device_sim import DeviceSimConfig, DeviceSimulatorThread
from publisher.sim.led import LedBoardSimulator
from tests.channels.device_support import districts, served
from tests.services import shared_identity

__all__ = ["CODE", "FakeCenter", "NodeProcess", "board_fleet", "cancel_of", "eventually",
           "rainstorm"]

CODE = "110105"
ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


def eventually(check: Callable[[], T | None], what: str, deadline: float = 30.0) -> T:
    """Poll ``check`` until it answers something truthy; fail naming ``what`` at the deadline."""
    end = time.monotonic() + deadline
    while True:
        answer = check()
        if answer:
            return answer
        if time.monotonic() > end:
            pytest.fail(f"not within {deadline:g} s: {what}")
        time.sleep(0.1)


# The center writes CAP in Beijing time, and its heartbeat in UTC.
BEIJING = timezone(timedelta(hours=8))


def rainstorm(sequence: int) -> Alert:
    return rainstorm_red_warning(datetime.now(BEIJING).replace(microsecond=0),
                                 sequence=sequence)


def cancel_of(alert: Alert, sequence: int) -> Alert:
    sent = datetime.now(BEIJING).replace(microsecond=0)
    return dataclasses.replace(
        alert, identifier=f"{alert.identifier}-C{sequence}", sent=sent,
        msg_type=MsgType.CANCEL,
        references=f"{alert.sender},{alert.identifier},{format_datetime(alert.sent)}")


class FakeCenter:
    def __init__(self, key_dir: Path) -> None:
        self.key, self.certificate = shared_identity(key_dir, "Test Warning Center")
        self.credential = "node-credential-110105"
        self.token = "center-token-110105"
        self.stream: list[tuple[int, bytes]] = []
        self.receipts: list[dict[str, Any]] = []
        self.alerts: list[bytes] = []
        self.fetches: list[tuple[str, str | None]] = []
        self.url = ""
        self.unavailable = False
        """While set, the catch-up stream answers 503, as a center still starting does."""
        self._lock = threading.Lock()

    def sign(self, alert: Alert) -> bytes:
        return sign_alert_xml(write_alert(alert), self.key.read_bytes(),
                              self.certificate.read_bytes())

    def publish(self, alert: Alert) -> bytes:
        """Put a signed alert on the node's catch-up stream; the signed XML."""
        xml = self.sign(alert)
        with self._lock:
            self.stream.append((len(self.stream) + 1, xml))
        return xml

    def recent(self) -> list[dict[str, Any]]:
        entries = []
        for cursor, xml in self.stream:
            alert = read_alert(xml).alert
            assert alert is not None
            entries.append({"cursor": cursor, "sender": alert.sender,
                            "identifier": alert.identifier,
                            "sent": alert.sent.astimezone(UTC).isoformat()})
        return entries

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get(f"/api/nodes/{CODE}/messages", self._messages)
        app.router.add_post(f"/api/nodes/{CODE}/receipts", self._receipt)
        app.router.add_post(f"/api/nodes/{CODE}/alerts", self._alert)
        return app

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bearer {self.credential}"

    async def _messages(self, request: web.Request) -> web.Response:
        with self._lock:
            self.fetches.append((request.query.get("after", ""),
                                 request.headers.get("Authorization")))
            if not self._authorised(request):
                return web.json_response({"error": "forbidden"}, status=403)
            if self.unavailable:
                return web.json_response({"error": "unavailable"}, status=503)
            after = int(request.query.get("after", "0"))
            limit = int(request.query.get("limit", "100"))
            page = [entry for entry in self.stream if entry[0] > after][:limit]
        following = page[-1][0] if len(page) == limit else None
        return web.json_response({"messages": [{"cursor": cursor, "xml": xml.decode()}
                                               for cursor, xml in page], "next": following})

    async def _receipt(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"error": "forbidden"}, status=403)
        body = await request.json()
        with self._lock:
            self.receipts.append(body)
        return web.json_response({})

    async def _alert(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return web.json_response({"error": "forbidden"}, status=403)
        body = await request.read()
        with self._lock:
            self.alerts.append(body)
        return web.json_response({"alert_id": len(self.alerts)}, status=201)

    def receipts_of(self, identifier: str) -> list[dict[str, Any]]:
        """The node's receipts of one message, in the order they were posted."""
        with self._lock:
            return [receipt for receipt in self.receipts if receipt["identifier"] == identifier]

    def last_receipt(self, identifier: str) -> dict[str, Any] | None:
        found = self.receipts_of(identifier)
        return found[-1] if found else None


@dataclasses.dataclass(frozen=True)
class Answer:
    status: int
    body: Any


def http(method: str, url: str, *, data: bytes | None = None, json_body: Any = None,
         headers: dict[str, str] | None = None) -> Answer:
    """One request with the standard library; the status and the JSON answer."""
    sent = dict(headers or {})
    if json_body is not None:
        data = json.dumps(json_body).encode()
        sent["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, method=method, headers=sent)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            status, text = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, text = error.code, error.read()
    return Answer(status, json.loads(text) if text else None)


def basic(user: tuple[str, str]) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(":".join(user).encode()).decode()}


class NodeProcess:
    def __init__(self, directory: Path, center: FakeCenter, devices_file: Path,
                 heartbeat_interval: float = 30.0, extra_config: str = "") -> None:
        self.directory = directory
        self.center = center
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = directory / f"{CODE}.toml"
        self._process: subprocess.Popen[bytes] | None = None
        self.key, self.certificate = shared_identity(directory / "identity",
                                                     "Chaoyang district node")
        (directory / "center_token").write_text(center.token)
        (directory / "credential").write_text(center.credential)
        self.config.write_text(f"""
[node]
listen_port = {self.port}
data_dir = "data"
devices_file = "{devices_file}"
heartbeat_interval = {heartbeat_interval}

[jurisdiction]
code = "{CODE}"
districts_file = "{ROOT / 'config' / 'districts.toml'}"

[center]
url = "{center.url}"
certificate = "{center.certificate}"
token_file = "center_token"
credential_file = "credential"

[signing]
key = "identity/key.pem"
certificate = "identity/cert.pem"

[channels.led]
timeout = 5
{extra_config}
""", encoding="utf-8")
        self.log = directory / "node.log"

    def command(self, *arguments: str) -> list[str]:
        return [sys.executable, "-m", "publisher.cli_district_node", "--config",
                str(self.config), *arguments]

    def start(self) -> None:
        with self.log.open("ab") as log:
            self._process = subprocess.Popen(self.command(), stdout=log, stderr=log, cwd=ROOT)
        eventually(self._answers, f"the node answering on {self.url} (log: {self.log})")

    def _answers(self) -> bool:
        assert self._process is not None
        if self._process.poll() is not None:
            pytest.fail(f"the node exited: {self.log.read_text(errors='replace')[-2000:]}")
        try:
            return http("GET", f"{self.url}/api/messages").status == 401
        except OSError:
            return False

    def kill(self) -> None:
        """End the node at once, as a crash would: no graceful stop."""
        if self._process is not None:
            self._process.kill()
            self._process.wait(30)
            self._process = None

    def ack(self, device_id: str, token: str, delivery: str, state: str) -> Answer:
        """A device's ack of one delivery, as the boards post it."""
        return http("POST", f"{self.url}/api/devices/{device_id}/acks",
                    json_body={"delivery": delivery, "state": state,
                               "at": datetime.now(UTC).isoformat()},
                    headers={"Authorization": f"Bearer {token}"})

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process, 10)
            self._process = None

    def add_user(self, name: str, password: str) -> None:
        subprocess.run([*self.command("user", "add", name)], input=f"{password}\n".encode(),
                       check=True, cwd=ROOT, capture_output=True)

    def push(self, xml: bytes, token: str | None = None) -> Answer:
        return http("POST", f"{self.url}/api/cap", data=xml, headers={
            "Authorization": f"Bearer {token or self.center.token}",
            "Content-Type": "application/cap+xml"})

    def heartbeat(self) -> Answer:
        body = {"sent": datetime.now(UTC).isoformat(), "recent": self.center.recent(),
                "cursor": len(self.center.stream)}
        return http("POST", f"{self.url}/api/heartbeat", json_body=body,
                    headers={"Authorization": f"Bearer {self.center.token}"})

    def operator(self, method: str, path: str, user: tuple[str, str],
                 body: Any = None) -> Answer:
        return http(method, f"{self.url}{path}", json_body=body, headers=basic(user))

    def messages(self, user: tuple[str, str]) -> list[dict[str, Any]]:
        answer = self.operator("GET", "/api/messages", user)
        assert answer.status == 200, answer
        return list(answer.body["messages"])


@pytest.fixture
def center(tmp_path: Path) -> Iterator[FakeCenter]:
    fake = FakeCenter(tmp_path / "center")
    with served(fake.app()) as url:
        fake.url = url
        yield fake


@contextlib.contextmanager
def board_fleet(directory: Path, count: int, ack_delay: float
                ) -> Iterator[tuple[DeviceSimulatorThread[LedBoardSimulator], Path]]:
    """``count`` simulated boards in the district, each acking a push ``ack_delay`` seconds
    after it; the simulator and the node's device list."""
    devices = place_devices("led", count, districts(CODE), seed=7)
    simulator = LedBoardSimulator(DeviceSimConfig(directory / "boards", ack_delay=ack_delay),
                                  devices).start_in_thread()
    devices_file = directory / "devices.json"
    write_device_list(devices_file, devices, simulator.base_url)
    try:
        yield simulator, devices_file
    finally:
        simulator.stop()


@pytest.fixture
def boards(tmp_path: Path) -> Iterator[tuple[DeviceSimulatorThread[LedBoardSimulator], Path]]:
    with board_fleet(tmp_path, 2, ack_delay=0.05) as fleet:
        yield fleet


@pytest.fixture
def node(tmp_path: Path, center: FakeCenter,
         boards: tuple[DeviceSimulatorThread[LedBoardSimulator], Path]) -> Iterator[NodeProcess]:
    directory = tmp_path / "node"
    directory.mkdir()
    process = NodeProcess(directory, center, boards[1])
    try:
        yield process
    finally:
        process.stop()


def showing(simulator: DeviceSimulatorThread[LedBoardSimulator]) -> dict[str, list[str]]:
    """What each board shows now, by device id."""
    return {device_id: [shown["identifier"] for shown in simulator.state(device_id)["showing"]]
            for device_id in ("led-110105-01", "led-110105-02")}


def shows_pushed(simulator: DeviceSimulatorThread[LedBoardSimulator]) -> list[tuple[str, str]]:
    """Every show the boards were sent, as (device, identifier)."""
    return [(received.device_id, received.body["identifier"])
            for received in simulator.received() if received.body["action"] == "show"]
