"""A Mosquitto of the benchmark's own, configured as the terminals' broker should be.

Mosquitto leaves Nagle's algorithm on by default: a small packet written
right after another (a PUBACK, then a terminal's ack) waits for the delayed
ACK of the first, about 40 ms on Linux. docs/protocols/mqtt.md asks for
``set_tcp_nodelay true`` on the terminals' broker; the machine's own
Mosquitto may not have it, so the benchmark starts one that does.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from publisher.local_ports import free_port

__all__ = ["private_mosquitto"]

_READY_SECONDS = 10.0


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


@contextmanager
def private_mosquitto() -> Iterator[int]:
    """The port of a Mosquitto on the loopback with ``set_tcp_nodelay true``, stopped after."""
    binary = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not Path(binary).exists():
        raise SystemExit("mosquitto is not installed: install it, or name a broker with"
                         " --mqtt-port")
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="bench-mosquitto-") as folder:
        config = Path(folder) / "mosquitto.conf"
        config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n"
                          "set_tcp_nodelay true\nmax_queued_messages 100000\n",
                          encoding="utf-8")
        log = (Path(folder) / "mosquitto.log").open("wb")
        process = subprocess.Popen([binary, "-c", str(config)], stdout=log,
                                   stderr=subprocess.STDOUT)
        try:
            deadline = time.monotonic() + _READY_SECONDS
            while not _answers(port):
                if process.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"mosquitto did not start on port {port}")
                time.sleep(0.05)
            yield port
        finally:
            process.terminate()
            process.wait(10)
            log.close()
