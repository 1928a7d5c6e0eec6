"""Simulated LED boards that speak docs/protocols/led.md, many in one process.

A board checks a ``show`` against its capabilities, as a board's controller
would: a colour it lacks, more rows than it has, or a row wider than its
cells (``led_layout.text_width``: a Chinese character takes two) is refused
with 400 naming the page and row. It then shows the message, replacing one
with the same identifier and every one the push's ``references`` name (an
Update). A ``clear`` takes down what its references name (a Cancel). A
message leaves the board at its ``expires``. A board may show several
alerts at once, and cycles through them; a ``show`` with ``"priority":
"interrupt"`` (an earthquake early warning) is shown alone, the others held
back until it leaves the board.

``state`` (``GET /devices/<id>/state``) is what a board shows now:
``{"device_id", "showing": [{"identifier", "delivery", "colour", "pages",
"scroll", "page_seconds", "expires", "since", "interrupting"}], "held":
[...]}``, oldest first: ``held`` is what an interrupting message keeps off the
board.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from publisher.channels.led_layout import text_width
from publisher.sim.device_fleet import SimulatedDevice
from publisher.sim.device_sim import (
    DeviceSimConfig,
    DeviceSimulator,
    MessageError,
    interrupts,
    parse_time,
)

__all__ = ["LED_CAPABILITIES", "LedBoardSimulator", "Shown"]

# A two-row board of twelve Chinese characters that shows both languages.
LED_CAPABILITIES: Mapping[str, Any] = MappingProxyType({
    "rows": 2, "columns": 12,
    "colours": ["red", "orange", "yellow", "blue", "green", "white"],
    "scrolls": False, "languages": ["zh-CN", "en-US"]})


@dataclass(frozen=True, slots=True)
class Shown:
    """One message on a board."""

    identifier: str
    delivery: str
    colour: str
    pages: tuple[tuple[str, ...], ...]
    scroll: bool
    page_seconds: float
    expires: datetime | None
    since: datetime
    interrupting: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"identifier": self.identifier, "delivery": self.delivery,
                "colour": self.colour, "pages": [list(page) for page in self.pages],
                "scroll": self.scroll, "page_seconds": self.page_seconds,
                "expires": None if self.expires is None else self.expires.isoformat(),
                "since": self.since.isoformat(), "interrupting": self.interrupting}


def _pages(value: Any) -> tuple[tuple[str, ...], ...]:
    if not isinstance(value, list) or not value:
        raise MessageError("pages", "must be a non-empty list of pages")
    pages = []
    for number, page in enumerate(value):
        if not isinstance(page, list) or not page or not all(isinstance(row, str)
                                                             for row in page):
            raise MessageError(f"pages[{number}]", "must be a non-empty list of rows of text")
        pages.append(tuple(page))
    return tuple(pages)


def _check_fit(pages: Sequence[Sequence[str]], scroll: bool,
               capabilities: Mapping[str, Any]) -> None:
    if scroll:
        if not capabilities.get("scrolls"):
            raise MessageError("scroll", "this board does not scroll")
        if len(pages) != 1 or len(pages[0]) != 1:
            raise MessageError("pages", "a scrolling message is one page of one row")
        return
    rows, cells = int(capabilities["rows"]), 2 * int(capabilities["columns"])
    for number, page in enumerate(pages):
        if len(page) > rows:
            raise MessageError(f"pages[{number}]", f"{len(page)} rows; the board has {rows}")
        for row_number, row in enumerate(page):
            width = text_width(row)
            if width > cells:
                raise MessageError(f"pages[{number}][{row_number}]",
                                   f"{width} cells; the board has {cells} a row")


class LedBoardSimulator(DeviceSimulator):
    kind = "led"
    actions = MappingProxyType({"show": "displaying", "clear": "cleared"})

    def __init__(self, config: DeviceSimConfig, devices: Sequence[SimulatedDevice]) -> None:
        super().__init__(config, devices)
        self._boards: dict[str, dict[str, Shown]] = {device_id: {} for device_id in self.devices}

    def capabilities(self, device: SimulatedDevice) -> Mapping[str, Any]:
        return {**LED_CAPABILITIES, **device.capabilities}

    def accept(self, device: SimulatedDevice, message: Mapping[str, Any]) -> None:
        board = self._on_air(device.device_id)
        references = message.get("references", [])
        if message["action"] == "clear":
            if not references:
                raise MessageError("references", "name the messages to clear")
            for identifier in references:
                board.pop(identifier, None)
            return
        shown = self._shown(device, message)
        for identifier in (*references, shown.identifier):
            board.pop(identifier, None)
        board[shown.identifier] = shown

    def _shown(self, device: SimulatedDevice, message: Mapping[str, Any]) -> Shown:
        capabilities = self.capabilities(device)
        colour = message.get("colour")
        if not isinstance(colour, str) or colour not in capabilities["colours"]:
            raise MessageError("colour", f"{colour!r} is not one of this board's colours"
                                         f" ({', '.join(capabilities['colours'])})")
        scroll = message.get("scroll", False)
        if not isinstance(scroll, bool):
            raise MessageError("scroll", f"{scroll!r} is not true or false")
        page_seconds = message.get("page_seconds")
        if isinstance(page_seconds, bool) or not isinstance(page_seconds, int | float) \
                or page_seconds <= 0:
            raise MessageError("page_seconds", f"{page_seconds!r} is not a positive number")
        pages = _pages(message.get("pages"))
        _check_fit(pages, scroll, capabilities)
        return Shown(identifier=message["identifier"], delivery=message["delivery"],
                     colour=colour, pages=pages, scroll=scroll,
                     page_seconds=float(page_seconds),
                     expires=parse_time(message.get("expires"), "expires"),
                     since=datetime.now(UTC), interrupting=interrupts(message))

    def _on_air(self, device_id: str) -> dict[str, Shown]:
        """The board's messages, once those past their ``expires`` have left it."""
        board = self._boards[device_id]
        now = datetime.now(UTC)
        for identifier in [identifier for identifier, shown in board.items()
                           if shown.expires is not None and shown.expires <= now]:
            del board[identifier]
        return board

    def board(self, device_id: str) -> list[Shown]:
        """What the board shows now, oldest first: an interrupting message alone."""
        on_air = list(self._on_air(device_id).values())
        interrupting = [shown for shown in on_air if shown.interrupting]
        return interrupting or on_air

    def state(self, device_id: str) -> dict[str, Any]:
        shown = self.board(device_id)
        return {"device_id": device_id,
                "showing": [each.as_json() for each in shown],
                "held": [each.as_json() for each in self._on_air(device_id).values()
                         if each not in shown]}

    def showing(self, device_id: str) -> list[str]:
        return list(self._on_air(device_id))
