"""Text on a grid of character cells: how wide it is, where lines break, how it pages.

An LED board shows a fixed number of rows of cells. A Latin letter or digit
takes one cell; a Chinese character, a full-width mark or an emoji takes
two (Unicode East Asian Width W or F). Characters of ambiguous width (the
quotes “”, the ellipsis, ℃) take two cells in Chinese text, where the board
draws them in its CJK font, and one elsewhere.

Text is measured and broken in user-perceived characters (graphemes): a
base character with its combining marks, an emoji with its modifiers,
variation selectors and zero-width joiners, a flag's pair of regional
indicators, a surrogate pair that slipped through decoding. A grapheme is
never split across lines.

Lines break at spaces in Latin text and between any two wide characters in
Chinese text. Closing punctuation (，。、）” ...) stays at the end of the line
before it rather than starting a line, and opening brackets stay with what
follows them; only a unit wider than a whole line is cut, between graphemes.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Iterator, Sequence

__all__ = [
    "LayoutError",
    "cell_width",
    "graphemes",
    "paginate",
    "text_width",
    "wrap",
]

WIDE_CELLS = 2
_ZERO_WIDTH_JOINER = "\u200d"
# Never at the start of a line (kinsoku): closing marks and sentence ends, full-width
# and ASCII alike, which is why they look like each other.
_NO_LINE_START = frozenset("，。、；：！？）】」』》〉〕］｝”’…‥·—％,.;:!?)]}%")  # noqa: RUF001
# Never at the end of a line: opening brackets and quotes.
_NO_LINE_END = frozenset("（【「『《〈〔［｛“‘([{")  # noqa: RUF001


class LayoutError(ValueError):
    """A layout that cannot be made; ``field`` names what is wrong."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _extends(previous: str, char: str) -> bool:
    """Whether ``char`` belongs to the grapheme that ends with ``previous``."""
    code = ord(char)
    if _ZERO_WIDTH_JOINER in (previous, char):
        return True
    if unicodedata.combining(char) or unicodedata.category(char) in ("Mn", "Me", "Mc"):
        return True
    if 0xFE00 <= code <= 0xFE0F or 0xE0100 <= code <= 0xE01EF:  # variation selectors
        return True
    if 0x1F3FB <= code <= 0x1F3FF or 0xE0020 <= code <= 0xE007F:  # skin tones, flag tags
        return True
    # A low surrogate after a high one: a pair decoded with "surrogatepass".
    return 0xDC00 <= code <= 0xDFFF and 0xD800 <= ord(previous) <= 0xDBFF


def _regional_indicator(char: str) -> bool:
    return 0x1F1E6 <= ord(char) <= 0x1F1FF


def graphemes(text: str) -> list[str]:
    """``text`` in user-perceived characters."""
    found: list[str] = []
    for char in text:
        if found and (_extends(found[-1][-1], char) or _pairs_flag(found[-1], char)):
            found[-1] += char
        else:
            found.append(char)
    return found


def _pairs_flag(grapheme: str, char: str) -> bool:
    return len(grapheme) == 1 and _regional_indicator(grapheme) and _regional_indicator(char)


def cell_width(grapheme: str, *, ambiguous_wide: bool = False) -> int:
    """How many cells one grapheme takes: 1, or 2 for a wide one."""
    first = grapheme[0]
    if "\ufe0f" in grapheme or _regional_indicator(first):
        return WIDE_CELLS  # emoji presentation, flags
    width = unicodedata.east_asian_width(first)
    if width in ("W", "F") or (width == "A" and ambiguous_wide):
        return WIDE_CELLS
    return 1


def text_width(text: str, *, ambiguous_wide: bool = False) -> int:
    """How many cells ``text`` takes on one line."""
    return sum(cell_width(grapheme, ambiguous_wide=ambiguous_wide)
               for grapheme in graphemes(text))


def _units(text: str, ambiguous_wide: bool) -> Iterator[str]:
    """Unbreakable pieces and single spaces: Latin words, one wide grapheme each."""
    word = ""
    for grapheme in graphemes(text):
        space = grapheme.isspace()
        if space or cell_width(grapheme, ambiguous_wide=ambiguous_wide) > 1:
            if word:
                yield word
                word = ""
            yield " " if space else grapheme
        else:
            word += grapheme
    if word:
        yield word


def _kept_together(units: Iterable[str]) -> list[str]:
    """Closing marks joined to the unit before them, opening ones to the unit after."""
    joined: list[str] = []
    for unit in units:
        previous = joined[-1] if joined else " "
        if previous != " " and (unit[0] in _NO_LINE_START or previous[-1] in _NO_LINE_END):
            joined[-1] = previous + unit
        else:
            joined.append(unit)
    return joined


def _cut(unit: str, cells: int, ambiguous_wide: bool) -> Iterator[tuple[str, int]]:
    """A unit wider than a line, in pieces that fit one; each with its width."""
    piece, width = "", 0
    for grapheme in graphemes(unit):
        grapheme_width = cell_width(grapheme, ambiguous_wide=ambiguous_wide)
        if width + grapheme_width > cells and piece:
            yield piece, width
            piece, width = "", 0
        piece += grapheme
        width += grapheme_width
    if piece:
        yield piece, width


def wrap(text: str, cells: int, *, ambiguous_wide: bool = False) -> list[str]:
    """``text`` broken into lines of at most ``cells`` cells; whitespace runs become one space."""
    if cells < WIDE_CELLS:
        raise LayoutError("columns", f"{cells} cells cannot hold a wide character")
    lines: list[str] = []
    line, width, space = "", 0, False
    for unit in _kept_together(_units(text, ambiguous_wide)):
        if unit == " ":
            space = bool(line)
            continue
        unit_width = text_width(unit, ambiguous_wide=ambiguous_wide)
        gap = 1 if space else 0
        space = False
        if width + gap + unit_width <= cells:
            line, width = f"{line}{' ' * gap}{unit}", width + gap + unit_width
            continue
        if line:
            lines.append(line)
        line, width = "", 0
        for piece, piece_width in _cut(unit, cells, ambiguous_wide):
            if line:
                lines.append(line)
            line, width = piece, piece_width
    if line:
        lines.append(line)
    return lines


def paginate(sections: Sequence[Sequence[str]], rows: int) -> list[list[str]]:
    """Lines in pages of ``rows``; each section (a list of lines) starts on a page of its own."""
    if rows < 1:
        raise LayoutError("rows", f"{rows} is not a positive number of rows")
    return [list(lines[start:start + rows])
            for lines in sections for start in range(0, len(lines), rows)]
