"""The full run's chart: the share delivered over time, one line per channel (PNG, Pillow).

The x axis is seconds since the first phase was enqueued; the y axis the
share of that channel's deliveries over the whole run (all phases). Dashed
vertical lines mark when each later phase was enqueued.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

__all__ = ["PLOT_SIZE", "draw_delivered"]

PLOT_SIZE = (1200, 700)
_MARGIN_LEFT, _MARGIN_RIGHT, _MARGIN_TOP, _MARGIN_BOTTOM = 80, 200, 50, 60
_COLOURS = ((31, 119, 180), (214, 39, 40), (44, 160, 44), (255, 127, 14), (148, 103, 189),
            (140, 86, 75))
_GRID = (225, 225, 225)
_INK = (0, 0, 0)
_TICKS = 10
_FONT_SIZE = 14
# Points a line keeps at most: a million deliveries would draw no better than this.
_MAX_POINTS = 2000


def _nice_step(span: float) -> float:
    """A round tick step (1, 2 or 5 times a power of ten) giving about ``_TICKS`` ticks."""
    raw = span / _TICKS
    power = 10.0 ** math.floor(math.log10(raw))
    return next(factor * power for factor in (1, 2, 5, 10) if raw <= factor * power)


def draw_delivered(path: Path, title: str, lines: Mapping[str, Sequence[float]],
                   totals: Mapping[str, int], phases: Sequence[tuple[str, float]]) -> None:
    """Write the chart to ``path``: ``lines`` are each channel's delivery times (seconds since
    the run began, sorted), ``totals`` the deliveries each channel had to make."""
    width, height = PLOT_SIZE
    image = Image.new("RGB", PLOT_SIZE, "white")
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=_FONT_SIZE)
    left, right = _MARGIN_LEFT, width - _MARGIN_RIGHT
    top, bottom = _MARGIN_TOP, height - _MARGIN_BOTTOM
    end = max([1.0, *(times[-1] for times in lines.values() if times),
               *(moment for _, moment in phases)])

    def x_of(seconds: float) -> float:
        return left + (right - left) * seconds / end

    def y_of(share: float) -> float:
        return bottom - (bottom - top) * share

    step = _nice_step(end)
    tick = 0.0
    while tick <= end:
        draw.line([(x_of(tick), top), (x_of(tick), bottom)], fill=_GRID)
        draw.text((x_of(tick), bottom + 8), f"{tick:g}", fill=_INK, font=font, anchor="mt")
        tick += step
    for percent in range(0, 101, 10):
        draw.line([(left, y_of(percent / 100)), (right, y_of(percent / 100))], fill=_GRID)
        draw.text((left - 8, y_of(percent / 100)), f"{percent}%", fill=_INK, font=font,
                  anchor="rm")
    for name, moment in phases:
        for y in range(top, bottom, 12):
            draw.line([(x_of(moment), y), (x_of(moment), min(y + 6, bottom))], fill=_INK)
        draw.text((x_of(moment) + 4, top + 4), name, fill=_INK, font=font)
    for number, (channel, times) in enumerate(lines.items()):
        colour = _COLOURS[number % len(_COLOURS)]
        total = max(1, totals[channel])
        points = [(x_of(0), y_of(0))]
        every = max(1, len(times) // _MAX_POINTS)
        kept = [*range(every - 1, len(times), every), len(times) - 1] if times else []
        for index in kept:
            # Steps, not slopes: nothing was delivered between two deliveries.
            x, y = x_of(times[index]), y_of((index + 1) / total)
            points.extend([(x, points[-1][1]), (x, y)])
        points.append((right, points[-1][1]))
        draw.line(points, fill=colour, width=2)
        legend_y = top + 20 * number
        draw.line([(right + 15, legend_y + 6), (right + 40, legend_y + 6)], fill=colour, width=3)
        draw.text((right + 48, legend_y), f"{channel} ({totals[channel]:,})", fill=_INK,
                  font=font)
    draw.rectangle([left, top, right, bottom], outline=_INK)
    draw.text((width // 2, 15), title, fill=_INK, font=font, anchor="mt")
    draw.text(((left + right) // 2, height - 20), "seconds since the Alert was enqueued",
              fill=_INK, font=font, anchor="mm")
    draw.text((10, top - 30), "delivered", fill=_INK, font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, "PNG")
