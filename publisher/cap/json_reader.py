"""Read an Alert from JSON data shaped as publisher.cap.views.alert_to_json writes it.

The inverse of alert_to_json, for composers and APIs: elements are keyed by
their CAP names, repeated elements are lists, absent optional elements are
left out. Every wrong, missing or unknown field is reported as a Problem
naming its path (``info[0]/area[1]/circle[0]/radiusKm``) rather than raised,
so a client learns everything that is wrong at once. The CAP rules
themselves (closed polygons, allowed characters, ...) are the profiles'
business: this module checks shapes and types only.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeVar

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
    Resource,
    ResponseType,
    Scope,
    Severity,
    Status,
    Urgency,
)
from publisher.cap.problems import Problem

__all__ = ["alert_from_json"]

_E = TypeVar("_E", bound=enum.Enum)
_T = TypeVar("_T")


def _join(path: str, name: str) -> str:
    return f"{path}/{name}" if path else name


def _kind(value: object) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string",
             list: "a list", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


class _Fields:
    """The fields of one JSON object; each read records what is wrong with it."""

    def __init__(self, data: Mapping[str, Any], path: str, problems: list[Problem],
                 known: Sequence[str]) -> None:
        self.data = data
        self.path = path
        self.problems = problems
        for name in data:
            if name not in known:
                self.problem(str(name), f"unknown field (known: {', '.join(known)})")

    def problem(self, name: str, reason: str) -> None:
        self.problems.append(Problem(_join(self.path, name), reason))

    def _value(self, name: str, required: bool) -> Any:
        value = self.data.get(name)
        if value is None and required:
            self.problem(name, "is required")
        return value

    def text(self, name: str, *, required: bool = False) -> str | None:
        value = self._value(name, required)
        if value is None or isinstance(value, str):
            return value
        self.problem(name, f"must be a string, not {_kind(value)}")
        return None

    def choice(self, name: str, kind: type[_E], *, required: bool = False) -> _E | None:
        value = self._value(name, required)
        return None if value is None else _member(kind, value, _join(self.path, name),
                                                  self.problems)

    def time(self, name: str, *, required: bool = False) -> datetime | None:
        value = self.text(name, required=required)
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            self.problem(name, f"{value!r} is not an ISO 8601 date and time")
            return None
        if moment.utcoffset() is None:
            self.problem(name, f"{value!r} has no time zone offset; CAP times need one")
            return None
        return moment

    def number(self, name: str, *, required: bool = False) -> float | None:
        value = self._value(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(name, f"must be a number, not {_kind(value)}")
            return None
        if not math.isfinite(value):
            self.problem(name, f"{value!r} is not a finite number")
            return None
        return float(value)

    def integer(self, name: str) -> int | None:
        value = self._value(name, False)
        if value is None or (isinstance(value, int) and not isinstance(value, bool)):
            return value
        self.problem(name, f"must be a whole number, not {_kind(value)}")
        return None

    def items(self, name: str) -> list[tuple[str, Any]]:
        """The elements of a list field with their paths; absent means empty."""
        value = self._value(name, False)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(name, f"must be a list, not {_kind(value)}")
            return []
        return [(f"{_join(self.path, name)}[{index}]", item) for index, item in enumerate(value)]

    def each(self, name: str, read: Callable[[Any, str, list[Problem]], _T | None]) -> list[_T]:
        found = (read(item, where, self.problems) for where, item in self.items(name))
        return [item for item in found if item is not None]

    def choices(self, name: str, kind: type[_E]) -> tuple[_E, ...]:
        return tuple(self.each(name, lambda item, where, problems: _member(
            kind, item, where, problems)))

    def named_values(self, name: str) -> tuple[NamedValue, ...]:
        return tuple(self.each(name, _named_value))


def _member(kind: type[_E], value: Any, path: str, problems: list[Problem]) -> _E | None:
    if not isinstance(value, str):
        problems.append(Problem(path, f"must be a string, not {_kind(value)}"))
        return None
    try:
        return kind(value)
    except ValueError:
        known = ", ".join(str(member.value) for member in kind)
        problems.append(Problem(path, f"{value!r} is not one of {known}"))
        return None


def _object(value: Any, path: str, problems: list[Problem],
            known: Sequence[str]) -> _Fields | None:
    if isinstance(value, Mapping):
        return _Fields(value, path, problems, known)
    problems.append(Problem(path, f"must be an object, not {_kind(value)}"))
    return None


def _strings(value: Any, path: str, problems: list[Problem]) -> str | None:
    if isinstance(value, str):
        return value
    problems.append(Problem(path, f"must be a string, not {_kind(value)}"))
    return None


def _pair(value: Any, path: str, problems: list[Problem], names: tuple[str, str],
          read: Callable[[_Fields, str], _T | None]) -> tuple[_T, _T] | None:
    """An object of exactly two required fields, both read the same way."""
    fields = _object(value, path, problems, names)
    if fields is None:
        return None
    first, second = (read(fields, name) for name in names)
    return None if first is None or second is None else (first, second)


def _named_value(value: Any, path: str, problems: list[Problem]) -> NamedValue | None:
    pair = _pair(value, path, problems, ("valueName", "value"),
                 lambda fields, name: fields.text(name, required=True))
    return None if pair is None else NamedValue(*pair)


def _point(value: Any, path: str, problems: list[Problem]) -> Point | None:
    pair = _pair(value, path, problems, ("lat", "lon"),
                 lambda fields, name: fields.number(name, required=True))
    return None if pair is None else Point(*pair)


def _polygon(value: Any, path: str, problems: list[Problem]) -> Polygon | None:
    if not isinstance(value, list):
        problems.append(Problem(path, f"must be a list of points, not {_kind(value)}"))
        return None
    before = len(problems)
    points = [_point(item, f"{path}[{index}]", problems) for index, item in enumerate(value)]
    if len(problems) > before:
        return None
    return Polygon(point for point in points if point is not None)


def _circle(value: Any, path: str, problems: list[Problem]) -> Circle | None:
    fields = _object(value, path, problems, ("center", "radiusKm"))
    if fields is None:
        return None
    center = None
    if "center" in fields.data:
        center = _point(fields.data["center"], _join(path, "center"), problems)
    else:
        fields.problem("center", "is required")
    radius = fields.number("radiusKm", required=True)
    if center is None or radius is None:
        return None
    return Circle(center, radius)


_AREA_FIELDS = ("areaDesc", "polygon", "circle", "geocode", "altitude", "ceiling")


def _area(value: Any, path: str, problems: list[Problem]) -> Area | None:
    fields = _object(value, path, problems, _AREA_FIELDS)
    if fields is None:
        return None
    area_desc = fields.text("areaDesc", required=True)
    polygons = tuple(fields.each("polygon", _polygon))
    circles = tuple(fields.each("circle", _circle))
    geocodes = fields.named_values("geocode")
    altitude = fields.number("altitude")
    ceiling = fields.number("ceiling")
    if area_desc is None:
        return None
    return Area(area_desc, polygons, circles, geocodes, altitude, ceiling)


_RESOURCE_FIELDS = ("resourceDesc", "mimeType", "size", "uri", "derefUri", "digest")


def _resource(value: Any, path: str, problems: list[Problem]) -> Resource | None:
    fields = _object(value, path, problems, _RESOURCE_FIELDS)
    if fields is None:
        return None
    resource_desc = fields.text("resourceDesc", required=True)
    mime_type = fields.text("mimeType", required=True)
    resource = Resource(
        resource_desc or "", mime_type or "", size=fields.integer("size"),
        uri=fields.text("uri"), deref_uri=fields.text("derefUri"), digest=fields.text("digest"),
    )
    return resource if resource_desc is not None and mime_type is not None else None


_INFO_FIELDS = (
    "language", "category", "event", "responseType", "urgency", "severity", "certainty",
    "audience", "eventCode", "effective", "onset", "expires", "senderName", "headline",
    "description", "instruction", "web", "contact", "parameter", "resource", "area",
)


def _info(value: Any, path: str, problems: list[Problem]) -> Info | None:
    fields = _object(value, path, problems, _INFO_FIELDS)
    if fields is None:
        return None
    categories = fields.choices("category", Category)
    if "category" not in fields.data:
        fields.problem("category", "is required")
    event = fields.text("event", required=True)
    urgency = fields.choice("urgency", Urgency, required=True)
    severity = fields.choice("severity", Severity, required=True)
    certainty = fields.choice("certainty", Certainty, required=True)
    info = Info(
        categories=categories, event=event or "", urgency=urgency or Urgency.UNKNOWN,
        severity=severity or Severity.UNKNOWN, certainty=certainty or Certainty.UNKNOWN,
        language=fields.text("language") or "en-US",
        response_types=fields.choices("responseType", ResponseType),
        audience=fields.text("audience"), event_codes=fields.named_values("eventCode"),
        effective=fields.time("effective"), onset=fields.time("onset"),
        expires=fields.time("expires"), sender_name=fields.text("senderName"),
        headline=fields.text("headline"), description=fields.text("description"),
        instruction=fields.text("instruction"), web=fields.text("web"),
        contact=fields.text("contact"), parameters=fields.named_values("parameter"),
        resources=tuple(fields.each("resource", _resource)),
        areas=tuple(fields.each("area", _area)),
    )
    required = (event, urgency, severity, certainty)
    return info if all(part is not None for part in required) else None


_ALERT_FIELDS = (
    "identifier", "sender", "sent", "status", "msgType", "source", "scope", "restriction",
    "addresses", "code", "note", "references", "incidents", "info",
)


def alert_from_json(data: Mapping[str, Any]) -> tuple[Alert | None, list[Problem]]:
    """The alert in ``data`` and every problem found; None when any problem is an error."""
    problems: list[Problem] = []
    fields = _object(data, "", problems, _ALERT_FIELDS)
    if fields is None:
        return None, problems
    identifier = fields.text("identifier", required=True)
    sender = fields.text("sender", required=True)
    sent = fields.time("sent", required=True)
    status = fields.choice("status", Status, required=True)
    msg_type = fields.choice("msgType", MsgType, required=True)
    scope = fields.choice("scope", Scope, required=True)
    optional = {
        "source": fields.text("source"), "restriction": fields.text("restriction"),
        "addresses": fields.text("addresses"), "note": fields.text("note"),
        "references": fields.text("references"), "incidents": fields.text("incidents"),
    }
    codes = tuple(fields.each("code", _strings))
    infos = tuple(fields.each("info", _info))
    if problems or identifier is None or sender is None or sent is None or status is None \
            or msg_type is None or scope is None:
        return None, problems
    alert = Alert(identifier=identifier, sender=sender, sent=sent, status=status,
                  msg_type=msg_type, scope=scope, codes=codes, infos=infos, **optional)
    return alert, problems
