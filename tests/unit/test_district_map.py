"""The area picker: one shape and one real checkbox per district, the chosen ones marked."""

from __future__ import annotations

import re
from xml.etree import ElementTree

import pytest

from publisher.cap.districts import load_districts
from publisher.config import load_paths
from publisher.services.errors import InvalidInput
from publisher.web.district_map import MAP_SCRIPT_PATH, render_district_map_svg

TABLE = load_districts(load_paths().districts_file)
DISTRICTS = sorted(district.code for district in TABLE if district.level == "district")
SVG = "{http://www.w3.org/2000/svg}"


def svg_of(html: str) -> ElementTree.Element:
    return ElementTree.fromstring(re.search(r"<svg.*</svg>", html, re.DOTALL)[0])


def checkboxes(html: str) -> list[dict[str, str]]:
    return [dict(re.findall(r'(\w+)(?:="([^"]*)")?', tag))
            for tag in re.findall(r"<input [^>]*>", html)]


def test_sixteen_districts_each_a_shape_and_a_checkbox() -> None:
    html = str(render_district_map_svg([], "zh-CN"))
    shapes = svg_of(html).findall(f".//{SVG}path")
    assert len(DISTRICTS) == 16
    assert [shape.get("data-code") for shape in shapes] == DISTRICTS
    boxes = checkboxes(html)
    assert [(box["type"], box["name"], box["value"]) for box in boxes] == \
        [("checkbox", "districts", code) for code in DISTRICTS]


@pytest.mark.parametrize(("language", "names"), [
    ("zh-CN", {"110105": "朝阳区", "110108": "海淀区"}),
    ("en-US", {"110105": "Chaoyang", "110108": "Haidian"}),
])
def test_each_shape_is_labelled_in_the_language(language: str, names: dict[str, str]) -> None:
    html = str(render_district_map_svg([], language))
    svg = svg_of(html)
    titles = {shape.get("data-code"): shape.find(f"{SVG}title").text
              for shape in svg.findall(f".//{SVG}path")}
    labels = [text.text for text in svg.findall(f".//{SVG}text")]
    for code, name in names.items():
        assert titles[code] == name
        assert name in labels
        assert re.search(rf'value="{code}"> {name}</label>', html)


@pytest.mark.parametrize("selected", [[], ["110105"], ["110105", "110108", "110119"]])
def test_the_selected_districts_are_checked_and_highlighted(selected: list[str]) -> None:
    html = str(render_district_map_svg(selected, "en-US", field_name="area_districts"))
    checked = [box["value"] for box in checkboxes(html) if "checked" in box]
    highlighted = [shape.get("data-code") for shape in svg_of(html).findall(f".//{SVG}path")
                   if "selected" in (shape.get("class") or "").split()]
    assert checked == highlighted == selected
    assert {box["name"] for box in checkboxes(html)} == {"area_districts"}


def test_codes_of_no_district_on_the_map_check_nothing() -> None:
    html = str(render_district_map_svg(["110000", "999999"], "zh-CN"))
    assert not [box for box in checkboxes(html) if "checked" in box]


def test_every_shape_lies_inside_the_box() -> None:
    svg = svg_of(str(render_district_map_svg([], "zh-CN")))
    _, _, width, height = map(float, svg.get("viewBox").split())
    for shape in svg.findall(f".//{SVG}path"):
        numbers = [float(number) for number in re.findall(r"[\d.]+", shape.get("d"))]
        xs, ys = numbers[0::2], numbers[1::2]
        assert min(xs) >= 0 and max(xs) <= width and min(ys) >= 0 and max(ys) <= height


def test_north_is_up_and_east_is_right() -> None:
    svg = svg_of(str(render_district_map_svg([], "zh-CN")))
    label = {text.text: (float(text.get("x")), float(text.get("y")))
             for text in svg.findall(f".//{SVG}text")}
    # Yanqing lies north-west of Daxing, Pinggu east of Haidian.
    assert label["延庆区"][1] < label["大兴区"][1] and label["延庆区"][0] < label["大兴区"][0]
    assert label["平谷区"][0] > label["海淀区"][0]


def test_the_script_that_toggles_checkboxes_is_the_apps_own() -> None:
    assert f'<script src="{MAP_SCRIPT_PATH}" defer></script>' in \
        str(render_district_map_svg([], "zh-CN"))


def test_an_unknown_language_is_refused_naming_it() -> None:
    with pytest.raises(InvalidInput) as refused:
        render_district_map_svg([], "fr-FR")
    assert refused.value.field == "lang"
