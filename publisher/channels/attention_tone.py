"""The attention tone a speaker plays before an announcement: a two-note chime.

A falling pair of bell-like notes (each struck and fading away) is what
public-address systems in stations and squares use before a message, so
people recognise it and listen. It is generated, not shipped as a file, at
the sample rate of the speech it is joined to.
"""

from __future__ import annotations

import math
import sys
from array import array

__all__ = ["CHIME_NOTES", "attention_tone", "silence"]

# (frequency in Hz, seconds): a major third down, the "ding-dong" of a station chime.
CHIME_NOTES: tuple[tuple[float, float], ...] = ((880.0, 0.25), (698.5, 0.35))
_PEAK = 0.6 * 32767  # well below full scale: the speech that follows must not sound faint
_DECAY_PER_SECOND = 6.0  # a bell's fade: about -50 dB by the end of a 1 s note
_ATTACK_SECONDS = 0.005  # a strike, but without the click of a hard edge


def _note(frequency: float, seconds: float, sample_rate: int) -> array[int]:
    frames = round(seconds * sample_rate)
    attack = max(1, round(_ATTACK_SECONDS * sample_rate))
    samples = array("h")
    for index in range(frames):
        time = index / sample_rate
        envelope = min(1.0, index / attack) * math.exp(-_DECAY_PER_SECOND * time)
        samples.append(round(_PEAK * envelope * math.sin(2 * math.pi * frequency * time)))
    return samples


def attention_tone(sample_rate: int) -> bytes:
    """The chime as 16-bit little-endian mono frames at ``sample_rate``."""
    if sample_rate <= 0:
        raise ValueError(f"sample_rate: {sample_rate} is not a positive rate")
    samples = array("h")
    for frequency, seconds in CHIME_NOTES:
        samples.extend(_note(frequency, seconds, sample_rate))
    return _little_endian(samples)


def silence(seconds: float, sample_rate: int) -> bytes:
    """``seconds`` of 16-bit mono silence."""
    return bytes(2 * round(seconds * sample_rate))


def _little_endian(samples: array[int]) -> bytes:
    if sys.byteorder == "big":  # WAV frames are little-endian whatever the machine
        samples.byteswap()
    return samples.tobytes()
