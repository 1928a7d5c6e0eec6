"""How the demo counts the times an announcement says its message after the attention tone."""

from __future__ import annotations

import io
import random
import wave
from array import array

import pytest

from publisher.channels.attention_tone import attention_tone, silence
from publisher.demo_device_report import repeats_after_tone

RATE = 8000


def _speech(seconds: float, seed: int) -> bytes:
    chance = random.Random(seed)
    # Never a zero sample, with a short gap inside, as between two words.
    words = array("h", (chance.choice((-1, 1)) * chance.randint(1, 9000)
                        for _ in range(round(seconds * RATE))))
    return words.tobytes()[:RATE] + silence(0.3, RATE) + words.tobytes()[RATE:]


def _wav(*pieces: bytes) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(RATE)
        writer.writeframes(b"".join(pieces))
    return buffer.getvalue()


def _announcement(speech: list[bytes], *, tone: bool = True) -> bytes:
    pieces = [attention_tone(RATE) if tone else b"", silence(0.6, RATE)]
    for number, said in enumerate(speech):
        pieces += [silence(1.5, RATE) if number else b"", said]
    return _wav(*pieces)


@pytest.mark.parametrize("times", [1, 2, 3, 5])
def test_the_same_speech_after_the_tone_is_counted(times: int) -> None:
    assert repeats_after_tone(_announcement([_speech(2.0, seed=1)] * times)) == times


@pytest.mark.parametrize(("audio", "why"), [
    (_announcement([_speech(2.0, seed=1)] * 3, tone=False), "no attention tone"),
    (_announcement([_speech(2.0, seed=1), _speech(2.0, seed=2), _speech(2.0, seed=1)]),
     "different speech in between"),
    (_announcement([]), "nothing said after the tone"),
])
def test_anything_else_counts_as_none(audio: bytes, why: str) -> None:
    assert repeats_after_tone(audio) == 0, why
