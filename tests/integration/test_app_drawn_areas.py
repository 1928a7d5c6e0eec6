"""Apps and subscribers follow districts: a polygon or a circle reaches those of every
district it overlaps."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from publisher.cap.districts import DistrictTable, load_districts
from publisher.cap.model import Area, Circle, Point, Polygon
from publisher.config import Settings
from publisher.services.apps import APP_CHANNEL, app_spec, register_app
from publisher.services.delivery import fan_out
from publisher.services.subscribers import (
    CHANNEL_OF_CONTACT,
    SMS_CHANNEL,
    WECHAT_CHANNEL,
    new_subscriber,
    update_subscriber,
)
from publisher.store.db import session_scope
from publisher.store.models import ContactKind, Delivery, Target, TargetDistrict
from tests.integration.fanout_support import geocoded, publish

FOLLOWED = {"dongcheng": ["110101"], "xicheng": ["110102"], "haidian": ["110108"],
            "whole-city": []}
# Across the line between Xicheng (west of 116.391) and Dongcheng, clear of Haidian.
ACROSS_XICHENG_AND_DONGCHENG = Area(area_desc="西城 东城", polygons=(Polygon((
    Point(39.90, 116.36), Point(39.90, 116.42), Point(39.93, 116.42), Point(39.93, 116.36),
    Point(39.90, 116.36))),))
IN_HAIDIAN = Area(area_desc="海淀", circles=(Circle(Point(40.05, 116.20), 2.0),))
# Along Dongcheng's western border from the outside: it touches Dongcheng and overlaps Xicheng.
TOUCHING_DONGCHENG = Area(area_desc="西城", polygons=(Polygon((
    Point(39.90, 116.36), Point(39.90, 116.391), Point(39.93, 116.391), Point(39.93, 116.36),
    Point(39.90, 116.36))),))


@pytest.fixture
def districts(center_settings: Settings) -> DistrictTable:
    return load_districts(center_settings.paths.districts_file)


def _register_apps(factory: sessionmaker[Session]) -> None:
    with session_scope(factory) as session:
        for name, codes in FOLLOWED.items():
            register_app(session, app_spec({"name": name, "districts": codes,
                                            "statuses": ["Actual", "Exercise"]}))


def _apps_reached(factory: sessionmaker[Session], area: Area,
                  districts: DistrictTable | None) -> set[str]:
    with factory() as session:
        message = publish(session, areas=(area,))
    fan_out(factory, message.id, 100, lambda _channel, _ids: None, channels=(APP_CHANNEL,),
            districts=districts)
    with factory() as session:
        return {address.removeprefix(f"{APP_CHANNEL}:") for address in session.scalars(
            select(Target.address).join(Delivery, Delivery.target_id == Target.id)
            .where(Delivery.message_id == message.id))}


@pytest.mark.parametrize(("area", "reached"), [
    (ACROSS_XICHENG_AND_DONGCHENG, {"dongcheng", "xicheng", "whole-city"}),
    (IN_HAIDIAN, {"haidian", "whole-city"}),
    (TOUCHING_DONGCHENG, {"xicheng", "whole-city"}),
    (geocoded("110108")[0], {"haidian", "whole-city"}),
], ids=["polygon-across-two", "circle-in-one", "polygon-touching-a-border", "geocode"])
def test_a_drawn_area_reaches_the_apps_of_the_districts_it_overlaps(
        session_factory: sessionmaker[Session], districts: DistrictTable, area: Area,
        reached: set[str]) -> None:
    _register_apps(session_factory)
    assert _apps_reached(session_factory, area, districts) == reached


def test_without_district_boundaries_a_drawn_area_reaches_no_app(
        session_factory: sessionmaker[Session]) -> None:
    # The boundaries are what says which districts an area overlaps.
    _register_apps(session_factory)
    assert _apps_reached(session_factory, ACROSS_XICHENG_AND_DONGCHENG, None) == set()


@pytest.mark.parametrize("channel", [SMS_CHANNEL, WECHAT_CHANNEL])
def test_a_drawn_area_reaches_the_subscribers_of_the_districts_it_overlaps(
        session_factory: sessionmaker[Session], districts: DistrictTable, channel: str) -> None:
    kind = {target: contact for contact, target in CHANNEL_OF_CONTACT.items()}[channel]
    with session_scope(session_factory) as session:
        for number, code in enumerate(("110101", "110102", "110108")):
            subscriber = new_subscriber(session, is_test=True)  # an Exercise reaches these
            address = (f"+86138000000{number:02d}" if kind is ContactKind.MSISDN
                       else f"openid-{code}")
            update_subscriber(session, subscriber, contact_points=[(kind, address)],
                              district_codes=[code])
    with session_factory() as session:
        message = publish(session, areas=(ACROSS_XICHENG_AND_DONGCHENG,))
    fan_out(session_factory, message.id, 100, lambda _channel, _ids: None, channels=(channel,),
            districts=districts)
    with session_factory() as session:
        reached = set(session.scalars(
            select(TargetDistrict.district_code).join(Delivery, Delivery.target_id ==
                                                      TargetDistrict.target_id)
            .where(Delivery.message_id == message.id)))
    assert reached == {"110101", "110102"}
