"""The full validator agrees with the official OASIS XSDs wherever they apply.

Each file where the verdicts differ is listed with the clause that decides it.
The schemas are applied to a tree parsed by our safe parser only: handing
hostile bytes to a schema-validating lxml parser can crash the process.
"""

from __future__ import annotations

from functools import cache

import pytest
from lxml import etree

from publisher.cap.authorities import AuthorityRegistry, load_authorities
from publisher.cap.document import check_document
from publisher.cap.problems import CapError
from publisher.cap.versions import CapVersion, version_of_namespace
from publisher.cap.xmlsafe import XmlLimits, parse_untrusted_xml
from publisher.config import load_paths
from tests.corpus import CORPUS, corpus_dir

SCHEMA_FILES = {
    CapVersion.V1_2: "oasis_CAP-v1.2.xsd",
    CapVersion.V1_1: "oasis_CAP-v1.1.xsd",
    CapVersion.V1_0: "gcap_cap10.xsd",
}
LIMITS = XmlLimits(max_bytes=4 * 1024 * 1024)

_REFERENCES = "CAP 1.2 3.2.1 <references>: sender,identifier,sent triples; an empty one names none"
_SIGNATURE = "XML-DSig core validation (CAP 1.2 3.3.4.1): the signature must hold"
_REGISTERED = "register of signing authorities: this sender signs every message"

# file -> why our verdict differs from the XSD's
DISAGREEMENTS = {
    # XSD rejects, we accept with a warning.
    "real/gcap_earthquake_signed.cap":
        "CAP 1.1 3.3.2.1 allows an enveloped Signature in <alert>; the 1.1 XSD omits it",
    # XSD accepts, we reject.
    "real/twab_tra.gov.tw_railAccident_201908220619.xml": _REFERENCES,
    "real/cpl_CanadaNaad.xml": _REFERENCES,
    "real/gcca_alert_5.xml": _REFERENCES,
    "invalid/gcap_canada_errors.cap": _REFERENCES,
    "real/kde_gdacs-cap_1023542.xml":
        "CAP 1.2 3.2.4 <polygon>: 'lat,lon' pairs; GDACS left WKT parentheses in one ring",
    "real/wmocv_bz_valid.xml": _SIGNATURE,
    "real/wmocv_cm_valid.xml": _SIGNATURE,
    "invalid/wmocv_sc_incorrect_digest.xml": _SIGNATURE,
    **{f"invalid/wmocv_{country}_{defect}.xml": _SIGNATURE
       for country in ("bz", "cm", "sc", "tg")
       for defect in ("invalid_certificate", "invalid_digest", "invalid_signature")},
    "invalid/wmocv_sc_incorrect_signature.xml":
        "XML-DSig: SignatureValue is not base64 (the xmldsig schema is lax in the CAP XSD)",
    **{f"invalid/wmocv_{country}_no_signature.xml": _REGISTERED
       for country in ("bz", "cm", "sc", "tg")},
}


@cache
def _authorities() -> AuthorityRegistry:
    return load_authorities(load_paths().authorities_file)


@cache
def _schema(version: CapVersion) -> etree.XMLSchema:
    assert CORPUS is not None
    return etree.XMLSchema(etree.parse(str(CORPUS / "schema" / SCHEMA_FILES[version])))


def _xsd_verdict(data: bytes) -> bool | None:
    """True or False where an official CAP XSD applies, None where none does."""
    try:
        root = parse_untrusted_xml(data, LIMITS)
    except CapError:
        return None
    version = version_of_namespace(etree.QName(root).namespace)
    if etree.QName(root).localname != "alert" or version is None:
        return None
    return bool(_schema(version).validate(root))


def _cap_files() -> list[str]:
    """The corpus files that are CAP alerts, where an official XSD applies."""
    if CORPUS is None:
        return []
    return [f"{folder}/{path.name}" for folder in ("real", "invalid")
            for path in sorted((CORPUS / folder).iterdir())
            if _xsd_verdict(path.read_bytes()) is not None]


@pytest.mark.parametrize("name", _cap_files() or [pytest.param("", marks=pytest.mark.skip(
    reason="CAP corpus not found"))])
def test_verdict_matches_the_official_xsd(name: str) -> None:
    data = (corpus_dir(".") / name).read_bytes()
    xsd_ok = _xsd_verdict(data)
    ours = check_document(data, limits=LIMITS, authorities=_authorities()).ok
    if name in DISAGREEMENTS:
        assert ours != xsd_ok, f"listed as a disagreement but both say {ours}"
    else:
        assert ours == xsd_ok, f"ours={ours} xsd={xsd_ok}"
