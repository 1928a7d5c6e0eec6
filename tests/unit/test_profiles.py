"""Profile lookup and the city's municipal profile."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from publisher.cap import profiles
from publisher.cap.model import Alert, NamedValue, Severity
from publisher.cap.municipal import MunicipalProfile, make_identifier, parse_identifier
from publisher.cap.problems import Problem, ProblemLevel
from publisher.cap.profiles import available_profiles, get_profile
from publisher.cap.rules import check_spec_rules
from tests.unit.test_rules import ALERT, AREA, SENT, with_area, with_info

DISTRICTS = (
    "110000", "110101", "110102", "110105", "110106", "110107", "110108", "110109",
    "110111", "110112", "110113", "110114", "110115", "110116", "110117", "110118", "110119",
)  # fmt: skip


@pytest.fixture
def municipal() -> MunicipalProfile:
    return MunicipalProfile(DISTRICTS)


# --- lookup ---------------------------------------------------------------


def test_built_in_profiles_are_listed() -> None:
    assert {"cap12", "municipal"} <= set(available_profiles())


def test_cap12_is_the_specification_rules() -> None:
    broken = replace(ALERT, identifier="a b")
    profile = get_profile("cap12")
    assert profile.name == "cap12"
    assert profile.check(broken) == check_spec_rules(broken)
    assert profile.check(broken)


def test_municipal_gets_the_districts() -> None:
    profile = get_profile("municipal", districts=DISTRICTS)
    assert profile.name == "municipal"
    assert profile.check(ALERT) == []


def test_municipal_without_districts_is_refused() -> None:
    with pytest.raises(ValueError, match="district codes"):
        get_profile("municipal")


def test_typo_suggests_the_closest_name() -> None:
    with pytest.raises(
        ValueError, match=r"unknown CAP profile 'municpal'; did you mean 'municipal'"
    ):
        get_profile("municpal", districts=DISTRICTS)


def test_unknown_name_without_a_close_match_lists_what_exists() -> None:
    with pytest.raises(ValueError, match=r"available: .*cap12") as raised:
        get_profile("zzzz")
    assert "did you mean" not in str(raised.value)


class _StrictProfile:
    name = "strict"

    def __init__(self, districts: Collection[str]) -> None:
        self.districts = districts

    def check(self, alert: Alert) -> list[Problem]:
        return []


class _EntryPoint:
    name = "strict"

    def load(self) -> type[_StrictProfile]:
        return _StrictProfile


def test_installed_profile_is_found_through_its_entry_point(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def entry_points(*, group: str, name: str | None = None) -> list[_EntryPoint]:
        assert group == "publisher.cap_profiles"
        return [_EntryPoint()] if name in (None, "strict") else []

    monkeypatch.setattr(profiles, "entry_points", entry_points)
    assert "strict" in available_profiles()
    profile = get_profile("strict", districts=("110105",))
    assert isinstance(profile, _StrictProfile)
    assert profile.districts == ("110105",)
    with pytest.raises(ValueError, match="did you mean 'strict'"):
        get_profile("strikt")


# --- the municipal profile -------------------------------------------------


def test_a_valid_beijing_alert_passes(municipal: MunicipalProfile) -> None:
    assert municipal.check(ALERT) == []


def test_municipal_includes_the_specification_rules(municipal: MunicipalProfile) -> None:
    problems = municipal.check(replace(ALERT, sender="qxj bjmb"))
    assert [problem.path for problem in problems] == ["sender"]


def test_zh_cn_info_is_required(municipal: MunicipalProfile) -> None:
    alert = replace(ALERT, infos=(ALERT.infos[1],))
    (problem,) = municipal.check(alert)
    assert problem.path == ""
    assert problem.is_error
    assert "zh-CN" in problem.reason


def test_en_us_info_is_recommended(municipal: MunicipalProfile) -> None:
    alert = replace(ALERT, infos=(ALERT.infos[0],))
    (problem,) = municipal.check(alert)
    assert problem.level is ProblemLevel.WARNING
    assert "en-US" in problem.reason


def test_languages_compare_case_insensitively(municipal: MunicipalProfile) -> None:
    alert = with_info(0, language="zh-cn")
    assert municipal.check(alert) == []


DIVISION = "GB/T 2260"
AREA_PATH = "info[1]/area[0]"
NO_DIVISION = "no geocode with valueName 'GB/T 2260'"


@pytest.mark.parametrize(
    ("geocodes", "path", "fragment"),
    [
        (
            (NamedValue(DIVISION, "110199"),),
            f"{AREA_PATH}/geocode[0]",
            "110199 is not a configured",
        ),
        (
            (NamedValue("local", "1"), NamedValue(DIVISION, "120101")),
            f"{AREA_PATH}/geocode[1]",
            "120101 is not a configured district",
        ),
        ((NamedValue(DIVISION, "1101"),), f"{AREA_PATH}/geocode[0]", "not a 6-digit"),
        ((NamedValue("local", "110105"),), AREA_PATH, NO_DIVISION),
        ((), AREA_PATH, NO_DIVISION),
    ],
)
def test_each_area_names_a_configured_district(
    municipal: MunicipalProfile, geocodes: tuple[NamedValue, ...], path: str, fragment: str
) -> None:
    (problem,) = municipal.check(with_area(geocodes=geocodes))
    assert problem.is_error
    assert fragment in problem.reason
    assert problem.path == path


def test_the_district_example_reads_as_written(municipal: MunicipalProfile) -> None:
    alert = with_info(0, areas=(replace(AREA, geocodes=(NamedValue("GB/T 2260", "110199"),)),))
    (problem,) = municipal.check(alert)
    assert str(problem) == "info[0]/area[0]/geocode[0]: 110199 is not a configured district"


@pytest.mark.parametrize(
    ("color", "severity"),
    [("red", Severity.EXTREME), ("Orange", Severity.SEVERE), ("YELLOW", Severity.MODERATE),
     ("blue", Severity.MINOR)],
)  # fmt: skip
def test_warning_color_matching_severity_passes(
    municipal: MunicipalProfile, color: str, severity: Severity
) -> None:
    alert = with_info(0, parameters=(NamedValue("warningColor", color),), severity=severity)
    assert municipal.check(alert) == []


@pytest.mark.parametrize(
    ("color", "severity", "fragment"),
    [
        ("red", Severity.SEVERE, "red requires severity Extreme, but severity is Severe"),
        ("blue", Severity.EXTREME, "blue requires severity Minor, but severity is Extreme"),
        ("orange", Severity.UNKNOWN, "requires severity Severe"),
        ("purple", Severity.SEVERE, "unknown warningColor 'purple'"),
        ("", Severity.SEVERE, "unknown warningColor ''"),
    ],
)  # fmt: skip
def test_warning_color_disagreeing_with_severity_is_an_error(
    municipal: MunicipalProfile, color: str, severity: Severity, fragment: str
) -> None:
    alert = with_info(1, parameters=(NamedValue("warningColor", color),), severity=severity)
    (problem,) = municipal.check(alert)
    assert problem.is_error
    assert problem.path == "info[1]/parameter[0]"
    assert fragment in problem.reason


@pytest.mark.parametrize(
    ("identifier", "fragment"),
    [
        ("110105-qxj-20261128130500-0001", "does not follow"),
        ("110105-QXJ-20261128130500-1", "does not follow"),
        ("11010-QXJ-20261128130500-0001", "does not follow"),
        ("110105-Q-20261128130500-0001", "does not follow"),
        ("110105-QXJABCDEF-20261128130500-0001", "does not follow"),
        ("110105-QXJ-202611281305-0001", "does not follow"),
        ("110199-QXJ-20261128130500-0001", "division 110199 is not a configured district"),
        ("110105-QXJ-20261128050500-0001", "timestamp 20261128050500 does not match sent"),
    ],
)
def test_identifier_follows_the_city_scheme(
    municipal: MunicipalProfile, identifier: str, fragment: str
) -> None:
    (problem,) = municipal.check(replace(ALERT, identifier=identifier))
    assert problem.path == "identifier"
    assert problem.is_error
    assert fragment in problem.reason


def test_identifier_timestamp_is_sent_in_beijing_time(municipal: MunicipalProfile) -> None:
    sent_in_utc = SENT.astimezone(UTC)
    assert municipal.check(replace(ALERT, sent=sent_in_utc)) == []


def test_make_identifier_converts_to_beijing_time() -> None:
    sent = datetime(2026, 11, 28, 5, 5, tzinfo=UTC)
    assert make_identifier("110105", "QXJ", sent, 1) == "110105-QXJ-20261128130500-0001"


def test_made_identifier_passes_the_profile(municipal: MunicipalProfile) -> None:
    sent = SENT + timedelta(minutes=7, seconds=3)
    identifier = make_identifier("110119", "SWJ", sent, 42)
    assert parse_identifier(identifier) is not None
    assert municipal.check(replace(ALERT, identifier=identifier, sent=sent)) == []


@pytest.mark.parametrize(
    ("division", "agency", "sent", "sequence", "fragment"),
    [
        ("1101", "QXJ", SENT, 1, "division"),
        ("110105", "qxj", SENT, 1, "agency"),
        ("110105", "QXJ", SENT.replace(tzinfo=None), 1, "no time zone"),
        ("110105", "QXJ", SENT, 10000, "sequence"),
        ("110105", "QXJ", SENT, -1, "sequence"),
    ],
)
def test_make_identifier_refuses_parts_outside_the_scheme(
    division: str, agency: str, sent: datetime, sequence: int, fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        make_identifier(division, agency, sent, sequence)
