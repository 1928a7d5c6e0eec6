"""The speaker simulator on its own: what it refuses, what it does with audio that is no WAV,
its state, its log, and ``publisher sim speaker`` as a process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from publisher.channels.speech import SpeechAudio
from publisher.channels.speech_cache import AudioCache
from publisher.sim.device_sim import DeviceSimConfig, DeviceSimulatorThread
from publisher.sim.speaker import SpeakerSimulator
from tests.channels.device_platform import DevicePlatform, running_platform
from tests.channels.test_speaker_channel import DEVICES

DEVICE = DEVICES[0]


@pytest.fixture
def platform(tmp_path: Path) -> Iterator[DevicePlatform]:
    with running_platform({DEVICE.device_id: DEVICE.token},
                          SpeechAudio(AudioCache(tmp_path / "audio"))) as running:
        yield running


@pytest.fixture
def speakers(tmp_path: Path) -> Iterator[DeviceSimulatorThread[SpeakerSimulator]]:
    config = DeviceSimConfig(data_dir=tmp_path / "sim", ack_delay=0.0)
    running = DeviceSimulatorThread(SpeakerSimulator(config, DEVICES[:1], playback_speed=0.0))
    yield running
    running.stop()


def push(speakers: DeviceSimulatorThread[SpeakerSimulator], body: dict[str, Any]
         ) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{speakers.simulator.endpoint(DEVICE.device_id)}/messages",
        data=json.dumps(body).encode(), method="POST",
        headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def play(platform: DevicePlatform, **changes: Any) -> dict[str, Any]:
    return {"delivery": "5", "action": "play", "identifier": "110000-YJZX-20240720140000-0001",
            "references": [], "expires": None,
            "ack_url": f"{platform.url}/api/devices/{DEVICE.device_id}/acks",
            "audio_url": f"{platform.url}/audio/{'0' * 64}.wav", "repeat": 3, "volume": 80,
            "language": "zh-CN", **changes}


@pytest.mark.parametrize(("changes", "field"), [
    ({"audio_url": "ftp://example/a.wav"}, "audio_url"),
    ({"repeat": 0}, "repeat"),
    ({"volume": 101}, "volume"),
    ({"volume": True}, "volume"),
    ({"language": ""}, "language"),
    ({"action": "stop"}, "references"),
    ({"action": "show"}, "action"),
])
def test_a_push_a_speaker_cannot_use_is_refused_naming_the_field(
        speakers: DeviceSimulatorThread[SpeakerSimulator], platform: DevicePlatform,
        changes: dict[str, Any], field: str) -> None:
    status, answer = push(speakers, play(platform, **changes))
    assert (status, answer["field"]) == (400, field)
    assert speakers.received() == []


def test_audio_that_is_no_wav_is_acked_failed(
        speakers: DeviceSimulatorThread[SpeakerSimulator], platform: DevicePlatform) -> None:
    # The platform's error answer is JSON, not audio.
    status, answer = push(speakers, play(platform))
    assert (status, answer) == (202, {"accepted": "5"})

    [ack] = platform.wait_for_acks(1)
    assert (ack.body["delivery"], ack.body["state"]) == ("5", "failed")
    assert "answered HTTP 404" in ack.body["detail"]
    state = speakers.state(DEVICE.device_id)
    assert (state["playing"], state["played"]) == (None, [])


def test_a_non_wav_body_is_named(tmp_path: Path, platform: DevicePlatform,
                                 speakers: DeviceSimulatorThread[SpeakerSimulator]) -> None:
    key = "ab" * 32
    (tmp_path / "audio").mkdir()
    (tmp_path / "audio" / f"{key}.wav").write_bytes(b"ID3 not a wave at all")
    push(speakers, play(platform, audio_url=f"{platform.url}/audio/{key}.wav"))

    [ack] = platform.wait_for_acks(1)
    assert ack.body["state"] == "failed"
    assert ack.body["detail"].startswith("audio_url: not a WAV file")


def test_everything_received_is_logged(speakers: DeviceSimulatorThread[SpeakerSimulator],
                                       platform: DevicePlatform) -> None:
    push(speakers, play(platform))
    platform.wait_for_acks(1)
    [line] = speakers.simulator.log_path.read_text(encoding="utf-8").splitlines()
    logged = json.loads(line)
    assert logged["device_id"] == DEVICE.device_id
    assert logged["message"]["audio_url"].endswith(f"{'0' * 64}.wav")


def test_publisher_sim_speaker_runs_a_fleet(tmp_path: Path) -> None:
    devices_out = tmp_path / "speakers.json"
    log = (tmp_path / "sim.log").open("w")
    process = subprocess.Popen(
        [str(Path(sys.executable).with_name("publisher")), "sim", "speaker", "--count", "3",
         "--port", "0", "--districts", "110105,110108", "--data-dir", str(tmp_path / "var"),
         "--devices-out", str(devices_out), "--seed", "1"],
        stdout=subprocess.PIPE, stderr=log, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("speaker simulator listening on 127.0.0.1:"), line
        port = int(line.split(":")[1].split(";")[0])
        listed = json.loads(devices_out.read_text(encoding="utf-8"))
        assert [device["device_id"] for device in listed] == \
            ["speaker-110105-01", "speaker-110108-01", "speaker-110105-02"]
        assert all(device["token"] and device["kind"] == "speaker" for device in listed)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/devices/speaker-110108-01/state",
                                    timeout=30) as response:
            state = json.loads(response.read())
        assert state == {"device_id": "speaker-110108-01", "playing": None, "played": [],
                         "stopped": []}
    finally:
        process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=30)
        log.close()
    assert process.returncode == 0, (tmp_path / "sim.log").read_text()
