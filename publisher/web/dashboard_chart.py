"""The share delivered over time as an SVG chart, drawn on the server: no script, no CDN.

One line per channel, from publishing (0 %) to what was delivered by the
end of each time bucket. Lines differ in colour, each dark enough for 3:1
against the white ground (WCAG's contrast for graphics), and in dash
pattern, so that they can be told apart in grey or by a colour-blind
reader; each is named in the legend and at its end.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

__all__ = ["BACKGROUND", "LINE_STYLES", "ChartText", "LineStyle", "share_chart_svg"]

BACKGROUND = "#ffffff"
_AXIS = "#333333"
_GRID = "#d9d9d9"
_FONT = "system-ui, 'Noto Sans CJK SC', 'Microsoft YaHei', sans-serif"


@dataclass(frozen=True, slots=True)
class LineStyle:
    colour: str
    dashes: str  # an SVG stroke-dasharray; "none" for a solid line


LINE_STYLES = (
    LineStyle("#0057a8", "none"),
    LineStyle("#b3470c", "9 4"),
    LineStyle("#00704f", "2 3"),
    LineStyle("#111111", "10 3 2 3"),
    LineStyle("#7a3e9d", "5 5"),
    LineStyle("#8a6500", "12 3 3 3 3 3"),
)


@dataclass(frozen=True, slots=True)
class ChartText:
    """The chart's words in the reader's language; ``x_axis`` has a ``{unit}`` to fill."""

    title: str
    x_axis: str
    y_axis: str
    empty: str


@dataclass(frozen=True, slots=True)
class _Frame:
    width: int = 640
    height: int = 300
    left: int = 56
    right: int = 120
    top: int = 40
    bottom: int = 48

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> int:
        return self.height - self.top - self.bottom

    def x(self, seconds: float, span: float) -> float:
        return round(self.left + self.plot_width * seconds / span, 1)

    def y(self, share: float) -> float:
        return round(self.top + self.plot_height * (1 - share), 1)


_UNITS = ((3600, "h"), (60, "min"), (1, "s"))
_TICK_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 21_600, 43_200,
               86_400)
_X_TICKS = 6
_LABEL_GAP = 13


def _unit(span: float) -> tuple[int, str]:
    return next((size, name) for size, name in _UNITS if span >= 2 * size or size == 1)


def _x_ticks(span: float) -> list[float]:
    step = next((step for step in _TICK_STEPS if span / step <= _X_TICKS), _TICK_STEPS[-1])
    return [tick * step for tick in range(int(span // step) + 1)]


def _tick_label(seconds: float, unit: int) -> str:
    value = seconds / unit
    return f"{value:g}" if value == int(value) else f"{value:.1f}"


def _text(x: float, y: float, content: str, **attributes: Any) -> str:
    shown = " ".join(f"{name.replace('_', '-')}={quoteattr(str(value))}"
                     for name, value in attributes.items())
    return f'<text x="{x}" y="{y}" {shown}>{escape(content)}</text>'


def _axes(frame: _Frame, span: float, text: ChartText) -> list[str]:
    unit, unit_name = _unit(span)
    bottom, right = frame.top + frame.plot_height, frame.left + frame.plot_width
    parts = []
    for share in (0.0, 0.25, 0.5, 0.75, 1.0):
        y = frame.y(share)
        parts.append(f'<line x1="{frame.left}" y1="{y}" x2="{right}" y2="{y}" stroke="{_GRID}"/>')
        parts.append(_text(frame.left - 6, y + 4, f"{share:.0%}", text_anchor="end"))
    for seconds in _x_ticks(span):
        x = frame.x(seconds, span)
        parts.append(f'<line x1="{x}" y1="{bottom}" x2="{x}" y2="{bottom + 5}" stroke="{_AXIS}"/>')
        parts.append(_text(x, bottom + 18, _tick_label(seconds, unit), text_anchor="middle"))
    parts.append(f'<path d="M{frame.left},{frame.top} V{bottom} H{right}" fill="none"'
                 f' stroke="{_AXIS}"/>')
    parts.append(_text(frame.left + frame.plot_width / 2, frame.height - 8,
                       text.x_axis.format(unit=unit_name), text_anchor="middle"))
    parts.append(_text(14, frame.top + frame.plot_height / 2, text.y_axis, text_anchor="middle",
                       transform=f"rotate(-90 14 {frame.top + frame.plot_height / 2})"))
    return parts


def _points(series: Mapping[str, Any]) -> list[tuple[float, float]]:
    return [(float(seconds), float(share)) for seconds, share in series["points"]]


def _label_heights(ends: Sequence[float]) -> list[float]:
    """The end labels' heights, moved apart where lines end close together."""
    order = sorted(range(len(ends)), key=lambda index: ends[index])
    placed = list(ends)
    for before, after in itertools.pairwise(order):
        placed[after] = max(placed[after], placed[before] + _LABEL_GAP)
    return placed


