"""Announcements as audio: a script spoken by espeak-ng, after an attention tone, repeated.

An announcement is one WAV file (22,050 Hz, mono, 16-bit: espeak-ng's own
format, so nothing is resampled): the attention tone, a short silence,
then the spoken script ``repeat`` times with a pause between. The script
is synthesised once and its frames repeated.

Audio is cached (``speech_cache``) under a key made of everything that
decides it: the source (the signed message's SHA-256), the language, the
repeat count, and the voice, rate and words. Every speaker of a message in
one language gets the same file, and a changed template or voice makes new
audio instead of serving stale audio.

Synthesis runs pyttsx3 with its espeak-ng driver in a child process per
script (``speech_engine``). Measured here (2 cores) for a 6 s Chinese
sentence: 0.03-0.05 s in-process, 0.12 s in a child started by path (most of
it interpreter start). The child costs little, because each script is
synthesised once per message and language, and buys what matters in a
worker: an engine kept open wrote an empty file now and then when reused
(docs/benchmarks.md), pyttsx3 engines are not thread-safe and misbehave when
initialised twice in one process, espeak-ng is native code that can crash
its process, and pyttsx3 prints on stdout. The child's stdout is discarded.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import tempfile
import wave
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Protocol

from publisher.channels import speech_engine
from publisher.channels.attention_tone import attention_tone, silence
from publisher.channels.base import PermanentChannelError, TransientChannelError
from publisher.channels.speech_cache import AudioCache

__all__ = [
    "CHANNELS",
    "DEFAULT_RATE",
    "DEFAULT_VOICES",
    "SAMPLE_RATE",
    "SAMPLE_WIDTH",
    "AnnouncementAudio",
    "EspeakEngine",
    "SpeechAudio",
    "SpeechEngine",
    "SpeechScript",
    "wav_seconds",
]

SAMPLE_RATE = 22_050
SAMPLE_WIDTH = 2
CHANNELS = 1
DEFAULT_VOICES: Mapping[str, str] = MappingProxyType({"zh-CN": "sit/cmn", "en-US": "gmw/en-us"})
# Words per minute: espeak-ng's own default, the pace its voices are made for.
DEFAULT_RATE = 175
_AFTER_TONE_SECONDS = 0.6
_PAUSE_SECONDS = 1.5
_SYNTHESIS_TIMEOUT = 60.0
# Part of every key: a change to how audio is assembled must not serve old files.
_FORMAT = "announcement-1"
# By path, not ``-m``: importing the publisher package (CAP, lxml) would add
# half a second to every synthesis. -I keeps the child to the stdlib and pyttsx3.
_ENGINE_COMMAND = (sys.executable, "-I", str(Path(speech_engine.__file__)))


@dataclass(frozen=True, slots=True)
class SpeechScript:
    """What is said, in the language of its words (a key of the voices)."""

    language: str
    text: str


@dataclass(frozen=True, slots=True)
class AnnouncementAudio:
    key: str
    path: Path
    seconds: float
    made: bool  # synthesised by this call, rather than found in the cache


class SpeechEngine(Protocol):
    def synthesize(self, text: str, voice: str, rate: int, path: Path) -> None:
        """Write ``text`` spoken by ``voice`` at ``rate`` words per minute to ``path`` (WAV)."""


class EspeakEngine:
    """pyttsx3's espeak-ng driver, in a child process per script (see the module's notes)."""

    def __init__(self, timeout: float = _SYNTHESIS_TIMEOUT) -> None:
        self.timeout = timeout

    def synthesize(self, text: str, voice: str, rate: int, path: Path) -> None:
        request = json.dumps({"text": text, "voice": voice, "rate": rate, "path": str(path)})
        try:
            finished = subprocess.run(  # noqa: S603 - our own interpreter and script
                _ENGINE_COMMAND, input=request.encode(), stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE, timeout=self.timeout, check=False)
        except subprocess.TimeoutExpired:
            raise TransientChannelError(
                f"espeak-ng: no audio within {self.timeout} s for a script of"
                f" {len(text)} characters") from None
        reason = finished.stderr.decode(errors="replace").strip()
        if finished.returncode in (speech_engine.EXIT_NO_ENGINE, speech_engine.EXIT_NO_VOICE,
                                   speech_engine.EXIT_BAD_REQUEST):
            raise PermanentChannelError(reason)
        if finished.returncode != speech_engine.EXIT_OK:
            raise TransientChannelError(
                f"espeak-ng: the speech engine ended with status {finished.returncode}"
                f" ({reason[-300:] or 'no message'})")


def wav_seconds(path: Path) -> float:
    """The duration of a WAV file, from its header."""
    with wave.open(str(path), "rb") as audio:
        return audio.getnframes() / audio.getframerate()


def _speech_frames(path: Path, voice: str) -> bytes:
    try:
        with wave.open(str(path), "rb") as audio:
            shape = (audio.getnchannels(), audio.getsampwidth(), audio.getframerate())
            frames = audio.readframes(audio.getnframes())
    except (OSError, EOFError, wave.Error) as error:
        raise TransientChannelError(f"espeak-ng: voice {voice} wrote no readable WAV"
                                    f" ({error})") from None
    if shape != (CHANNELS, SAMPLE_WIDTH, SAMPLE_RATE):
        raise PermanentChannelError(
            f"espeak-ng: voice {voice} wrote {shape[0]} channel(s) of {8 * shape[1]}-bit audio"
            f" at {shape[2]} Hz; announcements are {CHANNELS} channel of {8 * SAMPLE_WIDTH}-bit"
            f" audio at {SAMPLE_RATE} Hz")
    if not frames:
        raise TransientChannelError(f"espeak-ng: voice {voice} wrote an empty WAV")
    return frames


class SpeechAudio:
    """Makes and caches announcements: one synthesis per key, whoever asks and how often."""

    def __init__(self, cache: AudioCache, engine: SpeechEngine | None = None, *,
                 voices: Mapping[str, str] = DEFAULT_VOICES, rate: int = DEFAULT_RATE) -> None:
        if rate <= 0:
            raise ValueError(f"rate: {rate} is not a positive number of words per minute")
        self.cache = cache
        self.engine: SpeechEngine = engine or EspeakEngine()
        self.voices = dict(voices)
        self.rate = rate

    def voice_for(self, language: str) -> str:
        voice = self.voices.get(language)
        if voice is None:
            raise PermanentChannelError(
                f"voices: no voice for {language!r} (voices for: {', '.join(self.voices)})")
        return voice

    def key(self, script: SpeechScript, repeat: int, source: str) -> str:
        """The cache key of the announcement of ``script`` made from ``source``."""
        decided_by = [_FORMAT, source, script.language, repeat,
                      self.voice_for(script.language), self.rate, script.text]
        return hashlib.sha256(json.dumps(decided_by, ensure_ascii=False).encode()).hexdigest()

    def announcement(self, script: SpeechScript, repeat: int, source: str) -> AnnouncementAudio:
        """The announcement's audio: from the cache, or synthesised into it now.

        ``source`` identifies what the script was rendered from (the signed
        message's SHA-256). Raises PermanentChannelError when espeak-ng or
        the voice is missing, TransientChannelError when synthesis failed.
        """
        if repeat < 1:
            raise ValueError(f"repeat: {repeat} is not a positive number of times")
        key = self.key(script, repeat, source)
        path, made = self.cache.get_or_make(
            key, lambda partial: self._make(script, repeat, partial))
        return AnnouncementAudio(key, path, wav_seconds(path), made)

    def _make(self, script: SpeechScript, repeat: int, path: Path) -> None:
        voice = self.voice_for(script.language)
        # The engine's scratch file goes to a directory of its own, not the
        # cache: pyttsx3 writes it from espeak-ng's thread, and a write that
        # fails there (a full disk) never ends the utterance, so the engine
        # would wait out its timeout. The cache then only takes the file we
        # write here, whose failure is an OSError with its reason.
        with tempfile.TemporaryDirectory(prefix="publisher-speech-") as scratch:
            speech_path = Path(scratch) / "speech.wav"
            self.engine.synthesize(script.text, voice, self.rate, speech_path)
            speech = _speech_frames(speech_path, voice)
        pause = silence(_PAUSE_SECONDS, SAMPLE_RATE)
        with wave.open(str(path), "wb") as audio:
            audio.setnchannels(CHANNELS)
            audio.setsampwidth(SAMPLE_WIDTH)
            audio.setframerate(SAMPLE_RATE)
            audio.writeframes(attention_tone(SAMPLE_RATE))
            audio.writeframes(silence(_AFTER_TONE_SECONDS, SAMPLE_RATE))
            for time in range(repeat):
                audio.writeframes(pause if time else b"")
                audio.writeframes(speech)
