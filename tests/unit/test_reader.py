"""The reader: one small document per kind of problem, CAP 1.0/1.1 conversion, strict mode."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from publisher.cap.model import Category, Certainty, NamedValue, Point, Status, Urgency
from publisher.cap.problems import (
    HostileXmlError,
    InvalidAlertError,
    NotCapError,
    Problem,
    ProblemLevel,
)
from publisher.cap.reader import ReadResult, read_alert, read_alert_element
from publisher.cap.versions import CapVersion
from publisher.cap.xmlsafe import parse_untrusted_xml

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
CAP11 = "urn:oasis:names:tc:emergency:cap:1.1"
CAP10 = "http://www.incident.com/cap/1.0"
DSIG = "http://www.w3.org/2000/09/xmldsig#"

ALERT = """<?xml version="1.0" encoding="UTF-8"?>
<alert xmlns="{namespace}">
  <identifier>SZ-2024-0501-001</identifier>
  <sender>warning@weather.sz.example</sender>
  <sent>2024-05-01T08:00:00+08:00</sent>
  <status>Actual</status>
  <msgType>Alert</msgType>
  <scope>Public</scope>
  <info>
    <language>zh-CN</language>
    <category>Met</category>
    <event>暴雨</event>
    <urgency>Immediate</urgency>
    <severity>Severe</severity>
    <certainty>Likely</certainty>
    <senderName>市气象台</senderName>
    <headline>暴雨红色预警</headline>
    <description>
  全市将出现大暴雨。
  请注意防范。
</description>
    <resource>
      <resourceDesc>map</resourceDesc>
      <mimeType>image/png</mimeType>
      <size>1024</size>
    </resource>
    <area>
      <areaDesc>全市</areaDesc>
      <polygon>22.5,114.0 22.6,114.0 22.6,114.2 22.5,114.0</polygon>
      <circle>22.54,114.06 5.5</circle>
      <geocode><valueName>GB2260</valueName><value>440300</value></geocode>
      <altitude>100</altitude>
    </area>
  </info>
