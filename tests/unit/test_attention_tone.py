"""The attention chime: its length, loudness and notes at any sample rate."""

from __future__ import annotations

import itertools
import math
from array import array

import pytest

from publisher.channels.attention_tone import CHIME_NOTES, attention_tone, silence


def samples(frames: bytes) -> array[int]:
    return array("h", frames)


@pytest.mark.parametrize("sample_rate", [8_000, 22_050, 44_100])
def test_the_chime_lasts_its_notes_at_the_rate(sample_rate: int) -> None:
    tone = samples(attention_tone(sample_rate))
    expected = sum(round(seconds * sample_rate) for _, seconds in CHIME_NOTES)
    assert len(tone) == expected


def test_the_chime_is_loud_without_clipping() -> None:
    tone = samples(attention_tone(22_050))
    peak = max(abs(sample) for sample in tone)
    rms = math.sqrt(sum(sample * sample for sample in tone) / len(tone)) / 32768
    assert 0.5 * 32767 < peak < 32767
    assert rms > 0.1


def test_each_note_rings_at_its_frequency() -> None:
    rate = 22_050
    tone = samples(attention_tone(rate))
    start = 0
    for frequency, seconds in CHIME_NOTES:
        length = round(seconds * rate)
        note = tone[start:start + length]
        crossings = sum(1 for left, right in itertools.pairwise(note)
                        if left < 0 <= right)
        assert crossings / seconds == pytest.approx(frequency, rel=0.02)
        start += length


def test_a_strike_starts_without_a_click() -> None:
    tone = samples(attention_tone(22_050))
    assert abs(tone[0]) == 0 and abs(tone[1]) < 2000


def test_silence_is_zero_frames_of_its_length() -> None:
    assert silence(0.5, 22_050) == bytes(2 * 11_025)


def test_a_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="sample_rate: 0"):
        attention_tone(0)
