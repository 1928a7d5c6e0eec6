"""Stopping a child process: politely first, by force when it does not listen."""

from __future__ import annotations

import subprocess
from typing import Any

__all__ = ["stop_process"]


def stop_process(process: subprocess.Popen[Any], grace_seconds: float) -> None:
    """SIGTERM, then SIGKILL once ``grace_seconds`` have passed; returns when it has exited."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(grace_seconds)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
