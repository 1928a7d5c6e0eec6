"""``publisher demo`` as a process, for the demo tests: what it prints, its API, its data.

The demo runs on a fresh data directory and free ports, with a configuration
written for the test (``demo_config``): SMS through its SMSC simulator, the
device channels when asked, acked at the demo's own address, and the public
channels when asked: the feed, linking to the demo's own address, and WeChat
through its simulator, and the district channel with its three nodes when
asked (on free ports). The test
reads what the demo prints (``Demo.line``), asks the REST API with the
demo's tokens, and reads what the simulators hold.
"""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.e2e.serve_support import BIN, command_environment, free_port

__all__ = ["CONFIGURED_SECRETS", "DEMO_SECONDS", "STOP_SECONDS", "WAIT_SECONDS", "Demo", "api",
           "deliveries", "eventually", "get_json", "running_demo"]

DEMO_SECONDS = 240.0
WAIT_SECONDS = 90.0
STOP_SECONDS = 60.0
NODE_CENTER_TOKEN = "center-token-of-the-demo-test"
TWILIO_ACCOUNT = "AC" + "0" * 31 + "7"
# The configuration's secrets, each a string found nowhere else, so that a test can look
# for them in the logs.
SMPP_PASSWORD = "q7Vx3kPz"  # SMPP 3.4 allows 8 characters
TWILIO_AUTH_TOKEN = "demo-auth-token"
WECHAT_SECRET = "demo-app-secret"
WECHAT_CALLBACK_TOKEN = "demo-callback-token"
CONFIGURED_SECRETS = (SMPP_PASSWORD, TWILIO_AUTH_TOKEN, WECHAT_SECRET, WECHAT_CALLBACK_TOKEN,
                      NODE_CENTER_TOKEN)


@dataclass
class Demo:
    process: subprocess.Popen[str]
    data_dir: Path
    log: Path
    lines: list[str] = field(default_factory=list)

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def line(self, prefix: str) -> str:
        """The last line starting with ``prefix`` (stripped), once the demo has printed one."""
        deadline = time.monotonic() + DEMO_SECONDS
        while time.monotonic() < deadline:
            found = [line for line in self.lines if line.strip().startswith(prefix)]
            if found:
                return found[-1].strip()
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        raise AssertionError(f"no line {prefix!r} from the demo; it printed:\n"
                             + "\n".join(self.lines) + "\n" + self.log.read_text()[-4000:])

    def following(self, prefix: str) -> str:
        """The line after the last one starting with ``prefix``, stripped, once it is printed:
        the demo may print the two a while apart."""
        self.line(prefix)
        index = max(number for number, line in enumerate(self.lines)
                    if line.strip().startswith(prefix))
        deadline = time.monotonic() + DEMO_SECONDS
        while len(self.lines) <= index + 1 and time.monotonic() < deadline \
                and self.process.poll() is None:
            time.sleep(0.2)
        assert len(self.lines) > index + 1, f"nothing printed after {prefix!r}"
        return self.lines[index + 1].strip()

    def block(self, prefix: str, until: str) -> list[str]:
        """The lines after the last one starting with ``prefix`` and before the next one
        starting with ``until``, stripped, once that one is printed: the demo prints a
        block line by line."""
        self.line(prefix)
        deadline = time.monotonic() + DEMO_SECONDS
        while True:
            index = max(number for number, line in enumerate(self.lines)
                        if line.strip().startswith(prefix))
            after = [line.strip() for line in self.lines[index + 1:]]
            ends = [number for number, line in enumerate(after) if line.startswith(until)]
            if ends:
                return after[:ends[0]]
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise AssertionError(f"no line {until!r} after {prefix!r}; the demo printed:\n"
                                     + "\n".join(self.lines))
            time.sleep(0.2)

    def exported(self) -> dict[str, str]:
        return dict(line.strip().removeprefix("export ").split("=", 1)
                    for line in self.lines if line.strip().startswith("export "))


