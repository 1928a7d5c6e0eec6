"""Districts as people write them: ``朝阳``, ``朝阳区``, ``Chaoyang``, ``110105``.

A text is folded before it is looked up (full-width forms made plain, case
and spaces ignored), so full-width CHAOYANG and ``chao yang`` name Chaoyang too.
"""

from __future__ import annotations

import difflib
import unicodedata

from publisher.cap.districts import District, DistrictTable

__all__ = ["DistrictNames", "fold"]

SUGGESTIONS = 3
_SIMILAR_ENOUGH = 0.5
# A Chinese name is also written without its level: 朝阳 for 朝阳区, 北京 for 北京市.
_LEVEL_SUFFIXES = ("区", "市", "县")
_ENGLISH_LEVELS = ("district", "city")


def fold(text: str) -> str:
    """Full-width forms made plain, case folded, every space removed."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def _labels(district: District) -> set[str]:
    labels = {district.code, fold(district.name_zh), fold(district.name_en)}
    labels |= {fold(district.name_zh)[:-1] for suffix in _LEVEL_SUFFIXES
               if district.name_zh.endswith(suffix) and len(district.name_zh) > 2}
    labels |= {fold(f"{district.name_en} {level}") for level in _ENGLISH_LEVELS}
    return labels


class DistrictNames:
    """Finds a district by its code or any of its names; suggests the close ones otherwise."""

    def __init__(self, table: DistrictTable) -> None:
        self.table = table
        self._by_label = {label: district for district in table for label in _labels(district)}

    def find(self, text: str) -> District | None:
        return self._by_label.get(fold(text))

    def close_to(self, text: str) -> list[District]:
        """Up to three districts whose code or a name looks like ``text``, closest first."""
        close = difflib.get_close_matches(fold(text), self._by_label, n=len(self._by_label),
                                          cutoff=_SIMILAR_ENOUGH)
        found = dict.fromkeys(self._by_label[label] for label in close)
        return list(found)[:SUGGESTIONS]
