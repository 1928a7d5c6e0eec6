"""Real feeds and envelopes of CAP are read, with their embedded alerts checked."""

from __future__ import annotations

from pathlib import Path

import pytest

from publisher.cap.document import check_document
from publisher.cap.xmlsafe import XmlLimits
from tests.corpus import corpus_dir, corpus_params

# The feeds/ samples are publishers' own files; this one was edited by hand by
# a test author, who left an entry without <updated> (RFC 4287 4.1.2).
KNOWN_BROKEN = {"rpinwr_test_cap_nws.atom.xml": "entry[2]/updated: required element is missing"}


@pytest.mark.parametrize("path", corpus_params("feeds"))
def test_feed_reads_with_its_alerts(path: Path) -> None:
    report = check_document(path.read_bytes(), limits=XmlLimits(max_bytes=4 * 1024 * 1024))
    assert report.kind in {"atom", "rss", "edxl-de", "alert-list"}
    if path.name in KNOWN_BROKEN:
        assert any(str(error).startswith(KNOWN_BROKEN[path.name]) for error in report.errors)
    else:
        assert report.ok, [str(error) for error in report.errors]
    assert all(checked.alert is not None for checked in report.alerts)


def test_envelope_alerts_are_all_found() -> None:
    report = check_document((corpus_dir("feeds") / "cpl_bushfire_valid.edxlde").read_bytes())
    # SOURCES.md: the EDXL-DE envelope holds 59 CAP 1.2 alerts.
    assert len(report.alerts) == 59
