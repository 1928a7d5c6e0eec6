"""alert_from_json reads back what alert_to_json writes, and names every wrong field."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from publisher.cap.json_reader import alert_from_json
from publisher.cap.model import Alert
from publisher.cap.views import alert_to_json
from publisher.sample_alert import rainstorm_red_warning
from tests.json_edit import REMOVE, edited
from tests.unit.test_roundtrip_property import alerts


def _sample() -> dict[str, Any]:
    return alert_to_json(rainstorm_red_warning(datetime(2026, 7, 1, 3, tzinfo=UTC)))


def test_the_sample_alert_reads_back_equal() -> None:
    alert = rainstorm_red_warning(datetime(2026, 7, 1, 3, tzinfo=UTC))
    assert alert_from_json(alert_to_json(alert)) == (alert, [])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(alerts)
def test_every_alert_reads_back_equal(alert: Alert) -> None:
    assert alert_from_json(alert_to_json(alert)) == (alert, [])


def _changed(path: str, value: Any) -> dict[str, Any]:
    return edited(_sample(), path, value)


@pytest.mark.parametrize(("path", "value", "problem_path", "reason"), [
    ("identifier", REMOVE, "identifier", "is required"),
    ("sent", "2026-07-01 11:00", "sent", "no time zone"),
    ("sent", "yesterday", "sent", "not an ISO 8601"),
    ("status", "Real", "status", "not one of Actual"),
    ("scope", 3, "scope", "must be a string, not a number"),
    ("code", "one", "code", "must be a list"),
    ("info", {"event": "x"}, "info", "must be a list"),
    ("info/0/category/0", "Weather", "info[0]/category[0]", "not one of Geo"),
    ("info/0/category", REMOVE, "info[0]/category", "is required"),
    ("info/1/urgency", REMOVE, "info[1]/urgency", "is required"),
    ("info/0/expires", 5, "info[0]/expires", "must be a string"),
    ("info/0/parameter/0", {"valueName": "warningColor"}, "info[0]/parameter[0]/value",
     "is required"),
    ("info/0/area/0/polygon/0/0", {"lat": 39.9}, "info[0]/area[0]/polygon[0][0]/lon",
     "is required"),
    ("info/0/area/0/polygon/0/0/lat", True, "info[0]/area[0]/polygon[0][0]/lat",
     "must be a number, not a boolean"),
    ("info/0/area/0/polygon/0", "39.9,116.4", "info[0]/area[0]/polygon[0]",
     "must be a list of points"),
    ("info/0/area/0/circle", [{"center": {"lat": 1, "lon": 2}}],
     "info[0]/area[0]/circle[0]/radiusKm", "is required"),
    ("info/0/area/0/circle", [{"radiusKm": 2}], "info[0]/area[0]/circle[0]/center",
     "is required"),
    ("info/0/area/0/altitude", float("nan"), "info[0]/area[0]/altitude", "not a finite"),
    ("info/0/resource", [{"resourceDesc": "map", "mimeType": "image/png", "size": 1.5}],
     "info[0]/resource[0]/size", "whole number"),
    ("info/0/area/0/areaDesc", REMOVE, "info[0]/area[0]/areaDesc", "is required"),
    ("info/0/headLine", "typo", "info[0]/headLine", "unknown field"),
])
def test_wrong_fields_are_named_by_path(path: str, value: Any, problem_path: str,
                                        reason: str) -> None:
    alert, problems = alert_from_json(_changed(path, value))
    assert alert is None
    assert [problem.path for problem in problems] == [problem_path]
    assert reason in problems[0].reason


def test_every_wrong_field_is_reported_at_once() -> None:
    data = _changed("info/0/urgency", "Soon")
    data["info"][1]["severity"] = "Huge"
    data["sender"] = 7
    _, problems = alert_from_json(data)
    assert [problem.path for problem in problems] == [
        "sender", "info[0]/urgency", "info[1]/severity"]


def test_a_non_object_is_refused() -> None:
    assert alert_from_json([1, 2]) == (None, alert_from_json([1, 2])[1])  # type: ignore[arg-type]
    assert alert_from_json("alert")[1][0].reason == "must be an object, not a string"  # type: ignore[arg-type]


def test_language_defaults_as_cap_says() -> None:
    data = _sample()
    del data["info"][1]["language"]
    alert, problems = alert_from_json(data)
    assert problems == []
    assert alert is not None
    assert alert.infos[1].language == "en-US"