</alert>
"""


GEOCODE = "<geocode><valueName>GB2260</valueName><value>440300</value></geocode>"
CAP10_GEOCODE = "<geocode>fips6=006109</geocode>"


def document(namespace: str = CAP12, *replacements: tuple[str, str]) -> bytes:
    text = ALERT.replace("{namespace}", namespace)
    if namespace == CAP10:
        text = text.replace(GEOCODE, CAP10_GEOCODE)
    for old, new in replacements:
        assert old in text, old
        text = text.replace(old, new, 1)
    return text.encode()


def read(*replacements: tuple[str, str], namespace: str = CAP12) -> ReadResult:
    return read_alert(document(namespace, *replacements))


def found(result: ReadResult) -> list[str]:
    return [str(problem) for problem in result.problems]


def only(result: ReadResult) -> Problem:
    assert len(result.problems) == 1, found(result)
    return result.problems[0]


def test_a_valid_alert_reads_without_problems() -> None:
    result = read()
    assert result.problems == ()
    assert result.ok
    assert result.version is CapVersion.V1_2
    assert not result.signed
    alert = result.alert
    assert alert is not None
    assert alert.sent == datetime(2024, 5, 1, 0, 0, tzinfo=UTC)
    assert alert.sent.utcoffset() == timedelta(hours=8)
    info = alert.infos[0]
    assert info.language == "zh-CN"
    assert info.categories == (Category.MET,)
    assert info.headline == "暴雨红色预警"
    assert info.description == "全市将出现大暴雨。\n  请注意防范。"
    assert info.resources[0].size == 1024
    area = info.areas[0]
    assert area.polygons[0].points[1] == Point(22.6, 114.0)
    assert area.circles[0].center == Point(22.54, 114.06)
    assert area.circles[0].radius_km == 5.5
    assert area.geocodes == (NamedValue("GB2260", "440300"),)
    assert area.altitude == 100.0


def test_element_out_of_order() -> None:
    result = read(("<senderName>市气象台</senderName>", ""),
                  ("<description>", "<senderName>市气象台</senderName><description>"))
    problem = only(result)
    assert str(problem) == "info[0]/senderName: out of order: must come before headline"
    assert problem.is_error
    assert result.alert is not None and result.alert.infos[0].sender_name == "市气象台"


def test_missing_required_alert_element_gives_no_alert() -> None:
    result = read(("<scope>Public</scope>", ""))
    assert str(only(result)) == "scope: required element is missing"
    assert result.alert is None
    assert not result.ok


def test_missing_required_info_element_still_builds_the_alert() -> None:
    result = read(("<certainty>Likely</certainty>", ""))
    assert str(only(result)) == "info[0]/certainty: required element is missing"
    assert result.alert is not None
    assert result.alert.infos[0].certainty is Certainty.UNKNOWN


def test_unknown_element() -> None:
    result = read(("<scope>Public</scope>", "<scope>Public</scope><x>1</x>"))
    assert str(only(result)) == f"x: unexpected element {{{CAP12}}}x"


def test_foreign_namespace_element_inside_info() -> None:
    result = read(("<event>暴雨</event>", '<event>暴雨</event><y xmlns="urn:other">1</y>'))
    assert str(only(result)) == "info[0]/y: unexpected element {urn:other}y"


def test_invalid_urgency_becomes_unknown() -> None:
    result = read(("<urgency>Immediate</urgency>", "<urgency></urgency>"))
    assert str(only(result)) == (
        "info[0]/urgency: '' is not one of Immediate, Expected, Future, Past, Unknown"
    )
    assert result.alert is not None and result.alert.infos[0].urgency is Urgency.UNKNOWN


def test_invalid_category_is_dropped() -> None:
    result = read(("<category>Met</category>",
                   "<category>Weather</category><category>Met</category>"))
    assert str(only(result)).startswith("info[0]/category[0]: 'Weather' is not one of Geo, Met")
    assert result.alert is not None and result.alert.infos[0].categories == (Category.MET,)


def test_white_space_around_an_enumerated_value_is_an_error_but_the_value_is_kept() -> None:
    result = read(("<status>Actual</status>", "<status> Actual </status>"))
    assert only(result).path == "status"
    assert result.alert is not None and result.alert.status is Status.ACTUAL


def test_alphabetic_time_zone_is_rejected_in_cap_1_2() -> None:
    result = read(("2024-05-01T08:00:00+08:00", "2019-01-01T00:00:00Z"))
    problem = only(result)
    assert str(problem) == (
        "sent: '2019-01-01T00:00:00Z' has an alphabetic time zone; CAP requires a numeric "
        "offset such as +08:00 (CAP 3.3.2)"
    )
    assert problem.is_error
    assert result.alert is not None
    assert result.alert.sent == datetime(2019, 1, 1, tzinfo=UTC)


def test_time_without_zone_is_unusable() -> None:
    result = read(("2024-05-01T08:00:00+08:00", "2024-05-01T08:00:00"))
    assert "has no time zone" in only(result).reason
    assert result.alert is None


@pytest.mark.parametrize(("written", "reason"), [
    ("2024-05-01T08:00:00.5+08:00", "has fractional seconds"),
    ("2024-02-30T08:00:00+08:00", "is not a valid date and time"),
    ("2024-05-01T08:00:00+15:00", "beyond ±14:00"),
    ("1 May 2024", "is not a date and time of the form"),
])
def test_malformed_times(written: str, reason: str) -> None:
    result = read(("<senderName>", f"<expires>{written}</expires><senderName>"))
    problem = only(result)
    assert problem.path == "info[0]/expires"
    assert reason in problem.reason


def test_numbers_that_do_not_parse_are_dropped() -> None:
    result = read(("<size>1024</size>", "<size>1 KB</size>"),
                  ("<altitude>100</altitude>", "<altitude>1e3</altitude>"))
    assert found(result) == [
        "info[0]/resource[0]/size: '1 KB' is not an integer",
        "info[0]/area[0]/altitude: '1e3' is not a decimal number",
    ]
    assert result.alert is not None
    assert result.alert.infos[0].resources[0].size is None
    assert result.alert.infos[0].areas[0].altitude is None


def test_markup_in_description_is_reported_and_kept_as_text() -> None:
    markup = '<typhoon-info><section id="1">台风</section></typhoon-info>'
    result = read(("全市将出现大暴雨。", markup))
    assert str(only(result)) == (
        "info[0]/description: contains markup <typhoon-info>; "
        "CAP text elements hold plain text only"
    )
    assert result.alert is not None
    description = result.alert.infos[0].description
    assert description is not None
    assert description.startswith(markup)
    assert "xmlns" not in description


def test_malformed_polygon_is_dropped_with_its_point() -> None:
    result = read(("<polygon>", "<polygon>1,2 3,4 5,6 1,2</polygon><polygon>"),
                  ("22.6,114.0 22.6,114.2", "22.6,114.0 12.5,"))
    assert str(only(result)) == (
        "info[0]/area[0]/polygon[1]: point 3 '12.5,' is not \"lat,lon\" (CAP 3.2.4)"
    )
    assert result.alert is not None
    assert len(result.alert.infos[0].areas[0].polygons) == 1


def test_polygon_is_stored_as_read_without_closing_it() -> None:
    result = read(("22.6,114.2 22.5,114.0", "22.6,114.2"))
    assert result.problems == ()
    assert result.alert is not None
    assert result.alert.infos[0].areas[0].polygons[0].points[-1] == Point(22.6, 114.2)


def test_empty_polygon_is_dropped_with_a_warning() -> None:
    result = read(("<polygon>", "<polygon/><polygon>"))
    problem = only(result)
    assert problem.path == "info[0]/area[0]/polygon[0]"
    assert problem.level is ProblemLevel.WARNING
    assert result.ok


def test_malformed_circle() -> None:
    result = read(("22.54,114.06 5.5", "22.54,114.06"))
    assert str(only(result)) == (
        "info[0]/area[0]/circle[0]: '22.54,114.06' is not \"lat,lon radius\" (CAP 3.2.4)"
    )
    assert result.alert is not None and result.alert.infos[0].areas[0].circles == ()


def test_attribute_on_a_cap_element() -> None:
    result = read(("<headline>", '<headline lang="zh">'))
    assert str(only(result)) == "info[0]/headline: attribute lang is not allowed"


def test_text_between_elements() -> None:
    result = read(("<event>暴雨</event>", "<event>暴雨</event> stray "))
    assert str(only(result)) == "info[0]: text 'stray' is not allowed here"


def test_single_element_repeated() -> None:
    result = read(("<headline>暴雨红色预警</headline>",
                   "<headline>暴雨红色预警</headline><headline>second</headline>"))
    assert str(only(result)) == "info[0]/headline: appears more than once; CAP allows one"
    assert result.alert is not None and result.alert.infos[0].headline == "暴雨红色预警"


def test_empty_language_takes_the_xsd_default() -> None:
    result = read(("<language>zh-CN</language>", "<language/>"))
    assert result.problems == ()
    assert result.alert is not None and result.alert.infos[0].language == "en-US"


def test_invalid_language_tag() -> None:
    result = read(("<language>zh-CN</language>", "<language>zh_CN</language>"))
    assert only(result).path == "info[0]/language"


def test_named_value_missing_its_value() -> None:
    result = read((GEOCODE, "<geocode><valueName>GB2260</valueName></geocode>"))
    assert str(only(result)) == "info[0]/area[0]/geocode[0]/value: required element is missing"
    assert result.alert is not None
    assert result.alert.infos[0].areas[0].geocodes == (NamedValue("GB2260", ""),)


def signature(prefix: str = "ds") -> str:
    return (f'<{prefix}:Signature xmlns:{prefix}="{DSIG}" Id="sig">'
            f"<{prefix}:SignedInfo/></{prefix}:Signature>")


def test_cap_1_2_signature_after_info_is_accepted() -> None:
    result = read(("</info>", f"</info>{signature()}"))
    assert result.problems == ()
    assert result.signed


def test_cap_1_2_signature_before_info_puts_info_out_of_order() -> None:
    result = read(("<info>", f"{signature()}<info>"))
    assert str(only(result)) == "info[0]: out of order: must come before Signature"


def test_cap_1_1_signature_is_a_warning_citing_the_signature_clause() -> None:
    result = read(("</info>", f"</info>{signature()}"), namespace=CAP11)
    problem = only(result)
    assert problem.level is ProblemLevel.WARNING
    assert problem.clause == "1.1 3.3.2.1"
    assert result.signed and result.ok


def test_cap_1_0_has_no_place_for_a_signature() -> None:
    result = read(("</info>", f"</info>{signature()}"), namespace=CAP10)
    assert only(result).reason == f"unexpected element {{{DSIG}}}Signature"


def test_cap_1_1_alphabetic_time_zone_is_a_warning() -> None:
    result = read(("2024-05-01T08:00:00+08:00", "2024-05-01T00:00:00Z"), namespace=CAP11)
    assert only(result).level is ProblemLevel.WARNING
    assert result.ok


def test_cap_1_1_lacks_the_response_types_of_1_2() -> None:
    result = read(("<urgency>", "<responseType>AllClear</responseType><urgency>"),
                  namespace=CAP11)
    assert only(result).path == "info[0]/responseType[0]"
    assert result.alert is not None and result.alert.infos[0].response_types == ()


@pytest.mark.parametrize(("namespace", "uri", "assumed"), [
    (CAP11, "", "application/octet-stream"),
    (CAP11, "<uri>http://example.org/getAdvisoryImage</uri>", "application/octet-stream"),
    (CAP11, "<uri>http://example.org/maps/rain.png?size=large#top</uri>", "image/png"),
    (CAP10, "<uri>http://example.org/bulletin.pdf</uri>", "application/pdf"),
])
def test_cap_1_0_and_1_1_resource_without_mime_type_gets_one_from_its_uri(
    namespace: str, uri: str, assumed: str
) -> None:
    result = read(("<mimeType>image/png</mimeType>", ""), ("<size>1024</size>", uri),
                  namespace=namespace)
    problem = only(result)
    assert problem.path == "info[0]/resource[0]/mimeType"
    assert problem.level is ProblemLevel.WARNING
    assert "optional in CAP 1." in problem.reason
    assert f"assumed {assumed} for CAP 1.2" in problem.reason
    assert result.alert is not None and result.alert.infos[0].resources[0].mime_type == assumed


def test_cap_1_2_resource_without_mime_type_is_an_error_and_assumes_nothing() -> None:
    result = read(("<mimeType>image/png</mimeType>", ""))
    problem = only(result)
    assert (problem.path, problem.reason) == ("info[0]/resource[0]/mimeType",
                                              "required element is missing")
    assert problem.level is ProblemLevel.ERROR
    assert result.alert is not None and result.alert.infos[0].resources[0].mime_type == ""


def test_cap_1_0_converts_name_value_pairs_password_and_very_likely() -> None:
    result = read(
        ("<msgType>Alert</msgType>", "<msgType>Alert</msgType><password>secret</password>"),
        ("<certainty>Likely</certainty>", "<certainty>Very Likely</certainty>"),
        ("<senderName>", "<eventCode>same=SVR</eventCode><senderName>"),
        ("<resource>", "<parameter>Magnitude=3.4 Ml</parameter><resource>"),
        namespace=CAP10,
    )
    assert result.version is CapVersion.V1_0
    assert all(problem.level is ProblemLevel.WARNING for problem in result.problems)
    assert {problem.path for problem in result.problems} == {"password", "info[0]/certainty"}
    very_likely = next(p for p in result.problems if p.path == "info[0]/certainty")
    assert very_likely.clause == "1.1 3.2.2"
    assert result.alert is not None
    info = result.alert.infos[0]
    assert info.certainty is Certainty.LIKELY
    assert info.event_codes == (NamedValue("same", "SVR"),)
    assert info.parameters == (NamedValue("Magnitude", "3.4 Ml"),)
    assert info.areas[0].geocodes == (NamedValue("fips6", "006109"),)


def test_cap_1_0_pair_without_equals_sign_warns() -> None:
    result = read((CAP10_GEOCODE, "<geocode>006109</geocode>"), namespace=CAP10)
    assert only(result).level is ProblemLevel.WARNING


def test_cap_1_0_without_scope_is_not_built() -> None:
    result = read(("<scope>Public</scope>", ""), namespace=CAP10)
    assert only(result).path == "scope"
    assert result.alert is None


def test_cap_1_0_has_no_observed_certainty() -> None:
    result = read(("<certainty>Likely</certainty>", "<certainty>Observed</certainty>"),
                  namespace=CAP10)
    assert only(result).path == "info[0]/certainty"


def test_strict_mode_raises_on_any_problem() -> None:
    with pytest.raises(InvalidAlertError) as raised:
        read_alert(document(CAP12, ("<scope>Public</scope>", "")), strict=True)
    assert "scope: required element is missing" in str(raised.value)
    with pytest.raises(InvalidAlertError):
        read_alert(document(CAP11, ("2024-05-01T08:00:00+08:00", "2024-05-01T00:00:00Z")),
                   strict=True)
    assert read_alert(document(), strict=True).ok


def test_wrong_namespace_is_not_cap() -> None:
    data = document("urn:oasis:names:tc:emergency:alerts:1.2")
    with pytest.raises(NotCapError) as raised:
        read_alert(data)
    assert raised.value.reason == (
        "root element is {urn:oasis:names:tc:emergency:alerts:1.2}alert, not a CAP alert "
        "(namespace is not CAP 1.0, 1.1 or 1.2)"
    )


def test_feed_is_not_an_alert() -> None:
    with pytest.raises(NotCapError) as raised:
        read_alert(b'<feed xmlns="http://www.w3.org/2005/Atom"/>')
    assert raised.value.reason == (
        "root element is {http://www.w3.org/2005/Atom}feed, not a CAP alert"
    )


def test_doctype_is_refused_before_reading() -> None:
    with pytest.raises(HostileXmlError):
        read_alert(b'<!DOCTYPE alert [<!ENTITY x "y">]>' + document())


def test_alert_embedded_in_another_document() -> None:
    wrapper = (b'<feed xmlns="http://www.w3.org/2005/Atom"><entry><content>'
               + document().split(b"?>", 1)[1] + b"</content></entry></feed>")
    root = parse_untrusted_xml(wrapper)
    alert_element = root.find(f".//{{{CAP12}}}alert")
    assert alert_element is not None
    result = read_alert_element(alert_element)
    assert result.ok
    assert result.alert == read().alert
