"""SMPP first, the REST API second: the SMSC dies in the middle of an alert, the rest of it goes
over the REST route, and the next alert goes over SMPP again. Every subscriber is delivered
exactly once, which the SMSC's part log and the REST simulator's log reconcile, and the
failover is on the delivery rows and, written by the worker's inbound pump, in the audit log."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.model import Status
from publisher.channels.base import DeliveryStatus
from publisher.services.delivery import fan_out, send_batch
from publisher.services.sms_failover_audit import FAILOVER_ACTION
from publisher.services.sms_inbound import InboundPump
from publisher.sim.smsc import FaultMode
from publisher.store.models import AuditEntry, Message
from tests.channels.twilio_support import rest_route, running_twilio
from tests.integration.fanout_support import CHAOYANG, geocoded, publish
from tests.integration.sms_support import (
    StartSmsc,
    add_subscribers,
    await_final,
    bound,
    deliveries,
    eventually,
    logged_by_destination,
    route,
    sms_channel,
    smsc_factory,
)
from tests.integration.subscriber_support import DISTRICTS

__all__ = ["smsc_factory"]

Factory = sessionmaker[Session]
SUBSCRIBERS = {f"+86138000009{index:02d}": (CHAOYANG, "zh-CN" if index % 2 else "en-US")
               for index in range(12)}
BATCH = 3
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def _alert(factory: Factory) -> int:
    with factory() as session:
        return publish(session, status=Status.ACTUAL, areas=geocoded(CHAOYANG)).id


def test_the_smsc_dies_mid_alert_the_rest_goes_over_rest_and_comes_back(
        session_factory: Factory, smsc_factory: StartSmsc) -> None:
    smsc = smsc_factory("primary")
    with session_factory() as session:
        add_subscribers(session, SUBSCRIBERS)
    with running_twilio(callback_delay=0.05) as api:
        channel = sms_channel({"routes": [route("smpp", 0, smsc.port),
                                          rest_route("rest", 1, api)]})
        try:
            eventually(lambda: bound(channel, "smpp"), "the SMPP bind bound")
            message_id = _alert(session_factory)
            batches: list[list[int]] = []
            fan_out(session_factory, message_id, BATCH, lambda _name, ids: batches.append(ids),
                    channels=("sms",))
            assert len(batches) == len(SUBSCRIBERS) // BATCH
            send_batch(session_factory, channel, batches[0])
            smsc.set_fault(FaultMode.DROP)
            eventually(lambda: not bound(channel, "smpp"), "the SMSC gone")
            for batch in batches[1:]:
                send_batch(session_factory, channel, batch)
            first_rows = deliveries(session_factory, message_id)
            # The worker's inbound pump writes the failovers the channel noted.
            InboundPump(channel, session_factory, DISTRICTS).drain()

            smsc.set_fault(FaultMode.NONE)
            eventually(lambda: bound(channel, "smpp"), "the SMSC back")
            second = _alert(session_factory)
            fan_out(session_factory, second, 1000,
                    lambda _name, ids: send_batch(session_factory, channel, ids),
                    channels=("sms",))
            found = await_final(session_factory, channel, second)
        finally:
            channel.close()
        over_rest = api.taken()

    assert all(delivery.provider_id and delivery.provider_id.startswith("smpp:")
               for delivery in found)
    smsc_numbers = logged_by_destination(smsc.part_log().parts())
    rest_numbers = [text.to for text in over_rest]
    first_batch = BATCH
    # Each subscriber got the first alert once: by SMPP (the first batch) or by REST.
    assert len(rest_numbers) == len(set(rest_numbers)) == len(SUBSCRIBERS) - first_batch
    for number in SUBSCRIBERS:
        over_smpp = sum(1 for part in smsc_numbers.get(number, []) if part.sequence in (None, 1))
        assert over_smpp + rest_numbers.count(number) == 2, number
    with session_factory() as session:
        [entry] = session.scalars(select(AuditEntry)
                                  .where(AuditEntry.action == FAILOVER_ACTION)).all()
        message = session.get(Message, message_id)
        assert message is not None and entry.alert_id == message.alert_id
    assert entry.actor == "system:sms-routes" and entry.detail["route"] == "rest"
    assert entry.reason is not None and entry.reason.startswith(
        "sent over route rest; passed over smpp (smpp-0 ")
    # The entry counts the batch that first went over the REST route.
    assert entry.detail["deliveries"] == BATCH
    by_route: dict[str, int] = {}
    for delivery in first_rows:
        assert delivery.status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)
        assert delivery.provider_id is not None
        name = delivery.provider_id.split(":")[0]
        by_route[name] = by_route.get(name, 0) + 1
        if name == "rest":
            assert "failover: sent over route rest; passed over smpp" in (
                delivery.last_error or "")
    assert by_route == {"smpp": first_batch, "rest": len(SUBSCRIBERS) - first_batch}
