from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from publisher.cap.keys import generate_demo_identity
from publisher.cap.signing import sign_alert_xml
from publisher.cap.writer import write_alert
from publisher.sample_alert import rainstorm_red_warning
from tests.corpus import corpus_dir

pytest_plugins = ("tests.services", "tests.integration.api_support")


@pytest.fixture(autouse=True)
def _root_logging_restored() -> Iterator[None]:
    # A command run in-process configures the root logger as its process
    # would; the next test must not inherit that (its output is compared).
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def _require_corpus() -> None:
    corpus_dir("real")


@pytest.fixture(scope="session")
def identity(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A demo signing key and its certificate, shared by the signing tests."""
    return generate_demo_identity(tmp_path_factory.mktemp("identity"))


@pytest.fixture(scope="session")
def unsigned_alert() -> bytes:
    return write_alert(rainstorm_red_warning(datetime(2026, 7, 1, 3, 0, tzinfo=UTC)))


@pytest.fixture(scope="session")
def signed(identity: tuple[Path, Path], unsigned_alert: bytes) -> bytes:
    key, cert = identity
    return sign_alert_xml(unsigned_alert, key.read_bytes(), cert.read_bytes())
