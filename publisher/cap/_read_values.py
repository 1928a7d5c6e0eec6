"""Values of CAP leaf elements: text, times, numbers, enumerations and geometry.

Each reader returns the value, or None when the text cannot be used, and
appends a Problem naming the path and the reason. Patterns are compiled once:
an alert has hundreds of leaves and the reader is on the intake hot path.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import TypeVar

from lxml import etree

from publisher.cap.clauses import AREA_CLAUSE, DATETIME_CLAUSE
from publisher.cap.model import Circle, Point, Polygon
from publisher.cap.problems import Problem, ProblemLevel

__all__ = [
    "element_text",
    "raw_text",
    "read_circle",
    "read_datetime",
    "read_decimal",
    "read_enumerated",
    "read_integer",
    "read_language",
    "read_polygon",
]

E = TypeVar("E")

_DECIMAL = r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)"
_DECIMAL_PATTERN = re.compile(_DECIMAL)
_INTEGER_PATTERN = re.compile(r"[+-]?\d+")
_POINT_PATTERN = re.compile(f"({_DECIMAL}),({_DECIMAL})")
# A cheap shape check for a whole ring; float() then refuses malformed numbers.
_POINTS_SHAPE = re.compile(r"[-+0-9.]++,[-+0-9.]++(?:\s++[-+0-9.]++,[-+0-9.]++)*+")
# What is left of a well-formed ring written with single spaces once every
# number character is deleted: ", " between points and "," inside each.
_NUMBER_CHARACTERS = b"0123456789.+-"
# JSON's C scanner turns a list of numbers into floats without a Python loop;
# it rounds as float() does, and integers written without a point stay floats.
_FLAT_NUMBERS = json.JSONDecoder(parse_int=float)
_LANGUAGE_PATTERN = re.compile(r"[a-zA-Z]{1,8}(?:-[a-zA-Z0-9]{1,8})*")
# xs:dateTime in full; CAP narrows it to whole seconds and a numeric offset.
_DATETIME_PATTERN = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(\.\d+)?(Z|[-+]\d\d:\d\d)?"
)
_MAX_OFFSET_MINUTES = 14 * 60
_CAP_FORM = "YYYY-MM-DDThh:mm:ss+hh:mm"
_TIME_ZONES: dict[str, tzinfo] = {"Z": UTC}


def element_text(element: etree._Element, path: str, problems: list[Problem]) -> str:
    """The text of a leaf element without leading and trailing white space.

    CAP text elements hold plain text. Child elements are reported, and kept
    serialized in the text so that nothing an author wrote is lost.
    """
    if len(element) == 0:
        text = element.text
        return "" if text is None else text.strip()
    pieces = [element.text or ""]
    markup: list[str] = []
    for child in element:
        if isinstance(child.tag, str):
            markup.append(etree.QName(child).localname)
            pieces.append(_serialized(child))
        else:
            pieces.append(child.tail or "")
    if markup:
        problems.append(Problem(
            path, f"contains markup <{markup[0]}>; CAP text elements hold plain text only"
        ))
    return "".join(pieces).strip()


def raw_text(element: etree._Element, path: str, problems: list[Problem]) -> str:
    """The text exactly as written, for values that XSD compares unnormalised."""
    if len(element) == 0:
        return element.text or ""
    return element_text(element, path, problems)


def _serialized(child: etree._Element) -> str:
    # The default namespace declaration that lxml repeats on a serialized
    # child is noise that the author never wrote there.
    text = etree.tostring(child, encoding="unicode", with_tail=True)
    namespace = etree.QName(child).namespace
    return text.replace(f' xmlns="{namespace}"', "", 1) if namespace else text


def _time_zone(designator: str) -> tzinfo | None:
    zone = _TIME_ZONES.get(designator)
    if zone is None:
        hours, minutes = int(designator[1:3]), int(designator[4:6])
        total = hours * 60 + minutes
        if minutes > 59 or total > _MAX_OFFSET_MINUTES:
            return None
        zone = timezone(timedelta(minutes=-total if designator[0] == "-" else total))
        _TIME_ZONES[designator] = zone
    return zone


def read_datetime(text: str, path: str, problems: list[Problem], *,
                  xsd_has_cap_pattern: bool) -> datetime | None:
    """A CAP dateTime. CAP 1.2's XSD enforces the CAP form; older XSDs only
    xs:dateTime, so a Z or fractional seconds there is a warning, not an error."""
    match = _DATETIME_PATTERN.fullmatch(text)
    if match is None:
        problems.append(Problem(path, f"{text!r} is not a date and time of the form {_CAP_FORM}",
                                clause=DATETIME_CLAUSE))
        return None
    year, month, day, hour, minute, second, fraction, designator = match.groups()
    if designator is None:
        problems.append(Problem(
            path, f"{text!r} has no time zone; CAP requires a numeric offset such as +08:00",
            clause=DATETIME_CLAUSE,
        ))
        return None
    level = ProblemLevel.ERROR if xsd_has_cap_pattern else ProblemLevel.WARNING
    if designator == "Z":
        problems.append(Problem(
            path,
            f"{text!r} has an alphabetic time zone; CAP requires a numeric offset such as +08:00",
            level, DATETIME_CLAUSE,
        ))
    if fraction is not None:
        problems.append(Problem(path, f"{text!r} has fractional seconds; CAP times are whole "
                                      "seconds", level, DATETIME_CLAUSE))
    zone = _time_zone(designator)
    try:
        if zone is None:
            raise ValueError(f"time zone offset {designator} is beyond ±14:00")
        microsecond = round(float(fraction) * 1_000_000) if fraction else 0
        return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second),
                        min(microsecond, 999_999), tzinfo=zone)
    except ValueError as error:
        problems.append(Problem(path, f"{text!r} is not a valid date and time: {error}",
                                clause=DATETIME_CLAUSE))
        return None


def read_decimal(text: str, path: str, problems: list[Problem]) -> float | None:
    if _DECIMAL_PATTERN.fullmatch(text) is None:
        problems.append(Problem(path, f"{text!r} is not a decimal number"))
        return None
    return float(text)


def read_integer(text: str, path: str, problems: list[Problem]) -> int | None:
    if _INTEGER_PATTERN.fullmatch(text) is None:
        problems.append(Problem(path, f"{text!r} is not an integer"))
        return None
    return int(text)


def read_enumerated(raw: str, allowed: Mapping[str, E], path: str,
                    problems: list[Problem]) -> E | None:
    """A value of an XSD enumeration. The XSD compares the text as written, so
    white space around a valid value is an error, though the value is kept."""
    value = allowed.get(raw)
    if value is not None:
        return value
    stripped = raw.strip()
    value = allowed.get(stripped)
    if value is not None:
        problems.append(Problem(path, f"{raw!r} has white space around the value"))
        return value
    problems.append(Problem(path, f"{stripped!r} is not one of {', '.join(allowed)}"))
    return None


def read_language(text: str, path: str, problems: list[Problem]) -> str | None:
    """An RFC 3066 tag; an empty element takes the XSD default, en-US."""
    if not text:
        return None
    if _LANGUAGE_PATTERN.fullmatch(text) is None:
        problems.append(Problem(path, f"{text!r} is not a language tag such as en-US"))
    return text


def _point(text: str) -> Point | None:
    match = _POINT_PATTERN.fullmatch(text)
    if match is None:
        return None
    return Point(float(match[1]), float(match[2]))


def _plain_coordinates(text: str) -> list[float] | None:
    """The coordinates of a ring written the usual way, "lat,lon lat,lon ...",
    or None for anything else, which the general reading then takes."""
    if not text.isascii():
        return None
    separators = text.encode("ascii").translate(None, _NUMBER_CHARACTERS)
    points = separators.count(b",")
    if not points or separators != b", " * (points - 1) + b",":
        return None
    try:
        coordinates: list[float] = _FLAT_NUMBERS.decode(f"[{text.replace(' ', ',')}]")
    except ValueError:
        # A number JSON does not write, such as "+1" or ".5".
        return None
    return coordinates


def read_polygon(text: str, path: str, problems: list[Problem]) -> Polygon | None:
    """Points as written: closing, counting and ranges are the rules' business."""
    coordinates = _plain_coordinates(text)
    if coordinates is not None:
        return Polygon.from_coordinates(coordinates)
    if _POINTS_SHAPE.fullmatch(text) is not None:
        try:
            numbers = tuple(map(float, text.replace(",", " ").split()))
        except ValueError:
            pass
        else:
            return Polygon.from_coordinates(numbers)
    for number, token in enumerate(text.split(), start=1):
        if _point(token) is None:
            problems.append(Problem(path, f'point {number} {token!r} is not "lat,lon"',
                                    clause=AREA_CLAUSE))
            return None
    # Every point was well formed, so there was none: the XSD accepts an empty
    # polygon and real feeds send them. There is nothing to draw.
    problems.append(Problem(path, "empty polygon dropped", ProblemLevel.WARNING, AREA_CLAUSE))
    return None


def read_circle(text: str, path: str, problems: list[Problem]) -> Circle | None:
    parts = text.split()
    center = _point(parts[0]) if len(parts) == 2 else None
    if center is None or _DECIMAL_PATTERN.fullmatch(parts[1]) is None:
        problems.append(Problem(path, f'{text!r} is not "lat,lon radius"', clause=AREA_CLAUSE))
        return None
    return Circle(center, float(parts[1]))
