"""The languages a subscriber can receive alerts in, and the ways people name them."""

from __future__ import annotations

import unicodedata

__all__ = ["CHINESE", "DEFAULT_LANGUAGE", "ENGLISH", "LANGUAGES", "language_named"]

CHINESE = "zh-CN"
ENGLISH = "en-US"
LANGUAGES = (CHINESE, ENGLISH)
DEFAULT_LANGUAGE = CHINESE

_NAMES = {
    "zh": CHINESE, "zh-cn": CHINESE, "zh_cn": CHINESE, "中文": CHINESE, "chinese": CHINESE,
    "en": ENGLISH, "en-us": ENGLISH, "en_us": ENGLISH, "英文": ENGLISH, "english": ENGLISH,
}


def language_named(text: str) -> str | None:
    """The language tag ``text`` names (``ZH``, ``en-US``, ``中文`` ...), or None."""
    return _NAMES.get(unicodedata.normalize("NFKC", text).strip().casefold())