def _lines(frame: _Frame, span: float, channels: Sequence[tuple[str, list[tuple[float, float]]]]
           ) -> list[str]:
    parts, ends = [], []
    right = frame.left + frame.plot_width
    for index, (name, points) in enumerate(channels):
        style = LINE_STYLES[index % len(LINE_STYLES)]
        path = " ".join(f"{'M' if number == 0 else 'L'}{frame.x(seconds, span)},{frame.y(share)}"
                        for number, (seconds, share) in enumerate(points))
        last = points[-1][1]
        parts.append(f'<path d="{path} H{right}" fill="none" stroke="{style.colour}"'
                     f' stroke-width="2.5" stroke-dasharray="{style.dashes}"'
                     f' data-channel={quoteattr(name)}><title>{escape(name)}: {last:.0%}'
                     f'</title></path>')
        ends.append(frame.y(last) + 4)
    for (name, points), y, index in zip(channels, _label_heights(ends), range(len(channels)),
                                        strict=True):
        colour = LINE_STYLES[index % len(LINE_STYLES)].colour
        parts.append(_text(right + 6, y, f"{name} {points[-1][1]:.0%}", fill=colour))
    return parts


def _legend(frame: _Frame, names: Sequence[str]) -> list[str]:
    parts, x = [], frame.left
    for index, name in enumerate(names):
        style = LINE_STYLES[index % len(LINE_STYLES)]
        parts.append(f'<line x1="{x}" y1="28" x2="{x + 28}" y2="28" stroke="{style.colour}"'
                     f' stroke-width="2.5" stroke-dasharray="{style.dashes}"/>')
        parts.append(_text(x + 34, 32, name))
        x += 44 + 8 * len(name)
    return parts


def share_chart_svg(series: Mapping[str, Mapping[str, Any]], text: ChartText) -> str:
    """The chart of ``series`` (channel -> ``{"step_seconds", "points"}``, as the dashboard has)."""
    frame = _Frame()
    channels = [(name, _points(series[name])) for name in sorted(series)]
    span = max([seconds for _, points in channels for seconds, _ in points]
               + [float(found["step_seconds"]) for found in series.values()] + [1.0])
    body = [_text(frame.left, 16, text.title, font_weight="bold")]
    body += _axes(frame, span, text)
    if channels:
        body += _legend(frame, [name for name, _ in channels]) + _lines(frame, span, channels)
    else:
        body.append(_text(frame.left + frame.plot_width / 2, frame.top + frame.plot_height / 2,
                          text.empty, text_anchor="middle"))
    return (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {frame.width} {frame.height}"'
            f' width="{frame.width}" height="{frame.height}" role="img"'
            f' aria-label={quoteattr(text.title)} font-family="{_FONT}" font-size="12"'
            f' fill="{_AXIS}"><rect width="100%" height="100%" fill="{BACKGROUND}"/>'
            + "".join(body) + "</svg>")
