"""A bind dropped in the middle of a window: nothing lost, every possible duplicate counted."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.model import Status
from publisher.channels.sms import SmsChannel
from publisher.services.sms_inbound import drain_receipts
from publisher.sim.smsc import SimulatorThread
from publisher.store.models import Delivery, DeliveryStatus, Receipt, ReceiptOutcome, Target
from tests.integration.fanout_support import (
    CHAOYANG,
    HAIDIAN,
    deliver_in_process,
    geocoded,
    publish,
)
from tests.integration.lossy_link import LossyLink
from tests.integration.sms_support import (
    StartSmsc,
    add_subscribers,
    await_final,
    bound,
    eventually,
    logged_by_destination,
    parts_of,
    single_route,
    sms_channel,
    smsc_factory,
)

__all__ = ["smsc_factory"]

Factory = sessionmaker[Session]
WINDOW = 8
SUBSCRIBERS = {f"+86138000005{index:02d}": (CHAOYANG if index % 2 else HAIDIAN,
                                            "zh-CN" if index % 3 else "en-US")
               for index in range(20)}
pytestmark = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


@pytest.fixture
def link(smsc_factory: StartSmsc) -> Iterator[tuple[SimulatorThread, LossyLink]]:
    smsc = smsc_factory()
    lossy = LossyLink(smsc.port)
    yield smsc, lossy
    lossy.close()


def _dropped_mid_window(factory: Factory, channel: SmsChannel, smsc: SimulatorThread,
                       drop: Callable[[], None]) -> tuple[dict[int, int], dict[int, int], int]:
    """An alert to every subscriber, with ``drop`` once the SMSC took a window of parts.

    Returns the duplicates counted by delivery, those the part log shows,
    and the receipts that matched nothing (see ``_reconciled``).
    """
    with factory() as session:
        add_subscribers(session, SUBSCRIBERS)
        message_id = publish(session, status=Status.ACTUAL,
                             areas=geocoded(CHAOYANG) + geocoded(HAIDIAN)).id
    try:
        with ThreadPoolExecutor(1) as pool:
            sent = pool.submit(deliver_in_process, factory, message_id, channel)
            eventually(lambda: len(smsc.part_log().parts()) >= WINDOW,
                       "a window of parts taken by the SMSC")
            drop()
            sent.result(timeout=60)
        in_log, unmatched = _reconciled(factory, channel, smsc, message_id)
    finally:
        channel.close()
    with factory() as session:
        counted = dict(session.execute(select(Delivery.id, Delivery.duplicates)).all())
    return counted, in_log, unmatched


def _reconciled(factory: Factory, channel: SmsChannel, smsc: SimulatorThread,
                message_id: int) -> tuple[dict[int, int], int]:
    """Checks that every message reached the SMSC whole and was delivered.

    Returns the duplicates the part log shows by delivery, and the receipts
    that matched nothing once every part's receipt came in.
    """
    found = await_final(factory, channel, message_id)
    logged = smsc.part_log().parts()

    def every_receipt() -> bool:
        drain_receipts(channel, factory)
        with factory() as session:
            return len(session.scalars(select(Receipt.id)).all()) >= len(logged)

    eventually(every_receipt, f"a receipt for each of the {len(logged)} logged parts")
    by_destination = logged_by_destination(logged)
    with factory() as session:
        addresses = dict(session.execute(
            select(Delivery.id, Target.address).join(Target, Target.id == Delivery.target_id)
            .where(Delivery.message_id == message_id)).all())
        unknown = session.scalars(select(Receipt.id).where(
            Receipt.outcome == ReceiptOutcome.UNKNOWN)).all()
    duplicates: dict[int, int] = {}
    for delivery in found:
        assert delivery.status is DeliveryStatus.DELIVERED, delivery.last_error
        parts = parts_of(factory, delivery.id)
        received = by_destination[addresses[delivery.id]]
        # Every part of the message is in the log, some more than once.
        assert {part.sequence or 1 for part in received} == set(range(1, len(parts) + 1))
        duplicates[delivery.id] = len(received) - len(parts)
    assert set(by_destination) == set(SUBSCRIBERS)
    return duplicates, len(unknown)


def test_answers_lost_with_the_bind_are_counted_as_the_duplicates_they_make(
        session_factory: Factory, link: tuple[SimulatorThread, LossyLink]) -> None:
    smsc, lossy = link
    channel = sms_channel(single_route(lossy.port, window=WINDOW, rate=1000))
    eventually(lambda: bound(channel, "primary"), "the bind is bound")
    lossy.lose_answers()

    counted, in_log, unmatched = _dropped_mid_window(session_factory, channel, smsc, lossy.cut)

    assert counted == in_log
    # The whole window was outstanding when the bind dropped.
    assert sum(counted.values()) >= WINDOW
    # Each first copy's receipt names an id the channel never heard of.
    assert unmatched == sum(in_log.values())


def test_a_bind_the_smsc_drops_mid_window_loses_nothing_and_counts_each_duplicate(
        session_factory: Factory, smsc_factory: StartSmsc) -> None:
    smsc = smsc_factory()
    channel = sms_channel(single_route(smsc.port, window=WINDOW, rate=100))

    counted, in_log, unmatched = _dropped_mid_window(session_factory, channel, smsc,
                                                     smsc.drop_binds)

    # A part outstanding at the drop may not have reached the SMSC: counted,
    # but not in the log. Every duplicate in the log is counted.
    for delivery_id, duplicates in in_log.items():
        assert counted[delivery_id] >= duplicates
    assert unmatched == sum(in_log.values())
