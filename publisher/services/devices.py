"""The device registry: LED boards, speakers and MQTT terminals, each a target fan-out reaches.

A device is a ``Device`` row beside its ``Target`` row (channel = the kind's
channel, address = endpoint URL, district, location, language, test flag);
both are written in one transaction, so fan-out reaches a device exactly
while it is registered. A terminal has no endpoint: it listens on the MQTT
broker, and its address is its district, sector and id
(``mqtt_protocol.TerminalAddress``), which name its topics. Every field is
checked before anything is written, and a refusal names the field and the
reason:

- ``district_code``: a district of the city's table (a code or a name; the
  answer suggests close ones), never the city as a whole;
- ``lon``/``lat``: on the globe, and inside the district or at least the
  city (the district boundaries are simplified, so a device near a border
  may lie just outside its own);
- ``capabilities``: per kind (``LED_CAPABILITIES``, ``SPEAKER_CAPABILITIES``;
  a terminal has none), unknown keys refused so that a typo does not pass
  for a setting;
- ``sector``: what a terminal protects (``mqtt_protocol.SECTORS``), required
  for a terminal and refused for any other kind, as ``endpoint`` is the
  other way round.

A device proves who it is with a bearer token, generated when it is added,
shown once and stored as its SHA-256. Removing a device deactivates its
target, so no fan-out planned later reaches it, and keeps the target row,
which the deliveries made to it still name; the same endpoint added again
takes that target row back.

Functions here change rows and flush; committing is the caller's.
"""

from __future__ import annotations

import hmac
import math
import re
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from publisher.cap.districts import District
from publisher.cap.municipal import SEVERITY_OF_WARNING_COLOR
from publisher.channels.mqtt_protocol import SECTORS, TerminalAddress
from publisher.services import audit
from publisher.services.actors import Actor, require_role
from publisher.services.device_health import Health, device_health, is_offline, silent_condition
from publisher.services.district_names import DistrictNames
from publisher.services.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from publisher.services.languages import DEFAULT_LANGUAGE, LANGUAGES, language_named
from publisher.services.users import token_digest
from publisher.store.models import Device, DeviceKind, Role, Target, utcnow

__all__ = [
    "BOARD_COLOURS",
    "DEFAULT_HEARTBEAT_SECONDS",
    "DEVICE_FIELDS",
    "DEVICE_TOKEN_PREFIX",
    "LED_CAPABILITIES",
    "SPEAKER_CAPABILITIES",
    "AddedDevice",
    "DevicePage",
    "DeviceSpec",
    "DeviceView",
    "add_device",
    "add_device_as_staff",
    "apply_device_spec",
    "authenticate_device",
    "device_for_staff",
    "device_spec",
    "device_view",
    "find_device",
    "list_devices",
    "list_devices_as_staff",
    "new_device_token",
    "remove_device",
    "remove_device_as_staff",
    "touch_device",
]

DEVICE_TOKEN_PREFIX = "dev_"  # noqa: S105 - a marker, not a secret
_TOKEN_BYTES = 32
DEFAULT_HEARTBEAT_SECONDS = 60
HEARTBEAT_RANGE = (5, 86_400)
VOLUME_RANGE = (0, 100)
_DEVICE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_ADDRESS_LENGTH = 255
_NAME_LENGTH = 200
WAV = "audio/wav"
_AUDIO_TYPE = re.compile(r"audio/[a-z0-9.+-]+")

BOARD_COLOURS = (*SEVERITY_OF_WARNING_COLOR, "green", "white")
"""The warning colours, most severe first, then the plain ones a board shows between alerts."""
LED_CAPABILITIES: Mapping[str, Any] = {
    "rows": 2, "columns": 12, "colours": list(BOARD_COLOURS), "scrolls": False,
    "languages": list(LANGUAGES)}
"""An LED board's capabilities, with the defaults of those left out.

``columns`` counts CJK characters a row (a CJK character takes two cells).
"""
SPEAKER_CAPABILITIES: Mapping[str, Any] = {
    "formats": [WAV], "volume": 80, "languages": list(LANGUAGES)}
_CAPABILITIES: Mapping[DeviceKind, Mapping[str, Any]] = {
    DeviceKind.LED: LED_CAPABILITIES, DeviceKind.SPEAKER: SPEAKER_CAPABILITIES,
    DeviceKind.TERMINAL: {}}

DEVICE_FIELDS = ("device_id", "kind", "endpoint", "sector", "district_code", "lon", "lat",
                 "language", "capabilities", "heartbeat_interval", "is_test", "name")
