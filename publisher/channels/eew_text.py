"""The standard words of an earthquake early warning, and each district's own version of it.

Every early warning says the same thing, so its words are fixed in advance:
破坏性地震预警 / earthquake early warning, take cover now, with only the
magnitude and the seconds until the S-wave filled in as text. Speakers play
one recording of the fixed words (``EEW_SCRIPTS``, synthesised before any
quake: ``SpeakerChannel.prepare_eew_audio``) and get the numbers as text
beside it; boards, SMS, WeChat and terminals get the filled-in headline.

``for_district`` gives the message as one district sees it: its headline
with that district's countdown, and of the ``EEW_COUNTDOWN`` parameters only
its own.
"""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

from publisher.cap.eew import COUNTDOWN, Quake, countdowns_of, quake_of
from publisher.cap.model import Alert, Info, MsgType, Status

__all__ = [
    "EEW_SCRIPTS",
    "EEW_SOURCE",
    "EEW_STATUSES",
    "INTERRUPT",
    "eew_headline",
    "eew_instruction",
    "eew_script_text",
    "for_district",
    "is_interrupting",
]

# The ``priority`` a board or speaker is pushed an early warning with: it drops
# what it shows or plays for it (docs/protocols/led.md, speaker.md).
INTERRUPT = "interrupt"
# What the recordings of the fixed words are cached under, instead of a message's digest.
EEW_SOURCE = "eew-standard"

# The statuses an early warning goes out with, each with its own recording.
EEW_STATUSES = (Status.ACTUAL, Status.EXERCISE, Status.TEST)

_HEADLINES = MappingProxyType({
    "zh-CN": ("破坏性地震预警：{magnitude}级地震", "，约{seconds}秒后到达"),
    "en-US": ("Earthquake early warning: magnitude {magnitude}",
              ", shaking in about {seconds} s"),
})
_INSTRUCTIONS = MappingProxyType({"zh-CN": "立即就近避险！", "en-US": "Take cover now!"})
EEW_SCRIPTS = MappingProxyType({"zh-CN": "破坏性地震预警！立即就近避险！",
                                "en-US": "Earthquake early warning! Take cover now!"})
_MARKERS = MappingProxyType({
    Status.EXERCISE: {"zh-CN": "这是演练信息。", "en-US": "This is an exercise."},
    Status.TEST: {"zh-CN": "这是测试信息。", "en-US": "This is a test."},
})


def _language(language: str) -> str:
    return language if language in _HEADLINES else "en-US"


def eew_headline(language: str, quake: Quake, seconds: int | None) -> str:
    first, countdown = _HEADLINES[_language(language)]
    text = first.format(magnitude=quake.magnitude_text)
    return text if seconds is None else text + countdown.format(seconds=seconds)


def eew_instruction(language: str) -> str:
    return _INSTRUCTIONS[_language(language)]


def eew_script_text(language: str, status: Status) -> str:
    """The fixed words a speaker says, marked before and after when it is no real quake."""
    words = EEW_SCRIPTS[_language(language)]
    markers = _MARKERS.get(status)
    if markers is None:
        return words
    marker = markers[_language(language)]
    return f"{marker}{words}{marker}"


def is_interrupting(alert: Alert) -> bool:
    """A first early warning or its Update drops what a device is showing or playing."""
    return alert.msg_type is not MsgType.CANCEL and any(
        info.parameter(COUNTDOWN) is not None for info in alert.infos)


def _local_info(info: Info, district: str | None) -> Info:
    countdowns = countdowns_of(info.parameters)
    seconds = countdowns.get(district) if district is not None else None
    kept = tuple(parameter for parameter in info.parameters
                 if parameter.value_name != COUNTDOWN
                 or parameter.value.partition("=")[0].strip() == district)
    return replace(info, headline=eew_headline(info.language, quake_of(info), seconds),
                   parameters=kept)


def for_district(alert: Alert, district: str | None) -> Alert:
    """``alert`` as ``district`` gets it; unchanged when it is no early warning."""
    if not is_interrupting(alert):
        return alert
    return replace(alert, infos=tuple(_local_info(info, district) for info in alert.infos))
