"""Announcement audio made by espeak-ng, measured with sox, and cached once per key."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import wave
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.cap.model import Alert
from publisher.channels.attention_tone import CHIME_NOTES
from publisher.channels.base import PermanentChannelError
from publisher.channels.speaker_script import render_script
from publisher.channels.speech import (
    DEFAULT_RATE,
    DEFAULT_VOICES,
    SAMPLE_RATE,
    AnnouncementAudio,
    EspeakEngine,
    SpeechAudio,
    SpeechScript,
    wav_seconds,
)
from publisher.channels.speech_cache import AudioCache
from publisher.sample_alert import rainstorm_red_warning
from tests.channels.speech_support import (
    espeak_frames,
    require_speech_tools,
    sox_stat,
    wav_frames,
)

SENT = datetime(2024, 7, 20, 6, 0, tzinfo=UTC)
SOURCE = "9f" * 32  # stands for a signed message's SHA-256
SILENCE_RMS = 0.01


@pytest.fixture(autouse=True)
def _speech_tools() -> None:
    require_speech_tools()


@pytest.fixture
def speech(tmp_path: Path) -> SpeechAudio:
    return SpeechAudio(AudioCache(tmp_path / "audio"))


def warning() -> Alert:
    return rainstorm_red_warning(SENT)


def script(language: str) -> SpeechScript:
    return render_script(warning(), language)


@pytest.mark.parametrize("language", ["zh-CN", "en-US"])
def test_an_announcement_is_real_speech(speech: SpeechAudio, language: str) -> None:
    audio = speech.announcement(script(language), 3, SOURCE)

    stats = sox_stat(audio.path)
    assert stats["Length"] >= 2.0
    assert stats["RMS amplitude"] > SILENCE_RMS
    assert stats["Length"] == pytest.approx(audio.seconds, abs=0.001)
    with wave.open(str(audio.path), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (1, 2, SAMPLE_RATE)


@pytest.mark.parametrize("language", ["zh-CN", "en-US"])
def test_a_longer_text_makes_a_longer_announcement(speech: SpeechAudio, language: str) -> None:
    alert = warning()
    shorter = replace(alert, infos=tuple(replace(info, instruction=None) for info in alert.infos))

    short = speech.announcement(render_script(shorter, language), 1, SOURCE)
    long = speech.announcement(render_script(alert, language), 1, SOURCE)

    assert sox_stat(long.path)["Length"] > sox_stat(short.path)["Length"] + 1.0


@pytest.mark.parametrize(("language", "voice", "other_voice"), [
    ("zh-CN", "cmn", "en-us"),
    ("en-US", "en-us", "cmn"),
])
def test_each_language_is_spoken_by_its_voice(speech: SpeechAudio, tmp_path: Path,
                                              language: str, voice: str,
                                              other_voice: str) -> None:
    words = script(language)
    audio = speech.announcement(words, 3, SOURCE)

    spoken = wav_frames(audio.path)
    # espeak-ng's own command, same voice and rate: the very frames, once per repeat.
    assert spoken.count(espeak_frames(words.text, voice, DEFAULT_RATE, tmp_path)) == 3
    assert espeak_frames(words.text, other_voice, DEFAULT_RATE, tmp_path) not in spoken


def test_every_synthesis_speaks_at_the_rate_asked(tmp_path: Path) -> None:
    # pyttsx3's own rate setting lost a race about once in twenty; this asks twenty times.
    engine, words = EspeakEngine(), script("zh-CN")
    reference = espeak_frames(words.text, "cmn", DEFAULT_RATE, tmp_path)
    for attempt in range(20):
        path = tmp_path / f"attempt-{attempt}.wav"
        engine.synthesize(words.text, "sit/cmn", DEFAULT_RATE, path)
        assert wav_frames(path) == reference, f"attempt {attempt}: {wav_seconds(path):.3f} s"


def test_the_attention_tone_comes_first(speech: SpeechAudio) -> None:
    path = speech.announcement(script("zh-CN"), 3, SOURCE).path
    start = 0.0
    for frequency, seconds in CHIME_NOTES:
        note = sox_stat(path, "trim", str(start), str(seconds))
        assert note["RMS amplitude"] > 0.1
        assert note["Rough frequency"] == pytest.approx(frequency, rel=0.05)
        start += seconds
    # Then a breath of silence before the words.
    assert sox_stat(path, "trim", str(start), "0.3")["RMS amplitude"] < SILENCE_RMS


def test_the_repeats_are_one_synthesis_with_pauses(speech: SpeechAudio) -> None:
    once = speech.announcement(script("en-US"), 1, SOURCE)
    thrice = speech.announcement(script("en-US"), 3, SOURCE)

    speech_seconds = once.seconds - sum(seconds for _, seconds in CHIME_NOTES)
    assert thrice.seconds > once.seconds + 2 * speech_seconds
    assert thrice.seconds < once.seconds + 2 * speech_seconds + 2 * 3.0  # a pause is short


def test_an_announcement_is_made_once_however_many_ask(tmp_path: Path) -> None:
    directory = tmp_path / "audio"
    results: list[AnnouncementAudio] = []

    def ask() -> None:
        # A SpeechAudio each, as workers have: only the directory is shared.
        results.append(SpeechAudio(AudioCache(directory)).announcement(
            script("zh-CN"), 3, SOURCE))

    askers = [threading.Thread(target=ask) for _ in range(4)]
    for asker in askers:
        asker.start()
    for asker in askers:
        asker.join(timeout=120)

    assert len(results) == 4
    assert [result.made for result in results].count(True) == 1
    assert len({result.path for result in results}) == 1
    assert sorted(path.name for path in directory.iterdir() if not path.name.startswith(".")) \
        == [results[0].path.name]
    assert not list(directory.glob("*.partial")) and not list(directory.glob(".*.partial"))


def test_worker_processes_share_one_synthesis(tmp_path: Path) -> None:
    directory = tmp_path / "audio"
    program = (
        "import sys, json\n"
        "from datetime import datetime, UTC\n"
        "from pathlib import Path\n"
        "from publisher.channels.speaker_script import render_script\n"
        "from publisher.channels.speech import SpeechAudio\n"
        "from publisher.channels.speech_cache import AudioCache\n"
        "from publisher.sample_alert import rainstorm_red_warning\n"
        "words = render_script(rainstorm_red_warning(datetime(2024, 7, 20, 6, tzinfo=UTC)),"
        " 'en-US')\n"
        "audio = SpeechAudio(AudioCache(Path(sys.argv[1]))).announcement(words, 3, sys.argv[2])\n"
        "print(json.dumps({'made': audio.made, 'key': audio.key}))\n")
    workers = [subprocess.Popen([sys.executable, "-c", program, str(directory), SOURCE],
                                stdout=subprocess.PIPE, text=True) for _ in range(3)]
    answers = [json.loads(worker.communicate(timeout=120)[0]) for worker in workers]

    assert [answer["made"] for answer in answers].count(True) == 1
    assert len({answer["key"] for answer in answers}) == 1
    assert len(list(directory.glob("*.wav"))) == 1


def test_a_cached_announcement_is_not_made_again(speech: SpeechAudio) -> None:
    first = speech.announcement(script("en-US"), 3, SOURCE)
    written = first.path.stat().st_mtime_ns

    again = SpeechAudio(AudioCache(first.path.parent)).announcement(script("en-US"), 3, SOURCE)

    assert first.made and not again.made
    assert again.path == first.path and again.path.stat().st_mtime_ns == written


def test_the_key_follows_everything_that_decides_the_audio(speech: SpeechAudio) -> None:
    words = script("zh-CN")
    key = speech.key(words, 3, SOURCE)
    others = {
        speech.key(words, 2, SOURCE),
        speech.key(words, 3, "ab" * 32),
        speech.key(replace(words, text=words.text + "请注意。"), 3, SOURCE),
        speech.key(replace(words, language="en-US"), 3, SOURCE),
        SpeechAudio(speech.cache, rate=DEFAULT_RATE + 20).key(words, 3, SOURCE),
        SpeechAudio(speech.cache, voices={**DEFAULT_VOICES, "zh-CN": "sit/cmn-latn-pinyin"})
        .key(words, 3, SOURCE),
    }
    assert key == speech.key(script("zh-CN"), 3, SOURCE)
    assert key not in others and len(others) == 6


def test_pyttsx3_says_nothing_on_our_output(speech: SpeechAudio,
                                            capfd: pytest.CaptureFixture[str]) -> None:
    speech.announcement(script("en-US"), 1, SOURCE)
    out, err = capfd.readouterr()
    assert "Audio saved" not in out + err


def test_a_voice_espeak_ng_lacks_is_a_permanent_error(tmp_path: Path) -> None:
    directory = tmp_path / "audio"
    speech = SpeechAudio(AudioCache(directory), voices={"en-US": "xx/no-such-voice"})

    with pytest.raises(PermanentChannelError, match="voice: 'xx/no-such-voice' is not"):
        speech.announcement(script("en-US"), 3, SOURCE)
    assert [path.name for path in directory.iterdir()] == [".making.lock"]


def test_a_language_without_a_voice_is_named(speech: SpeechAudio) -> None:
    with pytest.raises(PermanentChannelError, match=r"voices: no voice for 'fr-FR'"):
        speech.announcement(SpeechScript("fr-FR", "Attention."), 1, SOURCE)


def test_the_duration_comes_from_the_header(speech: SpeechAudio) -> None:
    audio = speech.announcement(script("en-US"), 2, SOURCE)
    with wave.open(str(audio.path), "rb") as wav:
        assert wav_seconds(audio.path) == wav.getnframes() / SAMPLE_RATE
