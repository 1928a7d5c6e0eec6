"""Hypothesis strategies: CAP documents of the shared corpus, mutated the ways attackers and
broken senders do.

A seed is a real alert, an invalid one or a feed. One to three mutations
are applied in turn: bytes flipped, the document cut short, an element
repeated, elements nested far deeper than any alert, a DOCTYPE with
internal, recursive or external entities, an XInclude, character and entity
references that do not resolve, a change of encoding, random bytes spliced in.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path

from hypothesis import strategies as st
from lxml import etree

from tests.corpus import corpus_files

__all__ = ["ENTITY_PROLOGS", "mutated_documents", "seed_documents"]

Mutation = Callable[[st.DrawFn, bytes], bytes]

ENTITY_PROLOGS = (
    b'<!DOCTYPE alert [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
    b'<!DOCTYPE alert [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
    b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>',
    b'<!DOCTYPE alert [<!ENTITY loop "&loop;">]>',
    b'<!DOCTYPE alert SYSTEM "http://127.0.0.1:9/cap.dtd">',
    b'<!DOCTYPE alert [<!ENTITY % remote SYSTEM "http://127.0.0.1:9/x.dtd"> %remote;]>',
    b"<!ENTITY free 'x'>",
    b"<!doctype html>",
)
_REFERENCES = (b"&xxe;", b"&loop;", b"&undeclared;", b"&#0;", b"&#x110000;", b"&#xD800;",
               b"&amp;&lt;&gt;", b"&#65;&#x42;", b"]]>", b"<![CDATA[<alert>]]>",
               b"<?xml-stylesheet href='http://127.0.0.1:9/'?>")
_XINCLUDE = (b'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" '
             b'href="file:///etc/passwd" parse="text"/>')
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


def _position(draw: st.DrawFn, data: bytes) -> int:
    return draw(st.integers(min_value=0, max_value=len(data)))


def _flip_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    if not data:
        return data
    changed = bytearray(data)
    for _ in range(draw(st.integers(min_value=1, max_value=16))):
        index = draw(st.integers(min_value=0, max_value=len(data) - 1))
        changed[index] ^= draw(st.integers(min_value=1, max_value=255))
    return bytes(changed)


def _truncate(draw: st.DrawFn, data: bytes) -> bytes:
    return data[:_position(draw, data)]


def _splice_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    at = _position(draw, data)
    return data[:at] + draw(st.binary(min_size=1, max_size=64)) + data[at:]


def _insert_reference(draw: st.DrawFn, data: bytes) -> bytes:
    at = _position(draw, data)
    return data[:at] + draw(st.sampled_from(_REFERENCES)) + data[at:]


def _prepend_doctype(draw: st.DrawFn, data: bytes) -> bytes:
    declaration, rest = (data.split(b"?>", 1) if data.startswith(b"<?xml") else (b"", data))
    prolog = declaration + b"?>" if declaration else b""
    entity_use = draw(st.sampled_from((b"", b"&xxe;", b"&d;", b"&loop;")))
    body = rest.replace(b"</identifier>", entity_use + b"</identifier>", 1)
    return prolog + draw(st.sampled_from(ENTITY_PROLOGS)) + body


def _with_tree(data: bytes, change: Callable[[etree._Element], None]) -> bytes:
    """``data`` with ``change`` made to its tree; ``data`` itself where it is no tree."""
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError:
        return data
    change(root)
    return bytes(etree.tostring(root))


def _pick(draw: st.DrawFn, root: etree._Element) -> etree._Element:
    elements = [element for element in root.iter() if isinstance(element.tag, str)]
    return elements[draw(st.integers(min_value=0, max_value=len(elements) - 1))]


def _duplicate_element(draw: st.DrawFn, data: bytes) -> bytes:
    times = draw(st.integers(min_value=1, max_value=200))

    def duplicate(root: etree._Element) -> None:
        chosen = _pick(draw, root)
        if chosen is root:
            return
        for _ in range(times):
            chosen.addnext(copy.deepcopy(chosen))
    return _with_tree(data, duplicate)


def _nest_deeply(draw: st.DrawFn, data: bytes) -> bytes:
    depth = draw(st.sampled_from((20, 40, 300, 5000)))

    def nest(root: etree._Element) -> None:
        inner = _pick(draw, root)
        for _ in range(depth):
            inner = etree.SubElement(inner, inner.tag)
    return _with_tree(data, nest)


def _insert_xinclude(draw: st.DrawFn, data: bytes) -> bytes:
    at = data.find(b"</", data.find(b"<alert"))
    return data if at < 0 else data[:at] + _XINCLUDE + data[at:]


def _reencode(draw: st.DrawFn, data: bytes) -> bytes:
    text = data.decode("utf-8", errors="replace")
    encoding = draw(st.sampled_from(("utf-16", "utf-16-le", "utf-32", "latin-1", "gb18030")))
    return text.encode(encoding, errors="replace")


MUTATIONS: tuple[Mutation, ...] = (
    _flip_bytes, _truncate, _splice_bytes, _insert_reference, _prepend_doctype,
    _duplicate_element, _nest_deeply, _insert_xinclude, _reencode,
)


def seed_documents() -> list[bytes]:
    """Every document of the corpus's real alerts, invalid alerts and feeds."""
    paths: list[Path] = [path for name in ("real", "invalid", "feeds")
                         for path in corpus_files(name)]
    return [path.read_bytes() for path in paths]


@st.composite
def mutated_documents(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    document = draw(st.sampled_from(seeds))
    for mutation in draw(st.lists(st.sampled_from(MUTATIONS), min_size=1, max_size=3)):
        document = mutation(draw, document)
    return document
