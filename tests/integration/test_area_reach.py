"""An area's reach, held against the deliveries the fan-out plans for a message over that area."""

from __future__ import annotations

import secrets
import tempfile
from collections.abc import Iterator
from functools import cache
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap import generate_demo_identity, load_districts
from publisher.cap.districts import DistrictTable
from publisher.cap.model import Area, Circle, NamedValue, Point, Polygon, Status
from publisher.config import load_paths
from publisher.services.actors import Actor
from publisher.services.area_reach import area_reach
from publisher.services.delivery import plan_fanout
from publisher.services.devices import add_device, device_spec
from publisher.services.district_names import DistrictNames
from publisher.services.district_nodes import add_node
from publisher.services.errors import Forbidden
from publisher.services.subscribers import (
    CHANNEL_OF_CONTACT,
    add_contact_point,
    follow_districts,
    new_subscriber,
    set_test,
)
from publisher.store.models import ContactKind, ContactPoint, Delivery, DistrictNode, Role, Target
from tests.integration.fanout_support import publish, session_factory
from tests.services import postgres_url

__all__ = ["postgres_url", "session_factory"]

Factory = sessionmaker[Session]
CHANNELS = ("led", "speaker", "sms", "wechat", "district")
AUTHOR = Actor(None, "author", frozenset({Role.AUTHOR}))
APPROVER = Actor(None, "approver", frozenset({Role.APPROVER}))
# (device id, kind, district, lon, lat, is_test)
FLEET = (
    ("led-chaoyang-west", "led", "110105", 116.46, 39.92, False),
    ("led-chaoyang-east", "led", "110105", 116.60, 39.95, False),
    ("led-chaoyang-test", "led", "110105", 116.50, 39.93, True),
    ("led-dongcheng", "led", "110101", 116.42, 39.91, False),
    ("led-haidian", "led", "110108", 116.30, 40.00, False),
    ("speaker-chaoyang", "speaker", "110105", 116.47, 39.93, False),
    ("speaker-huairou", "speaker", "110116", 116.63, 40.32, False),
)
# (districts followed, contact kinds, is_test)
SUBSCRIBERS = (
    (["110105"], [ContactKind.MSISDN, ContactKind.WECHAT_OPENID], False),
    (["110105", "110108"], [ContactKind.MSISDN], False),
    (["110108"], [ContactKind.WECHAT_OPENID], False),
    (["110000"], [ContactKind.MSISDN], False),
    (["110105"], [ContactKind.MSISDN], True),
    (["110116"], [ContactKind.MSISDN, ContactKind.WECHAT_OPENID], True),
)
NODES = ("110105", "110108", "110116")


@pytest.fixture(scope="module")
def table() -> DistrictTable:
    return load_districts(load_paths().districts_file)


@cache
def _certificate() -> str:
    _, certificate = generate_demo_identity(Path(tempfile.mkdtemp(prefix="reach-identity-")))
    return certificate.read_text()


def _address(kind: ContactKind) -> str:
    # Numbers unique across the tests of a session: contact points outlive their targets.
    digits = f"{secrets.randbelow(10**8):08d}"
    return f"+86139{digits}" if kind is ContactKind.MSISDN else f"o-reach-{digits}"


@pytest.fixture
def city(session_factory: Factory, table: DistrictTable) -> Iterator[Factory]:
    names = DistrictNames(table)
    with session_factory() as session:
        for device_id, kind, district, lon, lat, is_test in FLEET:
            add_device(session, device_spec({
                "device_id": device_id, "kind": kind, "district_code": district,
                "endpoint": f"http://127.0.0.1:9/devices/{device_id}", "lon": lon, "lat": lat,
                "is_test": is_test}, names))
        for followed, kinds, is_test in SUBSCRIBERS:
            subscriber = new_subscriber(session)
            for kind in kinds:
                add_contact_point(session, subscriber, kind, _address(kind))
            follow_districts(session, subscriber, followed)
            set_test(session, subscriber, is_test)
        for code in NODES:
            add_node(session, {"code": code, "url": f"http://127.0.0.1:9/nodes/{code}",
                               "certificate_pem": _certificate()}, names)
        session.commit()
    yield session_factory


def _ring(*pairs: tuple[float, float]) -> Polygon:
    points = tuple(Point(lat=lat, lon=lon) for lat, lon in pairs)
    return Polygon(points + points[:1])


def _geocoded(*codes: str) -> Area:
    return Area("districts", geocodes=tuple(NamedValue("GB/T 2260", code) for code in codes))


