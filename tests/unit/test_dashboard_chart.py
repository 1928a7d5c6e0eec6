"""The share-delivered chart: one labelled line per channel, told apart by more than colour."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

import pytest

from publisher.services.dashboard_series import BUCKET_STEPS, MAX_BUCKETS, bucket_step
from publisher.web.dashboard_chart import BACKGROUND, LINE_STYLES, ChartText, share_chart_svg

SVG = "{http://www.w3.org/2000/svg}"
TEXT = ChartText("Share delivered", "time since publishing ({unit})", "delivered", "nothing yet")


def _luminance(colour: str) -> float:
    def channel(value: int) -> float:
        share = value / 255
        return share / 12.92 if share <= 0.03928 else ((share + 0.055) / 1.055) ** 2.4
    red, green, blue = (int(colour[index:index + 2], 16) for index in (1, 3, 5))
    return 0.2126 * channel(red) + 0.7152 * channel(green) + 0.0722 * channel(blue)


def _contrast(one: str, other: str) -> float:
    lighter, darker = sorted((_luminance(one), _luminance(other)), reverse=True)
    return (lighter + 0.05) / (darker + 0.05)


def test_every_line_contrasts_with_the_ground_and_has_its_own_dashes() -> None:
    assert all(_contrast(style.colour, BACKGROUND) >= 3.0 for style in LINE_STYLES)
    assert len({style.dashes for style in LINE_STYLES}) == len(LINE_STYLES)
    assert len({style.colour for style in LINE_STYLES}) == len(LINE_STYLES)


def test_one_named_line_per_channel_with_labelled_axes() -> None:
    svg = share_chart_svg({
        "sms": {"step_seconds": 2, "points": [[0, 0.0], [4, 0.5], [10, 1.0]]},
        "memory": {"step_seconds": 2, "points": [[0, 0.0], [2, 0.25]]},
    }, TEXT)
    root = ElementTree.fromstring(svg)
    lines = root.findall(f"{SVG}path[@data-channel]")
    assert [line.get("data-channel") for line in lines] == ["memory", "sms"]
    assert len({line.get("stroke-dasharray") for line in lines}) == 2
    texts = [element.text for element in root.iter(f"{SVG}text")]
    assert "time since publishing (s)" in texts
    assert "delivered" in texts
    assert {"memory 25%", "sms 100%"} <= set(texts)
    assert {"0%", "50%", "100%"} <= set(texts)
    assert root.get("role") == "img"


def test_minutes_for_a_longer_span_and_words_from_the_sender_escaped() -> None:
    svg = share_chart_svg({"<b>&": {"step_seconds": 60, "points": [[0, 0.0], [1800, 1.0]]}},
                          TEXT)
    root = ElementTree.fromstring(svg)
    assert "time since publishing (min)" in [element.text for element in root.iter(f"{SVG}text")]
    assert root.find(f"{SVG}path[@data-channel='<b>&']") is not None
    assert "&lt;b&gt;&amp; 100%" in svg
    assert "<b>" not in svg


def test_without_deliveries_the_chart_says_so() -> None:
    root = ElementTree.fromstring(share_chart_svg({}, TEXT))
    assert "nothing yet" in [element.text for element in root.iter(f"{SVG}text")]


@pytest.mark.parametrize(("span", "step"), [(0, 1), (60, 1), (61, 2), (600, 10), (3599, 60),
                                            (86_400, 1800)])
def test_buckets_are_round_and_at_most_sixty(span: float, step: int) -> None:
    assert bucket_step(span) == step
    assert step in BUCKET_STEPS
    assert span / step <= MAX_BUCKETS


def test_a_span_beyond_the_widest_bucket_still_fits_sixty() -> None:
    span = 200 * 86_400
    assert span / bucket_step(span) <= MAX_BUCKETS
