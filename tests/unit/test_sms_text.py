"""Alert SMS text per language and message type, and the limit on its parts."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from publisher.cap.model import Alert, Info, Status
from publisher.channels.sms_encoding import count_parts, measure_sms
from publisher.channels.sms_text import (
    DEFAULT_SIGNATURE,
    SmsTextError,
    choose_info,
    render_sms,
)
from publisher.sample_alert import rainstorm_red_warning

SENT = datetime(2024, 7, 20, 6, 0, tzinfo=UTC)  # 14:00 in Beijing; expires at 20:00
WEB = "https://yj.beijing.gov.cn/a/1"
ZH_HEADLINE = "北京市气象台发布暴雨红色预警信号"
ZH_INSTRUCTION = "停止集会、停课、停业；远离低洼地带和地下空间。"
EN_HEADLINE = "Beijing Meteorological Observatory issues a red rainstorm warning"
EN_INSTRUCTION = "Stop gatherings, classes and business; keep away from low ground and basements."
LONG_ZH_SENTENCES = (
    "停止集会、停课、停业（除特殊行业外）。",
    "立即转移低洼危险地带和地下空间人员。",
    "切断低洼地带有危险的室外电源，车辆绕开积水路段行驶。",
    "居民关好门窗，不要在大树、广告牌和临时建筑下避雨。",
    "山区群众远离河道和沟谷，防范山洪、泥石流和滑坡。",
    "学校、幼儿园采取专门措施，保障在校学生和幼儿安全。",
    "户外作业人员立即停止作业，到安全场所避险。",
    "驾驶人员注意交通安全，遇积水深度不明的路段不要强行通过。",
    "地铁、隧道和下沉式立交桥管理单位做好排水和封闭准备。",
    "相关部门做好城市排涝和防汛抢险工作，及时处置险情。",
)


def red_warning(status: Status = Status.EXERCISE) -> Alert:
    return rainstorm_red_warning(SENT, status=status)


def with_infos(alert: Alert, **changes: Any) -> Alert:
    return replace(alert, infos=tuple(replace(info, **changes) for info in alert.infos))


@pytest.mark.parametrize(("msg_type", "language", "expected"), [
    ("Alert", "zh-CN",
     f"{DEFAULT_SIGNATURE}【演练】{ZH_HEADLINE}：{ZH_INSTRUCTION}有效至7月20日20:00。回复TD退订"),
    ("Update", "zh-CN",
     f"{DEFAULT_SIGNATURE}【演练】【更新】{ZH_HEADLINE}：{ZH_INSTRUCTION}有效至7月20日20:00。"
     "回复TD退订"),
    ("Cancel", "zh-CN",
     f"{DEFAULT_SIGNATURE}【演练】【预警解除】{ZH_HEADLINE}。{ZH_INSTRUCTION}回复TD退订"),
    ("Alert", "en-US",
     f"EXERCISE - {EN_HEADLINE}: {EN_INSTRUCTION} Until 20 Jul 20:00 Beijing time."
     " Reply STOP to unsubscribe"),
    ("update", "en-US",
     f"EXERCISE - Update: {EN_HEADLINE}: {EN_INSTRUCTION} Until 20 Jul 20:00 Beijing time."
     " Reply STOP to unsubscribe"),
    ("Cancel", "en-US",
     f"EXERCISE - Cancelled: {EN_HEADLINE}. {EN_INSTRUCTION} Reply STOP to unsubscribe"),
])
def test_render_sms(msg_type: str, language: str, expected: str) -> None:
    assert render_sms(red_warning(), msg_type, language) == expected


def test_the_red_rainstorm_warning_fits_two_or_three_ucs2_parts() -> None:
    for msg_type in ("Alert", "Update", "Cancel"):
        measure = measure_sms(render_sms(red_warning(Status.ACTUAL), msg_type, "zh-CN"))
        assert measure.encoding == "ucs2"
        assert measure.part_count <= 3
    assert count_parts(render_sms(red_warning(Status.ACTUAL), "Alert", "zh-CN")) >= 2


def test_english_text_travels_in_the_gsm_alphabet() -> None:
    assert measure_sms(render_sms(red_warning(), "Alert", "en-US")).encoding == "gsm7"


def test_the_description_is_left_out() -> None:
    alert = red_warning()
    for language in ("zh-CN", "en-US"):
        description = choose_info(alert, language).description
        assert description and description not in render_sms(alert, "Alert", language)


@pytest.mark.parametrize(("status", "zh_marker", "en_marker"), [
    (Status.ACTUAL, "", ""),
    (Status.EXERCISE, "【演练】", "EXERCISE - "),
    (Status.TEST, "【测试】", "TEST - "),
])
def test_exercise_and_test_messages_say_so(status: Status, zh_marker: str,
                                           en_marker: str) -> None:
    alert = red_warning(status)
    assert render_sms(alert, "Alert", "zh-CN").startswith(
        f"{DEFAULT_SIGNATURE}{zh_marker}{ZH_HEADLINE}")
    assert render_sms(alert, "Alert", "en-US").startswith(f"{en_marker}{EN_HEADLINE}")


@pytest.mark.parametrize(("languages", "reader", "chosen"), [
    (("zh-CN", "en-US"), "zh-CN", "zh-CN"),
    (("zh-CN", "en-US"), "EN-us", "en-US"),
    (("zh-CN", "en-US"), "en-GB", "en-US"),
    (("zh-CN", "en-US"), "en", "en-US"),
    (("zh-CN", "en-US"), "zh-TW", "zh-CN"),
    (("en-US", "zh-CN"), "fr-FR", "zh-CN"),
    (("en-US", "zh-TW"), "fr-FR", "zh-TW"),
    (("en-US", "fr-FR"), "de", "en-US"),
    (("en-GB", "en-US"), "en-US", "en-US"),
    (("fr-FR", "fr-CA"), "fr-CA", "fr-CA"),
])
def test_choose_info(languages: tuple[str, ...], reader: str, chosen: str) -> None:
    first = red_warning().infos[1]
    alert = replace(red_warning(), infos=tuple(replace(first, language=language)
                                               for language in languages))
    assert choose_info(alert, reader).language == chosen


def test_a_language_without_a_template_gets_english_wording() -> None:
    alert = with_infos(red_warning(Status.ACTUAL), language="fr-FR",
                       headline="Alerte rouge", instruction="Restez chez vous.")
    assert render_sms(alert, "Alert", "fr-FR") == (
        "Alerte rouge: Restez chez vous. Until 20 Jul 20:00 Beijing time."
        " Reply STOP to unsubscribe")


def test_signature_and_unsubscribe_hint_are_configurable() -> None:
    text = render_sms(red_warning(Status.ACTUAL), "Alert", "zh-CN", signature="【朝阳区应急】",
                      unsubscribe_hint={"zh": "回复TD退订本区预警"})
    assert text.startswith("【朝阳区应急】北京市")
    assert text.endswith("回复TD退订本区预警")
    english = render_sms(red_warning(Status.ACTUAL), "Alert", "en-US",
                         unsubscribe_hint={"zh-CN": "回复TD退订"})
    assert english.endswith("Beijing time.")
    assert "【" not in english


def test_missing_parts_are_left_out_cleanly() -> None:
    alert = with_infos(red_warning(Status.ACTUAL), instruction=None, expires=None,
                       headline=None)
    assert render_sms(alert, "Alert", "zh-CN") == f"{DEFAULT_SIGNATURE}暴雨。回复TD退订"
    assert render_sms(alert, "Alert", "en-US") == "Rainstorm. Reply STOP to unsubscribe"


def test_an_instruction_without_a_full_stop_gets_one() -> None:
    alert = with_infos(red_warning(Status.ACTUAL), instruction="远离低洼地带")
    assert "：远离低洼地带。有效至" in render_sms(alert, "Alert", "zh-CN")


def test_expiry_is_given_in_beijing_time() -> None:
    alert = rainstorm_red_warning(datetime(2024, 7, 31, 16, 30, tzinfo=UTC),
                                  status=Status.ACTUAL)  # expires 1 Aug 06:30 in Beijing
    assert "有效至8月1日06:30。" in render_sms(alert, "Alert", "zh-CN")
    assert "Until 1 Aug 06:30 Beijing time." in render_sms(alert, "Alert", "en-US")


def long_warning(web: str | None) -> Alert:
    return with_infos(red_warning(Status.ACTUAL), instruction="".join(LONG_ZH_SENTENCES),
                      web=web)


def test_a_text_within_the_limit_is_not_shortened() -> None:
    text = render_sms(long_warning(WEB), "Alert", "zh-CN", max_parts=6)
    assert "".join(LONG_ZH_SENTENCES) in text
    assert "详见" not in text
    assert WEB not in text


@pytest.mark.parametrize(("web", "pointer"), [(WEB, f"详见{WEB} "), (None, "（节选）")])
def test_a_long_instruction_is_shortened_at_a_sentence_and_says_so(
        web: str | None, pointer: str) -> None:
    whole = render_sms(long_warning(web), "Alert", "zh-CN", max_parts=10)
    assert count_parts(whole) > 4
    text = render_sms(long_warning(web), "Alert", "zh-CN")
    assert count_parts(text) <= 4
    kept = re.search(f"{ZH_HEADLINE}：(.*){re.escape(pointer)}有效至", text)
    assert kept is not None
    sentences = [s + "。" for s in kept.group(1).split("。") if s]
    assert sentences == list(LONG_ZH_SENTENCES[:len(sentences)])
    assert 1 <= len(sentences) < len(LONG_ZH_SENTENCES)
    # As many sentences as fit: one more would break the limit.
    longer = text.replace(kept.group(1), kept.group(1) + LONG_ZH_SENTENCES[len(sentences)])
    assert count_parts(longer) > 4


def test_an_english_instruction_is_shortened_at_a_sentence() -> None:
    sentences = [f"Step {n}: keep away from rivers, 3.5 m embankments and basements."
                 for n in range(1, 12)]
    alert = with_infos(red_warning(Status.ACTUAL), instruction=" ".join(sentences), web=WEB)
    text = render_sms(alert, "Alert", "en-US", max_parts=3)
    assert count_parts(text) <= 3
    assert re.search(r"basements\. More: https://yj\.beijing\.gov\.cn/a/1 Until", text)
    assert "3.5 m" in text


def test_an_instruction_that_cannot_fit_even_one_sentence_is_refused() -> None:
    alert = with_infos(red_warning(Status.ACTUAL), instruction="".join(LONG_ZH_SENTENCES))
    with pytest.raises(SmsTextError) as caught:
        render_sms(alert, "Alert", "zh-CN", max_parts=1)
    assert caught.value.field == "instruction"


@pytest.mark.parametrize(("msg_type", "max_parts", "field"), [
    ("Ack", 4, "msg_type"), ("Error", 4, "msg_type"), ("Alert", 0, "max_parts")])
def test_refuses_what_is_not_an_sms(msg_type: str, max_parts: int, field: str) -> None:
    with pytest.raises(SmsTextError) as caught:
        render_sms(red_warning(), msg_type, "zh-CN", max_parts=max_parts)
    assert caught.value.field == field


def test_an_alert_without_info_is_refused() -> None:
    with pytest.raises(SmsTextError) as caught:
        render_sms(replace(red_warning(), infos=()), "Alert", "zh-CN")
    assert caught.value.field == "info"


SENTENCE = st.text(alphabet=st.sampled_from("预警暴雨注意安全避险转移😀🌧，"), min_size=1,
                   max_size=40).map(lambda body: body + "。")


@settings(max_examples=150, deadline=None)
@given(sentences=st.lists(SENTENCE, min_size=1, max_size=12),
       max_parts=st.integers(min_value=1, max_value=4))
def test_shortening_keeps_whole_sentences_within_the_limit(sentences: list[str],
                                                          max_parts: int) -> None:
    alert = with_infos(red_warning(Status.ACTUAL), instruction="".join(sentences), web=None)
    try:
        text = render_sms(alert, "Alert", "zh-CN", max_parts=max_parts)
    except SmsTextError as error:
        assert error.field == "instruction"
        first_only = with_infos(alert, instruction=sentences[0])
        assert count_parts(render_sms(first_only, "Alert", "zh-CN", max_parts=255)
                           + "（节选）") > max_parts
        return
    assert count_parts(text) <= max_parts
    kept = text.split("：", 1)[1].split("有效至", 1)[0].removesuffix("（节选）")
    assert any(kept == "".join(sentences[:count]) for count in range(1, len(sentences) + 1))
    assert text.count("（节选）") == (kept != "".join(sentences))


def test_an_info_object_from_the_sample_is_what_the_tests_assume() -> None:
    info: Info = choose_info(red_warning(), "zh-CN")
    assert (info.headline, info.instruction, info.web) == (ZH_HEADLINE, ZH_INSTRUCTION, None)
