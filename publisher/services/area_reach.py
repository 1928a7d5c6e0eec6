"""What an area reaches before anything is sent: districts, devices, subscribers, district nodes.

The composer sees it while picking districts or drawing a polygon or a
circle, so that nobody warns a whole city when they meant one district. It
is resolved exactly as the fan-out resolves a message's targets
(``targets.AreaSelection``: district codes in SQL, locations a page of
points at a time), channel by channel, without writing a delivery row. An
Exercise or a Test reaches only test targets, here as in the fan-out.

A subscriber is counted once, however many of their numbers and openids the
area reaches; boards and speakers are counted by kind; district nodes are
named by their district code.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select, union
from sqlalchemy.orm import Session

from publisher.cap.areas import districts_of_area
from publisher.cap.districts import GB_T_2260, District, DistrictTable, UnknownDistrictError
from publisher.cap.model import (
    Alert,
    Area,
    Category,
    Certainty,
    Circle,
    Info,
    MsgType,
    NamedValue,
    Point,
    Polygon,
    Scope,
    Severity,
    Status,
    Urgency,
)
from publisher.cap.problems import errors_of
from publisher.cap.rules_area import check_area
from publisher.services.actors import Actor
from publisher.services.district_nodes import DISTRICT_CHANNEL
from publisher.services.drawn_area_followers import (
    DISTRICT_FOLLOWING_CHANNELS,
    with_overlapped_districts,
)
from publisher.services.errors import Forbidden, InvalidInput
from publisher.services.previews import PREVIEW_ROLES
from publisher.services.subscribers import CHANNEL_OF_CONTACT
from publisher.services.targets import (
    AreaSelection,
    eligible_targets,
    reaches_only_test_targets,
    select_located_target_ids,
)
from publisher.store.models import ContactPoint, DeviceKind, DistrictNode, Target

__all__ = ["REACH_ROLES", "Reach", "alert_reach", "area_reach", "read_area"]

REACH_ROLES = PREVIEW_ROLES
DISTRICT_LEVEL = "district"
_PAGE_SIZE = 1000
_AREA_DESCRIPTION = "area reach"
_BODY_FIELDS = ("districts", "polygons", "circles", "status")


@dataclass(frozen=True, slots=True)
class Reach:
    """Who an area reaches: its districts, devices by kind (``DeviceKind``), subscribers, and
    district nodes."""

    districts: tuple[District, ...]
    devices: Mapping[str, int]
    subscribers: int
    nodes: tuple[str, ...]


def _require_reach_role(actor: Actor) -> None:
    if not any(actor.has_role(role) for role in REACH_ROLES):
        needed = " or ".join(str(role) for role in REACH_ROLES)
        raise Forbidden(f"measuring an area's reach needs the {needed} role, which"
                        f" {actor.name} does not have", field="role")


class _Resolver:
    """The targets a selection reaches on each channel, as a SQL condition on ``Target``."""

    def __init__(self, session: Session, alert: Alert, districts: DistrictTable) -> None:
        self._session = session
        self._selection = AreaSelection.of_alert(alert, districts)
        # As fan-out plans it (``fanout_scope``): followers of districts are
        # reached through every district a drawn area overlaps.
        self._followed = AreaSelection.of_alert(with_overlapped_districts(alert, districts),
                                                districts)
        self._test_only = reaches_only_test_targets(alert.status.value)

    def reached(self, channel: str) -> ColumnElement[bool]:
        selection = (self._followed if channel in DISTRICT_FOLLOWING_CHANNELS
                     else self._selection)
        located = [target_id for page in select_located_target_ids(
            self._session, channel, selection, test_only=self._test_only,
            page_size=_PAGE_SIZE) for target_id in page]
        return and_(*eligible_targets(channel, test_only=self._test_only),
                    or_(selection.code_condition(), Target.id.in_(located)))

    def count(self, channel: str) -> int:
        return self._session.scalar(
            select(func.count()).select_from(Target).where(self.reached(channel))) or 0

    def subscribers(self) -> int:
        # A union, not a sum: one person's number and openid are one subscriber.
        reached = union(*(
            select(ContactPoint.subscriber_id)
            .join(Target, and_(Target.channel == channel, Target.address == ContactPoint.value))
            .where(ContactPoint.kind == kind, self.reached(channel))
            for kind, channel in CHANNEL_OF_CONTACT.items())).subquery()
        return self._session.scalar(select(func.count()).select_from(reached)) or 0

    def nodes(self) -> tuple[str, ...]:
        return tuple(self._session.scalars(
            select(DistrictNode.code).join(Target, Target.id == DistrictNode.target_id)
            .where(self.reached(DISTRICT_CHANNEL)).order_by(DistrictNode.code)))


def _districts(alert: Alert, table: DistrictTable) -> tuple[District, ...]:
    found = {district.code: district for info in alert.infos for area in info.areas
             for district in districts_of_area(area, table) if district.level == DISTRICT_LEVEL}
    return tuple(found[code] for code in sorted(found))


def alert_reach(session: Session, actor: Actor, alert: Alert, districts: DistrictTable) -> Reach:
    """Who the areas of ``alert`` (a draft, or a message) reach, as its fan-out would."""
    _require_reach_role(actor)
    resolver = _Resolver(session, alert, districts)
    return Reach(
        districts=_districts(alert, districts),
        devices=MappingProxyType({kind.value: resolver.count(kind.channel)
                                  for kind in DeviceKind}),
        subscribers=resolver.subscribers(),
        nodes=resolver.nodes())


def _carrier(area: Area, status: Status) -> Alert:
    """An alert that holds only ``area``: targets are resolved from an alert's areas and status."""
    info = Info(categories=(Category.SAFETY,), event=_AREA_DESCRIPTION, urgency=Urgency.UNKNOWN,
                severity=Severity.UNKNOWN, certainty=Certainty.UNKNOWN, areas=(area,))
    return Alert(identifier=_AREA_DESCRIPTION, sender=_AREA_DESCRIPTION,
                 sent=datetime.now(UTC), status=status, msg_type=MsgType.ALERT,
                 scope=Scope.PUBLIC, infos=(info,))


