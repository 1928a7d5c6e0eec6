"""Which boards and speakers a message reaches: registered devices through fan-out planning."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap import load_districts
from publisher.cap.districts import DistrictTable
from publisher.cap.model import Area, Circle, Point, Polygon, Status
from publisher.config import load_paths
from publisher.services.delivery import plan_fanout
from publisher.services.devices import add_device, device_spec, remove_device
from publisher.services.district_names import DistrictNames
from publisher.store.models import Delivery, Device, Target
from tests.integration.fanout_support import CHAOYANG, geocoded, publish, session_factory
from tests.services import postgres_url

__all__ = ["postgres_url", "session_factory"]

Factory = sessionmaker[Session]
LED, SPEAKER = "led", "speaker"
# Chaoyang's western edge runs along the meridian 116.445 (Dongcheng on the other side).
BORDER_LON = 116.445
# (device id, kind, district, lon, lat)
FLEET = (
    ("led-chaoyang-west", LED, "110105", 116.46, 39.92),
    ("led-chaoyang-east", LED, "110105", 116.60, 39.95),
    ("led-dongcheng", LED, "110101", 116.43, 39.91),
    ("led-haidian", LED, "110108", 116.30, 40.00),
    ("led-border", LED, "110105", BORDER_LON, 39.90),
    ("speaker-chaoyang", SPEAKER, "110105", 116.47, 39.93),
)


@pytest.fixture(scope="module")
def table() -> DistrictTable:
    return load_districts(load_paths().districts_file)


@pytest.fixture
def fleet(session_factory: Factory, table: DistrictTable) -> Iterator[Factory]:
    names = DistrictNames(table)
    with session_factory() as session:
        for device_id, kind, district, lon, lat in FLEET:
            add_device(session, device_spec({
                "device_id": device_id, "kind": kind, "district_code": district,
                "endpoint": f"http://127.0.0.1:9/devices/{device_id}", "lon": lon, "lat": lat,
            }, names))
        session.commit()
    yield session_factory


def _ring(*pairs: tuple[float, float]) -> Polygon:
    points = tuple(Point(lat=lat, lon=lon) for lat, lon in pairs)
    return Polygon(points + points[:1])


def _reached(factory: Factory, table: DistrictTable, areas: tuple[Area, ...],
             channel: str = LED, status: Status = Status.ACTUAL) -> set[str]:
    with factory() as session:
        message = publish(session, areas=areas, status=status)
        for _ in plan_fanout(session, message.id, 100, channels=(channel,), districts=table):
            pass
        session.commit()
        return set(session.scalars(
            select(Device.device_id).join(Delivery, Delivery.target_id == Device.target_id)
            .where(Delivery.message_id == message.id)))


def test_a_polygon_reaches_the_boards_inside(fleet: Factory, table: DistrictTable) -> None:
    east = Area("east Chaoyang", polygons=(_ring(
        (39.90, 116.55), (39.90, 116.65), (40.00, 116.65), (40.00, 116.55)),))
    assert _reached(fleet, table, (east,)) == {"led-chaoyang-east"}


def test_a_circle_reaches_the_boards_within_its_radius(fleet: Factory,
                                                       table: DistrictTable) -> None:
    # 3 km around the west Chaoyang board: Dongcheng's board is 2.8 km away, the
    # border board 2.3 km, the east Chaoyang board 12 km.
    circle = Area("3 km", circles=(Circle(Point(lat=39.92, lon=116.46), 3.0),))
    assert _reached(fleet, table, (circle,)) == {"led-chaoyang-west", "led-dongcheng",
                                                 "led-border"}


def test_a_geocode_reaches_every_board_of_its_district(fleet: Factory,
                                                       table: DistrictTable) -> None:
    assert _reached(fleet, table, geocoded(CHAOYANG)) == {
        "led-chaoyang-west", "led-chaoyang-east", "led-border"}
    assert _reached(fleet, table, geocoded(CHAOYANG), channel=SPEAKER) == {"speaker-chaoyang"}


def test_an_area_across_district_borders_reaches_both_sides(fleet: Factory,
                                                            table: DistrictTable) -> None:
    across = Area("across", polygons=(_ring(
        (39.90, 116.42), (39.90, 116.47), (39.93, 116.47), (39.93, 116.42)),))
    assert _reached(fleet, table, (across,)) == {"led-chaoyang-west", "led-dongcheng",
                                                 "led-border"}


def test_an_area_with_no_board_inside_reaches_none(fleet: Factory, table: DistrictTable) -> None:
    far_north = Area("Yanqing fields", polygons=(_ring(
        (40.50, 115.95), (40.50, 116.00), (40.55, 116.00), (40.55, 115.95)),))
    assert _reached(fleet, table, (far_north,)) == set()


def test_a_board_exactly_on_the_border_of_the_area_is_reached(fleet: Factory,
                                                              table: DistrictTable) -> None:
    west_of_edge = Area("west of the edge", polygons=(_ring(
        (39.85, 116.40), (39.85, BORDER_LON), (39.95, BORDER_LON), (39.95, 116.40)),))
    assert _reached(fleet, table, (west_of_edge,)) == {"led-border", "led-dongcheng"}


def test_a_removed_board_is_reached_no_more_and_keeps_its_deliveries(
        fleet: Factory, table: DistrictTable) -> None:
    assert "led-haidian" in _reached(fleet, table, geocoded("110108"))
    with fleet() as session:
        target_id = session.scalars(select(Device.target_id)
                                    .where(Device.device_id == "led-haidian")).one()
        remove_device(session, "led-haidian")
        session.commit()
    assert _reached(fleet, table, geocoded("110108")) == set()
    with fleet() as session:
        assert session.get_one(Target, target_id).active is False
        assert session.scalars(select(Delivery.id)
                               .where(Delivery.target_id == target_id)).all() != []


def test_an_exercise_reaches_only_test_boards(fleet: Factory, table: DistrictTable) -> None:
    assert _reached(fleet, table, geocoded(CHAOYANG), status=Status.EXERCISE) == set()
    with fleet() as session:
        session.scalars(select(Target).join(Device, Device.target_id == Target.id)
                        .where(Device.device_id == "led-chaoyang-east")).one().is_test = True
        session.commit()
    assert _reached(fleet, table, geocoded(CHAOYANG), status=Status.EXERCISE) == {
        "led-chaoyang-east"}
