"""An earthquake early warning interrupts speakers (the simulator), which play the standard
recording made in advance, with the district's countdown beside it as text."""

from __future__ import annotations

from pathlib import Path

from publisher.channels.speaker import SpeakerChannel
from tests.channels.test_eew_interrupt import early_warning, in_chaoyang
from tests.channels.test_speaker_channel import (
    audio_dir,
    channel,
    platform,
    start_speakers,
    targets,
    warning,
    wav_files,
)
from tests.integration.sms_support import eventually

__all__ = ["audio_dir", "channel", "platform"]


def test_speakers_drop_what_they_play_for_the_standard_recording(
        channel: SpeakerChannel, platform: object, tmp_path: Path,
        audio_dir: Path) -> None:
    made = channel.prepare_eew_audio()
    assert len(made) == 6 and len(wav_files(audio_dir)) == 6
    speakers = start_speakers(tmp_path, playback_speed=1.0)
    try:
        rainstorm = warning()
        batch = targets(speakers, "zh-CN")
        channel.send(rainstorm, batch)
        device = batch[0].device_id
        assert device is not None
        eventually(lambda: speakers.state(device)["playing"] is not None, "the rainstorm plays")
        quake = in_chaoyang(early_warning(), 2)
        channel.send(quake, targets(speakers, "zh-CN", first_delivery=201))
        eventually(lambda: (speakers.state(device)["playing"] or {}).get("identifier")
                   == quake.identifier, "the warning plays")
        [stopped] = [played for played in speakers.state(device)["played"]
                     if played["identifier"] == rainstorm.identifier]
        assert stopped["interrupted_by"] == quake.identifier
        [push] = [received.body for received in speakers.received()
                  if received.body["identifier"] == quake.identifier]
        assert push["priority"] == "interrupt"
        assert "秒后到达" in push["text"]
        # The recording made in advance, not a synthesis of this message.
        assert push["audio_url"].rsplit("/", 1)[1] in {f"{audio.key}.wav" for audio in made}
        assert len(wav_files(audio_dir)) == 7
    finally:
        speakers.stop()
