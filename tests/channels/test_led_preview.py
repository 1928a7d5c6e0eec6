"""PNG previews of board pages: the board's geometry, text inside its cells, in its colour."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from publisher.cap.model import Alert, Severity, Status
from publisher.channels.led_layout import text_width
from publisher.channels.led_preview import (
    FONT_PATHS,
    FontNotFoundError,
    page_size,
    preview_pages,
)
from publisher.channels.led_text import read_board, render_board
from publisher.sample_alert import rainstorm_red_warning

LONG_CHINESE = ("停止集会、停课、停业（除特殊行业外）；立即转移低洼危险地带和地下空间人员，"
                "切断低洼地带有危险的室外电源，车辆绕开积水路段行驶；“山区群众”远离河道。")
LONG_ENGLISH = ("Stop gatherings, classes and business except for special industries; move"
                " people out of low-lying areas and basements at once; WWW MMM keep away"
                " from rivers, gullies and flooded roads.")


@pytest.fixture(autouse=True)
def _font() -> None:
    if not any(path.is_file() for path in FONT_PATHS):
        pytest.fail("Noto Sans CJK is missing: install Debian's fonts-noto-cjk",
                    pytrace=False)


def long_warning(**changes: Any) -> Alert:
    alert = rainstorm_red_warning(datetime(2024, 7, 20, 6, tzinfo=UTC), status=Status.ACTUAL)
    return replace(alert, infos=tuple(
        replace(info, instruction=LONG_CHINESE if info.language == "zh-CN" else LONG_ENGLISH,
                **changes)
        for info in alert.infos))


def image(png: bytes) -> Image.Image:
    loaded = Image.open(io.BytesIO(png))
    assert loaded.format == "PNG"
    return loaded.convert("RGB")


def lit_columns(picture: Image.Image, top: int, bottom: int) -> list[int]:
    """The x of every column with a lit pixel between ``top`` and ``bottom``."""
    width = picture.width
    pixels = picture.load()
    return [x for x in range(width)
            if any(sum(pixels[x, y]) > 96 for y in range(top, bottom))]


@pytest.mark.parametrize("capabilities", [
    {"rows": 2, "columns": 12, "languages": ["zh-CN", "en-US"], "max_pages": 50},
    {"rows": 3, "columns": 8, "languages": ["en-US"], "max_pages": 50},
    {"rows": 1, "columns": 16, "max_pages": 50},
    {"rows": 4, "columns": 20, "languages": ["zh-CN", "en-US"], "max_pages": 50},
])
@pytest.mark.parametrize("cell_pixels", [8, 16])
def test_every_page_is_the_board_and_no_text_leaves_its_cells(
        capabilities: dict[str, Any], cell_pixels: int) -> None:
    alert = long_warning()
    board = read_board(capabilities)
    pages = render_board(alert, "zh-CN", board).pages
    pngs = preview_pages(alert, "zh-CN", capabilities, cell_pixels=cell_pixels)
    assert len(pngs) == len(pages) > 3
    row_height = 2 * cell_pixels
    for page, png in zip(pages, pngs, strict=True):
        picture = image(png)
        assert picture.size == (board.cells * cell_pixels, board.rows * row_height)
        assert picture.size == page_size(board, cell_pixels)
        for number, row in enumerate(page.rows):
            columns = lit_columns(picture, number * row_height, (number + 1) * row_height)
            assert columns, f"row {number} of a page is dark: {row!r}"
            width = text_width(row, ambiguous_wide=page.ambiguous_wide) * cell_pixels
            assert max(columns) < width, f"{row!r} is drawn beyond its {width} px"
        assert not lit_columns(picture, len(page.rows) * row_height, picture.height)


def test_text_is_drawn_in_the_warning_colour() -> None:
    for severity, dominant in ((Severity.EXTREME, 0), (Severity.MINOR, 2)):
        alert = long_warning(severity=severity, parameters=())
        picture = image(preview_pages(alert, "zh-CN")[0])
        lit = [pixel for pixel in picture.get_flattened_data() if sum(pixel) > 200]
        assert lit
        assert all(max(range(3), key=pixel.__getitem__) == dominant for pixel in lit)


def test_a_scrolling_board_is_previewed_frame_by_frame_on_its_middle_row() -> None:
    capabilities = {"rows": 3, "columns": 10, "scrolls": True}
    board = read_board(capabilities)
    pngs = preview_pages(long_warning(), "zh-CN", capabilities, cell_pixels=8)
    assert len(pngs) > 5
    for png in pngs:
        picture = image(png)
        assert picture.size == page_size(board, 8)
        assert not lit_columns(picture, 0, 16)
        assert lit_columns(picture, 16, 32)
        assert not lit_columns(picture, 32, 48)


def test_without_a_cjk_font_the_error_says_what_to_install(tmp_path: Path) -> None:
    with pytest.raises(FontNotFoundError) as caught:
        preview_pages(long_warning(), "zh-CN", font_path=tmp_path / "missing.ttc")
    assert caught.value.field == "font"
    assert "fonts-noto-cjk" in str(caught.value)
