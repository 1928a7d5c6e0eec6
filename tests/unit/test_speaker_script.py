"""What speakers say: the script per language, message type and status."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from publisher.cap.model import Alert, Info, MsgType, NamedValue, Status
from publisher.channels.base import PermanentChannelError
from publisher.channels.speaker_script import render_script
from publisher.channels.speech import SpeechScript
from publisher.sample_alert import rainstorm_red_warning

SENT = datetime(2024, 7, 20, 6, 0, tzinfo=UTC)
ZH_WARNING = ("请注意！这里是北京市气象台。 北京市气象台发布暴雨红色预警信号。"
              " 预警区域：北京市朝阳区。 停止集会、停课、停业；远离低洼地带和地下空间。")
EN_WARNING = ("Attention, please. This is Beijing Meteorological Observatory."
              " Beijing Meteorological Observatory issues a red rainstorm warning."
              " Area: Chaoyang District, Beijing."
              " Stop gatherings, classes and business; keep away from low ground and basements.")


def warning(msg_type: MsgType = MsgType.ALERT, status: Status = Status.ACTUAL) -> Alert:
    return replace(rainstorm_red_warning(SENT, status=status), msg_type=msg_type)


def with_infos(alert: Alert, **changes: Any) -> Alert:
    return replace(alert, infos=tuple(replace(info, **changes) for info in alert.infos))


@pytest.mark.parametrize(("msg_type", "status", "language", "expected"), [
    (MsgType.ALERT, Status.ACTUAL, "zh-CN", ZH_WARNING),
    (MsgType.ALERT, Status.ACTUAL, "en-US", EN_WARNING),
    (MsgType.UPDATE, Status.ACTUAL, "zh-CN",
     ZH_WARNING.replace("北京市气象台。 ", "北京市气象台。 预警更新。 ", 1)),
    (MsgType.UPDATE, Status.ACTUAL, "en-US",
     EN_WARNING.replace("Observatory. ", "Observatory. Updated warning. ", 1)),
    (MsgType.ALERT, Status.EXERCISE, "zh-CN", f"这是演练信息。 {ZH_WARNING} 这是演练信息。"),
    (MsgType.ALERT, Status.TEST, "en-US", f"This is a test. {EN_WARNING} This is a test."),
    (MsgType.CANCEL, Status.ACTUAL, "zh-CN",
     "预警解除。这里是北京市气象台。 北京市朝阳区暴雨红色预警已解除。"),
    (MsgType.CANCEL, Status.ACTUAL, "en-US",
     "All clear. This is Beijing Meteorological Observatory."
     " The red Rainstorm warning for Chaoyang District, Beijing, is lifted."),
    (MsgType.CANCEL, Status.EXERCISE, "en-US",
     "This is an exercise. All clear. This is Beijing Meteorological Observatory."
     " The red Rainstorm warning for Chaoyang District, Beijing, is lifted."
     " This is an exercise."),
])
def test_scripts(msg_type: MsgType, status: Status, language: str, expected: str) -> None:
    assert render_script(warning(msg_type, status), language) == SpeechScript(language, expected)


@pytest.mark.parametrize(("listener", "spoken"), [
    ("zh-CN", "zh-CN"), ("zh-TW", "zh-CN"), ("en-GB", "en-US"), ("EN-us", "en-US"),
    # No info in the listener's language: the Chinese one, as for SMS.
    ("fr-FR", "zh-CN"),
])
def test_the_script_is_in_the_language_of_the_info_it_reads(listener: str, spoken: str) -> None:
    assert render_script(warning(), listener).language == spoken


def test_an_info_in_a_language_without_template_is_read_in_the_english_frame() -> None:
    alert = warning()
    french = replace(alert.infos[1], language="fr-FR", headline="Alerte rouge pluie",
                     instruction="Restez chez vous.")
    script = render_script(replace(alert, infos=(french,)), "fr-FR")
    assert script.language == "en-US"
    assert "Alerte rouge pluie." in script.text and "Restez chez vous." in script.text


def test_missing_parts_are_left_out_not_spoken_empty() -> None:
    bare = with_infos(warning(), sender_name=None, instruction=None, areas=())
    assert render_script(bare, "en-US").text == \
        "Attention, please. Beijing Meteorological Observatory issues a red rainstorm warning."
    assert render_script(bare, "zh-CN").text == "请注意！ 北京市气象台发布暴雨红色预警信号。"


def test_an_event_stands_in_for_a_missing_headline() -> None:
    alert = with_infos(warning(), headline=None)
    assert "暴雨。" in render_script(alert, "zh-CN").text


def test_the_all_clear_without_colour_or_area() -> None:
    alert = with_infos(warning(MsgType.CANCEL), parameters=(), areas=())
    assert render_script(alert, "zh-CN").text.endswith(" 暴雨预警已解除。")
    assert render_script(alert, "en-US").text.endswith(" The Rainstorm warning is lifted.")


def test_several_areas_are_named_once_each() -> None:
    alert = warning()
    chinese: Info = alert.infos[0]
    areas = (*chinese.areas, replace(chinese.areas[0], area_desc="北京市海淀区"), chinese.areas[0])
    script = render_script(replace(alert, infos=(replace(chinese, areas=areas),)), "zh-CN")
    assert "预警区域：北京市朝阳区、北京市海淀区。" in script.text


def test_an_alert_with_nothing_to_say_is_refused_naming_the_field() -> None:
    alert = with_infos(warning(), headline=" ", event=" ")
    with pytest.raises(PermanentChannelError, match=r"headline: alert .* neither a headline"):
        render_script(alert, "zh-CN")
    with pytest.raises(PermanentChannelError, match=r"info: alert .* no info block"):
        render_script(replace(warning(), infos=()), "zh-CN")


@pytest.mark.parametrize(("listener", "expected"), [
    ("zh-CN", "预警解除。 预警已解除。"),
    ("en-GB", "All clear. The warning is lifted."),
])
def test_a_cancel_without_info_still_has_its_all_clear(listener: str, expected: str) -> None:
    cancel = replace(warning(MsgType.CANCEL), infos=())
    assert render_script(cancel, listener).text == expected


def test_an_unknown_colour_is_not_spoken() -> None:
    alert = with_infos(warning(MsgType.CANCEL), parameters=(NamedValue("warningColor", "purple"),))
    assert "北京市朝阳区暴雨预警已解除。" in render_script(alert, "zh-CN").text
