"""What a board shows for an alert: sections, pages, colour, languages, expiry."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from publisher.cap.model import Alert, MsgType, NamedValue, Severity, Status
from publisher.channels.led_layout import LayoutError, text_width
from publisher.channels.led_text import (
    NO_LEVEL_COLOUR,
    Board,
    read_board,
    render_board,
    warning_colour,
)
from publisher.sample_alert import rainstorm_red_warning

SENT = datetime(2024, 7, 20, 6, 0, tzinfo=UTC)
BILINGUAL = Board(languages=("zh-CN", "en-US"))


def red_warning(status: Status = Status.EXERCISE, **changes: Any) -> Alert:
    alert = rainstorm_red_warning(SENT, status=status)
    return replace(alert, infos=tuple(replace(info, **changes) for info in alert.infos))


def rows(board_pages: tuple[Any, ...]) -> list[list[str]]:
    return [list(page.rows) for page in board_pages]


def test_a_chinese_board_shows_headline_then_instruction_then_area_in_red() -> None:
    shown = render_board(red_warning(Status.ACTUAL), "zh-CN", Board())
    assert rows(shown.pages) == [
        ["北京市气象台发布暴雨红色", "预警信号"],
        ["停止集会、停课、停业；远", "离低洼地带和地下空间。"],
        ["范围：北京市朝阳区"],
    ]
    assert shown.colour == "red"
    assert shown.scroll is False
    assert shown.languages == ("zh-CN",)
    assert shown.expires == SENT + timedelta(hours=6)


def test_exercise_and_update_are_marked_on_the_board() -> None:
    exercise = render_board(red_warning(), "zh-CN", Board())
    assert exercise.pages[0].rows[0].startswith("【演练】")
    update = render_board(replace(red_warning(Status.TEST), msg_type=MsgType.UPDATE),
                          "en-US", Board())
    assert update.pages[0].rows[0] == "TEST - Update: Beijing"


def test_a_bilingual_board_shows_its_first_language_then_the_other() -> None:
    shown = render_board(red_warning(Status.ACTUAL), "en-US", BILINGUAL)
    assert shown.languages == ("en-US", "zh-CN")
    languages = [page.language for page in shown.pages]
    assert languages == sorted(languages, key=lambda language: language != "en-US")
    assert shown.pages[0].rows == ("Beijing Meteorological", "Observatory issues a red")
    assert shown.pages[-1].rows == ("范围：北京市朝阳区",)


def test_a_board_shows_only_languages_the_alert_has() -> None:
    alert = red_warning(Status.ACTUAL)
    chinese_only = replace(alert, infos=alert.infos[:1])
    shown = render_board(chinese_only, "en-US", BILINGUAL)
    assert shown.languages == ("zh-CN",)
    # A one-language board whose language the alert lacks shows what there is.
    assert render_board(chinese_only, "en-US", Board()).languages == ("zh-CN",)


def test_the_area_is_left_out_when_it_would_pass_the_page_budget() -> None:
    roomy = render_board(red_warning(), "zh-CN", Board(rows=1, columns=9, max_pages=50))
    assert roomy.pages[-1].rows == ("范围：北京市朝阳区",)
    just = render_board(red_warning(), "zh-CN",
                        Board(rows=1, columns=9, max_pages=len(roomy.pages)))
    assert just == roomy
    tight = render_board(red_warning(), "zh-CN",
                         Board(rows=1, columns=9, max_pages=len(roomy.pages) - 1))
    assert tight.pages == roomy.pages[:-1]
    # Headline and instruction are shown whole, whatever the budget.
    tiny = render_board(red_warning(), "zh-CN", Board(rows=1, columns=4, max_pages=1))
    assert "".join(row for page in tiny.pages for row in page.rows) == \
        "【演练】北京市气象台发布暴雨红色预警信号停止集会、停课、停业；远离低洼地带和地下空间。"


@pytest.mark.parametrize(("language", "columns"), [("zh-CN", 12), ("en-US", 12), ("zh-CN", 5),
                                                   ("en-US", 7), ("zh-CN", 20)])
def test_long_text_fits_the_board(language: str, columns: int) -> None:
    long_instruction = "；".join(["停止集会、停课、停业（除特殊行业外）",
                                 "Keep away from low ground and basements"] * 4)
    board = Board(rows=3, columns=columns, max_pages=50)
    shown = render_board(red_warning(instruction=long_instruction), language, board)
    assert len(shown.pages) > 3
    for page in shown.pages:
        assert 1 <= len(page.rows) <= 3
        assert all(text_width(row, ambiguous_wide=page.ambiguous_wide) <= columns * 2
                   for row in page.rows)


def test_a_scrolling_board_gets_one_line() -> None:
    shown = render_board(red_warning(Status.ACTUAL), "zh-CN",
                         replace(BILINGUAL, scrolls=True))
    assert shown.scroll is True
    [page] = shown.pages
    [line] = page.rows
    assert line.startswith("北京市气象台发布暴雨红色预警信号  停止集会")
    assert line.endswith("Area: Chaoyang District, Beijing")


@pytest.mark.parametrize(("parameters", "severity", "colour"), [
    ((NamedValue("warningColor", "Orange"),), Severity.SEVERE, "orange"),
    ((), Severity.EXTREME, "red"),
    ((), Severity.SEVERE, "orange"),
    ((), Severity.MODERATE, "yellow"),
    ((), Severity.MINOR, "blue"),
    ((), Severity.UNKNOWN, NO_LEVEL_COLOUR),
    ((NamedValue("warningColor", "purple"),), Severity.MINOR, "blue"),
])
def test_the_colour_is_the_warning_level(parameters: tuple[NamedValue, ...],
                                         severity: Severity, colour: str) -> None:
    info = red_warning(parameters=parameters, severity=severity).infos[0]
    assert warning_colour(info) == colour


def test_a_board_without_the_colour_shows_its_first() -> None:
    shown = render_board(red_warning(), "zh-CN", Board(colours=("yellow", "green")))
    assert shown.colour == "yellow"


def test_a_cancel_has_nothing_to_show() -> None:
    with pytest.raises(LayoutError) as caught:
        render_board(replace(red_warning(), msg_type=MsgType.CANCEL), "zh-CN", Board())
    assert caught.value.field == "msg_type"


def test_an_alert_without_headline_or_event_is_refused() -> None:
    with pytest.raises(LayoutError) as caught:
        render_board(red_warning(headline=" ", event=""), "zh-CN", Board())
    assert caught.value.field == "headline"


def test_the_event_stands_in_for_a_missing_headline() -> None:
    shown = render_board(red_warning(Status.ACTUAL, headline=None), "zh-CN", Board())
    assert shown.pages[0].rows == ("暴雨",)


def test_capabilities_fill_in_from_the_default_board() -> None:
    board = read_board({"rows": 3, "languages": ["zh-CN"]}, Board(columns=10, max_pages=4))
    assert board == Board(rows=3, columns=10, languages=("zh-CN",), max_pages=4)
    assert board.cells == 20


@pytest.mark.parametrize(("capabilities", "field"), [
    ({"rows": 0}, "capabilities.rows"),
    ({"columns": "12"}, "capabilities.columns"),
    ({"columns": True}, "capabilities.columns"),
    ({"rows": 1.5}, "capabilities.rows"),
    ({"scrolls": "yes"}, "capabilities.scrolls"),
    ({"colours": []}, "capabilities.colours"),
    ({"languages": "zh-CN"}, "capabilities.languages"),
    ({"page_seconds": -1}, "capabilities.page_seconds"),
])
def test_capabilities_a_board_cannot_have_are_refused(capabilities: dict[str, Any],
                                                      field: str) -> None:
    with pytest.raises(LayoutError) as caught:
        read_board(capabilities)
    assert caught.value.field == field
