"""Where the shared CAP corpus lives, and a skip with a reason where it does not."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

_PROJECT_ROOT = Path(__file__).resolve().parent.parent
_CANDIDATES = (
    os.environ.get("CAP_CORPUS", ""),
    str(_PROJECT_ROOT.parent / "shared" / "corpus" / "cap"),
    "/work/shared/corpus/cap",
)


def _find_corpus() -> Path | None:
    for candidate in _CANDIDATES:
        if candidate and (Path(candidate) / "real").is_dir():
            return Path(candidate)
    return None


CORPUS: Path | None = _find_corpus()


def corpus_dir(name: str) -> Path:
    if CORPUS is None:
        reason = "CAP corpus not found (set CAP_CORPUS or place it at ../shared/corpus/cap)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must run the corpus tests")
        pytest.skip(reason)
    return CORPUS / name


def corpus_files(name: str) -> list[Path]:
    return sorted(path for path in corpus_dir(name).iterdir() if path.is_file())


def corpus_params(name: str) -> list[object]:
    """Files of a corpus folder as pytest parameters, ids by file name.

    Where the corpus is absent this is one parameter marked skip (or fail in
    CI), so that parametrised tests say why they did not run.
    """
    if CORPUS is None:
        needs_corpus = pytest.mark.usefixtures("_require_corpus")
        return [pytest.param(None, id="no-corpus", marks=needs_corpus)]
    folder = CORPUS / name
    return [pytest.param(path, id=path.name) for path in sorted(folder.iterdir()) if path.is_file()]
