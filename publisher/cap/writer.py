"""Write an Alert as CAP 1.2 XML that the official XSD accepts.

Elements come in XSD order and optional elements that are None or empty
tuples are left out. Times are written with a numeric offset, never Z, and
floats in the shortest decimal form that reads back as the same float.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from lxml import etree

from publisher.cap.model import Alert, Area, Circle, Info, NamedValue, Point, Polygon, Resource
from publisher.cap.versions import CapVersion

__all__ = ["format_datetime", "format_float", "write_alert"]

_NAMESPACE = CapVersion.V1_2.namespace
_MAX_OFFSET = timedelta(hours=14)


def format_datetime(moment: datetime) -> str:
    """``YYYY-MM-DDThh:mm:ss±hh:mm``; an offset CAP cannot write is turned into UTC."""
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"{moment.isoformat()} has no time zone; CAP times need one")
    if offset % timedelta(minutes=1) or abs(offset) > _MAX_OFFSET:
        moment, offset = moment.astimezone(UTC), timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(offset) // timedelta(minutes=1)
    return (f"{moment.year:04d}-{moment.month:02d}-{moment.day:02d}T"
            f"{moment.hour:02d}:{moment.minute:02d}:{moment.second:02d}"
            f"{sign}{minutes // 60:02d}:{minutes % 60:02d}")


def format_float(number: float) -> str:
    """The shortest decimal that reads back as ``number``, without an exponent,
    which xs:decimal does not allow."""
    if not math.isfinite(number):
        raise ValueError(f"{number!r} cannot be written in CAP")
    text = repr(number)
    if "e" in text or "E" in text:
        text = format(Decimal(text), "f")
    return text


def _point(point: Point) -> str:
    return f"{format_float(point.lat)},{format_float(point.lon)}"


def _polygon(polygon: Polygon) -> str:
    return " ".join(map(_point, polygon.points))


def _circle(circle: Circle) -> str:
    return f"{_point(circle.center)} {format_float(circle.radius_km)}"


class _Builder:
    """Appends CAP elements in the default namespace."""

    def __init__(self, parent: etree._Element) -> None:
        self.parent = parent

    def element(self, name: str) -> _Builder:
        return _Builder(etree.SubElement(self.parent, f"{{{_NAMESPACE}}}{name}"))

    def text(self, name: str, value: str | None) -> None:
        if value is not None:
            etree.SubElement(self.parent, f"{{{_NAMESPACE}}}{name}").text = value

    def texts(self, name: str, values: Iterable[str]) -> None:
        for value in values:
            self.text(name, value)

    def time(self, name: str, value: datetime | None) -> None:
        if value is not None:
            self.text(name, format_datetime(value))

    def number(self, name: str, value: float | None) -> None:
        if value is not None:
            self.text(name, format_float(value))

    def named_values(self, name: str, pairs: Iterable[NamedValue]) -> None:
        for pair in pairs:
            element = self.element(name)
            element.text("valueName", pair.value_name)
            element.text("value", pair.value)


def _write_resource(builder: _Builder, resource: Resource) -> None:
    builder.text("resourceDesc", resource.resource_desc)
    builder.text("mimeType", resource.mime_type)
    builder.text("size", None if resource.size is None else str(resource.size))
    builder.text("uri", resource.uri)
    builder.text("derefUri", resource.deref_uri)
    builder.text("digest", resource.digest)


def _write_area(builder: _Builder, area: Area) -> None:
    builder.text("areaDesc", area.area_desc)
    builder.texts("polygon", map(_polygon, area.polygons))
    builder.texts("circle", map(_circle, area.circles))
    builder.named_values("geocode", area.geocodes)
    builder.number("altitude", area.altitude)
    builder.number("ceiling", area.ceiling)


def _write_info(builder: _Builder, info: Info) -> None:
    builder.text("language", info.language)
    builder.texts("category", info.categories)
    builder.text("event", info.event)
    builder.texts("responseType", info.response_types)
    builder.text("urgency", info.urgency)
    builder.text("severity", info.severity)
    builder.text("certainty", info.certainty)
    builder.text("audience", info.audience)
    builder.named_values("eventCode", info.event_codes)
    builder.time("effective", info.effective)
    builder.time("onset", info.onset)
    builder.time("expires", info.expires)
    builder.text("senderName", info.sender_name)
    builder.text("headline", info.headline)
    builder.text("description", info.description)
    builder.text("instruction", info.instruction)
    builder.text("web", info.web)
    builder.text("contact", info.contact)
    builder.named_values("parameter", info.parameters)
    for resource in info.resources:
        _write_resource(builder.element("resource"), resource)
    for area in info.areas:
        _write_area(builder.element("area"), area)


def write_alert(alert: Alert) -> bytes:
    """CAP 1.2 XML, UTF-8 with an XML declaration, indented between elements only."""
    # lxml-stubs types nsmap keys as str, but None is how lxml names the default namespace.
    root = etree.Element(f"{{{_NAMESPACE}}}alert", nsmap={None: _NAMESPACE})  # type: ignore[dict-item]
    builder = _Builder(root)
    builder.text("identifier", alert.identifier)
    builder.text("sender", alert.sender)
    builder.time("sent", alert.sent)
    builder.text("status", alert.status)
    builder.text("msgType", alert.msg_type)
    builder.text("source", alert.source)
    builder.text("scope", alert.scope)
    builder.text("restriction", alert.restriction)
    builder.text("addresses", alert.addresses)
    builder.texts("code", alert.codes)
    builder.text("note", alert.note)
    builder.text("references", alert.references)
    builder.text("incidents", alert.incidents)
    for info in alert.infos:
        _write_info(builder.element("info"), info)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
