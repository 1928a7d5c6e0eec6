"""What a signature reference digests, sliced from one canonical form of the document.

The verifier canonicalises the document once and cuts the Signature
elements out of the octets. These tests hold it to the enveloped-signature
transform done the literal way (copy the document, remove the element but
keep its tail text, canonicalise), and check that verification leaves the
tree exactly as it found it.
"""

from __future__ import annotations

import copy
import hashlib

import pytest
from cryptography.hazmat.primitives import hashes
from lxml import etree

from publisher.cap.problems import CapError
from publisher.cap.signature_algorithms import canonicalize
from publisher.cap.signature_verify import (
    _CanonicalForms,
    _readings,
    _reference_transforms,
)
from publisher.cap.signing import check_signature, signature_holds
from publisher.cap.xmlsafe import XmlLimits, parse_untrusted_xml
from tests.corpus import corpus_files

DS = "{http://www.w3.org/2000/09/xmldsig#}"
LARGE = XmlLimits(max_bytes=4 * 1024 * 1024)


def _counterpart(document: etree._ElementTree, element: etree._Element) -> etree._Element:
    steps = [ancestor.index(child) for child, ancestor in
             zip([element, *element.iterancestors()], element.iterancestors(), strict=False)]
    found = document.getroot()
    for step in reversed(steps):
        found = found[step]
    return found


def _literal_digest(signature: etree._Element, removed: tuple[etree._Element, ...],
                    reference: etree._Element) -> bytes:
    transforms = _reference_transforms(reference)
    original = signature.getroottree()
    document = copy.deepcopy(original)
    for element in [_counterpart(document, each) for each in removed]:
        parent = element.getparent()
        assert parent is not None
        if element.tail:
            previous = element.getprevious()
            if previous is not None:
                previous.tail = (previous.tail or "") + element.tail
            else:
                parent.text = (parent.text or "") + element.tail
        parent.remove(element)
    uri = reference.get("URI", "")
    target: etree._Element | etree._ElementTree = document
    if uri:
        found = document.xpath("//*[@Id=$id or @ID=$id or @id=$id]", id=uri[1:])
        assert isinstance(found, list) and isinstance(found[0], etree._Element)
        target = found[0]
    octets = canonicalize(target, transforms.canonicalization, transforms.inclusive_prefixes)
    return hashlib.sha256(octets).digest()


def _assert_readings_are_literal(root: etree._Element) -> int:
    forms = _CanonicalForms()
    checked = 0
    for signature in root.iter(f"{DS}Signature"):
        reference = signature.find(f"{DS}SignedInfo/{DS}Reference")
        if reference is None:
            continue
        transforms = _reference_transforms(reference)
        for reading in _readings(signature, reference, transforms):
            expected = _literal_digest(signature, reading.removed, reference)
            assert forms.digest(reading, transforms, hashes.SHA256) == expected
            checked += 1
    return checked


def _signed_corpus_roots() -> list[etree._Element]:
    roots = []
    for path in corpus_files("real") + corpus_files("invalid"):
        try:
            root = parse_untrusted_xml(path.read_bytes(), LARGE)
        except CapError:  # refused samples carry no signature to read
            continue
        if root.find(f"{DS}Signature") is not None:
            roots.append(root)
    return roots


@pytest.mark.corpus
def test_every_corpus_reading_is_the_literal_enveloped_transform() -> None:
    checked = sum(_assert_readings_are_literal(root) for root in _signed_corpus_roots())
    assert checked >= 30


@pytest.mark.corpus
def test_verification_leaves_the_tree_untouched() -> None:
    for root in _signed_corpus_roots():
        before = etree.tostring(root.getroottree())
        check_signature(root)
        signature_holds(root)
        assert etree.tostring(root.getroottree()) == before


@pytest.mark.corpus
def test_the_quick_check_agrees_with_the_full_one() -> None:
    roots = _signed_corpus_roots()
    assert any(check_signature(root).valid for root in roots)
    for root in roots:
        assert signature_holds(root) == check_signature(root).valid


_SIGNATURE = (
    '<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"{attributes}>'
    "<ds:SignedInfo><ds:Reference URI=\"{uri}\"><ds:Transforms>"
    '<ds:Transform Algorithm="http://www.w3.org/2000/09/xmldsig#enveloped-signature"/>'
    '<ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>'
    "</ds:Transforms></ds:Reference></ds:SignedInfo>"
    "<ds:Object><ds:Signature>nested</ds:Signature></ds:Object>"
    "</ds:Signature>"
)


@pytest.mark.parametrize("document", [
    # an instruction that holds what looks like the signature's start tag
    '<?note <ds:Signature here?><alert xmlns="urn:oasis:names:tc:emergency:cap:1.2">'
    "<a>1</a>\n  {signature}\n  <?note <ds:Signature >?></alert>",
    # two signatures side by side, the NAADS way, with tails
    '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><a>1</a>{signature} tail '
    "{signature}\n</alert>",
    # a reference to an Id, the signature inside the referenced element
    '<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><ds:Signature '
    'xmlns:ds="http://www.w3.org/2000/09/xmldsig#">outside</ds:Signature>'
    '<body Id="content"><a>1</a>{signature}</body></alert>',
])
def test_synthetic_readings_are_the_literal_enveloped_transform(document: str) -> None:
    uri = "#content" if "Id=" in document else ""
    text = document.replace("{signature}", _SIGNATURE.format(attributes="", uri=uri))
    root = parse_untrusted_xml(text.encode())
    before = etree.tostring(root.getroottree())
    assert _assert_readings_are_literal(root) >= 1
    assert etree.tostring(root.getroottree()) == before
