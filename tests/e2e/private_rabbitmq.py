"""A private RabbitMQ node that a test may stop and start: the shared broker is never touched.

The shared node on 127.0.0.1:5672 serves tests running in parallel, so a test
that takes the broker away starts its own: ``rabbitmq-server`` with its own
node name, AMQP port, distribution port, epmd port, Erlang cookie (its home
is the node's directory), data, logs and configuration, and no plugins. The
machine's ``rabbitmq-env.conf`` is replaced by an empty file, so nothing of
the shared node's environment reaches it.

One node serves a test module (a boot costs seconds); each test gets a
fresh virtual host on it, so that nothing one test left in a queue reaches
the next.

``stop()`` shuts the whole node down (``rabbitmqctl shutdown``: the Erlang VM
exits, as when the service is stopped) and ``start()`` boots it again on the
same data, so durable queues come back with their messages.

Without ``rabbitmq-server`` the fixture skips, even under CI: the machine has
no RabbitMQ. When it is installed but the node does not start, the fixture
skips with the node's log, and fails under CI (``CI=true``).
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

__all__ = ["PrivateRabbitMQ", "private_rabbitmq", "private_rabbitmq_node", "rabbitmq_scripts"]

# Debian's /usr/sbin/rabbitmq-server switches to the rabbitmq user, who cannot
# read a test's temporary directory; the real scripts are called directly.
SCRIPT_DIRECTORIES = (Path("/usr/lib/rabbitmq/bin"),)
START_SECONDS = 60
COMMAND_SECONDS = 30
LOG_TAIL_CHARACTERS = 2000


def rabbitmq_scripts() -> Path | None:
    """The directory holding ``rabbitmq-server`` and ``rabbitmqctl``, or None if not installed."""
    found = shutil.which("rabbitmq-server")
    candidates = [*SCRIPT_DIRECTORIES, *([Path(found).parent] if found else [])]
    for directory in candidates:
        if (directory / "rabbitmq-server").is_file() and (directory / "rabbitmqctl").is_file():
            return directory
    return None


def _free_ports(count: int) -> list[int]:
    # Held open together, so that the ports differ from one another.
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [int(probe.getsockname()[1]) for probe in probes]
    finally:
        for probe in probes:
            probe.close()


class NodeStartError(RuntimeError):
    """The private node did not come up or refused a command; the message carries its log."""


@dataclass
class PrivateRabbitMQ:
    scripts: Path
    directory: Path
    node: str = field(default_factory=lambda: f"publisher-outage-{uuid.uuid4().hex[:10]}@localhost")
    ports: list[int] = field(default_factory=lambda: _free_ports(3))
    vhost: str = ""
    process: subprocess.Popen[bytes] | None = None

    @property
    def amqp_port(self) -> int:
        return self.ports[0]

    @property
    def url(self) -> str:
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/{self.vhost}"

    @property
    def pid_file(self) -> Path:
        return self.directory / "node.pid"

    @property
    def environment(self) -> dict[str, str]:
        amqp_port, dist_port, epmd_port = self.ports
        inherited = {name: value for name, value in os.environ.items()
                     if not name.startswith(("RABBITMQ_", "ERL_"))}
        return {
            **inherited,
            "HOME": str(self.directory),
            "RABBITMQ_CONF_ENV_FILE": str(self.directory / "rabbitmq-env.conf"),
            "RABBITMQ_CONFIG_FILE": str(self.directory / "rabbitmq.conf"),
            "RABBITMQ_ENABLED_PLUGINS_FILE": str(self.directory / "enabled_plugins"),
            "RABBITMQ_NODENAME": self.node,
            "RABBITMQ_NODE_PORT": str(amqp_port),
            "RABBITMQ_DIST_PORT": str(dist_port),
            "RABBITMQ_MNESIA_BASE": str(self.directory / "mnesia"),
            "RABBITMQ_LOG_BASE": str(self.directory / "log"),
            "RABBITMQ_PID_FILE": str(self.pid_file),
            "RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS": "-kernel inet_dist_use_interface {127,0,0,1}",
            "ERL_EPMD_PORT": str(epmd_port),
            "ERL_EPMD_ADDRESS": "127.0.0.1",
            # A VM that dies writes its dump here, not into the directory the tests run in.
            "ERL_CRASH_DUMP": str(self.directory / "erl_crash.dump"),
        }

    def prepare(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        # Written before any Erlang VM starts: the server and ``rabbitmqctl wait``, started
        # together, each made the cookie when it was missing, and one of them found the
        # other's half made ("must be accessible by owner only") and died.
        cookie = self.directory / ".erlang.cookie"
        if not cookie.exists():
            descriptor = os.open(cookie, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o400)
            with os.fdopen(descriptor, "w", encoding="ascii") as written:
                written.write(secrets.token_hex(16).upper())
        (self.directory / "rabbitmq-env.conf").write_text("", encoding="utf-8")
        (self.directory / "enabled_plugins").write_text("[].\n", encoding="utf-8")
        (self.directory / "rabbitmq.conf").write_text(
            f"listeners.tcp.1 = 127.0.0.1:{self.amqp_port}\n", encoding="utf-8")

    def ctl(self, *arguments: str, timeout: float = COMMAND_SECONDS) -> None:
        result = subprocess.run([str(self.scripts / "rabbitmqctl"), "-n", self.node, *arguments],
                                env=self.environment, capture_output=True, timeout=timeout,
                                check=False)
        if result.returncode != 0:
            raise NodeStartError(f"rabbitmqctl {' '.join(arguments)} exited {result.returncode}:"
                                 f" {result.stdout.decode(errors='replace')}"
                                 f"{result.stderr.decode(errors='replace')}\n{self.log_tail()}")

    def start(self) -> None:
        """Boot the node (again, on the same data) and return once it accepts connections."""
        self.pid_file.unlink(missing_ok=True)
        output = (self.directory / "server.out").open("ab")
        self.process = subprocess.Popen([str(self.scripts / "rabbitmq-server")],
                                        env=self.environment, stdout=output,
                                        stderr=subprocess.STDOUT, start_new_session=True)
        output.close()
        waiting = subprocess.Popen(
            [str(self.scripts / "rabbitmqctl"), "-n", self.node, "wait", str(self.pid_file),
             "--timeout", str(START_SECONDS)],
            env=self.environment, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # A node that fails to boot never writes its pid file: stop waiting when it exits.
        while waiting.poll() is None and self.process.poll() is None:
            time.sleep(0.1)
        if waiting.returncode == 0:
            return
        waiting.kill()
        waiting.wait()
        raise NodeStartError(f"the node exited or timed out while booting:\n{self.log_tail()}")

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def ensure_running(self) -> None:
        if not self.running:
            self.start()

    def stop(self) -> None:
        """Shut the node down, Erlang VM and all; returns once its process has exited."""
        if self.process is None or self.process.poll() is not None:
            return
        try:
            self.ctl("shutdown")
            self.process.wait(timeout=COMMAND_SECONDS)
        except (NodeStartError, subprocess.TimeoutExpired):
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=COMMAND_SECONDS)

    def stop_epmd(self) -> None:
        # The node's Erlang VM started this epmd as a daemon on the private port.
        subprocess.run(["epmd", "-kill"], env=self.environment, capture_output=True,
                       timeout=COMMAND_SECONDS, check=False)

    def log_tail(self) -> str:
        # The server's own output last: it ends with the reason the boot stopped.
        logs = [*sorted((self.directory / "log").glob("*.log")), self.directory / "server.out"]
        text = "".join(path.read_text(errors="replace") for path in logs if path.exists())
        return text[-LOG_TAIL_CHARACTERS:]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must be able to run a private RabbitMQ node", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def private_rabbitmq_node(
        tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateRabbitMQ]:
    """One private node per test module (a boot costs seconds), removed with its files after."""
    scripts = rabbitmq_scripts()
    if scripts is None:
        pytest.skip("rabbitmq-server is not installed: "
                    "no private broker can be stopped and started")
    node = PrivateRabbitMQ(scripts, tmp_path_factory.mktemp("private-rabbitmq"))
    node.prepare()
    try:
        try:
            node.start()
        except (NodeStartError, subprocess.TimeoutExpired, OSError) as error:
            _unavailable(f"a private RabbitMQ node ({node.node}) did not start: {error}")
        yield node
    finally:
        node.stop()
        node.stop_epmd()
        shutil.rmtree(node.directory, ignore_errors=True)


@pytest.fixture
def private_rabbitmq(private_rabbitmq_node: PrivateRabbitMQ) -> Iterator[PrivateRabbitMQ]:
    """The module's node, running, with a fresh virtual host for this test alone."""
    node = private_rabbitmq_node
    node.ensure_running()
    node.vhost = f"publisher-outage-{uuid.uuid4().hex[:10]}"
    node.ctl("add_vhost", node.vhost)
    node.ctl("set_permissions", "-p", node.vhost, "guest", ".*", ".*", ".*")
    try:
        yield node
    finally:
        # A test that failed during an outage leaves the node stopped.
        node.ensure_running()
        node.ctl("delete_vhost", node.vhost)
