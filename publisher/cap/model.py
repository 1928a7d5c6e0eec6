"""Typed model of a CAP 1.2 message.

Every element of OASIS CAP 1.2 has a field here. The classes are frozen so
that a parsed message can be shared, hashed and compared: two messages are
equal when every element is equal. Times are timezone-aware datetimes.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from itertools import chain
from typing import NamedTuple

__all__ = [
    "Alert",
    "Area",
    "Category",
    "Certainty",
    "Circle",
    "Info",
    "MsgType",
    "NamedValue",
    "Point",
    "Polygon",
    "Reference",
    "Resource",
    "ResponseType",
    "Scope",
    "Severity",
    "Status",
    "Urgency",
]


class Status(enum.StrEnum):
    ACTUAL = "Actual"
    EXERCISE = "Exercise"
    SYSTEM = "System"
    TEST = "Test"
    DRAFT = "Draft"


class MsgType(enum.StrEnum):
    ALERT = "Alert"
    UPDATE = "Update"
    CANCEL = "Cancel"
    ACK = "Ack"
    ERROR = "Error"


class Scope(enum.StrEnum):
    PUBLIC = "Public"
    RESTRICTED = "Restricted"
    PRIVATE = "Private"


class Category(enum.StrEnum):
    GEO = "Geo"
    MET = "Met"
    SAFETY = "Safety"
    SECURITY = "Security"
    RESCUE = "Rescue"
    FIRE = "Fire"
    HEALTH = "Health"
    ENV = "Env"
    TRANSPORT = "Transport"
    INFRA = "Infra"
    CBRNE = "CBRNE"
    OTHER = "Other"


class ResponseType(enum.StrEnum):
    SHELTER = "Shelter"
    EVACUATE = "Evacuate"
    PREPARE = "Prepare"
    EXECUTE = "Execute"
    AVOID = "Avoid"
    MONITOR = "Monitor"
    ASSESS = "Assess"
    ALL_CLEAR = "AllClear"
    NONE = "None"


class Urgency(enum.StrEnum):
    IMMEDIATE = "Immediate"
    EXPECTED = "Expected"
    FUTURE = "Future"
    PAST = "Past"
    UNKNOWN = "Unknown"


class Severity(enum.StrEnum):
    EXTREME = "Extreme"
    SEVERE = "Severe"
    MODERATE = "Moderate"
    MINOR = "Minor"
    UNKNOWN = "Unknown"


class Certainty(enum.StrEnum):
    OBSERVED = "Observed"
    LIKELY = "Likely"
    POSSIBLE = "Possible"
    UNLIKELY = "Unlikely"
    UNKNOWN = "Unknown"


@dataclass(frozen=True, slots=True)
class NamedValue:
    """A valueName/value pair: eventCode, parameter and geocode share this shape."""

    value_name: str
    value: str


class Point(NamedTuple):
    """A WGS 84 coordinate. CAP writes it "lat,lon"."""

    lat: float
    lon: float


@dataclass(frozen=True, slots=True, init=False)
class Polygon:
    """A ring of points as CAP lists them: the first and last point are equal.

    The ring is held as flat coordinates, lat, lon, lat, lon, ...: real rings
    reach tens of thousands of points, and intake reads and checks them
    without building an object per point.
    """

    coordinates: tuple[float, ...]

    def __init__(self, points: Iterable[Point]) -> None:
        object.__setattr__(self, "coordinates",
                           tuple(chain.from_iterable((point.lat, point.lon) for point in points)))

    @classmethod
    def from_coordinates(cls, coordinates: Sequence[float]) -> Polygon:
        """The ring of flat coordinates lat, lon, lat, lon, ..."""
        if len(coordinates) % 2:
            raise ValueError(f"{len(coordinates)} coordinates do not make lat,lon points")
        polygon = cls.__new__(cls)
        object.__setattr__(polygon, "coordinates", tuple(coordinates))
        return polygon

    @property
    def points(self) -> tuple[Point, ...]:
        return tuple(map(Point, self.latitudes, self.longitudes))

    @property
    def latitudes(self) -> tuple[float, ...]:
        return self.coordinates[0::2]

    @property
    def longitudes(self) -> tuple[float, ...]:
        return self.coordinates[1::2]


@dataclass(frozen=True, slots=True)
class Circle:
    center: Point
    radius_km: float


@dataclass(frozen=True, slots=True)
class Reference:
    """One "sender,identifier,sent" triple of <references>."""

    sender: str
    identifier: str
    sent: datetime


@dataclass(frozen=True, slots=True)
class Area:
    area_desc: str
    polygons: tuple[Polygon, ...] = ()
    circles: tuple[Circle, ...] = ()
    geocodes: tuple[NamedValue, ...] = ()
    altitude: float | None = None
    ceiling: float | None = None


@dataclass(frozen=True, slots=True)
class Resource:
    resource_desc: str
    mime_type: str
    size: int | None = None
    uri: str | None = None
    deref_uri: str | None = None
    digest: str | None = None


@dataclass(frozen=True, slots=True)
class Info:
    categories: tuple[Category, ...]
    event: str
    urgency: Urgency
    severity: Severity
    certainty: Certainty
    language: str = "en-US"
    response_types: tuple[ResponseType, ...] = ()
    audience: str | None = None
    event_codes: tuple[NamedValue, ...] = ()
    effective: datetime | None = None
    onset: datetime | None = None
    expires: datetime | None = None
    sender_name: str | None = None
    headline: str | None = None
    description: str | None = None
    instruction: str | None = None
    web: str | None = None
    contact: str | None = None
    parameters: tuple[NamedValue, ...] = ()
    resources: tuple[Resource, ...] = ()
    areas: tuple[Area, ...] = ()

    def parameter(self, value_name: str) -> str | None:
        """The first parameter value with this valueName, or None."""
        for parameter in self.parameters:
            if parameter.value_name == value_name:
                return parameter.value
        return None


@dataclass(frozen=True, slots=True)
class Alert:
    identifier: str
    sender: str
    sent: datetime
    status: Status
    msg_type: MsgType
    scope: Scope
    source: str | None = None
    restriction: str | None = None
    addresses: str | None = None
    codes: tuple[str, ...] = ()
    note: str | None = None
    references: str | None = None
    incidents: str | None = None
    infos: tuple[Info, ...] = field(default=())

    def info_for(self, language: str) -> Info | None:
        """The info block in this language (RFC 3066 tags compare case-insensitively)."""
        wanted = language.lower()
        for info in self.infos:
            if info.language.lower() == wanted:
                return info
        return None
