"""The speaker channel against simulated speakers, on real sockets.

The platform's side (tests.channels.device_platform) serves the cached
audio with the platform's own route and records the acks; the simulated
speakers fetch the audio, play it and ack, as docs/protocols/speaker.md says.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from publisher.cap.model import Alert, MsgType, Reference, Status
from publisher.cap.references import format_references
from publisher.cap.writer import write_alert
from publisher.channels import create_channel
from publisher.channels.base import (
    DeliveryStatus,
    OutgoingMessage,
    PermanentChannelError,
    ReceiptError,
    TargetRef,
)
from publisher.channels.speaker import SpeakerChannel, SpeakerSettings
from publisher.channels.speech import wav_seconds
from publisher.channels.speech_cache import AudioCache
from publisher.sample_alert import rainstorm_red_warning
from publisher.sim.device_fleet import SimulatedDevice
from publisher.sim.device_sim import DeviceFault, DeviceSimConfig, DeviceSimulatorThread
from publisher.sim.speaker import SPEAKER_CAPABILITIES, SpeakerSimulator
from tests.channels.device_platform import DevicePlatform, running_platform
from tests.channels.speech_support import require_speech_tools, sox_stat

DEVICES = [
    SimulatedDevice(f"speaker-110105-0{number}", "speaker", f"token-{number}", "110105",
                    116.48, 39.95, "zh-CN", dict(SPEAKER_CAPABILITIES))
    for number in (1, 2, 3)
]
WAIT = 60.0


@pytest.fixture(autouse=True)
def _speech_tools() -> None:
    require_speech_tools()


@pytest.fixture
def audio_dir(tmp_path: Path) -> Path:
    return tmp_path / "audio"


@pytest.fixture
def platform(audio_dir: Path) -> Iterator[DevicePlatform]:
    speech = SpeakerSettings(audio_dir).speech_audio()
    with running_platform({device.device_id: device.token for device in DEVICES},
                          speech) as running:
        yield running


def start_speakers(tmp_path: Path, playback_speed: float = 0.0,
                   ack_delay: float = 0.05) -> DeviceSimulatorThread[SpeakerSimulator]:
    config = DeviceSimConfig(data_dir=tmp_path / "sim", ack_delay=ack_delay,
                             ack_retry_interval=0.2)
    return DeviceSimulatorThread(SpeakerSimulator(config, DEVICES, playback_speed=playback_speed))


@pytest.fixture
def speakers(tmp_path: Path) -> Iterator[DeviceSimulatorThread[SpeakerSimulator]]:
    running = start_speakers(tmp_path)
    yield running
    running.stop()


@pytest.fixture
def channel(platform: DevicePlatform, audio_dir: Path) -> Iterator[SpeakerChannel]:
    opened = SpeakerChannel({"callback_url": platform.url, "audio_dir": str(audio_dir),
                             "timeout": 10})
    yield opened
    opened.close()


def outgoing(alert: Alert, message_id: int = 1) -> OutgoingMessage:
    return OutgoingMessage(message_id, alert, write_alert(alert), str(alert.msg_type),
                           str(alert.status))


def warning(expires_in: timedelta = timedelta(hours=6)) -> OutgoingMessage:
    sent = datetime.now(UTC).replace(microsecond=0)
    alert = rainstorm_red_warning(sent, status=Status.ACTUAL)
    alert = replace(alert, infos=tuple(replace(info, expires=sent + expires_in)
                                       for info in alert.infos))
    return outgoing(alert)


def cancel_of(message: OutgoingMessage) -> OutgoingMessage:
    alert = message.alert
    cancel = replace(alert, identifier=alert.identifier[:-4] + "0002", msg_type=MsgType.CANCEL,
                     references=format_references(
                         [Reference(alert.sender, alert.identifier, alert.sent)]))
    return outgoing(cancel, message.message_id + 1)


def targets(speakers: DeviceSimulatorThread[SpeakerSimulator], *languages: str,
            first_delivery: int = 101) -> list[TargetRef]:
    return [TargetRef(first_delivery + index, 10 + index,
                      speakers.simulator.endpoint(device.device_id), language, False,
                      device.device_id, dict(device.capabilities))
            for index, (device, language) in enumerate(zip(DEVICES, languages, strict=False))]


def wav_files(audio_dir: Path) -> list[Path]:
    return sorted(audio_dir.glob("*.wav")) if audio_dir.exists() else []


def played(speakers: DeviceSimulatorThread[SpeakerSimulator]) -> list[Any]:
    return speakers.call(lambda: list(speakers.simulator.played))


def test_speakers_fetch_the_audio_play_it_and_ack(
        channel: SpeakerChannel, speakers: DeviceSimulatorThread[SpeakerSimulator],
        platform: DevicePlatform, audio_dir: Path) -> None:
    message = warning()
    batch = targets(speakers, "zh-CN", "zh-CN")

    results = channel.send(message, batch)

    assert [(result.delivery_id, result.status, result.provider_id) for result in results] == \
        [(101, DeliveryStatus.SENT, "101"), (102, DeliveryStatus.SENT, "102")]
    [wav] = wav_files(audio_dir)
    audio_url = f"{platform.url}/audio/{wav.name}"
    bodies = {received.device_id: received.body for received in speakers.received()}
    assert bodies["speaker-110105-01"] == {
        "delivery": "101", "action": "play", "identifier": message.identifier,
        "references": [], "expires": message.alert.infos[0].expires.isoformat(),  # type: ignore[union-attr]
        "ack_url": f"{platform.url}/api/devices/speaker-110105-01/acks",
        "audio_url": audio_url, "repeat": 3, "volume": 80, "language": "zh-CN"}
    assert bodies["speaker-110105-02"]["delivery"] == "102"

    acks = platform.wait_for_acks(2)
    assert sorted((ack.device_id, ack.body["delivery"], ack.body["state"]) for ack in acks) == \
        [("speaker-110105-01", "101", "played"), ("speaker-110105-02", "102", "played")]
    for ack in acks:
        receipt = channel.parse_receipt(ack.body)
        assert (receipt.provider_id, receipt.status) == (ack.body["delivery"],
                                                         DeliveryStatus.DELIVERED)
    # Each speaker fetched the one file and played all of it.
    assert platform.audio_requests == [f"/audio/{wav.name}"] * 2
    assert {(item.device_id, round(item.seconds, 3)) for item in played(speakers)} == \
        {(device.device_id, round(wav_seconds(wav), 3)) for device in DEVICES[:2]}
    stats = sox_stat(wav)
    assert stats["Length"] >= 2.0 and stats["RMS amplitude"] > 0.01


def test_many_speakers_and_sends_share_one_synthesis(
        channel: SpeakerChannel, speakers: DeviceSimulatorThread[SpeakerSimulator],
        platform: DevicePlatform, audio_dir: Path) -> None:
    message = warning()
    channel.send(message, targets(speakers, "zh-CN", "zh-CN"))
    [wav] = wav_files(audio_dir)
    made_at = wav.stat().st_mtime_ns

    # The next batch, and another worker's channel on the same directory.
    channel.send(message, targets(speakers, "zh-CN", first_delivery=201))
    other_worker = SpeakerChannel(channel.options)
    try:
        other_worker.send(message, targets(speakers, "zh-CN", first_delivery=301))
    finally:
        other_worker.close()

    assert wav_files(audio_dir) == [wav] and wav.stat().st_mtime_ns == made_at
    assert {received.body["audio_url"] for received in speakers.received()} == \
        {f"{platform.url}/audio/{wav.name}"}
    assert len(platform.wait_for_acks(4)) == 4


def test_each_language_gets_its_own_audio(
        channel: SpeakerChannel, speakers: DeviceSimulatorThread[SpeakerSimulator],
        platform: DevicePlatform, audio_dir: Path) -> None:
    results = channel.send(warning(), targets(speakers, "zh-CN", "en-US", "en-GB"))

    assert {result.status for result in results} == {DeliveryStatus.SENT}
    bodies = {received.device_id: received.body for received in speakers.received()}
    assert [bodies[device.device_id]["language"] for device in DEVICES] == \
        ["zh-CN", "en-US", "en-US"]
    assert len(wav_files(audio_dir)) == 2
    assert bodies["speaker-110105-02"]["audio_url"] == bodies["speaker-110105-03"]["audio_url"]
    platform.wait_for_acks(3)


def test_cancel_stops_the_warning_and_plays_the_all_clear(
        tmp_path: Path, channel: SpeakerChannel, platform: DevicePlatform,
        audio_dir: Path) -> None:
    # Real time would take minutes; a fifth of it still leaves the warning playing.
    speakers = start_speakers(tmp_path, playback_speed=0.2)
    try:
        message = warning()
        [target] = targets(speakers, "zh-CN")
        channel.send(message, [target])
        deadline = time.monotonic() + WAIT
        while speakers.state(target.device_id or "")["playing"] is None:
            assert time.monotonic() < deadline, "the speaker never started playing"
            time.sleep(0.05)

        cancel = cancel_of(message)
        [result] = channel.cancel(cancel, [replace(target, delivery_id=102)])

        assert result.status is DeliveryStatus.SENT
        stop = speakers.received()[-1].body
        assert (stop["action"], stop["identifier"], stop["references"], stop["expires"]) == \
            ("stop", cancel.identifier, [message.identifier], None)
        assert stop["repeat"] == 1
        acks = {ack.body["delivery"]: ack.body for ack in platform.wait_for_acks(2)}
        assert acks["101"]["state"] == "stopped"
        assert acks["101"]["detail"].startswith(f"stopped by {cancel.identifier} after")
        assert acks["102"]["state"] == "stopped"
        assert acks["102"]["detail"].startswith("played")
        warning_audio, all_clear = (item for item in played(speakers))
        assert warning_audio.interrupted_by == cancel.identifier
        assert all_clear.interrupted_by is None and all_clear.action == "stop"
        assert all_clear.audio_url != warning_audio.audio_url
        # The all-clear is short, and real speech.
        clear_file = audio_dir / all_clear.audio_url.rsplit("/", 1)[1]
        assert 2.0 <= sox_stat(clear_file)["Length"] < warning_audio.seconds / 3
        assert sox_stat(clear_file)["RMS amplitude"] > 0.01
        assert speakers.state(target.device_id or "")["stopped"] == [message.identifier]
    finally:
        speakers.stop()


def test_a_cancelled_message_still_waiting_is_never_played(
        tmp_path: Path, channel: SpeakerChannel, platform: DevicePlatform) -> None:
    speakers = start_speakers(tmp_path, ack_delay=1.0)
    try:
        message = warning()
        [target] = targets(speakers, "en-US")
        channel.send(message, [target])
        channel.cancel(cancel_of(message), [replace(target, delivery_id=102)])

        acks = {ack.body["delivery"]: ack.body for ack in platform.wait_for_acks(2)}
        assert (acks["101"]["state"], acks["101"]["detail"]) == \
            ("stopped", "stopped before it played")
        assert [item.action for item in played(speakers)] == ["stop"]
    finally:
        speakers.stop()


def test_a_cancel_naming_only_its_messages_still_stops_them(
        channel: SpeakerChannel, speakers: DeviceSimulatorThread[SpeakerSimulator],
        platform: DevicePlatform) -> None:
    message = warning()
    cancel = cancel_of(message)
    bare = outgoing(replace(cancel.alert, infos=()), cancel.message_id)

    [result] = channel.cancel(bare, targets(speakers, "en-US"))

    assert result.status is DeliveryStatus.SENT
    [stop] = [received.body for received in speakers.received()]
    assert (stop["action"], stop["references"], stop["language"]) == \
        ("stop", [message.identifier], "en-US")
    [ack] = platform.wait_for_acks(1)
    assert ack.body["state"] == "stopped"


def test_an_expired_message_is_neither_made_nor_played(
        channel: SpeakerChannel, speakers: DeviceSimulatorThread[SpeakerSimulator],
        audio_dir: Path) -> None:
    results = channel.send(warning(expires_in=-timedelta(minutes=1)),
                           targets(speakers, "zh-CN", "en-US"))

    assert {result.status for result in results} == {DeliveryStatus.EXPIRED}
    assert all(result.error and result.error.startswith("expires:") for result in results)
    assert speakers.received() == [] and wav_files(audio_dir) == []


def test_unreachable_speakers_are_retried_later(
        channel: SpeakerChannel, speakers: DeviceSimulatorThread[SpeakerSimulator]) -> None:
    speakers.set_fault(DeviceFault.ERROR, ["speaker-110105-01"])
    speakers.set_fault(DeviceFault.DROP, ["speaker-110105-02"])

    results = channel.send(warning(), targets(speakers, "zh-CN", "zh-CN", "zh-CN"))

    assert [result.status for result in results] == \
        [DeliveryStatus.QUEUED, DeliveryStatus.QUEUED, DeliveryStatus.SENT]
    assert "HTTP 500" in (results[0].error or "")


def test_audio_gone_before_the_speaker_fetched_it_is_a_failed_ack(
        tmp_path: Path, channel: SpeakerChannel, platform: DevicePlatform,
        audio_dir: Path) -> None:
    speakers = start_speakers(tmp_path, ack_delay=1.0)
    try:
        channel.send(warning(), targets(speakers, "zh-CN"))
        for wav in wav_files(audio_dir):
            wav.unlink()

        [ack] = platform.wait_for_acks(1)
        assert ack.body["state"] == "failed"
        assert "answered HTTP 404" in ack.body["detail"]
        receipt = channel.parse_receipt(ack.body)
        assert receipt.status is DeliveryStatus.FAILED and "HTTP 404" in receipt.detail
    finally:
        speakers.stop()


def test_a_target_that_is_no_device_fails_alone(
        channel: SpeakerChannel, speakers: DeviceSimulatorThread[SpeakerSimulator]) -> None:
    device, stranger = targets(speakers, "zh-CN", "zh-CN")
    results = channel.send(warning(), [device, replace(stranger, device_id=None)])

    assert [result.status for result in results] == [DeliveryStatus.SENT, DeliveryStatus.FAILED]
    assert "no registered device" in (results[1].error or "")


def test_the_speakers_registered_volume_and_formats_decide(
        channel: SpeakerChannel, speakers: DeviceSimulatorThread[SpeakerSimulator]) -> None:
    loud, unregistered, mp3_only = targets(speakers, "zh-CN", "zh-CN", "zh-CN")
    results = channel.send(warning(), [
        loud, replace(unregistered, capabilities={}),
        replace(mp3_only, capabilities={"formats": ["audio/mpeg"], "volume": 50})])

    assert [result.status for result in results] == \
        [DeliveryStatus.SENT, DeliveryStatus.SENT, DeliveryStatus.FAILED]
    assert results[2].error == ("capabilities.formats: the speaker plays ['audio/mpeg'],"
                                " not audio/wav")
    volumes = {received.device_id: received.body["volume"] for received in speakers.received()}
    assert volumes == {"speaker-110105-01": 80, "speaker-110105-02": 100}


@pytest.mark.parametrize(("raw", "status", "detail"), [
    ({"delivery": "7", "state": "played", "detail": "played 31.0 s of audio"},
     DeliveryStatus.DELIVERED, "played: played 31.0 s of audio"),
    ({"delivery": "7", "state": "stopped"}, DeliveryStatus.DELIVERED, "stopped"),
    ({"delivery": "7", "state": "failed", "detail": "audio_url: not a WAV file"},
     DeliveryStatus.FAILED, "failed: audio_url: not a WAV file"),
])
def test_acks_become_receipts(audio_dir: Path, raw: dict[str, Any], status: DeliveryStatus,
                              detail: str) -> None:
    channel = SpeakerChannel({"callback_url": "http://127.0.0.1:1", "audio_dir": str(audio_dir)})
    receipt = channel.parse_receipt(raw)
    assert (receipt.provider_id, receipt.status, receipt.detail) == ("7", status, detail)


@pytest.mark.parametrize(("raw", "field"), [
    ({"delivery": "7", "state": "displaying"}, "state"),
    ({"state": "played"}, "delivery"),
])
def test_an_ack_that_is_not_a_speakers_is_refused(audio_dir: Path, raw: dict[str, Any],
                                                  field: str) -> None:
    channel = SpeakerChannel({"callback_url": "http://127.0.0.1:1", "audio_dir": str(audio_dir)})
    with pytest.raises(ReceiptError) as refused:
        channel.parse_receipt(raw)
    assert refused.value.field == field


@pytest.mark.parametrize(("options", "message"), [
    ({"audio_dir": "/tmp/audio"}, "channel_options.speaker.callback_url: required"),
    ({"callback_url": "http://127.0.0.1:8080"}, "channel_options.speaker.audio_dir: required"),
    ({"callback_url": "http://127.0.0.1:8080", "audio_dir": "a", "volume": 101},
     "channel_options.speaker.volume: 101 is not a whole number from 0 to 100"),
    ({"callback_url": "http://127.0.0.1:8080", "audio_dir": "a", "repeat": 0},
     "channel_options.speaker.repeat: 0 is not a whole number from 1"),
    ({"callback_url": "http://127.0.0.1:8080", "audio_dir": "a", "voices": {"zh-CN": 1}},
     "channel_options.speaker.voices: a table of espeak-ng voice ids"),
])
def test_options_are_checked_naming_the_option(options: dict[str, Any], message: str) -> None:
    with pytest.raises(PermanentChannelError, match=message.replace(".", r"\.")):
        SpeakerChannel(options)


def test_the_channel_is_registered_by_name(audio_dir: Path) -> None:
    channel = create_channel("speaker", {"callback_url": "http://127.0.0.1:1",
                                         "audio_dir": str(audio_dir), "repeat": 2,
                                         "voices": {"en-US": "gmw/en"}})
    assert isinstance(channel, SpeakerChannel)
    assert channel.settings.repeat == 2
    assert channel.speech.voices == {"zh-CN": "sit/cmn", "en-US": "gmw/en"}
    assert isinstance(channel.speech.cache, AudioCache)
