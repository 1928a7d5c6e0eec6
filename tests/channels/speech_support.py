"""Measuring audio as a listener's tools do: sox ``stat``, and espeak-ng itself as the reference.

A test that needs them skips with the reason where they are missing, except
under CI (``CI=true``), where that is a failure: CI installs them.
"""

from __future__ import annotations

import ctypes.util
import os
import re
import shutil
import subprocess
import wave
from pathlib import Path

import pytest

__all__ = ["espeak_frames", "require_speech_tools", "sox_stat", "wav_frames"]

_STAT_LINE = re.compile(r"^(?P<name>[A-Za-z ]+?)\s*(?:\([a-z]+\))?:\s+(?P<value>-?[\d.]+)\s*$")


def require_speech_tools() -> None:
    """Skip (or fail under CI) unless libespeak-ng, the espeak-ng command and sox are here."""
    found = {"libespeak-ng": ctypes.util.find_library("espeak-ng"),
             "espeak-ng": shutil.which("espeak-ng"), "sox": shutil.which("sox")}
    missing = sorted(name for name, where in found.items() if not where)
    if not missing:
        return
    reason = f"{', '.join(missing)} not installed (Debian: apt-get install espeak-ng sox)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}; CI must install them", pytrace=False)
    pytest.skip(reason)


def sox_stat(path: Path, *effects: str) -> dict[str, float]:
    """``sox FILE -n [effects] stat`` from its stderr: {"Length": seconds, "RMS amplitude": ...}."""
    done = subprocess.run(["sox", str(path), "-n", *effects, "stat"], capture_output=True,
                          text=True, timeout=60, check=True)
    stats = {}
    for line in done.stderr.splitlines():
        found = _STAT_LINE.match(line)
        if found:
            stats[" ".join(found["name"].split())] = float(found["value"])
    assert "Length" in stats and "RMS amplitude" in stats, done.stderr
    return stats


def wav_frames(path: Path) -> bytes:
    with wave.open(str(path), "rb") as audio:
        return audio.readframes(audio.getnframes())


def espeak_frames(text: str, voice: str, rate: int, directory: Path) -> bytes:
    """The frames the espeak-ng command writes for ``text``: the reference for our synthesis."""
    path = directory / f"espeak-{voice.replace('/', '-')}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate), "-w", str(path), text],
                   check=True, timeout=60, capture_output=True)
    return wav_frames(path)
