"""The speech engine's own process: one utterance in, one WAV file out.

Run as a script (``python -I <path of this file>``, see ``speech``) with a
JSON request on stdin: {"text", "voice" (an espeak-ng voice id, e.g. "sit/cmn"),
"rate" (words per minute), "path" (the WAV to write)}. pyttsx3 with its
espeak-ng driver writes 22,050 Hz mono 16-bit audio there. The exit status
says what went wrong (see ``EXIT_*``), with the reason on stderr.

pyttsx3 prints "Audio saved to ..." on stdout; the parent discards this
process's stdout, so that line never reaches the platform's output.

``runAndWait`` returns before the file is written: pyttsx3 starts espeak-ng
in its asynchronous retrieval mode, and the WAV is written from espeak-ng's
own thread when the utterance ends. A process that exits straight after
``runAndWait`` loses the file whenever that thread is slower than the exit
(under load, often), so this one waits for pyttsx3's "finished-utterance"
notification; the parent's timeout bounds the wait.
"""

from __future__ import annotations

import json
import sys
import threading
import unicodedata
from typing import Any

__all__ = [
    "EXIT_BAD_REQUEST",
    "EXIT_INTERRUPTED",
    "EXIT_NO_ENGINE",
    "EXIT_NO_VOICE",
    "EXIT_OK",
    "EngineUnavailable",
    "installed_voices",
    "main",
    "open_engine",
    "save_speech",
    "spoken_text",
]

EXIT_OK = 0
EXIT_BAD_REQUEST = 2
EXIT_NO_ENGINE = 3
EXIT_NO_VOICE = 4
EXIT_INTERRUPTED = 5
_DRIVER = "espeak"  # pyttsx3.init() without it picked a driver that wrote no file
_EMBEDDED_COMMAND = "\x01"  # espeak-ng: a value and a letter follow, e.g. "\x01175S"


def _request() -> dict[str, Any]:
    request = json.load(sys.stdin)
    wanted = {"text": str, "voice": str, "rate": int, "path": str}
    for name, kind in wanted.items():
        if not isinstance(request.get(name), kind):
            raise ValueError(f"{name}: expected a {kind.__name__}")
    return dict(request)


class EngineUnavailable(RuntimeError):
    """pyttsx3 or libespeak-ng cannot be loaded in this process."""


def open_engine() -> Any:
    """pyttsx3's espeak-ng engine; once per process (a second init misbehaves)."""
    try:
        import pyttsx3  # type: ignore[import-untyped]  # noqa: PLC0415 - may fail: see below

        return pyttsx3.init(_DRIVER)
    # Whatever goes wrong loading pyttsx3 or libespeak-ng means the same: no engine here.
    except Exception as error:
        raise EngineUnavailable(
            f"espeak-ng: cannot start pyttsx3's espeak driver ({error})") from error


def installed_voices(engine: Any) -> set[str]:
    return {voice.id for voice in engine.getProperty("voices")}


def spoken_text(text: str, rate: int) -> str:
    """``text`` as handed to espeak-ng: its rate as an embedded command, no other commands.

    ``setProperty("rate")`` is queued to espeak-ng's synthesis thread and
    races with the rate pyttsx3 sets when it starts: about one utterance in
    twenty came out at pyttsx3's 200 words per minute instead. A rate
    embedded in the text is read by that thread with the words, every time.
    Control characters are removed first, so that an alert's text can embed
    no command of its own (another voice, volume or pitch).
    """
    clean = "".join(" " if unicodedata.category(char) == "Cc" and char not in "\n\t" else char
                    for char in text)
    return f"{_EMBEDDED_COMMAND}{rate}S{clean}"


def save_speech(engine: Any, text: str, voice: str, rate: int, path: str) -> bool:
    """Write ``text`` spoken to ``path``; whether the utterance was spoken to its end."""
    engine.setProperty("voice", voice)
    finished = threading.Event()
    outcome: dict[str, bool] = {}

    def utterance_finished(name: object, completed: bool) -> None:
        outcome["completed"] = completed
        finished.set()

    subscription = engine.connect("finished-utterance", utterance_finished)
    try:
        engine.save_to_file(spoken_text(text, rate), path)
        engine.runAndWait()
        finished.wait()
    finally:
        engine.disconnect(subscription)
    return outcome["completed"]


def main() -> int:
    try:
        request = _request()
    except ValueError as error:
        print(f"speech request: {error}", file=sys.stderr)
        return EXIT_BAD_REQUEST
    try:
        engine = open_engine()
    except EngineUnavailable as error:
        print(error, file=sys.stderr)
        return EXIT_NO_ENGINE
    if request["voice"] not in installed_voices(engine):
        print(f"voice: {request['voice']!r} is not an installed espeak-ng voice", file=sys.stderr)
        return EXIT_NO_VOICE
    if not save_speech(engine, request["text"], request["voice"], request["rate"],
                       request["path"]):
        print("espeak-ng: the utterance was interrupted before its end", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
