"""A route with ``message_payload``: a long text in one submit_sm, its one receipt correlated."""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.model import Status
from publisher.channels.sms_encoding import DATA_CODING_UCS2, count_parts
from publisher.services.delivery import load_outgoing_message
from publisher.store.models import DeliveryStatus
from tests.integration.fanout_support import CHAOYANG, deliver_in_process, geocoded, publish
from tests.integration.sms_support import (
    LONG_INSTRUCTION,
    StartSmsc,
    add_subscribers,
    await_final,
    parts_of,
    route,
    sms_channel,
    smsc_factory,
)

__all__ = ["smsc_factory"]

NUMBER = "+8613800000701"
# The most a submit_sm's short_message field holds.
SHORT_MESSAGE_OCTETS = 254


def test_a_long_ucs2_text_goes_whole_in_message_payload_and_its_receipt_lands(
        session_factory: sessionmaker[Session], smsc_factory: StartSmsc) -> None:
    smsc = smsc_factory()
    channel = sms_channel({"message_payload": False,
                           "routes": [route("carrier", 0, smsc.port, message_payload=True)]})
    with session_factory() as session:
        add_subscribers(session, {NUMBER: (CHAOYANG, "zh-CN")})
        message_id = publish(session, status=Status.ACTUAL, areas=geocoded(CHAOYANG),
                             instruction=LONG_INSTRUCTION).id
        text = channel.render(load_outgoing_message(session, message_id), "zh-CN")
    try:
        deliver_in_process(session_factory, message_id, channel)
        [delivery] = await_final(session_factory, channel, message_id)
    finally:
        channel.close()

    [logged] = smsc.part_log().parts()
    # No header, no concatenation: the SMSC segments it, into this many SMS.
    assert (logged.esm_class, logged.reference, logged.header_length) == (0, None, 0)
    assert logged.data_coding == DATA_CODING_UCS2 and count_parts(text) == 3
    # Too long for short_message: the message_payload TLV carried it.
    assert len(logged.short_message) > SHORT_MESSAGE_OCTETS
    assert logged.short_message.decode("utf-16-be") == text
    [part] = parts_of(session_factory, delivery.id)
    assert (delivery.status, delivery.provider_id) == (DeliveryStatus.DELIVERED,
                                                       f"carrier:{int(logged.message_id, 16)}")
    assert (part.provider_id, part.status) == (delivery.provider_id, DeliveryStatus.DELIVERED)
