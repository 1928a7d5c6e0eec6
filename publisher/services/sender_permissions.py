"""What a sender outside the center may publish, and the first thing of a message outside it.

One permission matrix serves every sender that is not one of the center's
own people: the agencies of the intake (``publisher.services.intake``) and
the automatic senders of the early-warning register. It holds the event
codes (``valueName=value`` pairs, one of which every info must carry), the
areas (GB/T 2260 codes, a code covering the codes nested in it, and
optionally a polygon that drawn areas must lie inside), the CAP statuses and
the channels. ``permission_refusal`` is pure: it reads the message and the
matrix and names the field, the rule and the reason of the first breach.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shapely.geometry import Polygon as ShapelyPolygon
from shapely.geometry.base import BaseGeometry

from publisher.cap.areas import area_geometry
from publisher.cap.districts import DistrictTable, is_gb_t_2260
from publisher.cap.model import Alert, Area, Info, Status

__all__ = [
    "CHANNELS_PARAMETER",
    "PermissionRefusal",
    "SenderPermissions",
    "code_covers",
    "permission_refusal",
    "permissions_from",
    "polygon_of",
    "read_event_codes",
]

CHANNELS_PARAMETER = "channels"
"""The info parameter naming the channels a message asks for, separated by spaces."""


def code_covers(allowed: str, code: str) -> bool:
    """Whether the GB/T 2260 code ``allowed`` covers ``code``: 110000 covers 110105."""
    if allowed.endswith("0000"):
        return code.startswith(allowed[:2])
    if allowed.endswith("00"):
        return code.startswith(allowed[:4])
    return code == allowed


def read_event_codes(texts: Iterable[str]) -> frozenset[tuple[str, str]]:
    """``"valueName=value"`` texts as pairs; ValueError names the text that is not one."""
    pairs = set()
    for text in texts:
        name, equals, value = text.partition("=")
        if not equals or not name.strip() or not value.strip():
            raise ValueError(f'{text!r} is not "valueName=value"')
        pairs.add((name.strip(), value.strip()))
    return frozenset(pairs)


@dataclass(frozen=True, slots=True)
class PermissionRefusal:
    field: str
    """Where in the message: ``status``, ``info[0].eventCode``, ``info[0].area[1]``."""
    rule: str
    """Which part of the matrix: event_codes, areas, statuses or channels."""
    reason: str

    def as_json(self) -> dict[str, str]:
        return {"field": self.field, "rule": self.rule, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class SenderPermissions:
    event_codes: frozenset[tuple[str, str]]
    districts: frozenset[str]
    polygon: BaseGeometry | None
    statuses: frozenset[Status]
    channels: frozenset[str] | None = None
    """None: the sender does not choose channels, fan-out picks them as for any alert."""

    def covers_code(self, code: str) -> bool:
        return any(code_covers(allowed, code) for allowed in self.districts)

    def as_json(self) -> dict[str, Any]:
        return {
            "event_codes": sorted(f"{name}={value}" for name, value in self.event_codes),
            "districts": sorted(self.districts),
            "polygon": None if self.polygon is None else [
                [lat, lon] for lon, lat in self.polygon.exterior.coords],
            "statuses": sorted(self.statuses),
            "channels": None if self.channels is None else sorted(self.channels),
        }


def polygon_of(points: Any) -> BaseGeometry:
    """A closed ring of [lat, lon] pairs as a shape; ValueError says what is wrong."""
    if not isinstance(points, list) or len(points) < 4 or not all(
            isinstance(point, list) and len(point) == 2
            and all(isinstance(number, int | float) and not isinstance(number, bool)
                    for number in point) for point in points):
        raise ValueError("a closed ring of at least 4 [lat, lon] pairs")
    shape = ShapelyPolygon([(lon, lat) for lat, lon in points])
    if not shape.is_valid or shape.is_empty:
        raise ValueError("the ring crosses itself or encloses nothing")
    return shape


def _allowed_shape(permissions: SenderPermissions,
                   districts: DistrictTable | None) -> BaseGeometry | None:
    if permissions.polygon is not None:
        return permissions.polygon
    if districts is None:
        return None
    shapes = [district.geometry for district in districts
              if any(code_covers(allowed, district.code) for allowed in permissions.districts)]
    if not shapes:
        return None
    union: BaseGeometry = shapes[0]
    for shape in shapes[1:]:
        union = union.union(shape)
    return union


def _area_refusal(area: Area, where: str, permissions: SenderPermissions,
                  districts: DistrictTable | None) -> PermissionRefusal | None:
    codes = [geocode.value.strip() for geocode in area.geocodes
             if is_gb_t_2260(geocode.value_name)]
    outside = [code for code in codes if not permissions.covers_code(code)]
    if outside:
        allowed = ", ".join(sorted(permissions.districts)) or "none"
        return PermissionRefusal(where, "areas", f"district {outside[0]} is outside the"
                                                 f" sender's districts ({allowed})")
    drawn = area_geometry(area)
    if drawn.is_empty:
        if codes:
            return None
        return PermissionRefusal(where, "areas", "names neither a GB/T 2260 district nor a"
                                                 " polygon or circle to check")
    allowed_shape = _allowed_shape(permissions, districts)
    if allowed_shape is None or not allowed_shape.covers(drawn):
        return PermissionRefusal(where, "areas",
                                 "its polygon or circle reaches outside the sender's area")
    return None


def _requested_channels(info: Info) -> list[str] | None:
    named = [parameter.value for parameter in info.parameters
             if parameter.value_name == CHANNELS_PARAMETER]
    if not named:
        return None
    return [channel for value in named for channel in value.split()]


def _channel_refusal(info: Info, where: str,
                     allowed: frozenset[str]) -> PermissionRefusal | None:
    requested = _requested_channels(info)
    listed = ", ".join(sorted(allowed)) or "none"
    if requested is None:
        return PermissionRefusal(f"{where}.parameter", "channels",
                                 f"name the channels in a {CHANNELS_PARAMETER!r} parameter;"
                                 f" the sender may use {listed}")
    outside = [channel for channel in requested if channel not in allowed]
    if outside:
        return PermissionRefusal(f"{where}.parameter", "channels",
                                 f"channel {outside[0]} is not one the sender may use"
                                 f" ({listed})")
    return None


def _info_refusal(info: Info, where: str, permissions: SenderPermissions,
                  districts: DistrictTable | None) -> PermissionRefusal | None:
    codes = {(code.value_name, code.value) for code in info.event_codes}
    if not codes & permissions.event_codes:
        allowed = ", ".join(f"{name}={value}"
                            for name, value in sorted(permissions.event_codes)) or "none"
        given = ", ".join(f"{name}={value}" for name, value in sorted(codes)) or "none"
        return PermissionRefusal(f"{where}.eventCode", "event_codes",
                                 f"event code {given} is not one the sender may publish"
                                 f" ({allowed})")
    if not info.areas:
        return PermissionRefusal(f"{where}.area", "areas", "names no area")
    for index, area in enumerate(info.areas):
        refusal = _area_refusal(area, f"{where}.area[{index}]", permissions, districts)
        if refusal is not None:
            return refusal
    if permissions.channels is not None:
        return _channel_refusal(info, where, permissions.channels)
    return None


def permission_refusal(alert: Alert, permissions: SenderPermissions,
                       districts: DistrictTable | None) -> PermissionRefusal | None:
    """The first part of ``alert`` outside ``permissions``, or None when all is inside."""
    if alert.status not in permissions.statuses:
        allowed = ", ".join(sorted(permissions.statuses)) or "none"
        return PermissionRefusal("status", "statuses", f"{alert.status} is not a status the"
                                                       f" sender may publish ({allowed})")
    if not alert.infos:
        return PermissionRefusal("info", "event_codes", "the message has no info block")
    for index, info in enumerate(alert.infos):
        refusal = _info_refusal(info, f"info[{index}]", permissions, districts)
        if refusal is not None:
            return refusal
    return None


def permissions_from(fields: Mapping[str, Any], where: str = "") -> SenderPermissions:
    """A matrix from its JSON (``as_json``'s shape); ValueError names the field at fault."""
    def texts(name: str) -> list[str]:
        value = fields.get(name, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise ValueError(f"{where}{name}: must be a list of text")
        return [item.strip() for item in value]

    try:
        event_codes = read_event_codes(texts("event_codes"))
    except ValueError as error:
        raise ValueError(f"{where}event_codes: {error}") from None
    codes = texts("districts")
    for code in codes:
        if len(code) != 6 or not code.isdigit():
            raise ValueError(f"{where}districts: {code!r} is not a 6-digit GB/T 2260 code")
    statuses = set()
    for text in texts("statuses"):
        try:
            statuses.add(Status(text))
        except ValueError:
            known = ", ".join(status.value for status in Status)
            raise ValueError(f"{where}statuses: {text!r} is no CAP status ({known})") from None
    polygon = None
    if fields.get("polygon") is not None:
        try:
            polygon = polygon_of(fields["polygon"])
        except ValueError as error:
            raise ValueError(f"{where}polygon: {error}") from None
    channels = None if fields.get("channels") is None else frozenset(texts("channels"))
    return SenderPermissions(event_codes, frozenset(codes), polygon, frozenset(statuses),
                             channels)
