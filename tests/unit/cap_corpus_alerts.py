"""The corpus files that are CAP alerts, chosen when tests are collected.

A file that the safe parser refuses, or whose root is not a CAP alert, is
no case for a test of the reader: it is left out of the parameters rather
than skipped at run time.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from lxml import etree

from publisher.cap.problems import CapError
from publisher.cap.versions import CapVersion, version_of_namespace
from publisher.cap.xmlsafe import XmlLimits, parse_untrusted_xml
from tests.corpus import corpus_params

__all__ = ["LIMITS", "alert_params", "cap_version"]

LIMITS = XmlLimits(max_bytes=4 * 1024 * 1024)


def cap_version(root: etree._Element) -> CapVersion:
    name = etree.QName(root)
    version = version_of_namespace(name.namespace)
    assert version is not None and name.localname == "alert", f"{name} is not a CAP alert"
    return version


def _alert_version(path: Path) -> CapVersion | None:
    try:
        root = parse_untrusted_xml(path.read_bytes(), LIMITS)
    except CapError:
        return None
    name = etree.QName(root)
    return version_of_namespace(name.namespace) if name.localname == "alert" else None


def alert_params(folder: str, condition: Callable[[Path], bool] | None = None,
                 *, versions: frozenset[CapVersion] = frozenset(CapVersion)) -> list[object]:
    """The CAP alerts of a corpus folder, in the given versions, that meet ``condition``."""
    chosen = []
    for param in corpus_params(folder):
        path = param.values[0]  # type: ignore[attr-defined]
        if path is not None:
            if _alert_version(path) not in versions:
                continue
            if condition is not None and not condition(path):
                continue
        chosen.append(param)
    return chosen
