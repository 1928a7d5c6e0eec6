"""The reader against real-world alerts and the official XSDs.

The reader's structural checks restate the official schemas, so its error
verdict must be the XSD's on every CAP file of the corpus, except where the
CAP text itself says otherwise; those files are listed with the clause.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from publisher.cap.reader import read_alert
from publisher.cap.versions import CapVersion
from publisher.cap.writer import write_alert
from publisher.cap.xmlsafe import parse_untrusted_xml
from tests.corpus import CORPUS, corpus_params
from tests.unit.cap_corpus_alerts import LIMITS, alert_params, cap_version

PACKAGED_CAP_1_2_XSD = Path(__file__).resolve().parents[2] / "publisher/cap/schema/CAP-v1.2.xsd"
CORPUS_XSD = {
    CapVersion.V1_2: "oasis_CAP-v1.2.xsd",
    CapVersion.V1_1: "oasis_CAP-v1.1.xsd",
    CapVersion.V1_0: "gcap_cap10.xsd",
}

# file -> the clause of the CAP text that the reader follows where the XSD differs
DELIBERATE_DISAGREEMENTS = {
    # The CAP 1.1 XSD has no xmldsig wildcard, but CAP 1.1 section 3.3.2.1
    # allows an enveloped signature of <alert>: the reader warns, the XSD fails.
    "gcap_earthquake_signed.cap": "CAP 1.1 3.3.2.1",
    # The XSD types <polygon> as xs:string; CAP 1.2 section 3.2.4 defines it
    # as "lat,lon" pairs, and point 144 here is '8.72977),-68.13409'.
    "kde_gdacs-cap_1023542.xml": "CAP 1.2 3.2.4",
}


@cache
def schema(version: CapVersion) -> etree.XMLSchema:
    assert CORPUS is not None
    return etree.XMLSchema(etree.parse(str(CORPUS / "schema" / CORPUS_XSD[version])))


@cache
def packaged_schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(PACKAGED_CAP_1_2_XSD)))


def cap_root(path: Path) -> tuple[etree._Element, CapVersion]:
    root = parse_untrusted_xml(path.read_bytes(), LIMITS)
    return root, cap_version(root)


@pytest.mark.corpus
@pytest.mark.parametrize("path", corpus_params("real"))
def test_every_real_alert_reads_into_a_model(path: Path) -> None:
    result = read_alert(path.read_bytes(), limits=LIMITS)
    assert result.alert is not None, [str(problem) for problem in result.problems]


@pytest.mark.corpus
@pytest.mark.parametrize("path", alert_params("real") + alert_params("invalid"))
def test_error_verdict_agrees_with_the_official_xsd(path: Path) -> None:
    root, version = cap_root(path)
    xsd = schema(version)
    xsd_valid = xsd.validate(root)
    result = read_alert(path.read_bytes(), limits=LIMITS)
    reader_valid = not any(problem.is_error for problem in result.problems)
    errors = [str(problem) for problem in result.problems if problem.is_error]
    if path.name in DELIBERATE_DISAGREEMENTS:
        assert reader_valid != xsd_valid, f"no longer disagrees: {errors} / {xsd.error_log}"
    else:
        assert reader_valid == xsd_valid, f"reader: {errors}; XSD: {xsd.error_log}"


@pytest.mark.corpus
@pytest.mark.parametrize("path", alert_params("real", versions=frozenset({CapVersion.V1_2})))
def test_cap_1_2_alerts_survive_write_and_read(path: Path) -> None:
    alert = read_alert(path.read_bytes(), limits=LIMITS).alert
    assert alert is not None
    written = write_alert(alert)
    xsd = packaged_schema()
    assert xsd.validate(parse_untrusted_xml(written, LIMITS)), str(xsd.error_log)
    again = read_alert(written, limits=LIMITS)
    assert again.problems == ()
    assert again.alert == alert
