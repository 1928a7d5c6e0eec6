"""What the WeChat platform pushes: signatures, event XML read safely, send-job receipts."""

from __future__ import annotations

import hashlib

import pytest

from publisher.channels.base import DeliveryStatus, ParsedReceipt, ReceiptError
from publisher.channels.wechat_events import event_xml, read_event, signature, signature_holds
from tests.channels.wechat_support import running_api, wechat_channel

SEND_JOB_EVENT = b"""<xml>
<ToUserName><![CDATA[gh_7f083739789a]]></ToUserName>
<FromUserName><![CDATA[oia2TjuEGTNoeX76QEjQNrcURxG8]]></FromUserName>
<CreateTime>1395658920</CreateTime>
<MsgType><![CDATA[event]]></MsgType>
<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event>
<MsgID>200163836</MsgID>
<Status><![CDATA[failed:user block]]></Status>
</xml>"""


def test_the_signature_is_the_sha1_of_the_sorted_token_timestamp_and_nonce() -> None:
    expected = hashlib.sha1(b"1409304348" + b"nonce42" + b"tokenXYZ").hexdigest()
    assert signature("tokenXYZ", "1409304348", "nonce42") == expected
    query = {"signature": expected, "timestamp": "1409304348", "nonce": "nonce42"}
    assert signature_holds("tokenXYZ", query)
    assert not signature_holds("another-token", query)
    assert not signature_holds("tokenXYZ", {**query, "nonce": "nonce43"})
    assert not signature_holds("tokenXYZ", {"timestamp": "1409304348", "nonce": "nonce42"})


def test_an_event_is_read_by_element_name() -> None:
    fields = read_event(SEND_JOB_EVENT)
    assert fields["Event"] == "TEMPLATESENDJOBFINISH"
    assert fields["MsgID"] == "200163836"
    assert fields["Status"] == "failed:user block"
    assert read_event(event_xml(fields)) == fields


@pytest.mark.parametrize(("body", "reason"), [
    (b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e "x">]><xml><MsgID>&e;</MsgID></xml>',
     "DOCTYPE"),
    (b"<xml>" + b"<A>x</A>" * 10_000 + b"</xml>", "over the limit"),
    (b"<xml><MsgID>1</MsgID>", "not well-formed"),
    (b"<event><MsgID>1</MsgID></event>", "not <xml>"),
])
def test_hostile_or_broken_event_xml_is_refused(body: bytes, reason: str) -> None:
    with pytest.raises(ReceiptError, match=reason):
        read_event(body)


@pytest.mark.parametrize(("status", "expected"), [
    ("success", ParsedReceipt("200163836", DeliveryStatus.DELIVERED)),
    ("failed:user block", ParsedReceipt("200163836", DeliveryStatus.FAILED, "user block")),
    ("failed: system failed", ParsedReceipt("200163836", DeliveryStatus.FAILED,
                                            "system failed")),
])
def test_the_send_job_status_becomes_the_delivery_status(status: str,
                                                         expected: ParsedReceipt) -> None:
    with running_api() as api, wechat_channel(api) as channel:
        assert channel.parse_receipt({"MsgID": "200163836", "Status": status}) == expected


@pytest.mark.parametrize(("raw", "field"), [
    ({"Status": "success"}, "MsgID"),
    ({"MsgID": "12ab", "Status": "success"}, "MsgID"),
    ({"MsgID": "1", "Status": "pending"}, "Status"),
])
def test_a_receipt_that_cannot_be_understood_names_its_field(raw: dict[str, str],
                                                             field: str) -> None:
    with running_api() as api, wechat_channel(api) as channel, \
            pytest.raises(ReceiptError) as refused:
        channel.parse_receipt(raw)
    assert refused.value.field == field
