"""The city's own profile: CAP 1.2 plus the Beijing warning center's rules.

- every alert has a zh-CN info block (an en-US one is recommended);
- every area names its administrative division by a ``GB/T 2260`` geocode,
  and that division is one of the configured districts;
- a ``warningColor`` parameter agrees with the severity;
- the identifier follows ``{division}-{agency}-{YYYYMMDDhhmmss}-{sequence}``,
  its timestamp being ``sent`` in Beijing time.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from types import MappingProxyType

from publisher.cap.model import Alert, Area, Info, Severity
from publisher.cap.problems import Problem, ProblemLevel
from publisher.cap.rules import check_spec_rules

__all__ = [
    "BEIJING_TIME",
    "DIVISION_CODE_NAME",
    "SEVERITY_OF_WARNING_COLOR",
    "WARNING_COLOR_NAME",
    "MunicipalIdentifier",
    "MunicipalProfile",
    "make_identifier",
    "parse_identifier",
]

BEIJING_TIME = timezone(timedelta(hours=8), "Beijing")
DIVISION_CODE_NAME = "GB/T 2260"
REQUIRED_LANGUAGE = "zh-CN"
RECOMMENDED_LANGUAGE = "en-US"
WARNING_COLOR_NAME = "warningColor"

_DIVISION = r"\d{6}"
_AGENCY = r"[A-Z]{2,8}"
_TIMESTAMP_FORMAT = "%Y%m%d%H%M%S"
_SEQUENCE_DIGITS = 4
_IDENTIFIER = re.compile(
    rf"(?P<division>{_DIVISION})-(?P<agency>{_AGENCY})-(?P<timestamp>\d{{14}})"
    rf"-(?P<sequence>\d{{{_SEQUENCE_DIGITS}}})"
)
_IDENTIFIER_SCHEME = "{division}-{agency}-{YYYYMMDDhhmmss}-{sequence}"

# The city's four warning levels by colour, most severe first.
SEVERITY_OF_WARNING_COLOR: Mapping[str, Severity] = MappingProxyType({
    "red": Severity.EXTREME,
    "orange": Severity.SEVERE,
    "yellow": Severity.MODERATE,
    "blue": Severity.MINOR,
})


@dataclass(frozen=True, slots=True)
class MunicipalIdentifier:
    """The parts of an identifier in the city's scheme, as written."""

    division: str
    agency: str
    timestamp: str
    sequence: str


def make_identifier(division: str, agency: str, sent: datetime, sequence: int) -> str:
    """The identifier of a message of ``agency`` for ``division``, sent at ``sent``.

    >>> make_identifier("110105", "QXJ", datetime(2026, 11, 28, 5, 5, tzinfo=timezone.utc), 1)
    '110105-QXJ-20261128130500-0001'
    """
    if not re.fullmatch(_DIVISION, division):
        raise ValueError(f"division {division!r} is not a 6-digit administrative-division code")
    if not re.fullmatch(_AGENCY, agency):
        raise ValueError(f"agency {agency!r} is not 2 to 8 uppercase letters")
    if sent.utcoffset() is None:
        raise ValueError(f"sent {sent.isoformat()} has no time zone")
    if not 0 <= sequence < 10**_SEQUENCE_DIGITS:
        raise ValueError(f"sequence {sequence} does not fit in {_SEQUENCE_DIGITS} digits")
    return f"{division}-{agency}-{_beijing_timestamp(sent)}-{sequence:0{_SEQUENCE_DIGITS}d}"


def parse_identifier(identifier: str) -> MunicipalIdentifier | None:
    """The parts of ``identifier``, or None where it does not follow the scheme."""
    match = _IDENTIFIER.fullmatch(identifier)
    if match is None:
        return None
    return MunicipalIdentifier(
        match["division"], match["agency"], match["timestamp"], match["sequence"]
    )


class MunicipalProfile:
    """CAP 1.2 rules plus the city's; ``district_codes`` are the configured GB/T 2260 codes."""

    name = "municipal"

    def __init__(self, district_codes: Collection[str]) -> None:
        if not district_codes:
            raise ValueError("the municipal profile needs the configured district codes")
        self.district_codes = frozenset(district_codes)

    def check(self, alert: Alert) -> list[Problem]:
        problems = check_spec_rules(alert)
        problems.extend(_language_problems(alert))
        problems.extend(self._identifier_problems(alert))
        for index, info in enumerate(alert.infos):
            path = f"info[{index}]"
            problems.extend(_warning_color_problems(info, path))
            for area_index, area in enumerate(info.areas):
                problems.extend(self._division_problems(area, f"{path}/area[{area_index}]"))
        return problems

    def _identifier_problems(self, alert: Alert) -> Iterator[Problem]:
        parts = parse_identifier(alert.identifier)
        if parts is None:
            yield Problem(
                "identifier",
                f"{alert.identifier!r} does not follow {_IDENTIFIER_SCHEME}, "
                "e.g. 110105-QXJ-20261128130500-0001",
            )
            return
        if parts.division not in self.district_codes:
            yield Problem("identifier", f"division {parts.division} is not a configured district")
        if alert.sent.utcoffset() is None:
            return
        expected = _beijing_timestamp(alert.sent)
        if parts.timestamp != expected:
            yield Problem(
                "identifier",
                f"timestamp {parts.timestamp} does not match sent {alert.sent.isoformat()} "
                f"({expected} in Beijing time)",
            )

    def _division_problems(self, area: Area, path: str) -> Iterator[Problem]:
        divisions = [
            (index, geocode.value.strip())
            for index, geocode in enumerate(area.geocodes)
            if geocode.value_name == DIVISION_CODE_NAME
        ]
        if not divisions:
            yield Problem(path, f"has no geocode with valueName {DIVISION_CODE_NAME!r}")
        for index, code in divisions:
            where = f"{path}/geocode[{index}]"
            if not re.fullmatch(_DIVISION, code):
                yield Problem(where, f"{code!r} is not a 6-digit administrative-division code")
            elif code not in self.district_codes:
                yield Problem(where, f"{code} is not a configured district")


def _language_problems(alert: Alert) -> Iterator[Problem]:
    if alert.info_for(REQUIRED_LANGUAGE) is None:
        yield Problem("", f"no {REQUIRED_LANGUAGE} info block: the city requires one")
    if alert.info_for(RECOMMENDED_LANGUAGE) is None:
        yield Problem(
            "",
            f"no {RECOMMENDED_LANGUAGE} info block: the city recommends one",
            ProblemLevel.WARNING,
        )


def _warning_color_problems(info: Info, path: str) -> Iterator[Problem]:
    for index, parameter in enumerate(info.parameters):
        if parameter.value_name != WARNING_COLOR_NAME:
            continue
        where = f"{path}/parameter[{index}]"
        color = parameter.value.strip().lower()
        severity = SEVERITY_OF_WARNING_COLOR.get(color)
        if severity is None:
            known = ", ".join(SEVERITY_OF_WARNING_COLOR)
            yield Problem(where, f"unknown warningColor {parameter.value!r} (known: {known})")
        elif severity is not info.severity:
            yield Problem(
                where,
                f"warningColor {color} requires severity {severity}, "
                f"but severity is {info.severity}",
            )


def _beijing_timestamp(moment: datetime) -> str:
    return moment.astimezone(BEIJING_TIME).strftime(_TIMESTAMP_FORMAT)
