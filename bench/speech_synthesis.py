"""Speech synthesis: seconds of audio made per second, for Chinese and English, against real time.

A speaker plays an announcement in real time, so synthesis must run faster
than real time (a ratio above 1x) for the audio of a message to be ready
before it would have finished playing. The script is the sample red
rainstorm warning's (``speaker_script.render_script``), per language.

Contenders, on the same script and voice:

- ours, announcement: ``SpeechAudio.announcement`` into an empty cache, as
  the channel makes it for a message: pyttsx3 in a child process, the
  attention tone, the script 3 times with pauses, written, flushed and
  renamed into the cache. Audio: the whole announcement.
- ours, synthesis: ``EspeakEngine.synthesize``, the child process alone, one
  utterance of the script. Audio: that utterance.
- pyttsx3 in process: the same engine kept open in this process (what the
  channel does not do, for isolation): the cost of the child process.
- espeak-ng command: ``espeak-ng -v VOICE -s RATE -w FILE``, the floor.

Each contender runs ``--runs`` times per language (the first, untimed, warms
the page cache); the median, minimum and maximum are reported, and how many
runs wrote audio of another length than the others (an empty or cut file).

    python -m bench.speech_synthesis [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from publisher.cap.model import Status
from publisher.channels import speech_engine
from publisher.channels.speaker_script import render_script
from publisher.channels.speech import (
    DEFAULT_RATE,
    DEFAULT_VOICES,
    EspeakEngine,
    SpeechAudio,
    SpeechScript,
    wav_seconds,
)
from publisher.channels.speech_cache import AudioCache
from publisher.sample_alert import rainstorm_red_warning

__all__ = ["Measurement", "main", "measure"]

DEFAULT_RUNS = 7
REPEAT = 3
LANGUAGES = ("zh-CN", "en-US")
# espeak-ng's own names for the voices pyttsx3 knows by file (sit/cmn, gmw/en-us).
COMMAND_VOICES = {"zh-CN": "cmn", "en-US": "en-us"}


@dataclass(frozen=True, slots=True)
class Measurement:
    language: str
    contender: str
    audio_seconds: list[float]  # per timed run
    wall_seconds: list[float]

    @property
    def audio(self) -> float:
        return statistics.median(self.audio_seconds)

    @property
    def ratios(self) -> list[float]:
        return [audio / wall for audio, wall in zip(self.audio_seconds, self.wall_seconds,
                                                    strict=True)]

    @property
    def wrong_runs(self) -> int:
        """Runs whose audio is not the length of the others' (an empty or cut file)."""
        return sum(1 for audio in self.audio_seconds if abs(audio - self.audio) > 0.01 * self.audio)

    def line(self) -> str:
        ratios = self.ratios
        return (f"| {self.language} | {self.contender} | {self.audio:.1f} |"
                f" {statistics.median(self.wall_seconds) * 1000:.0f} |"
                f" {statistics.median(ratios):.0f}x | {min(ratios):.0f}x-{max(ratios):.0f}x |"
                f" {self.wrong_runs} |")


def _timed(work: Callable[[Path], Path], runs: int,
           directory: Path) -> tuple[list[float], list[float]]:
    """(audio seconds, wall seconds) per timed run of ``work``, which returns the WAV it made."""
    audio, walls = [], []
    for run in range(runs + 1):
        target = directory / f"run-{run}"
        target.mkdir()
        started = time.perf_counter()
        made = work(target)
        wall = time.perf_counter() - started
        if run:  # the first run only warms caches
            walls.append(wall)
            audio.append(wav_seconds(made))
    return audio, walls


def _announcement(script: SpeechScript) -> Callable[[Path], Path]:
    def make(directory: Path) -> Path:
        return SpeechAudio(AudioCache(directory)).announcement(script, REPEAT, "bench").path
    return make


def _synthesis(script: SpeechScript) -> Callable[[Path], Path]:
    engine, voice = EspeakEngine(), DEFAULT_VOICES[script.language]

    def make(directory: Path) -> Path:
        engine.synthesize(script.text, voice, DEFAULT_RATE, directory / "speech.wav")
        return directory / "speech.wav"
    return make


def _in_process(script: SpeechScript, engine: Any) -> Callable[[Path], Path]:
    voice = DEFAULT_VOICES[script.language]

    def make(directory: Path) -> Path:
        path = directory / "speech.wav"
        # pyttsx3 prints a line per file; keep the report readable.
        with open(os.devnull, "w") as quiet:
            saved, sys.stdout = sys.stdout, quiet
            try:
                speech_engine.save_speech(engine, script.text, voice, DEFAULT_RATE, str(path))
            finally:
                sys.stdout = saved
        return path
    return make


def _command(script: SpeechScript) -> Callable[[Path], Path]:
    voice = COMMAND_VOICES[script.language]

    def make(directory: Path) -> Path:
        path = directory / "speech.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(DEFAULT_RATE), "-w", str(path),
                        script.text], check=True, capture_output=True, timeout=120)
        return path
    return make


def measure(runs: int) -> list[Measurement]:
    alert = rainstorm_red_warning(datetime.now(UTC).replace(microsecond=0),
                                  status=Status.ACTUAL)
    engine = speech_engine.open_engine()
    found = []
    for language in LANGUAGES:
        script = render_script(alert, language)
        contenders = {
            f"ours: announcement (x{REPEAT}, tone, cache)": _announcement(script),
            "ours: synthesis (child process)": _synthesis(script),
            "pyttsx3 in process": _in_process(script, engine),
            "espeak-ng command": _command(script),
        }
        for name, work in contenders.items():
            with tempfile.TemporaryDirectory(prefix="bench-speech-") as directory:
                audio, walls = _timed(work, runs, Path(directory))
            found.append(Measurement(language, name, audio, walls))
    return found


def _espeak_version() -> str:
    done = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True,
                          check=False, timeout=30)
    # "eSpeak NG text-to-speech: 1.51  Data at: ...": the path says nothing here.
    return done.stdout.split("  Data at")[0].strip() or "espeak-ng (version unknown)"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=DEFAULT_RUNS)
    arguments = parser.parse_args(argv)
    if arguments.runs < 1:
        parser.error("--runs: at least 1")
    measurements = measure(arguments.runs)
    print(f"{os.cpu_count()} cores, Python {platform.python_version()}, {_espeak_version()},"
          f" rate {DEFAULT_RATE} wpm, median of {arguments.runs} runs (after one untimed)")
    print("| language | contender | audio s | wall ms (median) | x real time (median) |"
          " range | wrong runs |")
    print("| --- | --- | ---: | ---: | ---: | --- | ---: |")
    for measurement in measurements:
        print(measurement.line())
    ours = [item for item in measurements if item.contender.startswith("ours")]
    slowest = min(statistics.median(item.ratios) for item in ours)
    met = slowest > 1 and not any(item.wrong_runs for item in ours)
    print(f"limit: ours faster than real time (> 1x), every run complete:"
          f" {'met' if met else 'NOT met'}; slowest median {slowest:.0f}x")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
