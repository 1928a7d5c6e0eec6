"""A device's fields checked one by one: each refusal names its field and says why."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from publisher.cap.districts import load_districts
from publisher.services.devices import BOARD_COLOURS, device_spec
from publisher.services.district_names import DistrictNames
from publisher.services.errors import InvalidInput
from publisher.store.models import DeviceKind

DISTRICTS_FILE = Path(__file__).resolve().parents[2] / "config" / "districts.toml"
BOARD = {"device_id": "led-110105-01", "kind": "led", "district_code": "110105",
         "endpoint": "http://127.0.0.1:8700/devices/led-110105-01/", "lon": 116.50, "lat": 39.95}
SPEAKER = {**BOARD, "device_id": "speaker-110105-01", "kind": "speaker"}


@pytest.fixture(scope="module")
def districts() -> DistrictNames:
    return DistrictNames(load_districts(DISTRICTS_FILE))


def test_a_board_with_the_defaults_of_its_kind(districts: DistrictNames) -> None:
    spec = device_spec(BOARD, districts)
    assert spec.kind is DeviceKind.LED
    assert spec.endpoint == "http://127.0.0.1:8700/devices/led-110105-01"
    assert (spec.district_code, spec.lon, spec.lat) == ("110105", 116.50, 39.95)
    assert (spec.language, spec.heartbeat_interval, spec.is_test) == ("zh-CN", 60, False)
    assert spec.capabilities == {"rows": 2, "columns": 12, "colours": list(BOARD_COLOURS),
                                 "scrolls": False, "languages": ["zh-CN", "en-US"]}


def test_names_are_read_as_people_write_them(districts: DistrictNames) -> None:
    spec = device_spec({**SPEAKER, "district_code": "朝阳", "language": "English",
                        "capabilities": {"volume": 100, "formats": ["audio/wav", "audio/mpeg"]},
                        "heartbeat_interval": 30, "is_test": True}, districts)
    assert (spec.district_code, spec.language, spec.is_test) == ("110105", "en-US", True)
    assert spec.capabilities == {"formats": ["audio/wav", "audio/mpeg"], "volume": 100,
                                 "languages": ["zh-CN", "en-US"]}


def test_a_board_just_outside_its_district_but_inside_the_city_is_accepted(
        districts: DistrictNames) -> None:
    # The district outlines are simplified; the city's outline is the bound.
    spec = device_spec({**BOARD, "lon": 116.43, "lat": 39.91}, districts)
    assert spec.district_code == "110105"


@pytest.mark.parametrize(("changes", "field", "reason"), [
    ({"device_id": "led 01"}, "device_id", "letters, digits"),
    ({"device_id": None}, "device_id", "required"),
    ({"kind": "billboard"}, "kind",
     "'billboard' is not a kind of device (known: led, speaker, terminal)"),
    ({"endpoint": "ftp://boards.example/1"}, "endpoint", "http:// or https://"),
    ({"endpoint": "http://admin:secret@10.0.0.5/board"}, "endpoint", "credentials"),
    ({"endpoint": "http://10.0.0.5/board?x=1"}, "endpoint", "query"),
    ({"district_code": "1101O5"}, "district_code",
     "unknown district '1101O5'; did you mean 110115 (Daxing), 110105 (Chaoyang)"),
    ({"district_code": "110000"}, "district_code", "is the whole city"),
    ({"lon": 200.0}, "lon", "200.0 is not between -180 and 180 degrees"),
    ({"lat": "north"}, "lat", "a number of degrees"),
    ({"lat": True}, "lat", "a number of degrees"),
    ({"lon": 39.95, "lat": 116.50}, "lat", "not between -90 and 90"),
    ({"lon": 121.47, "lat": 31.23}, "lon",
     "lies outside Chaoyang (110105) and outside Beijing (110000)"),
    ({"language": "fr-FR"}, "language", "not a language of the platform (known: zh-CN, en-US)"),
    ({"capabilities": {"rows": 0}}, "capabilities.rows", "must be at least 1, not 0"),
    ({"capabilities": {"columns": 12.5}}, "capabilities.columns", "whole number"),
    ({"capabilities": {"colours": ["red", "purple"]}}, "capabilities.colours",
     "'purple' is not one of red, orange, yellow, blue, green, white"),
    ({"capabilities": {"colours": []}}, "capabilities.colours", "non-empty list"),
    ({"capabilities": {"scrolls": "yes"}}, "capabilities.scrolls", "true or false"),
    ({"capabilities": {"volume": 80}}, "capabilities.volume", "unknown for led devices"),
    ({"capabilities": ["rows"]}, "capabilities", "must be an object"),
    ({"heartbeat_interval": 0}, "heartbeat_interval", "from 5 to 86400"),
    ({"is_test": "yes"}, "is_test", "true or false"),
    ({"name": 7}, "name", "a string"),
    ({"colour": "red"}, "colour", "unknown field"),
])
def test_a_wrong_field_is_named(districts: DistrictNames, changes: dict[str, Any], field: str,
                                reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        device_spec({**BOARD, **changes}, districts)
    assert refused.value.field == field
    assert reason in refused.value.reason


@pytest.mark.parametrize(("capabilities", "field", "reason"), [
    ({"volume": 101}, "capabilities.volume", "from 0 to 100, not 101"),
    ({"volume": -1}, "capabilities.volume", "from 0 to 100"),
    ({"formats": ["audio/mpeg"]}, "capabilities.formats", "a speaker must play it"),
    ({"formats": ["wav"]}, "capabilities.formats", "audio media types"),
    ({"rows": 2}, "capabilities.rows", "unknown for speaker devices"),
])
def test_a_wrong_speaker_capability_is_named(districts: DistrictNames,
                                             capabilities: dict[str, Any], field: str,
                                             reason: str) -> None:
    with pytest.raises(InvalidInput) as refused:
        device_spec({**SPEAKER, "capabilities": capabilities}, districts)
    assert refused.value.field == field
    assert reason in refused.value.reason


def test_errors_of_an_entry_in_a_list_say_where(districts: DistrictNames) -> None:
    with pytest.raises(InvalidInput) as refused:
        device_spec({**BOARD, "lat": 100}, districts, where="devices[3].")
    assert refused.value.field == "devices[3].lat"