"""What a device is registered with (the API body, a device list entry, ``devices.toml``)."""


@dataclass(frozen=True, slots=True)
class DeviceSpec:
    """A device as registered: every field checked (see ``device_spec``)."""

    device_id: str
    kind: DeviceKind
    endpoint: str
    """Where it is reached: a URL, or a terminal's ``DISTRICT/SECTOR/ID``."""
    district_code: str
    lon: float
    lat: float
    capabilities: Mapping[str, Any]
    language: str = DEFAULT_LANGUAGE
    heartbeat_interval: int = DEFAULT_HEARTBEAT_SECONDS
    is_test: bool = False
    name: str = ""
    sector: str | None = None


# --- checking the fields ---


def _text(fields: Mapping[str, Any], name: str, where: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("required: a non-empty string", field=where + name)
    return value.strip()


def _whole(value: Any, name: str, bounds: tuple[int, int | None]) -> int:
    low, high = bounds
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidInput(f"must be a whole number, not {value!r}", field=name)
    if value < low or (high is not None and value > high):
        span = f"from {low} to {high}" if high is not None else f"at least {low}"
        raise InvalidInput(f"must be {span}, not {value}", field=name)
    return value


def _flag(value: Any, name: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidInput(f"must be true or false, not {value!r}", field=name)
    return value


def _device_id(fields: Mapping[str, Any], where: str) -> str:
    device_id = _text(fields, "device_id", where)
    if not _DEVICE_ID.fullmatch(device_id):
        raise InvalidInput(f"{device_id!r}: 1 to 64 letters, digits, '.', '_' or '-', starting"
                           " with a letter or digit", field=where + "device_id")
    return device_id


def _kind(fields: Mapping[str, Any], where: str) -> DeviceKind:
    value = _text(fields, "kind", where)
    try:
        return DeviceKind(value.lower())
    except ValueError:
        known = ", ".join(kind.value for kind in DeviceKind)
        raise InvalidInput(f"{value!r} is not a kind of device (known: {known})",
                           field=where + "kind") from None


def _endpoint(fields: Mapping[str, Any], where: str) -> str:
    endpoint = _text(fields, "endpoint", where).rstrip("/")
    parts = urlsplit(endpoint)
    problem = None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        problem = "must be an http:// or https:// URL with a host"
    elif parts.username or parts.password:
        problem = "must not carry credentials: the device's token is its credential"
    elif parts.query or parts.fragment:
        problem = "must not have a query or fragment: the platform adds /messages to it"
    elif len(endpoint) > _ADDRESS_LENGTH:
        problem = f"at most {_ADDRESS_LENGTH} characters"
    if problem:
        raise InvalidInput(f"{endpoint!r}: {problem}", field=where + "endpoint")
    return endpoint


def _sector(fields: Mapping[str, Any], kind: DeviceKind, where: str) -> str | None:
    if kind is not DeviceKind.TERMINAL:
        if fields.get("sector") is not None:
            raise InvalidInput(f"only a terminal protects a sector, not a {kind.value} device",
                               field=where + "sector")
        return None
    sector = _text(fields, "sector", where).lower()
    if sector not in SECTORS:
        raise InvalidInput(f"{sector!r} is not a sector (known: {', '.join(SECTORS)})",
                           field=where + "sector")
    return sector


def _terminal_address(fields: Mapping[str, Any], device_id: str, district: District,
                      sector: str, where: str) -> str:
    if fields.get("endpoint") is not None:
        raise InvalidInput("a terminal has no endpoint: it listens on the MQTT broker, on the"
                           " topics of its district and sector", field=where + "endpoint")
    return str(TerminalAddress(district.code, sector, device_id))


def _district(fields: Mapping[str, Any], districts: DistrictNames, where: str) -> District:
    text = _text(fields, "district_code", where)
    district = districts.find(text)
    if district is None:
        close = ", ".join(f"{each.code} ({each.name_en})" for each in districts.close_to(text)
                          if each.level == "district")
        raise InvalidInput(f"unknown district {text!r}" + (f"; did you mean {close}?"
                                                           if close else ""),
                           field=where + "district_code")
    if district.level != "district":
        raise InvalidInput(f"{district.code} ({district.name_en}) is the whole {district.level};"
                           " a device stands in one of its districts",
                           field=where + "district_code")
    return district


def _coordinate(fields: Mapping[str, Any], name: str, limit: float, where: str) -> float:
    value = fields.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidInput(f"required: a number of degrees, not {value!r}", field=where + name)
    number = float(value)
    if not math.isfinite(number) or not -limit <= number <= limit:
        raise InvalidInput(f"{value} is not between -{limit:g} and {limit:g} degrees",
                           field=where + name)
    return number


def _location(fields: Mapping[str, Any], district: District, districts: DistrictNames,
              where: str) -> tuple[float, float]:
    lon = _coordinate(fields, "lon", 180, where)
    lat = _coordinate(fields, "lat", 90, where)
    if district.covers(lon, lat):
        return lon, lat
    city = districts.find(district.code[:2] + "0000")
    if city is not None and city.covers(lon, lat):
        return lon, lat
    outside = f"outside {district.name_en} ({district.code})" + (
        f" and outside {city.name_en} ({city.code})" if city is not None else "")
    raise InvalidInput(f"({lon}, {lat}) lies {outside}: check the district, and that lon"
                       " comes before lat", field=where + "lon")


def _language(fields: Mapping[str, Any], where: str) -> str:
    value = fields.get("language", DEFAULT_LANGUAGE)
    language = language_named(value) if isinstance(value, str) else None
    if language is None:
        raise InvalidInput(f"{value!r} is not a language of the platform (known:"
                           f" {', '.join(LANGUAGES)})", field=where + "language")
    return language


def _choices(value: Any, name: str, allowed: Sequence[str]) -> list[str]:
    if (not isinstance(value, list) or not value
            or not all(isinstance(item, str) for item in value)):
        raise InvalidInput(f"must be a non-empty list of strings, not {value!r}", field=name)
    unknown = [item for item in value if item not in allowed]
    if unknown:
        raise InvalidInput(f"{unknown[0]!r} is not one of {', '.join(allowed)}", field=name)
    if len(set(value)) != len(value):
        raise InvalidInput("names an item twice", field=name)
    return list(value)


def _formats(value: Any, name: str) -> list[str]:
    if (not isinstance(value, list) or not value
            or not all(isinstance(item, str) and _AUDIO_TYPE.fullmatch(item) for item in value)):
        raise InvalidInput(f"must be a non-empty list of audio media types such as {WAV!r},"
                           f" not {value!r}", field=name)
    if WAV not in value:
        raise InvalidInput(f"the platform sends {WAV}: a speaker must play it", field=name)
    return list(dict.fromkeys(value))


_CAPABILITY_CHECKS: Mapping[str, Callable[[Any, str], Any]] = {
    "rows": lambda value, name: _whole(value, name, (1, None)),
    "columns": lambda value, name: _whole(value, name, (1, None)),
    "colours": lambda value, name: _choices(value, name, BOARD_COLOURS),
    "scrolls": _flag,
    "languages": lambda value, name: _choices(value, name, LANGUAGES),
    "formats": _formats,
    "volume": lambda value, name: _whole(value, name, VOLUME_RANGE),
}


def _capabilities(fields: Mapping[str, Any], kind: DeviceKind, where: str) -> dict[str, Any]:
    given = fields.get("capabilities", {})
    name = where + "capabilities"
    if not isinstance(given, Mapping):
        raise InvalidInput(f"must be an object, not {given!r}", field=name)
    defaults = _CAPABILITIES[kind]
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise InvalidInput(f"unknown for {kind.value} devices (known:"
                           f" {', '.join(defaults) or 'none'})", field=f"{name}.{unknown[0]}")
    return {key: _CAPABILITY_CHECKS[key](given[key], f"{name}.{key}") if key in given
            else default for key, default in defaults.items()}


def device_spec(fields: Mapping[str, Any], districts: DistrictNames, *,
                where: str = "") -> DeviceSpec:
    """Check every field of a device; InvalidInput names the first wrong one.

    ``where`` prefixes the field's name in errors, e.g. ``"devices[3]."``.
    Unknown fields are refused; ``language``, ``capabilities``,
    ``heartbeat_interval``, ``is_test`` and ``name`` have defaults. A
    terminal has a ``sector`` and no ``endpoint``; every other kind the
    other way round.
    """
    unknown = sorted(set(fields) - set(DEVICE_FIELDS))
    if unknown:
        raise InvalidInput(f"unknown field (known: {', '.join(DEVICE_FIELDS)})",
                           field=where + unknown[0])
    device_id, kind = _device_id(fields, where), _kind(fields, where)
    sector = _sector(fields, kind, where)
    if sector is None:
        endpoint = _endpoint(fields, where)
        district = _district(fields, districts, where)
    else:
        district = _district(fields, districts, where)
        endpoint = _terminal_address(fields, device_id, district, sector, where)
    lon, lat = _location(fields, district, districts, where)
    language = _language(fields, where)
    capabilities = _capabilities(fields, kind, where)
    heartbeat_interval = _whole(fields.get("heartbeat_interval", DEFAULT_HEARTBEAT_SECONDS),
                                where + "heartbeat_interval", HEARTBEAT_RANGE)
    is_test = _flag(fields.get("is_test", False), where + "is_test")
    name = fields.get("name", "")
    if not isinstance(name, str) or len(name) > _NAME_LENGTH:
        raise InvalidInput(f"must be a string of at most {_NAME_LENGTH} characters",
                           field=where + "name")
    return DeviceSpec(device_id=device_id, kind=kind, endpoint=endpoint,
                      district_code=district.code, lon=lon, lat=lat, capabilities=capabilities,
                      language=language, heartbeat_interval=heartbeat_interval,
                      is_test=is_test, name=name.strip(), sector=sector)


# --- the registry ---


def new_device_token() -> str:
    return DEVICE_TOKEN_PREFIX + secrets.token_urlsafe(_TOKEN_BYTES)


def device_for_staff(session: Session, actor: Actor, device_id: str) -> DeviceView:
    """One device with its health, for an administrator."""
    require_role(actor, Role.ADMIN, "reading a device")
    device = find_device(session, device_id)
    if device is None:
        raise NotFound(f"no device {device_id!r}", field="device_id")
    return device_view(device)


def find_device(session: Session, device_id: str) -> Device | None:
    return session.scalars(select(Device).options(joinedload(Device.target))
                           .where(Device.device_id == device_id)).one_or_none()


def _target_at(session: Session, kind: DeviceKind, endpoint: str) -> Target | None:
    return session.scalars(select(Target).where(Target.channel == kind.channel,
                                                Target.address == endpoint)).one_or_none()


def _claim_target(session: Session, device: Device | None, spec: DeviceSpec) -> Target:
    """The target row the device is reached at: its own, a free one at that endpoint, or new."""
    found = _target_at(session, spec.kind, spec.endpoint)
    own = device.target if device is not None else None
    if found is not None and found is not own:
        holder = session.scalars(select(Device.device_id)
                                 .where(Device.target_id == found.id)).one_or_none()
        if holder is not None:
            raise Conflict(f"device {holder} is reached at {spec.endpoint} already",
                           field="endpoint")
        if own is not None:
            # The device moves to an endpoint whose target an earlier device left:
            # the old target keeps the deliveries made to it, inactive.
            own.active = False
        return found
    return own if own is not None else Target(channel=spec.kind.channel, address=spec.endpoint)


def _apply(target: Target, device: Device, spec: DeviceSpec, token_sha256: str | None) -> None:
    target.address = spec.endpoint
    target.district_code = spec.district_code
    target.lon, target.lat = spec.lon, spec.lat
    target.language = spec.language
    target.is_test = spec.is_test
    target.active = True
    device.target = target
    device.name = spec.name
    device.capabilities = dict(spec.capabilities)
    device.heartbeat_interval = spec.heartbeat_interval
    device.sector = spec.sector
    if token_sha256 is not None:
        device.token_sha256 = token_sha256


def _state(device: Device) -> tuple[Any, ...]:
    target = device.target
    return (target.id, target.address, target.district_code, target.lon, target.lat,
            target.language, target.is_test, target.active, device.name, device.capabilities,
            device.heartbeat_interval, device.token_sha256, device.sector)


def apply_device_spec(session: Session, spec: DeviceSpec,
                      token_sha256: str | None) -> tuple[Device, str]:
    """Register ``spec``, or bring the device of that id in line with it.

    ``token_sha256`` replaces the stored one (None keeps it). Returns the
    device and ``"created"``, ``"updated"`` or ``"unchanged"``; a device of
    that id of another kind is refused (its deliveries are on the other
    channel).
    """
    device = find_device(session, spec.device_id)
    if device is not None and device.kind is not spec.kind:
        raise Conflict(f"device {spec.device_id} is a {device.kind.value} device; remove it"
                       f" before registering a {spec.kind.value} device of that id",
                       field="kind")
    before = _state(device) if device is not None else None
    target = _claim_target(session, device, spec)
    if device is None:
        device = Device(device_id=spec.device_id, kind=spec.kind, created_at=utcnow())
        session.add(device)
    _apply(target, device, spec, token_sha256)
    session.flush()
    if before is None:
        return device, "created"
    return device, "unchanged" if _state(device) == before else "updated"


@dataclass(frozen=True, slots=True)
class AddedDevice:
    device: Device
    token: str
    """The device's bearer token: shown this once, stored only as its SHA-256."""

    def __repr__(self) -> str:
        return f"AddedDevice(device_id={self.device.device_id!r})"


def add_device(session: Session, spec: DeviceSpec) -> AddedDevice:
    """Register a new device with a fresh token; Conflict when its id or endpoint is taken."""
    if find_device(session, spec.device_id) is not None:
        raise Conflict(f"a device {spec.device_id} exists already", field="device_id")
    token = new_device_token()
    device, _ = apply_device_spec(session, spec, token_digest(token))
    return AddedDevice(device, token)


def add_device_as_staff(session: Session, actor: Actor, fields: Mapping[str, Any],
                        districts: DistrictNames) -> AddedDevice:
    """``add_device`` of the device ``fields`` describe, for an administrator, audited."""
    require_role(actor, Role.ADMIN, "adding a device")
    spec = device_spec(fields, districts)
    added = add_device(session, spec)
    audit.record(session, actor, "add_device", detail={
        "device_id": spec.device_id, "kind": spec.kind.value, "district": spec.district_code})
    return added


def remove_device(session: Session, device_id: str) -> None:
    """Unregister a device: its target goes inactive and stays, with the deliveries made to it."""
    device = find_device(session, device_id)
    if device is None:
        raise NotFound(f"no device {device_id!r}", field="device_id")
    device.target.active = False
    session.delete(device)
    session.flush()


def remove_device_as_staff(session: Session, actor: Actor, device_id: str) -> None:
    """``remove_device`` for an administrator, audited."""
    require_role(actor, Role.ADMIN, "removing a device")
    remove_device(session, device_id)
    audit.record(session, actor, "remove_device", detail={"device_id": device_id})


# --- reading it ---


@dataclass(frozen=True, slots=True)
class DeviceView:
    """A device with its target's fields and its health at one moment."""

    device: Device
    health: Health
    offline: bool


def device_view(device: Device, now: datetime | None = None) -> DeviceView:
    moment = now or utcnow()
    return DeviceView(device, device_health(device, moment), is_offline(device, moment))


@dataclass(frozen=True, slots=True)
class DevicePage:
    items: list[DeviceView]
    total: int


def _kind_filter(kind: str | None) -> DeviceKind | None:
    if kind is None:
        return None
    try:
        return DeviceKind(kind)
    except ValueError:
        known = ", ".join(member.value for member in DeviceKind)
        raise InvalidInput(f"{kind!r} is not a kind of device (known: {known})",
                           field="kind") from None


def list_devices(session: Session, *, kind: str | None = None, offline_only: bool = False,
                 page: int | None = None, per_page: int = 50,
                 now: datetime | None = None) -> DevicePage:
    """Devices by id, with their health; all of them, or one ``page`` (counted from 1)."""
    moment = now or utcnow()
    query = select(Device).options(joinedload(Device.target))
    chosen = _kind_filter(kind)
    if chosen is not None:
        query = query.where(Device.kind == chosen)
    if offline_only:
        query = query.where(silent_condition(session, moment))
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    query = query.order_by(Device.device_id)
    if page is not None:
        if page < 1:
            raise InvalidInput("pages count from 1", field="page")
        query = query.offset((page - 1) * per_page).limit(per_page)
    return DevicePage([device_view(device, moment) for device in session.scalars(query)], total)


def list_devices_as_staff(session: Session, actor: Actor, *, kind: str | None,
                          offline_only: bool, page: int, per_page: int) -> DevicePage:
    """One page of ``list_devices`` for an administrator."""
    require_role(actor, Role.ADMIN, "listing devices")
    return list_devices(session, kind=kind, offline_only=offline_only, page=page,
                        per_page=per_page)


# --- what devices send ---


def authenticate_device(session: Session, device_id: str, token: str) -> Device:
    """The device ``device_id`` if ``token`` is its token; NotFound, or Unauthenticated."""
    device = find_device(session, device_id)
    if device is None:
        raise NotFound(f"no device {device_id!r}", field="device_id")
    # Digests of equal length compared in constant time: the answer's timing
    # tells nothing about how much of a guessed token was right.
    if device.token_sha256 is None or not hmac.compare_digest(
            device.token_sha256, token_digest(token)):
        raise Unauthenticated(f"not the token of device {device_id}", field="Authorization")
    return device


def touch_device(device: Device, now: datetime | None = None) -> bool:
    """Record that the device was heard from; whether it had been offline until now."""
    moment = now or utcnow()
    was_offline = is_offline(device, moment)
    device.last_seen_at = moment
    return was_offline
