"""Two SMSCs as two routes: the secondary takes over while the primary is down, then hands back."""

from __future__ import annotations

import pytest
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.model import Status
from publisher.channels.base import TransientChannelError
from publisher.channels.sms import SmsChannel
from publisher.sim.smsc import FaultMode, SimulatorThread
from publisher.store.models import Delivery, DeliveryStatus
from tests.integration.fanout_support import (
    CHAOYANG,
    deliver_in_process,
    geocoded,
    publish,
    statuses,
)
from tests.integration.sms_support import (
    StartSmsc,
    add_subscribers,
    await_final,
    bound,
    eventually,
    parts_of,
    route,
    sms_channel,
    smsc_factory,
)

__all__ = ["smsc_factory"]

Factory = sessionmaker[Session]
SUBSCRIBERS = {"+8613800000601": (CHAOYANG, "zh-CN"), "+8613800000602": (CHAOYANG, "en-US")}
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _two_routes(primary: SimulatorThread, secondary: SimulatorThread,
                **options: object) -> SmsChannel:
    return sms_channel({"routes": [route("secondary", 2, secondary.port),
                                   route("primary", 1, primary.port, binds=2)],
                        **options})


def _alert(factory: Factory) -> int:
    with factory() as session:
        return publish(session, status=Status.ACTUAL, areas=geocoded(CHAOYANG)).id


def _delivered_over(factory: Factory, channel: SmsChannel, smsc: SimulatorThread,
                    route_name: str) -> None:
    """Sends an alert; checks every delivery went over ``route_name`` to ``smsc`` and landed."""
    before = {part.message_id for part in smsc.part_log().parts()}
    message_id = _alert(factory)
    deliver_in_process(factory, message_id, channel)
    found: list[Delivery] = await_final(factory, channel, message_id)
    taken = {int(part.message_id, 16) for part in smsc.part_log().parts()
             if part.message_id not in before}
    stored = set()
    for delivery in found:
        assert delivery.status is DeliveryStatus.DELIVERED, delivery.last_error
        for part in parts_of(factory, delivery.id):
            assert part.status is DeliveryStatus.DELIVERED
            name, _, number = part.provider_id.partition(":")
            assert name == route_name
            stored.add(int(number))
    assert stored == taken and len(found) == len(SUBSCRIBERS)


def test_the_secondary_route_carries_the_traffic_while_the_primary_is_down(
        session_factory: Factory, smsc_factory: StartSmsc) -> None:
    primary, secondary = smsc_factory("primary"), smsc_factory("secondary")
    with session_factory() as session:
        add_subscribers(session, SUBSCRIBERS)
    channel = _two_routes(primary, secondary)
    try:
        _delivered_over(session_factory, channel, primary, "primary")
        assert secondary.part_log().parts() == []

        primary.set_fault(FaultMode.DROP)
        eventually(lambda: not bound(channel, "primary"), "the primary's binds down")
        taken_by_primary = len(primary.part_log().parts())
        _delivered_over(session_factory, channel, secondary, "secondary")
        assert len(primary.part_log().parts()) == taken_by_primary

        primary.set_fault(FaultMode.NONE)
        eventually(lambda: bound(channel, "primary"), "a primary bind bound again")
        taken_by_secondary = len(secondary.part_log().parts())
        _delivered_over(session_factory, channel, primary, "primary")
        assert len(secondary.part_log().parts()) == taken_by_secondary
    finally:
        channel.close()


def test_with_every_route_down_the_batch_waits_naming_each_route(
        session_factory: Factory, smsc_factory: StartSmsc) -> None:
    primary = smsc_factory("primary", fault=FaultMode.DROP)
    secondary = smsc_factory("secondary", fault=FaultMode.DROP)
    with session_factory() as session:
        add_subscribers(session, SUBSCRIBERS)
    message_id = _alert(session_factory)
    channel = _two_routes(primary, secondary, bind_timeout=0.5)
    try:
        with pytest.raises(TransientChannelError) as raised:
            deliver_in_process(session_factory, message_id, channel)
    finally:
        channel.close()

    reason = raised.value.reason
    assert reason.startswith("no SMPP bind is up on any route: primary (primary-0 ")
    assert "primary-1 " in reason and "; secondary (secondary-0 " in reason
    with session_factory() as session:
        assert statuses(session, message_id) == {DeliveryStatus.QUEUED: len(SUBSCRIBERS)}
    assert primary.part_log().parts() == secondary.part_log().parts() == []
