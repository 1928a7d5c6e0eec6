"""The CAP reader fuzzed with mutations of the shared corpus, for a fixed budget.

Whatever the bytes, reading either gives a result or raises one of the
documented errors (HostileXmlError, NotCapError, InvalidAlertError), within
a time bound per input; checking a document never raises. A DOCTYPE is
always refused, so no entity is ever expanded or fetched.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest
from hypothesis import HealthCheck, given, settings

from publisher.cap import (
    HostileXmlError,
    InvalidAlertError,
    NotCapError,
    ReadResult,
    available_profiles,
    check_document,
    get_profile,
    load_districts,
    read_alert,
)
from tests.security.cap_mutations import ENTITY_PROLOGS, mutated_documents, seed_documents

pytestmark = pytest.mark.corpus

DISTRICTS_FILE = Path(__file__).resolve().parents[2] / "config" / "districts.toml"

# Far above the milliseconds an alert takes, so only a hang trips it on a busy machine.
SECONDS_PER_INPUT = 10
BUDGET = settings(max_examples=400, deadline=None, derandomize=True, database=None,
                  suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
DOCUMENTED_ERRORS = (HostileXmlError, NotCapError, InvalidAlertError)


class Hang(Exception):
    pass


@contextmanager
def time_bound(seconds: int) -> Iterator[None]:
    """Interrupt the block with Hang after ``seconds`` (pytest runs tests in the main thread)."""
    def interrupt(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, interrupt)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(scope="module")
def seeds() -> list[bytes]:
    return seed_documents()


def _read(document: bytes, *, strict: bool) -> ReadResult | Exception:
    with time_bound(SECONDS_PER_INPUT):
        try:
            return read_alert(document, strict=strict)
        except DOCUMENTED_ERRORS as error:
            return error


def test_reading_mutated_documents_answers_or_refuses_with_a_documented_error(
        seeds: list[bytes]) -> None:
    @BUDGET
    @given(mutated_documents(seeds))
    def read_both_ways(document: bytes) -> None:
        lenient, strict = _read(document, strict=False), _read(document, strict=True)
        # Strict reading refuses exactly what lenient reading finds problems in.
        if isinstance(lenient, ReadResult):
            assert isinstance(strict, ReadResult) == (not lenient.problems)
        else:
            assert type(strict) is type(lenient)

    read_both_ways()


def test_checking_mutated_documents_never_raises(seeds: list[bytes]) -> None:
    # The municipal profile checks geocodes against the districts configured for the city.
    districts = [district.code for district in load_districts(DISTRICTS_FILE)]
    profiles = [get_profile(name, districts=districts) for name in available_profiles()]

    @BUDGET
    @given(mutated_documents(seeds))
    def check_with_every_profile(document: bytes) -> None:
        for profile in profiles:
            with time_bound(SECONDS_PER_INPUT):
                report = check_document(document, profile=profile)
            assert not report.hostile or (report.kind == "refused" and not report.ok)

    check_with_every_profile()


@pytest.mark.parametrize("prolog", ENTITY_PROLOGS)
def test_every_entity_declaration_is_refused_unexpanded(seeds: list[bytes],
                                                        prolog: bytes) -> None:
    document = seeds[0].replace(b"<alert", prolog + b"<alert", 1)
    assert prolog in document
    with pytest.raises((HostileXmlError, NotCapError)) as refused:
        read_alert(document)
    assert "DOCTYPE" in str(refused.value)