def demo_config(directory: Path, smsc_port: int, demo_port: int, *,
                devices: Sequence[str] = (), wechat_port: int | None = None,
                nodes: bool = False, twilio_port: int | None = None,
                apps: bool = False) -> Path:
    """The demo's configuration: SMS to its simulator, ``devices`` acked at its address,
    with a ``wechat_port`` the feed and WeChat through the simulator at that port, and with
    ``nodes`` the district channel, and with a ``twilio_port`` the Twilio simulator as the
    second SMS route, as config/demo.toml has it, and with ``apps`` the app channel."""
    path = directory / "demo.toml"
    public = [] if wechat_port is None else ["feed", "wechat"]
    district = ["district"] if nodes else []
    app = ["app"] if apps else []
    smsc = (f'host = "127.0.0.1"\nport = {smsc_port}\n'
            'system_id = "publisher"\n'
            f'password = "{SMPP_PASSWORD}"\nmessage_id_base = 16\nrate = 100\n')
    text = (f"channels = {json.dumps(['memory', 'sms', *public, *devices, *district, *app])}\n"
            + '[channel_options.sms]\nsource_addr = "12379"\n')
    if twilio_port is None:
        text += smsc
    else:
        text += ('[[channel_options.sms.routes]]\nname = "primary"\npriority = 0\n' + smsc
                 + '[[channel_options.sms.routes]]\nname = "rest"\npriority = 1\n'
                 f'kind = "twilio"\nbase_url = "http://127.0.0.1:{twilio_port}"\n'
                 f'account_sid = "{TWILIO_ACCOUNT}"\nauth_token = "{TWILIO_AUTH_TOKEN}"\n'
                 f'from = "+12379"\npublic_url = "http://127.0.0.1:{demo_port}"\n')
    for kind in devices:
        text += f'[channel_options.{kind}]\ncallback_url = "http://127.0.0.1:{demo_port}"\n'
    if wechat_port is not None:
        text += ("[channel_options.feed]\n"
                 f'public_url = "http://127.0.0.1:{demo_port}"\ntest_target = true\n'
                 "[channel_options.wechat]\n"
                 f'base_url = "http://127.0.0.1:{wechat_port}"\n'
                 'appid = "wx0000000000demo"\n'
                 f'secret = "{WECHAT_SECRET}"\ntemplate_id = "ALERT-TEMPLATE-1"\n'
                 f'callback_token = "{WECHAT_CALLBACK_TOKEN}"\n'
                 "rate_per_second = 50\n")
    if nodes:
        text += f'[channel_options.district]\ncenter_token = "{NODE_CENTER_TOKEN}"\n'
    path.write_text(text, encoding="utf-8")
    return path


@contextmanager
def running_demo(directory: Path, *, devices: Sequence[str] = (),
                 options: Sequence[str] = (), public: bool = False,
                 nodes: bool = False, failover: bool = False,
                 apps: bool = False, environment: Mapping[str, str] | None = None
                 ) -> Iterator[Demo]:
    """``publisher demo`` on free ports until the block ends (then Ctrl-C, as a user stops it).

    ``public``: with the feed and WeChat (its simulator on a free port too); ``nodes``: with
    the district nodes and their control port; ``failover``: with the Twilio simulator as
    the second SMS route (on a free port too); ``apps``: with the app channel and the demo
    app's client; ``environment``: variables added to the demo's (``PUBLISHER_LOG_FORMAT``).
    """
    port = free_port()
    wechat_port = free_port() if public else None
    twilio_port = free_port() if failover else None
    config = demo_config(directory, free_port(), port, devices=devices, wechat_port=wechat_port,
                         nodes=nodes, twilio_port=twilio_port, apps=apps)
    if twilio_port is not None:
        options = [*options, "--twilio-port", str(twilio_port)]
    if wechat_port is not None:
        options = [*options, "--wechat-port", str(wechat_port)]
    if nodes:
        options = [*options, "--free-node-ports", "--node-control-port", "0"]
    environment = {**command_environment(), **(environment or {}),
                   "PUBLISHER_CONFIG": str(config)}
    log = directory / "demo.log"
    with log.open("ab") as errors:
        process = subprocess.Popen(
            [str(BIN / "publisher"), "demo", "--host", "127.0.0.1", "--port", str(port),
             "--smsc-control-port", str(free_port()), "--data-dir", str(directory / "data"),
             *options],
            stdout=subprocess.PIPE, stderr=errors, text=True, env=environment)
    running = Demo(process, directory / "data", log)
    reader = threading.Thread(target=running.read, daemon=True)
    reader.start()
    try:
        yield running
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(STOP_SECONDS)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        reader.join(10)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.loads(response.read())


def api(url: str, token: str, method: str, path: str, body: Any = None) -> Any:
    request = urllib.request.Request(
        url + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def deliveries(demo: Demo, alert_id: int, channel: str) -> list[dict[str, Any]]:
    """The rows of the alert's deliveries on ``channel``, every message's, as the approver
    reads them."""
    exported = demo.exported()
    page = api(exported["URL"], exported["APPROVER_TOKEN"], "GET",
               f"/api/alerts/{alert_id}/deliveries?channel={channel}&page=1")
    assert page["total"] == len(page["items"])
    return list(page["items"])


def eventually(check: Callable[[], Any], what: str) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        found = check()
        if found:
            return found
        assert time.monotonic() < deadline, f"not within {WAIT_SECONDS} s: {what}"
        time.sleep(0.3)
