"""The writer: CAP 1.2 XML that the XSD accepts and that reads back as the same alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from publisher.cap import model
from publisher.cap.reader import read_alert
from publisher.cap.writer import format_datetime, format_float, write_alert
from publisher.cap.xmlsafe import parse_untrusted_xml

CAP12 = "urn:oasis:names:tc:emergency:cap:1.2"
XSD_PATH = Path(__file__).resolve().parents[2] / "publisher/cap/schema/CAP-v1.2.xsd"
BEIJING = timezone(timedelta(hours=8))


@cache
def xsd() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD_PATH)))


def sample_alert() -> model.Alert:
    return model.Alert(
        identifier="SZ-2024-0501-001",
        sender="warning@weather.sz.example",
        sent=datetime(2024, 5, 1, 8, 0, 0, tzinfo=BEIJING),
        status=model.Status.ACTUAL,
        msg_type=model.MsgType.ALERT,
        scope=model.Scope.PUBLIC,
        codes=("IPAWSv1.0", "profile:CAP-CN:1.0"),
        infos=(model.Info(
            language="zh-CN",
            categories=(model.Category.MET, model.Category.SAFETY),
            event="暴雨",
            urgency=model.Urgency.IMMEDIATE,
            severity=model.Severity.SEVERE,
            certainty=model.Certainty.LIKELY,
            expires=datetime(2024, 5, 1, 20, 0, tzinfo=BEIJING),
            headline="暴雨红色预警",
            description="全市将出现大暴雨。\n  请注意防范 <b>& 撤离</b>。",
            parameters=(model.NamedValue("level", "red"), model.NamedValue("empty", "")),
            resources=(model.Resource("map", "image/png", size=1024, uri="https://example.org/m.png"),),
            areas=(model.Area(
                area_desc="全市",
                polygons=(model.Polygon((model.Point(22.5, 114.0), model.Point(22.6, 114.0),
                                   model.Point(22.6, 114.2), model.Point(22.5, 114.0))),),
                circles=(model.Circle(model.Point(22.54, 114.06), 5.5),),
                geocodes=(model.NamedValue("GB2260", "440300"),),
                altitude=0.00001,
            ),),
        ),),
    )


def test_written_alert_is_valid_cap_1_2() -> None:
    written = write_alert(sample_alert())
    assert written.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = parse_untrusted_xml(written)
    assert xsd().validate(root), str(xsd().error_log)
    assert root.nsmap == {None: CAP12}


def test_written_alert_reads_back_equal_and_without_problems() -> None:
    alert = sample_alert()
    result = read_alert(write_alert(alert))
    assert result.problems == ()
    assert result.alert == alert


def test_elements_come_in_xsd_order_and_absent_optionals_are_left_out() -> None:
    root = parse_untrusted_xml(write_alert(sample_alert()))
    names = [etree.QName(child).localname for child in root]
    assert names == ["identifier", "sender", "sent", "status", "msgType", "scope",
                     "code", "code", "info"]
    info = root.find(f"{{{CAP12}}}info")
    assert info is not None
    assert [etree.QName(child).localname for child in info] == [
        "language", "category", "category", "event", "urgency", "severity", "certainty",
        "expires", "headline", "description", "parameter", "parameter", "resource", "area",
    ]


def test_text_elements_do_not_gain_white_space() -> None:
    root = parse_untrusted_xml(write_alert(sample_alert()))
    description = root.find(f"{{{CAP12}}}info/{{{CAP12}}}description")
    assert description is not None
    assert description.text == "全市将出现大暴雨。\n  请注意防范 <b>& 撤离</b>。"


def test_times_and_numbers_as_written() -> None:
    root = parse_untrusted_xml(write_alert(sample_alert()))
    assert root.findtext(f"{{{CAP12}}}sent") == "2024-05-01T08:00:00+08:00"
    area = f"{{{CAP12}}}info/{{{CAP12}}}area/"
    assert root.findtext(f"{area}{{{CAP12}}}altitude") == "0.00001"
    assert root.findtext(f"{area}{{{CAP12}}}circle") == "22.54,114.06 5.5"
    assert root.findtext(f"{area}{{{CAP12}}}polygon") == (
        "22.5,114.0 22.6,114.0 22.6,114.2 22.5,114.0"
    )


@pytest.mark.parametrize(("moment", "written"), [
    (datetime(2024, 5, 1, 0, 0, tzinfo=UTC), "2024-05-01T00:00:00+00:00"),
    (datetime(2024, 5, 1, 0, 0, 59, 999999, tzinfo=BEIJING), "2024-05-01T00:00:59+08:00"),
    (datetime(2024, 5, 1, 6, 30, tzinfo=timezone(timedelta(hours=-9, minutes=-30))),
     "2024-05-01T06:30:00-09:30"),
    (datetime(2024, 5, 1, 0, 0, tzinfo=timezone(timedelta(seconds=30))),
     "2024-04-30T23:59:30+00:00"),
])
def test_format_datetime(moment: datetime, written: str) -> None:
    assert format_datetime(moment) == written


def test_a_time_without_zone_cannot_be_written() -> None:
    with pytest.raises(ValueError, match="no time zone"):
        format_datetime(datetime(2024, 5, 1))


@pytest.mark.parametrize("number", [0.1, -120.14, 1e-05, 1.5e16, 123456789.123, -0.0, 5.0])
def test_format_float_reads_back_identically_without_exponent(number: float) -> None:
    text = format_float(number)
    assert "e" not in text.lower()
    assert float(text) == number


@pytest.mark.parametrize("number", [float("nan"), float("inf")])
def test_format_float_refuses_what_cap_cannot_hold(number: float) -> None:
    with pytest.raises(ValueError, match="cannot be written"):
        format_float(number)
