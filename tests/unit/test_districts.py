"""The Beijing district table: its file, its polygons, and the landmarks they must hold."""

from __future__ import annotations

from itertools import combinations
from pathlib import Path

import pytest
import shapely

from publisher.cap.districts import (
    DistrictFileError,
    DistrictTable,
    UnknownDistrictError,
    load_districts,
)

DISTRICTS_FILE = Path(__file__).resolve().parents[2] / "config" / "districts.toml"
CITY = "110000"


@pytest.fixture(scope="module")
def table() -> DistrictTable:
    return load_districts(DISTRICTS_FILE)


def test_the_city_and_its_sixteen_districts(table: DistrictTable) -> None:
    assert table.get(CITY).name_zh == "北京市"
    assert table.get(CITY).level == "city"
    districts = {each.code: each.name_en for each in table if each.level == "district"}
    assert districts == {
        "110101": "Dongcheng",
        "110102": "Xicheng",
        "110105": "Chaoyang",
        "110106": "Fengtai",
        "110107": "Shijingshan",
        "110108": "Haidian",
        "110109": "Mentougou",
        "110111": "Fangshan",
        "110112": "Tongzhou",
        "110113": "Shunyi",
        "110114": "Changping",
        "110115": "Daxing",
        "110116": "Huairou",
        "110117": "Pinggu",
        "110118": "Miyun",
        "110119": "Yanqing",
    }
    assert len(table.codes()) == 17


@pytest.mark.parametrize(
    "landmark, lon, lat, district",
    [
        ("Tiananmen", 116.3975, 39.9087, "Dongcheng"),
        ("Temple of Heaven", 116.410, 39.882, "Dongcheng"),
        ("Beihai Park", 116.383, 39.925, "Xicheng"),
        ("CCTV Headquarters", 116.460, 39.915, "Chaoyang"),
        ("Summer Palace", 116.273, 39.999, "Haidian"),
        ("Peking University", 116.310, 39.990, "Haidian"),
        ("Shougang Park", 116.160, 39.920, "Shijingshan"),
        ("Marco Polo Bridge", 116.213, 39.849, "Fengtai"),
        ("Tanzhe Temple", 116.027, 39.903, "Mentougou"),
        ("Zhoukoudian", 115.930, 39.690, "Fangshan"),
        ("Huangcun", 116.340, 39.730, "Daxing"),
        ("Tongzhou administrative centre", 116.720, 39.900, "Tongzhou"),
        ("Shunyi town", 116.650, 40.130, "Shunyi"),
        ("Ming Tombs", 116.240, 40.300, "Changping"),
        ("Juyongguan", 116.070, 40.290, "Changping"),
        ("Badaling Great Wall", 116.016, 40.357, "Yanqing"),
        ("Mutianyu Great Wall", 116.560, 40.430, "Huairou"),
        ("Miyun Reservoir", 116.950, 40.500, "Miyun"),
        ("Simatai Great Wall", 117.270, 40.650, "Miyun"),
        ("Pinggu town", 117.120, 40.140, "Pinggu"),
    ],
)
def test_landmarks_fall_in_their_district(
    table: DistrictTable, landmark: str, lon: float, lat: float, district: str
) -> None:
    found = table.containing(lon, lat)
    assert found is not None, landmark
    assert found.name_en == district, landmark


def test_a_point_outside_beijing_is_in_no_district(table: DistrictTable) -> None:
    assert table.containing(121.47, 31.23) is None


def test_polygons_are_valid_simple_and_inside_the_city(table: DistrictTable) -> None:
    city = table.get(CITY).geometry
    districts = [each for each in table if each.level == "district"]
    for district in districts:
        geometry = district.geometry
        assert geometry.is_valid, district.name_en
        assert 5 <= len(district.boundary) - 1 <= 12, district.name_en
        assert city.buffer(1e-9).contains(geometry), district.name_en
    for first, second in combinations(districts, 2):
        overlap = first.geometry.intersection(second.geometry).area
        assert overlap < 1e-9, (first.name_en, second.name_en)
    union = shapely.union_all([each.geometry for each in districts])
    assert union.symmetric_difference(city).area < 1e-6


def test_unknown_codes_suggest_close_ones(table: DistrictTable) -> None:
    with pytest.raises(UnknownDistrictError) as caught:
        table.get("110180")
    assert isinstance(caught.value, KeyError)
    assert "110180" in str(caught.value)
    assert "110108 (Haidian)" in str(caught.value)
    with pytest.raises(UnknownDistrictError, match="Chaoyang"):
        table.get("chaoyang")


def test_geocodes_resolve_by_gb_t_2260(table: DistrictTable) -> None:
    assert table.resolve_geocode("GB/T 2260", "110108").name_en == "Haidian"
    assert table.resolve_geocode("gb/t2260", " 110105 ").name_en == "Chaoyang"
    assert table.resolve_geocode("FIPS6", "110108") is None
    assert table.resolve_geocode("GB/T 2260", "310101") is None


ENTRY = """
[[district]]
code = "{code}"
name_zh = "东城区"
name_en = "Dongcheng"
level = "{level}"
boundary = {boundary}
"""
SQUARE = "[[116.0, 39.0], [116.1, 39.0], [116.1, 39.1], [116.0, 39.1], [116.0, 39.0]]"


@pytest.mark.parametrize(
    "entries, message",
    [
        ([{"code": "11010", "level": "district", "boundary": SQUARE}], r"district\[0\]\.code"),
        (
            [
                {"code": "110101", "level": "district", "boundary": SQUARE},
                {"code": "110102", "level": "district", "boundary": SQUARE[:-15] + "]"},
            ],
            r"district\[1\]\.boundary: ring is not closed",
        ),
        ([{"code": "110101", "level": "town", "boundary": SQUARE}], r"district\[0\]\.level"),
        (
            [
                {
                    "code": "110101",
                    "level": "district",
                    "boundary": "[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]",
                }
            ],
            r"district\[0\]\.boundary: ring crosses itself",
        ),
        (
            [
                {"code": "110101", "level": "district", "boundary": SQUARE},
                {"code": "110101", "level": "district", "boundary": SQUARE},
            ],
            "appears twice",
        ),
    ],
)
def test_a_bad_file_names_the_entry_and_field(
    tmp_path: Path, entries: list[dict[str, str]], message: str
) -> None:
    path = tmp_path / "districts.toml"
    path.write_text("".join(ENTRY.format(**entry) for entry in entries), encoding="utf-8")
    with pytest.raises(DistrictFileError, match=message):
        load_districts(path)


def test_a_missing_name_is_named(tmp_path: Path) -> None:
    path = tmp_path / "districts.toml"
    text = ENTRY.format(code="110101", level="district", boundary=SQUARE)
    path.write_text(text.replace('name_en = "Dongcheng"\n', ""), encoding="utf-8")
    with pytest.raises(DistrictFileError, match=r"district\[0\]\.name_en"):
        load_districts(path)
