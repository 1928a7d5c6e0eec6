"""Run ``publisher`` commands as a user would: the demo's preparation and ``publisher serve``."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from unittest import mock

from publisher.cli import main
from publisher.local_ports import free_port

__all__ = ["BIN", "Installation", "demo_tokens", "free_port", "serving"]

BIN = Path(sys.executable).parent
STARTUP_SECONDS = 60.0


def command_environment() -> dict[str, str]:
    environment = {key: value for key, value in os.environ.items()
                   if not key.startswith("PUBLISHER_")}
    environment["PATH"] = f"{BIN}{os.pathsep}{environment.get('PATH', '')}"
    return environment


@dataclass
class Installation:
    data_dir: Path
    port: int
    # The configuration file its commands read (PUBLISHER_CONFIG); None runs on the defaults.
    config: Path | None = None

    def environment(self) -> dict[str, str]:
        environment = command_environment()
        if self.config is not None:
            environment["PUBLISHER_CONFIG"] = str(self.config)
        return environment

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def publisher(self, *arguments: str, stdin: str | None = None) -> str:
        """``publisher ARGUMENTS --data-dir DATA_DIR`` in this process, in the environment
        the command would get; its standard output.

        The console script is nothing but ``publisher.cli.main``: a process of its own
        would add only the interpreter's start-up and the imports, about two seconds of
        CPU a command, which a busy test machine can ill spare.
        """
        output, errors = io.StringIO(), io.StringIO()
        with _environment(self.environment()), \
                mock.patch("sys.stdin", io.StringIO(stdin or "")), \
                redirect_stdout(output), redirect_stderr(errors):
            code = main([*arguments, "--data-dir", str(self.data_dir)])
        assert code == 0, errors.getvalue()
        return output.getvalue()


@contextmanager
def _environment(environment: Mapping[str, str]) -> Iterator[None]:
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(environment)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def demo_tokens(installation: Installation) -> dict[str, str]:
    """Run the demo's preparation; the variables it tells the reader to export."""
    output = installation.publisher("demo", "--prepare-only", "--port", str(installation.port))
    exported = dict(line.strip().removeprefix("export ").split("=", 1)
                    for line in output.splitlines() if line.strip().startswith("export "))
    assert exported["URL"] == installation.url
    return exported


def _wait_healthy(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, "publisher exited during start-up"
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"publisher did not become healthy within {STARTUP_SECONDS} s")


@contextmanager
def serving(installation: Installation, log: Path,
            command: str = "serve") -> Iterator[subprocess.Popen[bytes]]:
    """``publisher serve`` (or ``web``) until the block ends, then a clean stop."""
    with log.open("ab") as output:
        process = subprocess.Popen(
            [str(BIN / "publisher"), command, "--host", "127.0.0.1",
             "--port", str(installation.port), "--data-dir", str(installation.data_dir)],
            stdout=output, stderr=subprocess.STDOUT, env=installation.environment())
    try:
        _wait_healthy(installation.url, process)
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