def area_reach(session: Session, actor: Actor, area: Area, districts: DistrictTable, *,
               status: Status = Status.ACTUAL) -> Reach:
    """Who ``area`` reaches with a message of ``status`` (an Exercise: test targets only)."""
    return alert_reach(session, actor, _carrier(area, status), districts)


def _list(body: Mapping[str, Any], name: str) -> list[Any]:
    value = body.get(name, [])
    if not isinstance(value, list):
        raise InvalidInput("must be a list", field=name)
    return value


def _number(value: Any, field: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise InvalidInput(f"{value!r} is not a finite number", field=field)
    return float(value)


def _point(value: Any, field: str) -> Point:
    if not isinstance(value, Mapping) or set(value) != {"lat", "lon"}:
        raise InvalidInput('must be a point {"lat": number, "lon": number}', field=field)
    return Point(_number(value["lat"], f"{field}.lat"), _number(value["lon"], f"{field}.lon"))


def _polygon(value: Any, field: str) -> Polygon:
    if not isinstance(value, list):
        raise InvalidInput('must be a closed ring: a list of {"lat", "lon"} points', field=field)
    return Polygon(_point(point, f"{field}[{index}]") for index, point in enumerate(value))


def _circle(value: Any, field: str) -> Circle:
    if not isinstance(value, Mapping) or set(value) != {"center", "radiusKm"}:
        raise InvalidInput('must be {"center": {"lat", "lon"}, "radiusKm": number}', field=field)
    return Circle(_point(value["center"], f"{field}.center"),
                  _number(value["radiusKm"], f"{field}.radiusKm"))


def _checked(area: Area, field: str) -> None:
    """The CAP rules of one shape (a ring closed, of four points, on the globe)."""
    errors = errors_of(check_area(area, ""))
    if errors:
        raise InvalidInput(errors[0].reason, field=field)


def _geocodes(codes: Sequence[Any], table: DistrictTable) -> tuple[NamedValue, ...]:
    for index, code in enumerate(codes):
        if not isinstance(code, str):
            raise InvalidInput(f"{code!r} is not a district code", field=f"districts[{index}]")
        try:
            table.get(code)
        except UnknownDistrictError as error:
            raise InvalidInput(error.message, field=f"districts[{index}]") from None
    return tuple(NamedValue(GB_T_2260, code) for code in dict.fromkeys(codes))


def _status(body: Mapping[str, Any]) -> Status:
    value = body.get("status", Status.ACTUAL.value)
    known = (Status.ACTUAL, Status.EXERCISE, Status.TEST)
    for status in known:
        if value == status.value:
            return status
    raise InvalidInput(f"{value!r} is not one of {', '.join(status.value for status in known)}",
                       field="status")


def read_area(body: Mapping[str, Any], districts: DistrictTable) -> tuple[Area, Status]:
    """The area of a reach request, and the status it is measured for; errors name the field.

    ``districts``: GB/T 2260 codes of the table; ``polygons``: rings of
    ``{"lat", "lon"}`` points, the first repeated last; ``circles``:
    ``{"center": {"lat", "lon"}, "radiusKm"}``; ``status``: Actual (the
    default), Exercise or Test.
    """
    unknown = sorted(set(body) - set(_BODY_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field (known: {', '.join(_BODY_FIELDS)})", field=unknown[0])
    polygons = tuple(_polygon(value, f"polygons[{index}]")
                     for index, value in enumerate(_list(body, "polygons")))
    circles = tuple(_circle(value, f"circles[{index}]")
                    for index, value in enumerate(_list(body, "circles")))
    for index, polygon in enumerate(polygons):
        _checked(Area(_AREA_DESCRIPTION, polygons=(polygon,)), f"polygons[{index}]")
    for index, circle in enumerate(circles):
        _checked(Area(_AREA_DESCRIPTION, circles=(circle,)), f"circles[{index}]")
    area = Area(_AREA_DESCRIPTION, polygons=polygons, circles=circles,
                geocodes=_geocodes(_list(body, "districts"), districts))
    if not (area.polygons or area.circles or area.geocodes):
        raise InvalidInput("name a district, or draw a polygon or a circle", field="districts")
    return area, _status(body)
