"""The area picker: an inline SVG map of the city's districts, each paired with a checkbox.

The map is drawn from the district boundaries of ``config/districts.toml``
(no tiles: it works offline), projected onto the SVG box: longitude scaled
by the cosine of the middle latitude, so that the districts keep their
shapes. Each district is a shape labelled with its name in the page's
language; beside the map, a real checkbox per district (``name`` the form
field, ``value`` its GB/T 2260 code) is what the form submits, reachable by
keyboard and working without JavaScript. ``/static/district_map.js`` lets a
click on a shape toggle its checkbox. A district is highlighted while its
checkbox is checked: by CSS ``:has()`` as the user picks, and by a class the
server sets for what was selected before.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup

from publisher.cap.districts import District, DistrictTable, load_districts
from publisher.config import load_paths
from publisher.services.area_reach import DISTRICT_LEVEL
from publisher.services.errors import InvalidInput
from publisher.services.languages import LANGUAGES
from publisher.web.fragments import render_fragment
from publisher.web.page_text import district_label

__all__ = ["MAP_SCRIPT_PATH", "MAP_WIDTH", "render_district_map_svg"]

MAP_SCRIPT_PATH = "/static/district_map.js"
MAP_WIDTH = 640.0
_MARGIN = 8.0
_LARGEST_LABEL = 13.0
_SMALLEST_LABEL = 7.0
# Of a label's font size: a Chinese character is about one em wide, a Latin letter 0.6.
_WIDE_CHARACTER_EMS = 1.0
_NARROW_CHARACTER_EMS = 0.6


@dataclass(frozen=True, slots=True)
class _Shape:
    district: District
    path: str
    label_x: float
    label_y: float
    width: float


@dataclass(frozen=True, slots=True)
class _Projection:
    west: float
    north: float
    x_scale: float
    y_scale: float

    def point(self, lon: float, lat: float) -> tuple[float, float]:
        return (_MARGIN + (lon - self.west) * self.x_scale,
                _MARGIN + (self.north - lat) * self.y_scale)


def _projection(districts: Sequence[District]) -> tuple[_Projection, float]:
    """The projection onto a box ``MAP_WIDTH`` wide, and the box's height."""
    west, south, east, north = (
        min(district.geometry.bounds[0] for district in districts),
        min(district.geometry.bounds[1] for district in districts),
        max(district.geometry.bounds[2] for district in districts),
        max(district.geometry.bounds[3] for district in districts))
    shrink = math.cos(math.radians((south + north) / 2))
    y_scale = (MAP_WIDTH - 2 * _MARGIN) / ((east - west) * shrink)
    projection = _Projection(west, north, y_scale * shrink, y_scale)
    return projection, round((north - south) * y_scale + 2 * _MARGIN, 1)


def _shape(district: District, projection: _Projection) -> _Shape:
    points = [projection.point(lon, lat) for lon, lat in district.boundary]
    path = "M" + " L".join(f"{x:.1f},{y:.1f}" for x, y in points[:-1]) + " Z"
    inside = district.geometry.representative_point()
    label_x, label_y = projection.point(inside.x, inside.y)
    west, _, east, _ = district.geometry.bounds
    return _Shape(district, path, round(label_x, 1), round(label_y, 1),
                  (east - west) * projection.x_scale)


@functools.lru_cache(maxsize=4)
def _drawn(table: DistrictTable) -> tuple[tuple[_Shape, ...], float]:
    districts = sorted((district for district in table if district.level == DISTRICT_LEVEL),
                       key=lambda district: district.code)
    projection, height = _projection(districts)
    return tuple(_shape(district, projection) for district in districts), height


@functools.cache
def _installation_districts() -> DistrictTable:
    return load_districts(load_paths().districts_file)


def _label_size(name: str, width: float) -> float:
    ems = sum(_WIDE_CHARACTER_EMS if ord(char) > 0x2E80 else _NARROW_CHARACTER_EMS
              for char in name)
    return round(max(_SMALLEST_LABEL, min(_LARGEST_LABEL, 0.9 * width / ems)), 1)


def render_district_map_svg(selected_codes: Sequence[str], lang: str,
                            field_name: str = "districts", *,
                            districts: DistrictTable | None = None) -> Markup:
    """The map of the districts of ``districts`` (default: the installation's), with a
    checkbox named ``field_name`` per district; those of ``selected_codes`` are checked.

    Codes of ``selected_codes`` that name no district on the map check nothing.
    """
    if lang not in LANGUAGES:
        raise InvalidInput(f"{lang!r} is not one of {', '.join(LANGUAGES)}", field="lang")
    shapes, height = _drawn(districts if districts is not None else _installation_districts())
    chosen = set(selected_codes)
    shown = []
    for shape in shapes:
        name = district_label(shape.district.name_zh, shape.district.name_en, lang)
        shown.append({"code": shape.district.code, "name": name, "path": shape.path,
                      "label_x": shape.label_x, "label_y": shape.label_y,
                      "label_size": _label_size(name, shape.width),
                      "selected": shape.district.code in chosen})
    return render_fragment("staff/district_map.html.j2", language=lang, field_name=field_name,
                           map_id=f"district-map-{field_name}", width=MAP_WIDTH, height=height,
                           districts=shown, script=MAP_SCRIPT_PATH)
