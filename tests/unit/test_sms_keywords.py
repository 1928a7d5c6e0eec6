"""Subscription keywords, district names, mobile numbers and replies: pure, no database."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.cap.districts import District, load_districts
from publisher.services.district_names import DistrictNames
from publisher.services.errors import InvalidInput
from publisher.services.msisdn import normalise_msisdn
from publisher.services.sms_keywords import (
    Leave,
    NoDistrict,
    SetLanguage,
    Subscribe,
    UnknownDistrict,
    Unrecognised,
    Unsubscribe,
    parse_command,
)
from publisher.services.subscription_replies import reply_text


def wide(text: str) -> str:
    """``text`` as a phone with a Chinese keyboard in full-width mode types it."""
    return "".join("\u3000" if char == " " else chr(ord(char) + 0xFEE0) if "!" <= char <= "~"
                   else char for char in text)


DISTRICTS = DistrictNames(load_districts(Path(__file__).parents[2] / "config" / "districts.toml"))
ZH, EN = "zh-CN", "en-US"


@pytest.mark.parametrize(("text", "code", "keyword_language"), [
    ("DY 朝阳", "110105", ZH),
    ("DY 朝阳区", "110105", ZH),
    ("DY 110105", "110105", ZH),
    ("DY朝阳", "110105", ZH),
    ("DY110105", "110105", ZH),
    ("dy 海淀", "110108", ZH),
    ("Dy  北京市", "110000", ZH),
    ("DY 北京", "110000", ZH),
    (wide("DY 朝阳"), "110105", ZH),  # full-width letters and ideographic space
    (wide("DY110108"), "110108", ZH),  # full-width digits
    ("  DY 朝阳  ", "110105", ZH),
    ("SUB Chaoyang", "110105", EN),
    ("sub chaoyang", "110105", EN),
    ("SUB CHAOYANG DISTRICT", "110105", EN),
    ("sub hai dian", "110108", EN),
    (wide("sub tongzhou"), "110112", EN),
    ("SUBSCRIBE Beijing", "110000", EN),
    ("SUB 110105", "110105", EN),
])
def test_subscribe_keywords_name_a_district(text: str, code: str, keyword_language: str) -> None:
    command = parse_command(text, DISTRICTS)
    assert isinstance(command, Subscribe)
    assert (command.district.code, command.keyword_language) == (code, keyword_language)


@pytest.mark.parametrize(("text", "language"), [
    ("TD", ZH), ("td", ZH), (wide("td"), ZH), (" TD ", ZH),
    ("STOP", EN), ("Stop", EN), (wide("STOP"), EN), ("unsubscribe", EN),
    ("TD 全部", ZH), ("TD全部", ZH), ("STOP ALL", EN), ("stop all", EN),
    # Words after a stop keyword that name no district: the opt-out still counts.
    ("STOP please", EN), ("TD 不要再发了", ZH),
])
def test_unsubscribe_keywords(text: str, language: str) -> None:
    assert parse_command(text, DISTRICTS) == Unsubscribe(language)


@pytest.mark.parametrize(("text", "code", "keyword_language"), [
    ("TD 朝阳", "110105", ZH),
    ("TD朝阳区", "110105", ZH),
    ("td110108", "110108", ZH),
    (wide("TD 海淀"), "110108", ZH),
    ("STOP 110105", "110105", EN),
    ("stop chaoyang", "110105", EN),
    ("STOP110105", "110105", EN),
    ("UNSUBSCRIBE Haidian District", "110108", EN),
    ("TD 北京", "110000", ZH),
])
def test_a_stop_keyword_with_a_district_leaves_that_district(
        text: str, code: str, keyword_language: str) -> None:
    command = parse_command(text, DISTRICTS)
    assert isinstance(command, Leave)
    assert (command.district.code, command.keyword_language) == (code, keyword_language)


def test_a_misspelt_district_to_leave_comes_with_close_matches() -> None:
    command = parse_command("TD 朝杨", DISTRICTS)
    assert isinstance(command, UnknownDistrict) and command.leaving
    assert [district.code for district in command.suggestions] == ["110105"]


@pytest.mark.parametrize(("text", "language"), [
    ("EN", EN), ("en", EN), (wide("EN"), EN), ("ZH", ZH), ("zh", ZH),
    ("LANG EN", EN), ("lang zh", ZH), ("LANGZH", ZH), (wide("LANG EN"), EN), ("language en", EN),
])
def test_language_keywords(text: str, language: str) -> None:
    assert parse_command(text, DISTRICTS) == SetLanguage(language)


@pytest.mark.parametrize(("text", "suggested"), [
    ("DY 朝杨", "110105"),            # a wrong character
    ("SUB Chaoyng", "110105"),        # a typo
    ("SUB Haidien", "110108"),
])
def test_an_unknown_district_comes_with_close_matches(text: str, suggested: str) -> None:
    command = parse_command(text, DISTRICTS)
    assert isinstance(command, UnknownDistrict)
    assert suggested in [district.code for district in command.suggestions]
    assert command.wanted == text.split(" ", 1)[1]


def test_a_district_like_nothing_known_has_no_suggestions() -> None:
    command = parse_command("DY 火星", DISTRICTS)
    assert command == UnknownDistrict("火星", (), ZH)


@pytest.mark.parametrize(("text", "expected"), [
    ("DY", NoDistrict(ZH)),
    ("sub", NoDistrict(EN)),
    ("hello", Unrecognised("hello")),
    ("SUBWAY", Unrecognised("SUBWAY")),     # a keyword inside a word is no keyword
    ("DYNAMO", Unrecognised("DYNAMO")),
    ("STOPPED", Unrecognised("STOPPED")),
    ("TDX", Unrecognised("TDX")),
    ("LANG FR", Unrecognised("LANG FR")),
    ("", Unrecognised("")),
])
def test_what_is_not_a_command(text: str, expected: object) -> None:
    assert parse_command(text, DISTRICTS) == expected


@pytest.mark.parametrize("raw", [
    "+86 138 0013 8000", "13800138000", "008613800138000", "138-0013-8000", "+8613800138000",
    "(+86) 138 0013 8000", wide("+8613800138000"),
])
def test_mobile_numbers_are_normalised_to_e164(raw: str) -> None:
    assert normalise_msisdn(raw) == "+8613800138000"


def test_a_number_with_a_country_code_keeps_it() -> None:
    assert normalise_msisdn("+852 9123 4567") == "+85291234567"


@pytest.mark.parametrize(("raw", "reason"), [
    ("12345", "not a valid phone number"),
    ("abc", "not a phone number"),
    ("010 6552 9988", "not a mobile number"),     # a Beijing landline cannot receive SMS
    ("", "not a phone number"),
])
def test_what_is_not_a_mobile_number_is_refused_with_the_field(raw: str, reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        normalise_msisdn(raw, field="msisdn")
    assert refused.value.field == "msisdn"
    assert reason in refused.value.reason


def _district(code: str) -> District:
    found = DISTRICTS.find(code)
    assert found is not None
    return found


def test_replies_name_the_district_in_the_reply_language() -> None:
    chaoyang = _district("110105")
    assert "朝阳区" in reply_text("subscribed", ZH, district=chaoyang)
    assert "Chaoyang" in reply_text("subscribed", EN, district=chaoyang)
    suggestion = reply_text("unknown_district", EN, wanted="Chaoyng", suggestions=[chaoyang])
    assert "Chaoyang (110105)" in suggestion and "Chaoyng" in suggestion
    assert "DY110105" in reply_text("unknown_district", ZH, wanted="火星")
    leave = reply_text("unknown_district_leave", ZH, wanted="朝杨", suggestions=[chaoyang])
    assert "朝阳区 (110105)" in leave and "TD退订全部" in leave


def test_replies_list_every_district_followed() -> None:
    followed = [_district("110105"), _district("110108")]
    added = reply_text("added", ZH, district=followed[1], followed=followed)
    assert "增加订阅海淀区" in added and "现订阅：朝阳区、海淀区" in added
    left = reply_text("left", EN, district=_district("110112"), followed=followed)
    assert left.startswith("You no longer receive alerts for Tongzhou; you still follow"
                           " Chaoyang, Haidian.")
    full = reply_text("too_many", EN, district=_district("110112"), followed=followed)
    assert "You follow 2 districts (Chaoyang, Haidian)" in full and "STOP Chaoyang" in full
