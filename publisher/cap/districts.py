"""The administrative districts an alert can target, and their boundaries.

Districts are named by their GB/T 2260 code (110105 is Chaoyang, Beijing).
The table is loaded once from a TOML file, checked entry by entry, and then
answers which district a code names and which district holds a point.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

from shapely.geometry import Point as ShapelyPoint
from shapely.geometry import Polygon as ShapelyPolygon

__all__ = [
    "GB_T_2260",
    "District",
    "DistrictFileError",
    "DistrictTable",
    "UnknownDistrictError",
    "is_gb_t_2260",
    "load_districts",
]

GB_T_2260 = "GB/T 2260"
LEVELS = ("city", "district")
_CODE = re.compile(r"\d{6}")

Coordinate = tuple[float, float]


@cache
def _polygon(boundary: tuple[Coordinate, ...]) -> ShapelyPolygon:
    return ShapelyPolygon(boundary)


@dataclass(frozen=True, slots=True)
class District:
    code: str
    name_zh: str
    name_en: str
    level: str
    boundary: tuple[Coordinate, ...]
    """A closed ring of (lon, lat) pairs."""

    @property
    def geometry(self) -> ShapelyPolygon:
        return _polygon(self.boundary)

    def covers(self, lon: float, lat: float) -> bool:
        return bool(self.geometry.covers(ShapelyPoint(lon, lat)))


class UnknownDistrictError(KeyError):
    def __init__(self, code: str, suggestions: list[str]) -> None:
        hint = f"; did you mean {', '.join(suggestions)}?" if suggestions else ""
        self.message = f"unknown district code {code!r}{hint}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def is_gb_t_2260(value_name: str) -> bool:
    """Whether a geocode valueName names GB/T 2260, however it is spaced or cased."""
    return "".join(value_name.split()).upper() == "".join(GB_T_2260.split())


class DistrictTable:
    def __init__(self, districts: Iterable[District]) -> None:
        self._by_code: dict[str, District] = {}
        for district in districts:
            if district.code in self._by_code:
                raise ValueError(f"district code {district.code} appears twice")
            self._by_code[district.code] = district
        # Smaller areas first, so a point gets its district before its city.
        self._by_level = sorted(self._by_code.values(), key=lambda each: each.level != "district")

    def __iter__(self) -> Iterator[District]:
        return iter(self._by_code.values())

    def __len__(self) -> int:
        return len(self._by_code)

    def codes(self) -> list[str]:
        return list(self._by_code)

    def get(self, code: str) -> District:
        try:
            return self._by_code[code]
        except KeyError:
            raise UnknownDistrictError(code, self._suggestions(code)) from None

    def _suggestions(self, wanted: str) -> list[str]:
        labels = {
            label: district
            for district in self._by_code.values()
            for label in (district.code, district.name_zh, district.name_en.lower())
        }
        close = difflib.get_close_matches(wanted.strip().lower(), labels, n=3, cutoff=0.5)
        named = {labels[label].code: labels[label] for label in close}
        return [f"{district.code} ({district.name_en})" for district in named.values()]

    def containing(self, lon: float, lat: float) -> District | None:
        """The district that holds the point (a district before its city), or None."""
        return next((district for district in self._by_level if district.covers(lon, lat)), None)

    def resolve_geocode(self, value_name: str, value: str) -> District | None:
        """The district a CAP geocode names, when it is a GB/T 2260 code in this table."""
        if not is_gb_t_2260(value_name):
            return None
        return self._by_code.get(value.strip())


class DistrictFileError(ValueError):
    """The districts file is not usable; the message names the entry and field."""


def _require_text(entry: dict[str, Any], field: str, where: str) -> str:
    value = entry.get(field)
    if not isinstance(value, str) or not value.strip():
        raise DistrictFileError(f"{where}.{field}: must be a non-empty string")
    return value.strip()


def _boundary(entry: dict[str, Any], where: str) -> tuple[Coordinate, ...]:
    raw = entry.get("boundary")
    if not isinstance(raw, list) or len(raw) < 4:
        raise DistrictFileError(f"{where}.boundary: must be a ring of at least 4 [lon, lat] pairs")
    ring: list[Coordinate] = []
    for index, pair in enumerate(raw):
        if (
            not isinstance(pair, list)
            or len(pair) != 2
            or not all(isinstance(number, int | float) for number in pair)
        ):
            raise DistrictFileError(f"{where}.boundary[{index}]: must be a [lon, lat] number pair")
        lon, lat = float(pair[0]), float(pair[1])
        if not (-180 <= lon <= 180 and -90 <= lat <= 90):
            raise DistrictFileError(f"{where}.boundary[{index}]: ({lon}, {lat}) is off the globe")
        ring.append((lon, lat))
    if ring[0] != ring[-1]:
        raise DistrictFileError(f"{where}.boundary: ring is not closed (first pair != last pair)")
    if not ShapelyPolygon(ring).is_valid:
        raise DistrictFileError(f"{where}.boundary: ring crosses itself or has no area")
    return tuple(ring)


def _district(entry: object, where: str) -> District:
    if not isinstance(entry, dict):
        raise DistrictFileError(f"{where}: must be a table")
    code = _require_text(entry, "code", where)
    if not _CODE.fullmatch(code):
        raise DistrictFileError(f"{where}.code: {code!r} is not a 6-digit GB/T 2260 code")
    level = _require_text(entry, "level", where)
    if level not in LEVELS:
        raise DistrictFileError(f"{where}.level: {level!r} is not one of {', '.join(LEVELS)}")
    return District(
        code=code,
        name_zh=_require_text(entry, "name_zh", where),
        name_en=_require_text(entry, "name_en", where),
        level=level,
        boundary=_boundary(entry, where),
    )


def load_districts(path: Path) -> DistrictTable:
    """Read and check a districts file of ``[[district]]`` tables.

    Each has code, name_zh, name_en, level and boundary; an error names the
    entry index and the field.
    """
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise DistrictFileError(f"{path}: not valid TOML: {error}") from None
    entries = document.get("district")
    if not isinstance(entries, list) or not entries:
        raise DistrictFileError(f"{path}: no [[district]] entries")
    districts = [
        _district(entry, f"{path.name}: district[{index}]") for index, entry in enumerate(entries)
    ]
    try:
        return DistrictTable(districts)
    except ValueError as error:
        raise DistrictFileError(f"{path}: {error}") from None
