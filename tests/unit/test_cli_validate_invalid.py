"""Every known-bad sample is rejected by `publisher cap validate` with the reason of its defect.

The defects are those listed in the corpus's SOURCES.md.
"""

from __future__ import annotations

import re

import pytest

from publisher.cli import main
from tests.corpus import corpus_dir, corpus_files

_CERTIFICATE = r"Signature: .*certificate"
_DIGEST = r"Signature: .*digest"
_SIGNATURE = r"Signature: .*signature"
_UNSIGNED = r"Signature: no signature"

EXPECTED_REASONS: dict[str, list[str]] = {
    "cpl_invalid_xmlns.cap": [r"not CAP 1\.0, 1\.1 or 1\.2"],
    "cpl_oregon_nws.atom": [r"entry\[0\]/alert/event: unexpected element",
                            r"entry\[0\]/alert/scope: required element is missing"],
    "cpl_pelmorex.atom": [r"document: not well-formed XML: .*(encoding|bytes)"],
    "gcap_bushfire_invalid.edxlde": [r"contentObject\[1\].*/alert/identifier: required element",
                                     r"urgency: 'Foobar' is not one of"],
    "gcap_canada_errors.cap": [r"references: .*empty"],
    "gcap_invalid.cap": [r"^scope: required element is missing"],
    "gcap_invalid.rss": [r"channel/title: required element is missing",
                         r"channel/description: required element is missing",
                         r"item\[0\]: item has neither title nor description"],
    "gcap_invalid_element.atom": [r"foo\[0\]: unexpected element in the Atom namespace"],
    "gcap_no_entries.atom": [r"alert: a CAP alert directly under <feed>"],
    "gcap_no_id.atom": [r"^id: required element is missing", r"entry\[0\]/id: required"],
    "gcap_no_link.atom": [r"entry\[0\]: entry has no content and no alternate link"],
    "gcap_no_title.atom": [r"entry\[0\]/title: required element is missing"],
    "gcap_noaa_errors.cap": [r"references: .*empty", r"urgency: '' is not one of",
                             r"severity: '' is not one of", r"certainty: '' is not one of",
                             r"polygon"],
    "gcap_weather_invalid.atom": [r"alert/identifier: .*(comma|space)"],
    "gcap_xee.atom": [r"document: DOCTYPE declarations are refused"],
    "gcap_xee.cap": [r"document: DOCTYPE declarations are refused"],
    "kde_alertswiss-POA-1216107687-4.xml": [r"^sender: out of order: must come before sent"],
    "kde_alertswiss-POA-1222963954-5.xml": [r"^sender: out of order: must come before sent"],
    "kde_alertswiss-TEST-1163.xml": [r"^sender: out of order: must come before sent",
                                     r"info\[0\]/category: required element is missing"],
    "kde_mow.DE-HE-KS-SE106-20250313-106-001.xml": [r"expires: .*(order|before)"],
    "kde_noaa-2.49.0.1.840.0.9b5195e635069329b12a7c697fad5934d144784a.001.1.xml": [
        r"document: document is \d+ bytes, over the limit"],
    "kde_noaa-2.49.0.1.840.0.bde6c30c43ead9c23c42bea7977652a7de76d87d.002.1.xml": [
        r"polygon\[0\]: .*(order|before)"],
    "twab_fifows_heat_202404191121_html404.cap": [r"document: an HTML page, not CAP"],
    "wmocv_bf_invalid_schema.xml": [r"info\[0\]/severity: required element is missing"],
    "wmocv_bz_invalid_certificate.xml": [_CERTIFICATE],
    "wmocv_bz_invalid_digest.xml": [_DIGEST],
    "wmocv_bz_invalid_schema.xml": [r"^sender: required element is missing"],
    "wmocv_bz_invalid_signature.xml": [_SIGNATURE],
    "wmocv_bz_no_signature.xml": [_UNSIGNED],
    "wmocv_cm_invalid_certificate.xml": [_CERTIFICATE],
    "wmocv_cm_invalid_digest.xml": [_DIGEST],
    "wmocv_cm_invalid_schema.xml": [r"^status: required element is missing"],
    "wmocv_cm_invalid_signature.xml": [_SIGNATURE],
    "wmocv_cm_no_signature.xml": [_UNSIGNED],
    "wmocv_sc_incorrect_digest.xml": [_DIGEST],
    "wmocv_sc_incorrect_signature.xml": [_SIGNATURE],
    "wmocv_sc_invalid_certificate.xml": [_CERTIFICATE],
    "wmocv_sc_invalid_digest.xml": [_DIGEST],
    "wmocv_sc_invalid_schema_is_xsd.xml": [r"root element is \{http://www\.w3\.org/2001/XMLSchema\}schema"],
    "wmocv_sc_invalid_signature.xml": [_SIGNATURE],
    "wmocv_sc_no_signature.xml": [_UNSIGNED],
    "wmocv_tg_invalid_certificate.xml": [_CERTIFICATE],
    "wmocv_tg_invalid_digest.xml": [_DIGEST],
    "wmocv_tg_invalid_schema.xml": [r"info\[0\]/certainty: required element is missing"],
    "wmocv_tg_invalid_signature.xml": [_SIGNATURE],
    "wmocv_tg_no_signature.xml": [_UNSIGNED],
}


def _errors(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, list[str]]:
    code = main(["cap", "validate", *arguments])
    lines = capsys.readouterr().out.splitlines()
    head = lines[0].split(": invalid: ", 1)
    errors = [head[1]] if len(head) == 2 else []
    errors += [line.strip().removeprefix("error: ") for line in lines[1:]
               if line.strip().startswith("error: ")]
    return code, errors


def test_every_invalid_file_has_an_expected_reason() -> None:
    names = {path.name for path in corpus_files("invalid")}
    assert names == set(EXPECTED_REASONS)


@pytest.mark.parametrize("name", sorted(EXPECTED_REASONS))
def test_invalid_file_is_rejected_for_its_defect(name: str,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    code, errors = _errors(capsys, str(corpus_dir("invalid") / name))
    assert code == 1, errors
    for reason in EXPECTED_REASONS[name]:
        assert any(re.search(reason, error) for error in errors), (reason, errors)


def test_signature_defects_are_told_apart(capsys: pytest.CaptureFixture[str]) -> None:
    for name, reasons in EXPECTED_REASONS.items():
        if reasons == [_SIGNATURE]:
            _, errors = _errors(capsys, str(corpus_dir("invalid") / name))
            assert not any("digest" in error for error in errors), (name, errors)


def test_oversized_noaa_file_shows_its_real_defect_under_a_larger_limit(
        capsys: pytest.CaptureFixture[str]) -> None:
    name = "kde_noaa-2.49.0.1.840.0.9b5195e635069329b12a7c697fad5934d144784a.001.1.xml"
    code, errors = _errors(capsys, "--max-bytes", "4000000", str(corpus_dir("invalid") / name))
    assert code == 1
    assert any(re.search(r"polygon\[0\]: .*(order|before)", error) for error in errors), errors
