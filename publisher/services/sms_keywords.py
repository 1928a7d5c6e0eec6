"""The keywords a citizen texts to manage a subscription, read into commands.

| text                          | command                                  |
|-------------------------------|------------------------------------------|
| ``DY 朝阳``, ``DY 110105``    | Follow a district too (Chinese)          |
| ``SUB Chaoyang``              | Follow a district too (English)          |
| ``TD 朝阳``, ``STOP 110105``  | Leave that district, keep the others     |
| ``TD`` / ``STOP``             | Unsubscribe from everything              |
| ``EN`` / ``ZH``, ``LANG EN``  | Receive alerts in that language          |

``TD 全部``, ``STOP ALL`` and a stop keyword followed by words like no
district at all unsubscribe from everything too: an opt-out is honoured
however it is worded.

Case, spaces and full-width forms do not matter (full-width DY is DY),
and a keyword needs no space before a Chinese name (``DY朝阳``). Pure: no
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
    "Leave",
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
class Leave:
    """Stop following one district, and keep the others."""

    district: District
    keyword_language: str


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
    leaving: bool = False
    """Named after an unsubscribe keyword (``TD 朝杨``) rather than a subscribe one."""


@dataclass(frozen=True, slots=True)
class NoDistrict:
    """A subscribe keyword with nothing after it."""

    keyword_language: str


@dataclass(frozen=True, slots=True)
class Unrecognised:
    text: str
    keyword_language: str | None = None


Command = (Subscribe | Leave | Unsubscribe | SetLanguage | UnknownDistrict | NoDistrict
           | Unrecognised)

# A keyword, then a space or straight a non-letter (DY朝阳, TD110105), or the end.
_KEYWORD_THEN = r"(?:\s+|(?=[^A-Z\s])|$)(?P<rest>.*)"
_SUBSCRIBE = re.compile(r"(?P<keyword>DY|SUBSCRIBE|SUB)" + _KEYWORD_THEN)
_UNSUBSCRIBE = re.compile(r"(?P<keyword>TD|UNSUBSCRIBE|STOP)" + _KEYWORD_THEN)
_EVERYTHING = {"ALL", "全部"}
_LANGUAGE = re.compile(r"(?:LANG(?:UAGE)?\s*)?(?P<language>EN|ZH)")
_KEYWORD_LANGUAGE = {"DY": CHINESE, "SUB": ENGLISH, "SUBSCRIBE": ENGLISH,
                     "TD": CHINESE, "STOP": ENGLISH, "UNSUBSCRIBE": ENGLISH}


def _normalised(text: str) -> str:
    # NFKC turns full-width letters, digits and the ideographic space into plain ones.
    return " ".join(unicodedata.normalize("NFKC", text).split())


def parse_command(text: str, districts: DistrictNames) -> Command:
    plain = _normalised(text)
    upper = plain.upper()
    if (language := _LANGUAGE.fullmatch(upper)) is not None:
        tag = language_named(language["language"])
        assert tag is not None
        return SetLanguage(tag)
    if (unsubscribe := _UNSUBSCRIBE.fullmatch(upper)) is not None:
        keyword_language = _KEYWORD_LANGUAGE[unsubscribe["keyword"]]
        wanted = plain[unsubscribe.start("rest"):].strip()
        if not wanted or wanted.upper() in _EVERYTHING:
            return Unsubscribe(keyword_language)
        district = districts.find(wanted)
        if district is not None:
            return Leave(district, keyword_language)
        suggestions = tuple(districts.close_to(wanted))
        if not suggestions:
            # "STOP texting me": an opt-out is honoured even when worded freely.
            return Unsubscribe(keyword_language)
        return UnknownDistrict(wanted, suggestions, keyword_language, leaving=True)
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
