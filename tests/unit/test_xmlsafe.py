"""Hostile XML is refused before any tree is built."""

from __future__ import annotations

import pytest

from publisher.cap.problems import HostileXmlError, NotCapError
from publisher.cap.xmlsafe import XmlLimits, parse_untrusted_xml

ALERT = b'<alert xmlns="urn:oasis:names:tc:emergency:cap:1.2"><identifier>x</identifier></alert>'


def test_plain_document_parses() -> None:
    assert parse_untrusted_xml(ALERT).tag.endswith("alert")


@pytest.mark.parametrize("document", [
    b'<!DOCTYPE alert [<!ENTITY a "hello">]>' + ALERT,
    b'<?xml version="1.0"?>\n<!-- c -->\n<!DOCTYPE alert SYSTEM "http://x.example/x.dtd">'
    + ALERT,
    b"\xef\xbb\xbf<?xml version='1.0'?><!DOCTYPE alert>" + ALERT,
    ('<?xml version="1.0" encoding="UTF-16"?><!DOCTYPE a [<!ENTITY x SYSTEM '
     '"file:///etc/passwd">]><a>&x;</a>').encode("utf-16"),
], ids=["internal-entity", "external-dtd", "bom", "utf-16"])
def test_doctype_is_refused(document: bytes) -> None:
    with pytest.raises(HostileXmlError, match="DOCTYPE"):
        parse_untrusted_xml(document)


def test_doctype_text_inside_content_is_not_a_declaration() -> None:
    document = ALERT.replace(b"<identifier>x", b"<identifier><![CDATA[<!DOCTYPE html>]]>")
    assert parse_untrusted_xml(document) is not None


def test_size_limit() -> None:
    with pytest.raises(HostileXmlError, match="over the limit of 50 bytes"):
        parse_untrusted_xml(ALERT, XmlLimits(max_bytes=50))


def test_depth_limit() -> None:
    deep = b"<a>" * 40 + b"</a>" * 40
    with pytest.raises(HostileXmlError, match="deeper than 32"):
        parse_untrusted_xml(deep)
    assert parse_untrusted_xml(deep, XmlLimits(max_depth=64)) is not None


def test_depth_far_beyond_the_parser_limit_is_hostile_not_malformed() -> None:
    deep = b"<a>" * 5000 + b"</a>" * 5000
    with pytest.raises(HostileXmlError, match="deeper"):
        parse_untrusted_xml(deep)


def test_xinclude_is_refused() -> None:
    document = ALERT.replace(
        b"<identifier>x</identifier>",
        b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file:///etc/passwd"/>')
    with pytest.raises(HostileXmlError, match="XInclude"):
        parse_untrusted_xml(document)


def test_not_well_formed() -> None:
    with pytest.raises(NotCapError, match="not well-formed"):
        parse_untrusted_xml(b"<alert><identifier></alert>")


def test_html_page_is_named_as_such() -> None:
    with pytest.raises(NotCapError, match="HTML page"):
        parse_untrusted_xml(b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "x">'
                            b"<html></html>")
