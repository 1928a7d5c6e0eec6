"""What an LED board shows for an alert: its pages, in which colour, until when.

A jinja2 template per language (``templates/led.<language>.j2``) writes the
board's text as sections, one a line: the headline first (marked when it is
an Exercise, a Test or an Update), then the instruction, then the area.
Each section is wrapped to the board's width (``led_layout``) and starts on
a page of its own, so that a reader never sees the end of one and the start
of the next together. The area is shown only while the pages of a language
stay within the board's page budget (``max_pages``); the headline and the
instruction are always shown whole, however many pages they take.

A board that scrolls gets all of it as one line instead.

A board that shows one language gets the alert in that language. A
bilingual board shows its first language's pages, then the next's: every
language it lists that the alert has an info block for.

The colour is the warning level's: the municipal ``warningColor`` parameter,
else the colour of the info's severity (Extreme red, Severe orange, Moderate
yellow, Minor blue); an alert without a level is shown in white. A board
that lacks that colour shows it in its first one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from publisher.cap.model import Alert, Info, MsgType, Status
from publisher.cap.municipal import SEVERITY_OF_WARNING_COLOR, WARNING_COLOR_NAME
from publisher.channels.led_layout import LayoutError, paginate, wrap
from publisher.channels.plain_templates import template_for
from publisher.channels.sms_text import choose_info

__all__ = [
    "COLOURS",
    "NO_LEVEL_COLOUR",
    "Board",
    "BoardMessage",
    "Page",
    "read_board",
    "render_board",
    "warning_colour",
]

COLOURS = ("red", "orange", "yellow", "blue", "green", "white")
NO_LEVEL_COLOUR = "white"
# Languages whose boards draw ambiguous-width marks (“”…℃) in a CJK font, two cells wide.
_EAST_ASIAN = frozenset({"zh", "ja", "ko"})
_FALLBACK_TEMPLATE_LANGUAGE = "en-US"
_SCROLL_SEPARATOR = "  "


@dataclass(frozen=True, slots=True)
class Board:
    """A board's geometry and habits; ``columns`` counts Chinese characters (two cells each)."""

    rows: int = 2
    columns: int = 12
    colours: tuple[str, ...] = COLOURS
    scrolls: bool = False
    languages: tuple[str, ...] = ()  # none listed: the target's language only
    max_pages: int = 6
    page_seconds: float = 5.0

    @property
    def cells(self) -> int:
        return self.columns * 2


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a board: its rows, in one language (a scrolling line: its first)."""

    language: str
    rows: tuple[str, ...]

    @property
    def ambiguous_wide(self) -> bool:
        """Whether marks like “” and … take two cells here (``led_layout.cell_width``)."""
        return _primary(self.language) in _EAST_ASIAN


@dataclass(frozen=True, slots=True)
class BoardMessage:
    """What one board is told to show: pages of rows, or one page of one line to scroll."""

    colour: str
    pages: tuple[Page, ...]
    scroll: bool
    page_seconds: float
    expires: datetime | None
    languages: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class _Wording:
    """What a template is given; the template decides the words around it."""

    kind: str
    marker: str | None
    headline: str
    instruction: str | None
    areas: tuple[str, ...] = ()


def _positive(values: Mapping[str, Any], key: str, default: Any, where: str,
              kind: type[int] | type[float]) -> Any:
    value = values.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0 \
            or (kind is int and not isinstance(value, int)):
        noun = "a whole number" if kind is int else "a number"
        raise LayoutError(f"{where}.{key}", f"{value!r} is not {noun} above 0")
    return kind(value)


def _names(values: Mapping[str, Any], key: str, default: tuple[str, ...],
           where: str) -> tuple[str, ...]:
    value = values.get(key, default)
    if not isinstance(value, list | tuple) or not all(isinstance(item, str) for item in value):
        raise LayoutError(f"{where}.{key}", f"{value!r} is not a list of names")
    return tuple(value)


def read_board(values: Mapping[str, Any], default: Board = Board(),
               where: str = "capabilities") -> Board:
    """A board from capabilities (or channel options), what they omit from ``default``.

    Raises LayoutError naming ``where`` and the key at fault.
    """
    scrolls = values.get("scrolls", default.scrolls)
    if not isinstance(scrolls, bool):
        raise LayoutError(f"{where}.scrolls", f"{scrolls!r} is not true or false")
    colours = _names(values, "colours", default.colours, where)
    if not colours:
        raise LayoutError(f"{where}.colours", "a board shows at least one colour")
    return Board(
        rows=_positive(values, "rows", default.rows, where, int),
        columns=_positive(values, "columns", default.columns, where, int),
        colours=colours, scrolls=scrolls,
        languages=_names(values, "languages", default.languages, where),
        max_pages=_positive(values, "max_pages", default.max_pages, where, int),
        page_seconds=_positive(values, "page_seconds", default.page_seconds, where, float))


def warning_colour(info: Info) -> str:
    """The colour of the info's warning level: its warningColor, else its severity's."""
    named = (info.parameter(WARNING_COLOR_NAME) or "").strip().lower()
    if named in SEVERITY_OF_WARNING_COLOR:
        return named
    for colour, severity in SEVERITY_OF_WARNING_COLOR.items():
        if severity is info.severity:
            return colour
    return NO_LEVEL_COLOUR


def _primary(language: str) -> str:
    return language.split("-", 1)[0].casefold()


def _single_line(text: str | None) -> str:
    return " ".join((text or "").split())


def _wording(alert: Alert, info: Info) -> _Wording:
    if alert.msg_type is MsgType.CANCEL:
        raise LayoutError("msg_type", "a Cancel clears the board: it has no pages to show")
    headline = _single_line(info.headline) or _single_line(info.event)
    if not headline:
        raise LayoutError("headline", f"alert {alert.identifier}: the {info.language} info"
                                      " block has neither a headline nor an event")
    areas = tuple(dict.fromkeys(_single_line(area.area_desc) for area in info.areas
                                if area.area_desc.strip()))
    return _Wording(kind="update" if alert.msg_type is MsgType.UPDATE else "alert",
                    marker={Status.EXERCISE: "exercise", Status.TEST: "test"}.get(alert.status),
                    headline=headline, instruction=_single_line(info.instruction) or None,
                    areas=areas)


def _sections(info: Info, wording: _Wording) -> list[str]:
    text = template_for("led", info.language, _FALLBACK_TEMPLATE_LANGUAGE).render(
        text=wording)
    return [line.strip() for line in text.splitlines() if line.strip()]


def _pages(info: Info, wording: _Wording, board: Board) -> list[Page]:
    wide = Page(info.language, ()).ambiguous_wide
    pages = paginate([wrap(section, board.cells, ambiguous_wide=wide)
                      for section in _sections(info, wording)], board.rows)
    if len(pages) > board.max_pages and wording.areas:
        return _pages(info, replace(wording, areas=()), board)
    return [Page(info.language, tuple(rows)) for rows in pages]


def _infos(alert: Alert, language: str, board: Board) -> list[Info]:
    """The info blocks the board shows, ``language``'s first, then its other languages'."""
    wanted = sorted(board.languages or (language,),
                    key=lambda item: _primary(item) != _primary(language))
    chosen: list[Info] = []
    for item in wanted:
        info = choose_info(alert, item)
        if _primary(info.language) == _primary(item) and info not in chosen:
            chosen.append(info)
    return chosen or [choose_info(alert, language)]


def render_board(alert: Alert, language: str, board: Board) -> BoardMessage:
    """What ``board``, whose first language is ``language``, shows for ``alert``.

    Raises LayoutError (with its field) for an alert a board cannot show: a
    Cancel, or one with nothing to say.
    """
    infos = _infos(alert, language, board)
    colour = warning_colour(infos[0])
    if colour not in board.colours:
        colour = board.colours[0]
    if board.scrolls:
        line = _SCROLL_SEPARATOR.join(section for info in infos
                                      for section in _sections(info, _wording(alert, info)))
        pages = [Page(infos[0].language, (line,))]
    else:
        pages = [page for info in infos for page in _pages(info, _wording(alert, info), board)]
    expiries = [info.expires for info in infos if info.expires is not None]
    return BoardMessage(colour=colour, pages=tuple(pages),
                        scroll=board.scrolls, page_seconds=board.page_seconds,
                        expires=min(expiries, default=None),
                        languages=tuple(info.language for info in infos))
