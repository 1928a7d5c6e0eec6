"""The permission matrix, pure: each part refuses what is outside it, naming the rule."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest

from publisher.cap.model import Alert, NamedValue, Status
from publisher.sample_alert import rainstorm_red_warning
from publisher.services.sender_permissions import (
    CHANNELS_PARAMETER,
    permission_refusal,
    permissions_from,
)

MATRIX = permissions_from({
    "event_codes": ["hazard=rainstorm"], "districts": ["110100"],
    "statuses": ["Exercise"], "channels": ["sms", "led"],
    "polygon": [[39.8, 116.3], [40.1, 116.3], [40.1, 116.7], [39.8, 116.7], [39.8, 116.3]]})


def message(*, code: str = "rainstorm", channels: str = "sms led",
            status: Status = Status.EXERCISE) -> Alert:
    sample = rainstorm_red_warning(datetime(2026, 7, 1, tzinfo=UTC), status=status)
    return replace(sample, infos=tuple(
        replace(info, event_codes=(NamedValue("hazard", code),),
                parameters=(*info.parameters, NamedValue(CHANNELS_PARAMETER, channels)))
        for info in sample.infos))


def test_inside_everything_nothing_is_refused() -> None:
    assert permission_refusal(message(), MATRIX, None) is None


def test_a_wider_district_or_a_polygon_outside_is_refused() -> None:
    wide = replace(MATRIX, districts=frozenset({"110108"}))
    refusal = permission_refusal(message(), wide, None)
    assert refusal is not None and (refusal.field, refusal.rule) == ("info[0].area[0]", "areas")
    far = permissions_from({**MATRIX.as_json(), "polygon": [
        [39.0, 115.0], [39.2, 115.0], [39.2, 115.2], [39.0, 115.2], [39.0, 115.0]]})
    refusal = permission_refusal(message(), far, None)
    assert refusal is not None and "outside the sender's area" in refusal.reason


@pytest.mark.parametrize(("changed", "field", "rule"), [
    ({"code": "earthquake"}, "info[0].eventCode", "event_codes"),
    ({"channels": "sms speaker"}, "info[0].parameter", "channels"),
    ({"status": Status.ACTUAL}, "status", "statuses"),
])
def test_each_part_of_the_matrix_refuses(changed: dict[str, object], field: str,
                                         rule: str) -> None:
    refusal = permission_refusal(message(**changed), MATRIX, None)  # type: ignore[arg-type]
    assert refusal is not None and (refusal.field, refusal.rule) == (field, rule)


def test_a_matrix_file_error_names_the_field() -> None:
    with pytest.raises(ValueError, match="districts: '1101' is not a 6-digit"):
        permissions_from({"districts": ["1101"]})
