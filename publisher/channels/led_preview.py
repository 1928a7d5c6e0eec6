"""PNG previews of an LED board's pages, as the board shows them, for the composer.

Each page is drawn on the board's own cell grid: coloured text on black,
``cell_pixels`` wide per cell and two cells high per row, so a Chinese
character fills a square and the image of a 2 x 12 board is 384 x 64
pixels at the default 16. Every grapheme is drawn inside its own cells, in
Noto Sans CJK (Debian's ``fonts-noto-cjk``). A scrolling board is previewed
as the frames a reader sees one after the other, on its middle row.
"""

from __future__ import annotations

import functools
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image, ImageDraw, ImageFont

from publisher.cap.model import Alert
from publisher.channels.led_layout import cell_width, graphemes, wrap
from publisher.channels.led_text import Board, Page, read_board, render_board

__all__ = [
    "DEFAULT_CELL_PIXELS",
    "FONT_PATHS",
    "FontNotFoundError",
    "page_size",
    "preview_message",
    "preview_pages",
]

DEFAULT_CELL_PIXELS = 16
# Where distributions install Noto Sans CJK; the first that exists is used.
FONT_PATHS = (
    Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"),  # Debian fonts-noto-cjk
    Path("/usr/share/fonts/noto-cjk/NotoSansCJK-Regular.ttc"),  # Arch, Fedora
    Path("/usr/share/fonts/google-noto-cjk/NotoSansCJK-Regular.ttc"),
)
# The face of the collection drawn with: simplified Chinese glyph shapes.
_FACE = "Noto Sans CJK SC"
_RGB = {"red": (255, 32, 32), "orange": (255, 140, 0), "yellow": (255, 214, 0),
        "blue": (48, 128, 255), "green": (0, 220, 80), "white": (235, 235, 235)}
_BLACK = (0, 0, 0)
_GLYPH_SHARE = 0.85  # of the row's height: LED fonts leave a little gap between rows


class FontNotFoundError(FileNotFoundError):
    """No CJK font to draw with; ``field`` is "font"."""

    field = "font"


def page_size(board: Board, cell_pixels: int = DEFAULT_CELL_PIXELS) -> tuple[int, int]:
    """Width and height in pixels of one page of ``board``."""
    return board.cells * cell_pixels, board.rows * 2 * cell_pixels


def _font_path(font_path: Path | None) -> Path:
    candidates = (font_path,) if font_path is not None else FONT_PATHS
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return candidate
    raise FontNotFoundError(f"font: no Noto Sans CJK at {', '.join(map(str, candidates))};"
                            " install Debian's fonts-noto-cjk or give the font's path")


@functools.cache
def _face_index(path: Path) -> int:
    """The index of the simplified Chinese face in a collection (0 for a single font)."""
    index = 0
    while True:
        try:
            font = ImageFont.truetype(str(path), 12, index=index)
        except OSError:
            return 0
        if font.getname()[0] == _FACE:
            return index
        index += 1


@functools.cache
def _font(path: Path, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(path), size, index=_face_index(path))


@dataclass(frozen=True, slots=True)
class _Painter:
    board: Board
    colour: tuple[int, int, int]
    cell_pixels: int
    font_path: Path

    def png(self, page: Page, first_row: int = 0) -> bytes:
        image = Image.new("RGB", page_size(self.board, self.cell_pixels), _BLACK)
        for number, row in enumerate(page.rows, start=first_row):
            self._row(image, row, number * 2 * self.cell_pixels, page.ambiguous_wide)
        output = io.BytesIO()
        image.save(output, format="PNG")
        return output.getvalue()

    def _row(self, image: Image.Image, row: str, top: int, ambiguous_wide: bool) -> None:
        height = 2 * self.cell_pixels
        font = _font(self.font_path, int(height * _GLYPH_SHARE))
        left = 0
        for grapheme in graphemes(row):
            box = cell_width(grapheme, ambiguous_wide=ambiguous_wide) * self.cell_pixels
            width = max(box, math.ceil(font.getlength(grapheme)))
            glyph = Image.new("L", (width, height), 0)
            ImageDraw.Draw(glyph).text((width / 2, height / 2), grapheme, fill=255, font=font,
                                       anchor="mm")
            # A glyph wider than its cells (W, M in one cell) is condensed, as LED fonts are.
            image.paste(self.colour, (left, top), glyph.resize((box, height)))
            left += box


def _frames(page: Page, board: Board) -> list[Page]:
    """A scrolling line as the successive board-wide stretches a reader sees."""
    return [Page(page.language, (stretch,))
            for row in page.rows
            for stretch in wrap(row, board.cells, ambiguous_wide=page.ambiguous_wide)]


def preview_message(pages: Sequence[Page], colour: str, board: Board, *,
                    cell_pixels: int = DEFAULT_CELL_PIXELS,
                    font_path: Path | None = None) -> list[bytes]:
    """One PNG per page (per frame, for a scrolling board) of what ``board`` shows."""
    painter = _Painter(board, _RGB.get(colour, _RGB["white"]), cell_pixels,
                       _font_path(font_path))
    if board.scrolls:
        return [painter.png(frame, first_row=(board.rows - 1) // 2)
                for page in pages for frame in _frames(page, board)]
    return [painter.png(page) for page in pages]


def preview_pages(alert: Alert, language: str, capabilities: Mapping[str, Any] | None = None,
                  *, cell_pixels: int = DEFAULT_CELL_PIXELS,
                  font_path: Path | None = None) -> list[bytes]:
    """PNGs of the pages a board with ``capabilities`` shows for ``alert``, ``language`` first.

    Capabilities a board omits are those of a 2 x 12 board in one
    language. Raises ``led_layout.LayoutError`` for an alert a board cannot
    show, and FontNotFoundError without a CJK font.
    """
    board = read_board(capabilities or {})
    message = render_board(alert, language, board)
    return preview_message(message.pages, message.colour, board, cell_pixels=cell_pixels,
                           font_path=font_path)
