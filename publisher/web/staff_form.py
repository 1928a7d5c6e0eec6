"""The compose form and the CAP content it stands for, both ways, and where errors belong.

The form has one column per language (zh-CN, en-US) for the texts, the
warning level by colour (its CAP severity follows from it), times in
Beijing time, and the area as districts, a polygon or a circle. Its content
is the composer's JSON of the API (``alert_to_json`` without what the center
issues); the services check it with the same CAP validator as the API, and
the CAP path of an error (``info[1]/headline``) names the form field it
belongs next to (``headline_en``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar

from publisher.cap import read_circle, read_polygon
from publisher.cap.districts import District
from publisher.cap.model import Circle, Polygon, Scope
from publisher.cap.municipal import (
    BEIJING_TIME,
    DIVISION_CODE_NAME,
    SEVERITY_OF_WARNING_COLOR,
    WARNING_COLOR_NAME,
)
from publisher.cap.problems import Problem, errors_of
from publisher.services.alert_templates import AlertTemplate
from publisher.services.drafts import invalid_input
from publisher.services.errors import InvalidInput
from publisher.services.languages import CHINESE, ENGLISH

__all__ = ["FORM_LANGUAGES", "FormValues", "content_of", "form_field", "form_of_content",
           "form_of_template", "typed_event_matches"]

FormValues = dict[str, Any]
Shape = TypeVar("Shape", Polygon, Circle)
# The form's columns: the suffix of their fields, and the language of their info block.
FORM_LANGUAGES = (("zh", CHINESE), ("en", ENGLISH))
_TEXTS = {"event": "event", "senderName": "sender", "headline": "headline",
          "description": "description", "instruction": "instruction"}
_FIELDS_OF_INFO = {"expires": "expires", "effective": "effective", "onset": "effective",
                   "urgency": "urgency", "certainty": "certainty", "severity": "level",
                   "parameter": "level", "category": "category", "responseType": "response",
                   "language": "form"}
_FORM_FIELDS = frozenset({"status", "level", "category", "urgency", "certainty", "response",
                          "effective", "expires", "districts", "polygon", "circle"}) | {
    f"{field}_{suffix}" for field in _TEXTS.values() for suffix, _ in FORM_LANGUAGES}
_INFO_PATH = re.compile(r"info\[(\d+)\](?:/([A-Za-z]+))?(.*)")
_SHOWN = "%Y-%m-%dT%H:%M"
_DISTRICT_SEPARATOR = {CHINESE: "、", ENGLISH: ", "}


def form_field(path: str | None) -> str:
    """The form field an error at the CAP ``path`` belongs to; ``form`` for the whole form."""
    if not path:
        return "form"
    if path in _FORM_FIELDS:
        return path
    match = _INFO_PATH.fullmatch(path)
    if match is None:
        return "form"
    index, name, rest = int(match[1]), match[2] or "", match[3]
    if name in _TEXTS and index < len(FORM_LANGUAGES):
        return f"{_TEXTS[name]}_{FORM_LANGUAGES[index][0]}"
    if name == "area":
        return "polygon" if "polygon" in rest else "circle" if "circle" in rest else "districts"
    return _FIELDS_OF_INFO.get(name, "form")


def _local(moment: datetime) -> str:
    return moment.astimezone(BEIJING_TIME).strftime(_SHOWN)


def form_of_template(template: AlertTemplate, now: datetime) -> FormValues:
    start = now.replace(second=0, microsecond=0) + timedelta(minutes=1)
    values: FormValues = {
        "template": template.key, "status": str(template.status), "level": template.level,
        "category": str(template.category), "urgency": str(template.urgency),
        "certainty": str(template.certainty),
        "response": [str(response) for response in template.response_types],
        "effective": _local(start),
        "expires": _local(start + timedelta(hours=template.valid_hours)),
        "districts": [], "polygon": "", "circle": "",
    }
    for suffix, language in FORM_LANGUAGES:
        text = template.texts[language]
        values |= {f"event_{suffix}": text.event, f"sender_{suffix}": text.sender_name,
                   f"headline_{suffix}": text.headline,
                   f"description_{suffix}": text.description,
                   f"instruction_{suffix}": text.instruction}
    return values


def _points(polygon: Sequence[Mapping[str, float]]) -> str:
    return " ".join(f"{point['lat']},{point['lon']}" for point in polygon)


def form_of_content(content: Mapping[str, Any]) -> FormValues:
    """The form showing a stored draft (its first area carries the districts and shapes)."""
    infos = {info.get("language"): info for info in content.get("info", [])}
    first: Mapping[str, Any] = infos.get(CHINESE) or next(iter(infos.values()), {})
    area = (first.get("area") or [{}])[0]
    parameters = {item["valueName"]: item["value"] for item in first.get("parameter", [])}
    effective = first.get("effective")
    expires = first.get("expires")
    values: FormValues = {
        "template": "", "status": content.get("status", ""),
        "level": parameters.get(WARNING_COLOR_NAME, ""),
        "category": (first.get("category") or [""])[0],
        "urgency": first.get("urgency", ""), "certainty": first.get("certainty", ""),
        "response": list(first.get("responseType", [])),
        "effective": _local(datetime.fromisoformat(effective)) if effective else "",
        "expires": _local(datetime.fromisoformat(expires)) if expires else "",
        "districts": [code["value"] for code in area.get("geocode", [])
                      if code["valueName"] == DIVISION_CODE_NAME],
        "polygon": "\n".join(_points(polygon) for polygon in area.get("polygon", [])),
        "circle": "\n".join(f"{_points([circle['center']])} {circle['radiusKm']}"
                            for circle in area.get("circle", [])),
    }
    for suffix, language in FORM_LANGUAGES:
        info = infos.get(language, {})
        values |= {f"{field}_{suffix}": info.get(name, "") for name, field in _TEXTS.items()}
    return values


def _beijing_time(values: FormValues, field: str) -> str:
    text = str(values.get(field, "")).strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not a date and time (YYYY-MM-DD HH:MM, Beijing time)",
                           field=field) from None
    return moment.replace(tzinfo=BEIJING_TIME).isoformat()


def _shapes(text: str, field: str,
            read: Callable[[str, str, list[Problem]], Shape | None]) -> list[Shape]:
    problems: list[Problem] = []
    shapes = [read(line.strip(), field, problems) for line in text.splitlines() if line.strip()]
    errors = errors_of(problems)
    if errors:
        raise invalid_input(errors)
    return [shape for shape in shapes if shape is not None]


def _polygon_json(polygon: Polygon) -> list[dict[str, float]]:
    return [{"lat": point.lat, "lon": point.lon} for point in polygon.points]


def _circle_json(circle: Circle) -> dict[str, Any]:
    return {"center": {"lat": circle.center.lat, "lon": circle.center.lon},
            "radiusKm": circle.radius_km}


def _area(values: FormValues, districts: Mapping[str, District],
          language: str) -> list[dict[str, Any]]:
    codes = [code for code in values.get("districts", []) if code in districts]
    polygons = _shapes(str(values.get("polygon", "")), "polygon", read_polygon)
    circles = _shapes(str(values.get("circle", "")), "circle", read_circle)
    if not codes and not polygons and not circles:
        return []
    names = [districts[code].name_zh if language == CHINESE else districts[code].name_en
             for code in codes]
    described = _DISTRICT_SEPARATOR[language].join(names) or \
        ("自定义区域" if language == CHINESE else "Drawn area")
    area: dict[str, Any] = {
        "areaDesc": described,
        "geocode": [{"valueName": DIVISION_CODE_NAME, "value": code} for code in codes],
        "polygon": [_polygon_json(polygon) for polygon in polygons],
        "circle": [_circle_json(circle) for circle in circles],
    }
    return [{name: value for name, value in area.items() if value}]


def _info(values: FormValues, suffix: str, language: str,
          districts: Mapping[str, District]) -> dict[str, Any]:
    level = str(values.get("level", ""))
    severity = SEVERITY_OF_WARNING_COLOR.get(level)
    if severity is None:
        raise InvalidInput(f"choose a warning level ({', '.join(SEVERITY_OF_WARNING_COLOR)})",
                           field="level")
    info: dict[str, Any] = {
        "language": language, "category": [str(values.get("category", ""))],
        "responseType": list(values.get("response", [])),
        "urgency": values.get("urgency", ""), "severity": str(severity),
        "certainty": values.get("certainty", ""),
        "effective": _beijing_time(values, "effective"),
        "expires": _beijing_time(values, "expires"),
        "parameter": [{"valueName": WARNING_COLOR_NAME, "value": level}],
        "area": _area(values, districts, language),
    }
    for name, field in _TEXTS.items():
        text = str(values.get(f"{field}_{suffix}", "")).strip()
        if text:
            info[name] = text
    return {name: value for name, value in info.items() if value != []}


def content_of(values: FormValues, districts: Mapping[str, District]) -> dict[str, Any]:
    """The composer's JSON for the form; an English column left empty adds no en-US block."""
    infos = [_info(values, suffix, language, districts) for suffix, language in FORM_LANGUAGES
             if language == CHINESE or any(str(values.get(f"{field}_{suffix}", "")).strip()
                                           for field in _TEXTS.values())]
    return {"status": values.get("status", ""), "scope": str(Scope.PUBLIC), "info": infos}


def typed_event_matches(typed: str, content: Mapping[str, Any]) -> bool:
    """Whether ``typed`` is the event name of one of the alert's languages."""
    wanted = typed.strip().casefold()
    return bool(wanted) and any(str(info.get("event", "")).strip().casefold() == wanted
                                for info in content.get("info", []))
