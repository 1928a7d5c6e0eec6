"""Text on a board's cell grid: widths, graphemes, line breaks and pages."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from publisher.channels.led_layout import (
    LayoutError,
    cell_width,
    graphemes,
    paginate,
    text_width,
    wrap,
)

LONG_CHINESE = ("停止集会、停课、停业（除特殊行业外）；立即转移低洼危险地带和地下空间人员，"
                "切断低洼地带有危险的室外电源，车辆绕开积水路段行驶。")
LONG_ENGLISH = ("Stop gatherings, classes and business except for special industries; move"
                " people out of low-lying areas and basements at once, and keep away from"
                " flooded roads.")
NO_LINE_START = set("，。、；：！？）】」』》”’…,.;:!?)")  # noqa: RUF001


@pytest.mark.parametrize(("text", "cells"), [
    ("A", 1), ("暴", 2), ("，", 2), ("\uff21", 2), ("e\u0301", 1), ("👍", 2), ("👍🏽", 2),
    ("🇨🇳", 2), ("👨\u200d👩\u200d👧", 2), ("❤\ufe0f", 2), ("❤", 1), ("“", 1),
])
def test_cell_width(text: str, cells: int) -> None:
    [grapheme] = graphemes(text)
    assert cell_width(grapheme) == cells


def test_ambiguous_marks_are_wide_in_chinese_text_only() -> None:
    assert text_width("“暴雨”…") == 1 + 2 + 2 + 1 + 1
    assert text_width("“暴雨”…", ambiguous_wide=True) == 10


@pytest.mark.parametrize(("text", "expected"), [
    ("abc", ["a", "b", "c"]),
    ("cafe\u0301!", ["c", "a", "f", "e\u0301", "!"]),
    ("👍🏽👍", ["👍🏽", "👍"]),
    ("🇨🇳🇺🇸", ["🇨🇳", "🇺🇸"]),
    ("👨\u200d👩\u200d👧x", ["👨\u200d👩\u200d👧", "x"]),
    ("\ud83d\ude00a", ["\ud83d\ude00", "a"]),  # a surrogate pair that slipped through decoding
])
def test_graphemes_keep_what_a_reader_sees_as_one(text: str, expected: list[str]) -> None:
    assert graphemes(text) == expected


@pytest.mark.parametrize(("text", "cells", "expected"), [
    # Exactly full rows stay on their line.
    ("一二三四五六七八九十甲乙", 24, ["一二三四五六七八九十甲乙"]),
    ("abcdefghijklmnopqrstuvwx", 24, ["abcdefghijklmnopqrstuvwx"]),
    ("一二三四五六七八九十甲乙丙", 24, ["一二三四五六七八九十甲乙", "丙"]),
    # English breaks at spaces; runs of whitespace are one space.
    ("Keep away  from\nlow ground", 10, ["Keep away", "from low", "ground"]),
    # A word longer than a line is cut, nowhere else.
    ("a extraordinarily long", 8, ["a", "extraord", "inarily", "long"]),
    # Punctuation never starts a line: the character before it comes along.
    ("一二三四五六七八九十十一，十二", 24, ["一二三四五六七八九十十", "一，十二"]),
    ("一二三四五六七八九十十一。”好", 24, ["一二三四五六七八九十十", "一。”好"]),
    # An opening bracket stays with what follows it.
    ("一二三四五六七八九十十（一）", 24, ["一二三四五六七八九十十", "（一）"]),
    # Mixed: Latin words stay whole, Chinese breaks beside them.
    ("预计降雨量达100mm以上", 12, ["预计降雨量达", "100mm以上"]),
    # Emoji are wide and break like Chinese characters.
    ("⚠️暴雨⚠️预警", 8, ["⚠️暴雨⚠️", "预警"]),
    ("", 24, []),
])
def test_wrap(text: str, cells: int, expected: list[str]) -> None:
    assert wrap(text, cells) == expected


@pytest.mark.parametrize("text", [LONG_CHINESE, LONG_ENGLISH, LONG_CHINESE + LONG_ENGLISH,
                                  "🌧️⚠️" * 20 + "e\u0301" * 30])
@pytest.mark.parametrize("cells", [2, 5, 16, 24, 40])
def test_long_text_fits_every_line_and_loses_nothing(text: str, cells: int) -> None:
    lines = wrap(text, cells, ambiguous_wide=True)
    assert all(text_width(line, ambiguous_wide=True) <= cells for line in lines)
    assert "".join(lines).replace(" ", "") == text.replace(" ", "")


@pytest.mark.parametrize("cells", [16, 24])
def test_long_chinese_keeps_punctuation_off_line_starts(cells: int) -> None:
    lines = wrap(LONG_CHINESE, cells, ambiguous_wide=True)
    assert len(lines) > 3
    assert not [line for line in lines[1:] if line[0] in NO_LINE_START]


@given(st.text(alphabet=st.sampled_from(list("暴雨 red，。a\u0301👍🏽（）“”—")), max_size=80),
       st.integers(min_value=2, max_value=30))
def test_wrapping_never_overflows_nor_splits_a_grapheme(text: str, cells: int) -> None:
    lines = wrap(text, cells)
    assert all(text_width(line) <= cells for line in lines)
    assert [grapheme for line in lines for grapheme in graphemes(line) if grapheme != " "] == \
        [grapheme for grapheme in graphemes(text) if not grapheme.isspace()]


def test_a_board_narrower_than_one_wide_character_is_refused() -> None:
    with pytest.raises(LayoutError) as caught:
        wrap("暴雨", 1)
    assert caught.value.field == "columns"


def test_every_section_starts_a_page_of_its_own() -> None:
    assert paginate([["a", "b", "c"], ["d"], []], 2) == [["a", "b"], ["c"], ["d"]]
    with pytest.raises(LayoutError, match="rows"):
        paginate([["a"]], 0)
