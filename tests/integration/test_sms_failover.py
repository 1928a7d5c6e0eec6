"""Two SMSCs as two routes: the secondary takes over while the primary is down, then hands back;
and a batch whose route dies under way sends the rest of it over the next route, none twice."""

from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.model import Status
from publisher.channels.base import TransientChannelError
from publisher.channels.sms import SmsChannel
from publisher.services.delivery_report import list_deliveries
from publisher.services.sms_inbound import drain_receipts
from publisher.sim.smsc import FaultMode, SimulatorThread
from publisher.store.models import Delivery, DeliveryStatus, Message
from tests.channels.twilio_support import rest_route, running_twilio
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
    deliveries,
    eventually,
    logged_by_destination,
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


CROWD = {f"+86138000061{index:02d}": (CHAOYANG, "zh-CN" if index % 2 else "en-US")
         for index in range(40)}
# Messages over the primary before it stops: well into the batch, far from its end.
BEFORE_THE_STOP = 5


def _stop_answering_then_drop(smsc: SimulatorThread) -> None:
    """The SMSC goes as the demo's does: it stops taking parts, then cuts its binds."""
    smsc.set_fault(FaultMode.SILENT)
    time.sleep(0.05)
    smsc.set_fault(FaultMode.DROP)


def _repeated(numbers: list[str]) -> set[str]:
    """The numbers an SMSC logged a message for twice: only where the bind lost the SMSC's
    answer when the SMSC went, and so submitted a part again and counted it on the row."""
    return {number for number in numbers if numbers.count(number) > 1}


def _first_parts(smsc: SimulatorThread) -> list[str]:
    """The numbers the SMSC logged a message for (its first part), once per message."""
    return [number for number, parts in logged_by_destination(smsc.part_log().parts()).items()
            for part in parts if part.sequence in (None, 1)]


def _recorded(factory: Factory, channel: SmsChannel, message_id: int) -> list[Delivery]:
    """The message's deliveries once the receipts that came so far are recorded."""
    drain_receipts(channel, factory)
    return deliveries(factory, message_id)


def _batch_under_way(factory: Factory, channel: SmsChannel, primary: SimulatorThread
                     ) -> tuple[int, threading.Thread]:
    """An alert's batch sending in a thread, with some of it taken by the primary."""
    eventually(lambda: bound(channel, "primary"), "the primary bound")
    message_id = _alert(factory)
    sending = threading.Thread(target=deliver_in_process, args=(factory, message_id, channel))
    sending.start()
    eventually(lambda: len(_first_parts(primary)) >= BEFORE_THE_STOP,
               "the batch under way over the primary")
    return message_id, sending


def test_a_batch_whose_route_dies_sends_its_remainder_over_the_next_route_once(
        session_factory: Factory, smsc_factory: StartSmsc) -> None:
    primary = smsc_factory("primary")
    with session_factory() as session:
        add_subscribers(session, CROWD)
    with running_twilio(callback_delay=60) as api:
        # Slow enough that the batch of 40 takes seconds over the primary.
        channel = sms_channel({"routes": [route("primary", 0, primary.port, rate=20, window=2),
                                          rest_route("rest", 1, api)]})
        try:
            message_id, sending = _batch_under_way(session_factory, channel, primary)
            _stop_answering_then_drop(primary)
            eventually(api.taken, "the rest over the REST route")
            # What the primary's bind held when it went goes out when it comes back.
            primary.set_fault(FaultMode.NONE)
            sending.join(60)
            assert not sending.is_alive()
            over_rest = api.taken()
            eventually(lambda: all(
                delivery.status is DeliveryStatus.DELIVERED
                for delivery in _recorded(session_factory, channel, message_id)
                if (delivery.provider_id or "").startswith("primary:")),
                "the primary's deliveries delivered")
        finally:
            channel.close()

    over_primary = _first_parts(primary)
    rest_numbers = [text.to for text in over_rest]
    rows = deliveries(session_factory, message_id)
    segments = {text.to: text.num_segments for text in over_rest}
    with session_factory() as session:
        alert_id = session.scalars(select(Message.alert_id).where(Message.id == message_id)).one()
        listed = {item["id"]: item for item in list_deliveries(
            session, alert_id, "sms", per_page=100)["items"]}
    assert len(over_primary) >= BEFORE_THE_STOP and rest_numbers
    # Each number over one route, and once over it: the failover never sends a text twice.
    assert not set(over_primary) & set(rest_numbers), set(over_primary) & set(rest_numbers)
    assert set(over_primary) | set(rest_numbers) == set(CROWD)
    assert not _repeated(rest_numbers), _repeated(rest_numbers)
    admitted = {listed[delivery.id]["address"] for delivery in rows if delivery.duplicates}
    assert _repeated(over_primary) <= admitted, (_repeated(over_primary), admitted)
    for delivery in rows:
        name = (delivery.provider_id or "").split(":")[0]
        address = listed[delivery.id]["address"]
        if name == "rest":
            assert delivery.num_segments == segments[address]
            assert "failover: sent over route rest; passed over primary (primary-0 " in (
                delivery.last_error or "")
        else:
            assert name == "primary", delivery
            assert delivery.num_segments == len(parts_of(session_factory, delivery.id))
        assert listed[delivery.id]["num_segments"] == delivery.num_segments


def test_a_batch_whose_smsc_stops_answering_sends_its_remainder_over_the_next_route(
        session_factory: Factory, smsc_factory: StartSmsc) -> None:
    primary = smsc_factory("primary")
    with session_factory() as session:
        add_subscribers(session, CROWD)
    with running_twilio(callback_delay=60) as api:
        channel = sms_channel({"routes": [
            route("primary", 0, primary.port, rate=20, window=2, response_timeout=1),
            rest_route("rest", 1, api)]})
        try:
            message_id, sending = _batch_under_way(session_factory, channel, primary)
            # Its binds stay bound; it takes nothing more and answers nothing.
            primary.set_fault(FaultMode.SILENT)
            sending.join(60)
            assert not sending.is_alive()
            assert bound(channel, "primary")
            over_rest = [text.to for text in api.taken()]
        finally:
            channel.close()

    rows = deliveries(session_factory, message_id)
    with session_factory() as session:
        alert_id = session.scalars(select(Message.alert_id).where(Message.id == message_id)).one()
        addresses = {item["id"]: item["address"] for item in list_deliveries(
            session, alert_id, "sms", per_page=100)["items"]}
    over_primary = set(_first_parts(primary))
    # Taken by the primary before it fell silent (a part or all), handed to its bind and
    # not answered (the bind keeps them), or sent over the REST route, once: never both.
    handed = {addresses[delivery.id] for delivery in rows
              if delivery.provider_id is None and "unanswered" in (delivery.last_error or "")}
    assert over_rest and handed and len(over_rest) == len(set(over_rest))
    assert not (over_primary | handed) & set(over_rest)
    assert over_primary | handed | set(over_rest) == set(CROWD)
    for delivery in rows:
        if addresses[delivery.id] in over_rest:
            assert "failover: sent over route rest; passed over primary (not answering)" in (
                delivery.last_error or ""), delivery.last_error