AREAS = {
    "Chaoyang": _geocoded("110105"),
    "Chaoyang and Haidian": _geocoded("110105", "110108"),
    "the whole city": _geocoded("110000"),
    "east Chaoyang, drawn": Area("east", polygons=(_ring(
        (39.90, 116.55), (39.90, 116.65), (40.00, 116.65), (40.00, 116.55)),)),
    "around Dongcheng, drawn": Area("centre", circles=(Circle(Point(39.91, 116.42), 3.0),)),
    "Huairou and a circle in Haidian": Area(
        "mixed", circles=(Circle(Point(40.00, 116.30), 1.0),),
        geocodes=(NamedValue("GB/T 2260", "110116"),)),
}


def _planned(session: Session, area: Area, status: Status,
             table: DistrictTable) -> dict[str, object]:
    """What the fan-out plans for a message over ``area``, counted as a reach is."""
    message = publish(session, areas=(area,), status=status)
    for _ in plan_fanout(session, message.id, 100, channels=CHANNELS, districts=table):
        pass
    session.flush()

    def targets(channel: str) -> object:
        return select(Delivery.target_id).where(Delivery.message_id == message.id,
                                                Delivery.channel == channel)

    reached = set(session.execute(
        select(Target.channel, Target.address).join(Delivery, Delivery.target_id == Target.id)
        .where(Delivery.message_id == message.id, Delivery.channel.in_(["sms", "wechat"]))))
    subscribers = {subscriber_id for kind, value, subscriber_id in session.execute(
        select(ContactPoint.kind, ContactPoint.value, ContactPoint.subscriber_id))
        if (CHANNEL_OF_CONTACT[kind], value) in reached}
    return {
        "led": session.scalar(select(func.count()).select_from(targets("led").subquery())),
        "speaker": session.scalar(select(func.count()).select_from(
            targets("speaker").subquery())),
        "subscribers": len(subscribers),
        "nodes": tuple(session.scalars(select(DistrictNode.code).where(
            DistrictNode.target_id.in_(targets("district"))).order_by(DistrictNode.code))),
    }


@pytest.mark.parametrize("status", [Status.ACTUAL, Status.EXERCISE])
@pytest.mark.parametrize("name", list(AREAS))
def test_the_reach_is_what_the_fanout_plans(city: Factory, table: DistrictTable, name: str,
                                            status: Status) -> None:
    area = AREAS[name]
    with city() as session:
        reach = area_reach(session, AUTHOR, area, table, status=status)
        planned = _planned(session, area, status, table)
        session.rollback()

    assert {"led": reach.devices["led"], "speaker": reach.devices["speaker"],
            "subscribers": reach.subscribers, "nodes": reach.nodes} == planned


@pytest.mark.parametrize(("name", "status", "districts", "led", "speaker", "subscribers",
                          "nodes"), [
    ("Chaoyang", Status.ACTUAL, ["110105"], 3, 1, 4, ("110105",)),
    ("Chaoyang", Status.EXERCISE, ["110105"], 1, 0, 1, ()),
    ("Chaoyang and Haidian", Status.ACTUAL, ["110105", "110108"], 4, 1, 5,
     ("110105", "110108")),
    # Subscribers follow districts and have no location: a drawn area reaches the
    # followers of every district it overlaps.
    ("east Chaoyang, drawn", Status.ACTUAL, ["110105", "110112"], 1, 0, 4, ()),
    ("Huairou and a circle in Haidian", Status.EXERCISE, ["110108", "110116"], 0, 0, 1, ()),
])
def test_the_reach_names_districts_and_counts_targets(
        city: Factory, table: DistrictTable, name: str, status: Status, districts: list[str],
        led: int, speaker: int, subscribers: int, nodes: tuple[str, ...]) -> None:
    with city() as session:
        reach = area_reach(session, APPROVER, AREAS[name], table, status=status)
    assert [district.code for district in reach.districts] == districts
    assert (reach.devices["led"], reach.devices["speaker"], reach.subscribers, reach.nodes) == \
        (led, speaker, subscribers, nodes)


def test_the_whole_city_names_all_sixteen_districts(city: Factory,
                                                    table: DistrictTable) -> None:
    with city() as session:
        reach = area_reach(session, AUTHOR, AREAS["the whole city"], table)
    assert len(reach.districts) == 16
    assert reach.nodes == NODES


def test_a_viewer_may_not_measure_a_reach(city: Factory, table: DistrictTable) -> None:
    viewer = Actor(None, "viewer", frozenset({Role.VIEWER}))
    with city() as session, pytest.raises(Forbidden) as refused:
        area_reach(session, viewer, AREAS["Chaoyang"], table)
    assert refused.value.field == "role"
