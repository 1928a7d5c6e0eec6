"""District rules on SMS routes: a route for the subscribers of some districts only.

Two SMSCs as two routes, the first for Chaoyang's subscribers (a number of Chaoyang, or one
that follows Chaoyang besides its own district), the second for everyone. Each SMSC's part
log says who it got; a route limited to districts nobody of the batch is in leaves them
unroutable, with the reason on the delivery row.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.model import Status
from publisher.channels.base import PermanentChannelError
from publisher.channels.sms_routes import read_routes
from publisher.store.models import DeliveryStatus, Target, TargetDistrict
from tests.integration.fanout_support import (
    CHAOYANG,
    HAIDIAN,
    deliver_in_process,
    geocoded,
    publish,
)
from tests.integration.sms_support import (
    StartSmsc,
    add_subscribers,
    await_final,
    logged_by_destination,
    parts_of,
    route,
    sms_channel,
    smsc_factory,
)

__all__ = ["smsc_factory"]

Factory = sessionmaker[Session]
IN_CHAOYANG = {"+8613800000701": (CHAOYANG, "zh-CN"), "+8613800000702": (CHAOYANG, "en-US")}
IN_HAIDIAN = {"+8613800000801": (HAIDIAN, "zh-CN"), "+8613800000802": (HAIDIAN, "en-US")}
# Lives in Haidian and follows Chaoyang too.
FOLLOWER = "+8613800000803"


def _subscribe(factory: Factory) -> None:
    with factory() as session:
        add_subscribers(session, {**IN_CHAOYANG, **IN_HAIDIAN, FOLLOWER: (HAIDIAN, "zh-CN")})
        follower = session.scalars(select(Target).where(Target.address == FOLLOWER)).one()
        session.add(TargetDistrict(target_id=follower.id, district_code=CHAOYANG))
        session.commit()


def _alert(factory: Factory) -> int:
    with factory() as session:
        return publish(session, status=Status.ACTUAL,
                       areas=geocoded(CHAOYANG) + geocoded(HAIDIAN)).id


def test_a_route_for_a_district_carries_its_subscribers_and_the_next_route_the_rest(
        session_factory: Factory, smsc_factory: StartSmsc) -> None:
    chaoyang, city = smsc_factory("chaoyang"), smsc_factory("city")
    _subscribe(session_factory)
    channel = sms_channel({"routes": [route("chaoyang", 0, chaoyang.port, districts=[CHAOYANG]),
                                      route("city", 1, city.port)]})
    try:
        assert channel.reads_target_districts
        message_id = _alert(session_factory)
        deliver_in_process(session_factory, message_id, channel)
        found = await_final(session_factory, channel, message_id)
    finally:
        channel.close()

    assert sorted(logged_by_destination(chaoyang.part_log().parts())) == sorted(
        [*IN_CHAOYANG, FOLLOWER])
    assert sorted(logged_by_destination(city.part_log().parts())) == sorted(IN_HAIDIAN)
    assert len(found) == len(IN_CHAOYANG) + len(IN_HAIDIAN) + 1
    for delivery in found:
        assert delivery.status is DeliveryStatus.DELIVERED, delivery.last_error
        assert delivery.num_segments == len(parts_of(session_factory, delivery.id))


def test_subscribers_of_no_district_a_route_is_for_are_unroutable(
        session_factory: Factory, smsc_factory: StartSmsc) -> None:
    chaoyang = smsc_factory("chaoyang")
    _subscribe(session_factory)
    channel = sms_channel({"routes": [route("chaoyang", 0, chaoyang.port,
                                            districts=[CHAOYANG])]})
    try:
        message_id = _alert(session_factory)
        deliver_in_process(session_factory, message_id, channel)
        found = await_final(session_factory, channel, message_id)
    finally:
        channel.close()

    by_address = {}
    with session_factory() as session:
        for delivery in found:
            target = session.get(Target, delivery.target_id)
            assert target is not None
            by_address[target.address] = delivery
    assert sorted(logged_by_destination(chaoyang.part_log().parts())) == sorted(
        [*IN_CHAOYANG, FOLLOWER])
    for address in IN_HAIDIAN:
        assert by_address[address].status is DeliveryStatus.FAILED
        assert by_address[address].last_error == (
            "no route carries this number: every route is limited to other prefixes"
            " or districts")


def test_a_channel_without_district_rules_does_not_ask_for_districts() -> None:
    channel = sms_channel({"routes": [route("primary", 0, 2775)]})
    try:
        assert not channel.reads_target_districts
    finally:
        channel.close()


@pytest.mark.parametrize("districts", ["110105", ["11010"], [110105], ["朝阳区"]])
def test_district_rules_that_are_no_district_codes_are_refused_naming_the_key(
        districts: Any) -> None:
    with pytest.raises(PermanentChannelError) as refused:
        read_routes({"routes": [route("primary", 0, 2775, districts=districts)]})
    assert refused.value.reason.startswith(
        "channel_options.sms.routes[0].districts: ") and "6-digit district codes" in (
        refused.value.reason)
