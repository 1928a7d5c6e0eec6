"""Parse untrusted XML without letting it reach anything outside itself.

A DOCTYPE is refused before any parser sees the bytes, so no entity is ever
declared, expanded or fetched. lxml 6.1 crashes the process when a
schema-validating parser meets a declared entity, so nothing here ever hands
hostile bytes to such a parser: schemas are applied to the tree this module
returns.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lxml import etree

from publisher.cap.problems import HostileXmlError, NotCapError

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_DEPTH", "XmlLimits", "parse_untrusted_xml"]

DEFAULT_MAX_BYTES = 1024 * 1024
DEFAULT_MAX_DEPTH = 32

XINCLUDE_NAMESPACE = "http://www.w3.org/2001/XInclude"

# The prolog is everything before the root element: a declaration, comments,
# processing instructions and white space. A DOCTYPE can only stand there.
_PROLOG_ITEM = re.compile(rb"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_UTF16_WITHOUT_BOM = (b"<\x00?\x00", b"\x00<\x00?")


@dataclass(frozen=True, slots=True)
class XmlLimits:
    max_bytes: int = DEFAULT_MAX_BYTES
    max_depth: int = DEFAULT_MAX_DEPTH


def _ascii_compatible(data: bytes) -> bytes:
    if data.startswith(_UTF16_BOMS) or data.startswith(_UTF16_WITHOUT_BOM):
        try:
            return data.decode("utf-16").encode("utf-8")
        except UnicodeDecodeError as error:
            raise NotCapError(f"not well-formed XML: bad UTF-16: {error.reason}") from None
    return data.removeprefix(b"\xef\xbb\xbf")


def _refuse_doctype(data: bytes) -> None:
    text = _ascii_compatible(data)
    position = 0
    while True:
        match = _PROLOG_ITEM.match(text, position)
        if match is None or match.end() == position:
            break
        position = match.end()
    if text[position : position + 14].lower() == b"<!doctype html":
        raise NotCapError(
            "an HTML page, not CAP XML (a DOCTYPE html declaration, refused unread)"
        )
    if text.startswith(b"<!DOCTYPE", position) or text.startswith(b"<!ENTITY", position):
        raise HostileXmlError(
            "DOCTYPE declarations are refused: entities and external references are never processed"
        )


_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_blank_text=False,
    collect_ids=False,
)


def _depth_exceeds(root: etree._Element, max_depth: int) -> bool:
    # One XPath step per level keeps the walk in C; it matches only when some
    # element sits deeper than allowed.
    return bool(root.xpath("self::*" + "/*" * max_depth))


def parse_untrusted_xml(data: bytes, limits: XmlLimits = XmlLimits()) -> etree._Element:
    """Return the root element of ``data`` or raise why it was refused.

    Raises HostileXmlError for a document that is too large, too deep, or
    declares a DOCTYPE or XInclude, and NotCapError when it is not
    well-formed XML.
    """
    if len(data) > limits.max_bytes:
        raise HostileXmlError(
            f"document is {len(data)} bytes, over the limit of {limits.max_bytes} bytes"
        )
    _refuse_doctype(data)
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as error:
        message = str(error)
        if "Excessive depth" in message:
            raise HostileXmlError(f"document nests deeper than {limits.max_depth} levels") from None
        raise NotCapError(f"not well-formed XML: {message}") from None
    if _depth_exceeds(root, limits.max_depth):
        raise HostileXmlError(f"document nests deeper than {limits.max_depth} levels")
    if root.find(f".//{{{XINCLUDE_NAMESPACE}}}include") is not None:
        raise HostileXmlError(
            "XInclude elements are refused: external references are never followed"
        )
    return root
