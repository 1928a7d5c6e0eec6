"""``publisher sim led|speaker``: the device list names what each device can do, and a kind's
own options reach its simulator."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from publisher.cli import main
from publisher.cli_errors import EXIT_USAGE
from publisher.sim.led import LED_CAPABILITIES
from publisher.sim.speaker import SPEAKER_CAPABILITIES

PUBLISHER = Path(sys.executable).with_name("publisher")
STOP_SECONDS = 30


@pytest.mark.parametrize(("kind", "given", "listed"), [
    ("led", {"rows": 3}, {**LED_CAPABILITIES, "rows": 3}),
    ("speaker", {}, dict(SPEAKER_CAPABILITIES)),
])
def test_the_device_list_carries_the_kinds_capabilities_under_those_given(
        tmp_path: Path, kind: str, given: Mapping[str, Any], listed: Mapping[str, Any]) -> None:
    devices_out = tmp_path / "devices.json"
    with (tmp_path / "sim.log").open("w") as log:
        process = subprocess.Popen(
            [str(PUBLISHER), "sim", kind, "--count", "2", "--port", "0", "--data-dir",
             str(tmp_path / "var"), "--devices-out", str(devices_out), "--capabilities",
             json.dumps(given)],
            stdout=subprocess.PIPE, stderr=log, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(f"{kind} simulator listening on"), \
            (tmp_path / "sim.log").read_text()
        entries = json.loads(devices_out.read_text(encoding="utf-8"))
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=STOP_SECONDS)
    assert [entry["capabilities"] for entry in entries] == [listed, listed]


def test_a_negative_playback_speed_is_refused_naming_it(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["sim", "speaker", "--port", "0", "--playback-speed", "-1",
                 "--data-dir", str(tmp_path)])
    assert code == EXIT_USAGE
    assert "playback_speed: -1.0 is negative" in capsys.readouterr().err


def test_playback_speed_is_an_option_of_speakers_only(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["sim", "led", "--playback-speed", "0", "--data-dir", str(tmp_path)])
    assert "unrecognized arguments: --playback-speed" in capsys.readouterr().err
