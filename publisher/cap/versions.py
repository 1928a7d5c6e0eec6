"""The three CAP versions this package reads, and the namespaces that name them."""

from __future__ import annotations

import enum

__all__ = ["CAP_NAMESPACES", "XMLDSIG_NAMESPACE", "CapVersion", "version_of_namespace"]

XMLDSIG_NAMESPACE = "http://www.w3.org/2000/09/xmldsig#"


class CapVersion(enum.StrEnum):
    V1_0 = "1.0"
    V1_1 = "1.1"
    V1_2 = "1.2"

    @property
    def namespace(self) -> str:
        return CAP_NAMESPACES[self]


CAP_NAMESPACES: dict[CapVersion, str] = {
    CapVersion.V1_0: "http://www.incident.com/cap/1.0",
    CapVersion.V1_1: "urn:oasis:names:tc:emergency:cap:1.1",
    CapVersion.V1_2: "urn:oasis:names:tc:emergency:cap:1.2",
}

_VERSION_OF_NAMESPACE = {namespace: version for version, namespace in CAP_NAMESPACES.items()}


def version_of_namespace(namespace: str | None) -> CapVersion | None:
    """The CAP version whose namespace this is, or None for any other namespace."""
    if namespace is None:
        return None
    return _VERSION_OF_NAMESPACE.get(namespace)
