"""Earthquake early warnings in CAP: the parameters they carry and the S-wave countdown.

A seismic network's EEW system names the quake in two ``<parameter>`` elements
of every info block:

- ``EEW_EPICENTRE``: ``"lat,lon"`` in WGS 84 decimal degrees (CAP's own order);
- ``EEW_MAGNITUDE``: the estimated magnitude, e.g. ``"6.1"``.

The center adds one ``EEW_COUNTDOWN`` per district the warning names,
``"<GB/T 2260 code>=<seconds>"``: the estimated seconds from the message's
``sent`` until the S-wave, travelling at ``S_WAVE_KM_PER_SECOND`` from the
epicentre, reaches that district's centroid.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from publisher.cap.model import Alert, Info, NamedValue

__all__ = [
    "COUNTDOWN",
    "EPICENTRE",
    "MAGNITUDE",
    "S_WAVE_KM_PER_SECOND",
    "EewError",
    "Quake",
    "countdown_parameters",
    "countdowns_of",
    "is_eew",
    "quake_of",
    "s_wave_seconds",
]

EPICENTRE = "EEW_EPICENTRE"
MAGNITUDE = "EEW_MAGNITUDE"
COUNTDOWN = "EEW_COUNTDOWN"
S_WAVE_KM_PER_SECOND = 3.5
_EARTH_RADIUS_KM = 6371.0
_MAGNITUDES = (0.0, 10.0)


class EewError(ValueError):
    """An EEW parameter is missing or wrong; ``field`` names it."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True, slots=True)
class Quake:
    lat: float
    lon: float
    magnitude: float

    @property
    def magnitude_text(self) -> str:
        return f"{self.magnitude:.1f}"


def is_eew(alert: Alert) -> bool:
    """Whether ``alert`` is an earthquake early warning: some info names a magnitude."""
    return any(info.parameter(MAGNITUDE) is not None for info in alert.infos)


def _number(text: str, field: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise EewError(field, f"{text!r} is not a number") from None
    if not math.isfinite(value):
        raise EewError(field, f"{text!r} is not a finite number")
    return value


def quake_of(info: Info, where: str = "info") -> Quake:
    """The quake an info block names; raises EewError naming the parameter at fault."""
    epicentre = info.parameter(EPICENTRE)
    magnitude = info.parameter(MAGNITUDE)
    if epicentre is None:
        raise EewError(f"{where}.parameter.{EPICENTRE}", 'required: "lat,lon" of the epicentre')
    if magnitude is None:
        raise EewError(f"{where}.parameter.{MAGNITUDE}", "required: the estimated magnitude")
    parts = epicentre.split(",")
    if len(parts) != 2:
        raise EewError(f"{where}.parameter.{EPICENTRE}", f'{epicentre!r} is not "lat,lon"')
    lat = _number(parts[0].strip(), f"{where}.parameter.{EPICENTRE}")
    lon = _number(parts[1].strip(), f"{where}.parameter.{EPICENTRE}")
    if not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise EewError(f"{where}.parameter.{EPICENTRE}", f"{epicentre!r} is off the globe")
    value = _number(magnitude, f"{where}.parameter.{MAGNITUDE}")
    if not _MAGNITUDES[0] < value < _MAGNITUDES[1]:
        raise EewError(f"{where}.parameter.{MAGNITUDE}",
                       f"{magnitude!r} is not a magnitude between {_MAGNITUDES[0]:g} "
                       f"and {_MAGNITUDES[1]:g}")
    return Quake(lat, lon, value)


def _distance_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    d_phi, d_lambda = phi2 - phi1, math.radians(lon2 - lon1)
    haversine = (math.sin(d_phi / 2) ** 2
                 + math.cos(phi1) * math.cos(phi2) * math.sin(d_lambda / 2) ** 2)
    return 2 * _EARTH_RADIUS_KM * math.asin(math.sqrt(haversine))


def s_wave_seconds(quake: Quake, lat: float, lon: float) -> int:
    """Whole seconds until the S-wave reaches (lat, lon), rounded down: never late."""
    return int(_distance_km(quake.lat, quake.lon, lat, lon) / S_WAVE_KM_PER_SECOND)


def countdown_parameters(quake: Quake,
                         centroids: Mapping[str, tuple[float, float]]) -> tuple[NamedValue, ...]:
    """One ``EEW_COUNTDOWN`` per district, from its (lat, lon) centroid, in code order."""
    return tuple(NamedValue(COUNTDOWN, f"{code}={s_wave_seconds(quake, *centroids[code])}")
                 for code in sorted(centroids))


def countdowns_of(parameters: Iterable[NamedValue]) -> dict[str, int]:
    """The ``EEW_COUNTDOWN`` values of an info, by district code; wrong ones are skipped."""
    found: dict[str, int] = {}
    for parameter in parameters:
        if parameter.value_name != COUNTDOWN:
            continue
        code, _, seconds = parameter.value.partition("=")
        if seconds.strip().isdigit():
            found[code.strip()] = int(seconds)
    return found
