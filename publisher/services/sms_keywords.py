"""The keywords a citizen texts to manage a subscription, read into commands.

| text                          | command                                  |
|-------------------------------|------------------------------------------|
| ``DY 朝阳``, ``DY 110105``    | Subscribe to a district (Chinese)        |
| ``SUB Chaoyang``              | Subscribe to a district (English)        |
| ``TD`` / ``STOP``             | Unsubscribe from everything              |
| ``EN`` / ``ZH``, ``LANG EN``  | Receive alerts in that language          |

Case, spaces and full-width forms do not matter (full-width DY is DY),
and ``DY`` needs no space before a Chinese name (``DY朝阳``). Pure: no
database, no I/O; the service that applies a command is
``publisher.services.subscriber_commands``.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from publisher.cap.districts import District
from publisher.services.district_names import DistrictNames
from publisher.services.languages import CHINESE, ENGLISH, language_named

__all__ = [
    "Command",
    "NoDistrict",
    "SetLanguage",
    "Subscribe",
    "UnknownDistrict",
    "Unrecognised",
    "Unsubscribe",
    "parse_command",
]


@dataclass(frozen=True, slots=True)
class Subscribe:
    district: District
    keyword_language: str
    """The language the keyword is in: the language of a new subscriber."""


@dataclass(frozen=True, slots=True)
class Unsubscribe:
    keyword_language: str


@dataclass(frozen=True, slots=True)
class SetLanguage:
    language: str

    @property
    def keyword_language(self) -> str:
        return self.language


@dataclass(frozen=True, slots=True)
class UnknownDistrict:
    wanted: str
    suggestions: tuple[District, ...]
    keyword_language: str


@dataclass(frozen=True, slots=True)
class NoDistrict:
    """A subscribe keyword with nothing after it."""

    keyword_language: str


@dataclass(frozen=True, slots=True)
class Unrecognised:
    text: str
    keyword_language: str | None = None


Command = Subscribe | Unsubscribe | SetLanguage | UnknownDistrict | NoDistrict | Unrecognised

_SUBSCRIBE = re.compile(r"(?P<keyword>DY|SUBSCRIBE|SUB)(?:\s+|(?=[^A-Z\s])|$)(?P<rest>.*)")
_UNSUBSCRIBE = {"TD": CHINESE, "STOP": ENGLISH, "UNSUBSCRIBE": ENGLISH}
_LANGUAGE = re.compile(r"(?:LANG(?:UAGE)?\s*)?(?P<language>EN|ZH)")
_KEYWORD_LANGUAGE = {"DY": CHINESE, "SUB": ENGLISH, "SUBSCRIBE": ENGLISH}


def _normalised(text: str) -> str:
    # NFKC turns full-width letters, digits and the ideographic space into plain ones.
    return " ".join(unicodedata.normalize("NFKC", text).split())


def parse_command(text: str, districts: DistrictNames) -> Command:
    plain = _normalised(text)
    upper = plain.upper()
    if upper in _UNSUBSCRIBE:
        return Unsubscribe(_UNSUBSCRIBE[upper])
    if (language := _LANGUAGE.fullmatch(upper)) is not None:
        tag = language_named(language["language"])
        assert tag is not None
        return SetLanguage(tag)
    if (subscribe := _SUBSCRIBE.fullmatch(upper)) is None:
        return Unrecognised(plain)
    keyword_language = _KEYWORD_LANGUAGE[subscribe["keyword"]]
    wanted = plain[subscribe.start("rest"):].strip()
    if not wanted:
        return NoDistrict(keyword_language)
    district = districts.find(wanted)
    if district is None:
        return UnknownDistrict(wanted, tuple(districts.close_to(wanted)), keyword_language)
    return Subscribe(district, keyword_language)
