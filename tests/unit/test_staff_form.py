"""The compose form: its content both ways, and which field a CAP error path belongs to."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.cap.districts import load_districts
from publisher.services.alert_templates import load_alert_templates
from publisher.services.errors import InvalidInput
from publisher.web.staff_form import (
    content_of,
    form_field,
    form_of_content,
    form_of_template,
    typed_event_matches,
)
from publisher.web.staff_text import TEXT

CONFIG = Path(__file__).resolve().parents[2] / "config"
DISTRICTS = {district.code: district for district in load_districts(CONFIG / "districts.toml")}
NOW = datetime(2026, 11, 28, 14, 0, 30, tzinfo=UTC)


@pytest.mark.parametrize(("path", "field"), [
    ("info[0]/headline", "headline_zh"),
    ("info[1]/instruction", "instruction_en"),
    ("info[1]/senderName", "sender_en"),
    ("info[0]/expires", "expires"),
    ("info[0]/parameter[0]", "level"),
    ("info[0]/severity", "level"),
    ("info[0]/area[0]/polygon[0]", "polygon"),
    ("info[0]/area[0]/circle[1]", "circle"),
    ("info[0]/area[0]/geocode[0]", "districts"),
    ("info[0]/area[0]", "districts"),
    ("status", "status"),
    ("level", "level"),
    ("", "form"),
    (None, "form"),
    ("identifier", "form"),
])
def test_an_error_path_names_its_form_field(path: str | None, field: str) -> None:
    assert form_field(path) == field


def test_a_template_fills_the_form_in_beijing_time() -> None:
    template = load_alert_templates(CONFIG).get("rainstorm-red")
    assert template is not None
    values = form_of_template(template, NOW)
    assert values["effective"] == "2026-11-28T22:01"
    assert values["expires"] == "2026-11-29T04:01"
    assert (values["level"], values["status"], values["event_en"]) == ("red", "Actual",
                                                                       "Rainstorm")


def test_content_and_form_agree_both_ways() -> None:
    template = load_alert_templates(CONFIG).get("chemical-leak-orange")
    assert template is not None
    values = form_of_template(template, NOW) | {
        "districts": ["110105", "110108"],
        "polygon": "39.95,116.45 40.0,116.52 39.93,116.58 39.95,116.45",
        "circle": "39.9,116.4 5.0"}
    content = content_of(values, DISTRICTS)
    chinese, english = content["info"]
    assert chinese["severity"] == "Severe"
    assert chinese["effective"] == "2026-11-28T22:01:00+08:00"
    assert chinese["area"][0]["areaDesc"] == "朝阳区、海淀区"
    assert english["area"][0]["areaDesc"] == "Chaoyang, Haidian"
    assert english["area"][0]["circle"] == [{"center": {"lat": 39.9, "lon": 116.4},
                                             "radiusKm": 5.0}]
    back = form_of_content(content)
    assert {name: back[name] for name in values if name != "template"} == \
        {name: value for name, value in values.items() if name != "template"}


def test_an_empty_english_column_adds_no_english_block() -> None:
    template = load_alert_templates(CONFIG).get("heat-orange")
    assert template is not None
    values = form_of_template(template, NOW) | {
        name: "" for name in ("event_en", "sender_en", "headline_en", "description_en",
                              "instruction_en")}
    assert [info["language"] for info in content_of(values, DISTRICTS)["info"]] == ["zh-CN"]


@pytest.mark.parametrize(("changes", "field"), [
    ({"effective": "tomorrow"}, "effective"),
    ({"level": ""}, "level"),
    ({"polygon": "39.9;116.4"}, "polygon"),
    ({"circle": "39.9,116.4"}, "circle"),
])
def test_what_the_form_cannot_read_names_its_field(changes: dict[str, str], field: str) -> None:
    template = load_alert_templates(CONFIG).get("rainstorm-blue")
    assert template is not None
    with pytest.raises(InvalidInput) as refused:
        content_of(form_of_template(template, NOW) | changes, DISTRICTS)
    assert form_field(refused.value.field) == field


def test_the_typed_event_matches_either_language() -> None:
    content = {"info": [{"event": "暴雨"}, {"event": "Rainstorm"}]}
    assert typed_event_matches(" rainstorm ", content)
    assert typed_event_matches("暴雨", content)
    assert not typed_event_matches("", content)
    assert not typed_event_matches("暴雪", content)


def test_the_pages_speak_both_languages_with_the_same_words() -> None:
    chinese, english = TEXT.values()
    assert set(chinese) == set(english)
