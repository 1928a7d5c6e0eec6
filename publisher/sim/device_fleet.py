"""A fleet of simulated devices: their ids, tokens and places, and the device list file.

Devices are spread round-robin over the named districts, each at a random
point inside its district's boundary, and numbered per district:
``led-110105-01``, ``led-110108-01``, ``led-110105-02``... Each has a bearer
token of its own. The device list (JSON, one entry per device, the form
``publisher device import`` reads) carries the tokens, so that the platform
can register them; a simulator started again on the same list keeps them,
and registered devices still authenticate.
"""

from __future__ import annotations

import json
import random
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shapely.geometry import Point as ShapelyPoint

from publisher.cap.districts import District

__all__ = [
    "SimulatedDevice",
    "place_devices",
    "read_tokens",
    "write_device_list",
]

_TOKEN_BYTES = 24
_PLACEMENT_TRIES = 200
_COORDINATE_DIGITS = 6  # about 0.1 m


@dataclass(frozen=True, slots=True)
class SimulatedDevice:
    device_id: str
    kind: str
    token: str = field(repr=False)
    district_code: str
    lon: float
    lat: float
    language: str
    capabilities: Mapping[str, Any]

    def entry(self, base_url: str) -> dict[str, Any]:
        """This device as the device list names it, served below ``base_url``."""
        return {"device_id": self.device_id, "kind": self.kind,
                "endpoint": f"{base_url.rstrip('/')}/devices/{self.device_id}",
                "token": self.token, "district_code": self.district_code,
                "lon": self.lon, "lat": self.lat, "language": self.language,
                "capabilities": dict(self.capabilities)}


def _point_inside(district: District, chance: random.Random) -> tuple[float, float]:
    geometry = district.geometry
    west, south, east, north = geometry.bounds
    for _ in range(_PLACEMENT_TRIES):
        lon, lat = chance.uniform(west, east), chance.uniform(south, north)
        if geometry.contains(ShapelyPoint(lon, lat)):
            return round(lon, _COORDINATE_DIGITS), round(lat, _COORDINATE_DIGITS)
    inside = geometry.representative_point()
    return round(inside.x, _COORDINATE_DIGITS), round(inside.y, _COORDINATE_DIGITS)


def place_devices(kind: str, count: int, districts: Sequence[District], *,
                  language: str = "zh-CN", capabilities: Mapping[str, Any] | None = None,
                  tokens: Mapping[str, str] | None = None,
                  seed: int | None = None) -> list[SimulatedDevice]:
    """``count`` devices of ``kind`` spread over ``districts``; ``tokens`` kept by device id."""
    if count < 1:
        raise ValueError(f"count: {count} is not a positive number of devices")
    if not districts:
        raise ValueError("districts: name at least one district to place devices in")
    chance = random.Random(seed)  # noqa: S311 - where a simulated device stands, not a secret
    known = tokens or {}
    devices = []
    for index in range(count):
        district = districts[index % len(districts)]
        device_id = f"{kind}-{district.code}-{index // len(districts) + 1:02d}"
        lon, lat = _point_inside(district, chance)
        devices.append(SimulatedDevice(
            device_id=device_id, kind=kind,
            token=known.get(device_id) or secrets.token_urlsafe(_TOKEN_BYTES),
            district_code=district.code, lon=lon, lat=lat, language=language,
            capabilities=dict(capabilities or {})))
    return devices


def write_device_list(path: Path, devices: Sequence[SimulatedDevice], base_url: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    entries = [device.entry(base_url) for device in devices]
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(json.dumps(entries, ensure_ascii=False, indent=1) + "\n",
                         encoding="utf-8")
    temporary.chmod(0o600)  # it holds the devices' tokens
    temporary.replace(path)


def read_tokens(path: Path) -> dict[str, str]:
    """The tokens of an earlier device list at ``path``, by device id; none when it is absent."""
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except ValueError as error:
        raise ValueError(f"{path}: not a device list ({error})") from None
    if not isinstance(entries, list):
        raise ValueError(f"{path}: not a device list (a JSON array of devices)")
    return {entry["device_id"]: entry["token"] for entry in entries
            if isinstance(entry, dict) and isinstance(entry.get("device_id"), str)
            and isinstance(entry.get("token"), str)}
