from __future__ import annotations

import pytest

from tests.corpus import corpus_dir


@pytest.fixture
def _require_corpus() -> None:
    corpus_dir("real")
