"""Who a message reaches: areas, the test-target rule, batches, idempotent planning."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap import load_districts
from publisher.cap.model import Area, Circle, Point, Polygon, Status
from publisher.channels.base import DeliveryStatus
from publisher.channels.memory import MemoryChannel
from publisher.config import load_paths
from publisher.services.delivery import plan_fanout
from publisher.store.models import Delivery, Target
from tests.integration.fanout_support import (
    CHAOYANG,
    HAIDIAN,
    INSIDE_POLYGON,
    add_targets,
    deliver_in_process,
    geocoded,
    publish,
    session_factory,
    statuses,
)
from tests.services import postgres_url

__all__ = ["postgres_url", "session_factory"]

Factory = sessionmaker[Session]


def _addresses(channel: MemoryChannel) -> set[str]:
    return {entry.address for entry in channel.sink.entries()}


@pytest.mark.parametrize("status", [Status.EXERCISE, Status.TEST, Status.SYSTEM, Status.DRAFT])
def test_a_non_actual_message_with_only_public_targets_delivers_nothing(
        session_factory: Factory, status: Status) -> None:
    with session_factory() as session:
        add_targets(session, 300, is_test=False)
        add_targets(session, 20, is_test=False, location=INSIDE_POLYGON, district_code=None)
        message = publish(session, status=status)
    channel = MemoryChannel()
    assert deliver_in_process(session_factory, message.id, channel) == []
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == 0
    assert channel.sink.count() == 0


@pytest.mark.parametrize("status", [Status.EXERCISE, Status.TEST])
def test_an_exercise_reaches_the_test_targets_only(session_factory: Factory,
                                                   status: Status) -> None:
    with session_factory() as session:
        add_targets(session, 50, is_test=False, prefix="public")
        add_targets(session, 7, is_test=True, prefix="test")
        message = publish(session, status=status)
    channel = MemoryChannel()
    deliver_in_process(session_factory, message.id, channel, batch_size=3)
    reached = _addresses(channel)
    assert len(reached) == 7
    assert all(address.startswith("test-") for address in reached)
    with session_factory() as session:
        assert statuses(session, message.id) == {DeliveryStatus.DELIVERED: 7}


def test_an_actual_message_reaches_test_and_public_targets(session_factory: Factory) -> None:
    with session_factory() as session:
        add_targets(session, 50, is_test=False)
        add_targets(session, 7, is_test=True)
        message = publish(session, status=Status.ACTUAL)
    channel = MemoryChannel()
    deliver_in_process(session_factory, message.id, channel)
    assert channel.sink.count() == 57


@pytest.mark.parametrize(("code", "reached"), [
    ("110000", {"chaoyang", "haidian"}),
    ("110100", {"chaoyang", "haidian"}),
    (CHAOYANG, {"chaoyang"}),
    (HAIDIAN, {"haidian"}),
    ("120000", {"tianjin"}),
    ("110101", set()),
])
def test_geocodes_name_districts_and_the_units_within(session_factory: Factory, code: str,
                                                      reached: set[str]) -> None:
    with session_factory() as session:
        add_targets(session, 3, is_test=True, district_code=CHAOYANG, prefix="chaoyang")
        add_targets(session, 3, is_test=True, district_code=HAIDIAN, prefix="haidian")
        add_targets(session, 3, is_test=True, district_code="120101", prefix="tianjin")
        message = publish(session, areas=geocoded(code))
    channel = MemoryChannel()
    deliver_in_process(session_factory, message.id, channel)
    assert {address.split("-")[0] for address in _addresses(channel)} == reached


def test_polygons_and_circles_reach_located_targets(session_factory: Factory) -> None:
    with session_factory() as session:
        add_targets(session, 2, is_test=True, district_code=None, location=INSIDE_POLYGON,
                    prefix="inside")
        # Coded elsewhere, yet standing inside the drawn area: the drawing wins.
        add_targets(session, 1, is_test=True, district_code=HAIDIAN, location=INSIDE_POLYGON,
                    prefix="visitor")
        add_targets(session, 2, is_test=True, district_code=None, location=(116.30, 39.99),
                    prefix="outside")
        add_targets(session, 2, is_test=True, district_code=None, location=(116.41, 39.90),
                    prefix="circled")
        add_targets(session, 2, is_test=True, district_code=None, prefix="unlocated")
        areas = (
            Area(area_desc="朝阳", polygons=(Polygon.from_coordinates(
                [39.95, 116.45, 40.00, 116.52, 39.93, 116.58, 39.88, 116.50, 39.95, 116.45]),)),
            Area(area_desc="东城", circles=(Circle(Point(39.90, 116.40), 2.0),)),
        )
        message = publish(session, areas=areas)
    channel = MemoryChannel()
    deliver_in_process(session_factory, message.id, channel)
    assert {address.split("-")[0] for address in _addresses(channel)} == {
        "inside", "visitor", "circled"}


def test_a_geocode_reaches_uncoded_targets_inside_its_district_boundary(
        session_factory: Factory) -> None:
    districts = load_districts(load_paths().districts_file)
    chaoyang = districts.resolve_geocode("GB/T 2260", CHAOYANG)
    assert chaoyang is not None
    inside = chaoyang.geometry.representative_point()
    with session_factory() as session:
        add_targets(session, 2, is_test=True, district_code=None, location=(inside.x, inside.y),
                    prefix="uncoded")
        # A coded target is judged by its code, not by where the boundary runs.
        add_targets(session, 2, is_test=True, district_code=HAIDIAN,
                    location=(inside.x, inside.y), prefix="coded")
        message = publish(session, areas=geocoded(CHAOYANG))
    channel = MemoryChannel()
    deliver_in_process(session_factory, message.id, channel, districts=districts)
    assert {address.split("-")[0] for address in _addresses(channel)} == {"uncoded"}


def test_inactive_targets_and_other_channels_are_left_out(session_factory: Factory) -> None:
    with session_factory() as session:
        add_targets(session, 4, is_test=True)
        add_targets(session, 4, is_test=True, active=False, prefix="inactive")
        add_targets(session, 4, is_test=True, channel="sms", prefix="sms")
        message = publish(session)
    channel = MemoryChannel()
    deliver_in_process(session_factory, message.id, channel)
    assert channel.sink.count() == 4
    assert not any(address.startswith(("inactive", "sms")) for address in _addresses(channel))


def test_targets_are_planned_in_batches_of_the_configured_size(session_factory: Factory) -> None:
    with session_factory() as session:
        add_targets(session, 2500, is_test=True)
        message = publish(session)
    channel = MemoryChannel()
    batches = deliver_in_process(session_factory, message.id, channel, batch_size=1000)
    assert [len(batch) for batch in batches] == [1000, 1000, 500]
    assert len({delivery_id for batch in batches for delivery_id in batch}) == 2500
    assert channel.sink.count() == 2500
    assert channel.sink.repeats() == 0


def test_planning_again_writes_nothing_twice_and_hands_on_only_what_waits(
        session_factory: Factory) -> None:
    with session_factory() as session:
        add_targets(session, 30, is_test=True)
        message = publish(session)
        first = [ids for _, ids in plan_fanout(session, message.id, 10)]
        session.commit()
        handed = first[0]
        session.query(Delivery).filter(Delivery.id.in_(handed)).update(
            {"status": DeliveryStatus.SENT}, synchronize_session=False)
        session.commit()
        again = [ids for _, ids in plan_fanout(session, message.id, 10)]
        session.commit()
        assert sorted(i for batch in again for i in batch) == sorted(
            i for batch in first[1:] for i in batch)
        assert session.scalar(select(func.count()).select_from(Delivery)) == 30
        assert session.scalar(select(func.count()).select_from(Target)) == 30
