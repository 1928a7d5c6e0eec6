from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from publisher.cap.model import Reference
from publisher.cap.problems import ProblemLevel
from publisher.cap.references import format_references, parse_references

EC = Reference(
    "cap@ec.gc.ca",
    "2.49.0.1.124.a3f342a4.2012",
    datetime(2012, 5, 2, 21, 45, 5, tzinfo=UTC),
)
CWA = Reference(
    "weather@cwa.gov.tw",
    "CWA-Weather_extremely-rain_202404240305001",
    datetime(2024, 4, 24, 3, 15, 57, tzinfo=timezone(timedelta(hours=8))),
)
EC_TEXT = "cap@ec.gc.ca,2.49.0.1.124.a3f342a4.2012,2012-05-02T21:45:05-00:00"
CWA_TEXT = "weather@cwa.gov.tw,CWA-Weather_extremely-rain_202404240305001,2024-04-24T03:15:57+08:00"


def test_two_triples_are_read_in_order() -> None:
    references, problems = parse_references(f"{EC_TEXT} {CWA_TEXT}")
    assert references == [EC, CWA]
    assert problems == []


def test_sent_keeps_its_offset() -> None:
    (reference,), _ = parse_references(CWA_TEXT)
    assert reference.sent.utcoffset() == timedelta(hours=8)


def test_any_whitespace_separates_triples_without_a_finding() -> None:
    references, problems = parse_references(f"\n  {EC_TEXT}\n\t\t{CWA_TEXT}  \n")
    assert references == [EC, CWA]
    assert problems == []


def test_empty_text_has_no_triples() -> None:
    assert parse_references("  ") == ([], [])


def test_space_after_commas_is_read_with_a_warning() -> None:
    quirky = "cap@ec.gc.ca, 2.49.0.1.124.a3f342a4.2012, 2012-05-02T21:45:05-00:00"
    references, problems = parse_references(f"{quirky} {CWA_TEXT}")
    assert references == [EC, CWA]
    assert [problem.level for problem in problems] == [ProblemLevel.WARNING]
    assert "whitespace after a comma" in problems[0].reason


def test_repeated_triple_is_kept_once_with_a_warning() -> None:
    references, problems = parse_references(f"{EC_TEXT} {EC_TEXT}")
    assert references == [EC]
    assert [problem.level for problem in problems] == [ProblemLevel.WARNING]


def test_fractional_seconds_are_read_with_a_warning() -> None:
    references, problems = parse_references("a,b,2012-05-02T21:45:05.250-00:00")
    assert references[0].sent.microsecond == 250000
    assert [problem.level for problem in problems] == [ProblemLevel.WARNING]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("cap@ec.gc.ca,2.49.0.1.124.a3f342a4.2012", "not a sender,identifier,sent triple"),
        ("a,b,c,2012-05-02T21:45:05-00:00", "not a sender,identifier,sent triple"),
        ("a,,2012-05-02T21:45:05-00:00", "not a sender,identifier,sent triple"),
        ("a,b,2012-05-02T21:45:05Z", "numeric time zone offset"),
        ("a,b,2012-05-02T21:45:05", "numeric time zone offset"),
        ("a,b,2012-05-02", "numeric time zone offset"),
        ("a,b,2012-13-02T21:45:05-00:00", "numeric time zone offset"),
        ("just-an-identifier", "not a sender,identifier,sent triple"),
    ],
)
def test_malformed_triple_is_an_error_naming_it(text: str, fragment: str) -> None:
    references, problems = parse_references(f"{EC_TEXT} {text}")
    assert references == [EC]
    assert len(problems) == 1
    problem = problems[0]
    assert problem.is_error
    assert problem.path == "references"
    assert fragment in problem.reason
    assert repr(text) in problem.reason
    assert problem.clause == "3.2.1"


def test_format_writes_utc_as_minus_zero() -> None:
    assert format_references([EC, CWA]) == f"{EC_TEXT} {CWA_TEXT}"


def test_format_then_parse_gives_the_same_references() -> None:
    assert parse_references(format_references([CWA, EC])) == ([CWA, EC], [])


def test_format_refuses_a_time_without_zone() -> None:
    naive = Reference("a", "b", datetime(2024, 1, 1, 12, 0))
    with pytest.raises(ValueError, match="no time zone"):
        format_references([naive])
