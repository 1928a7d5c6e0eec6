"""The agencies registered with a district node: ``[[agencies]]`` in the node's TOML.

Each names its code, its name, its CAP sender, the certificate its
signatures must come from, the file holding the bearer credential it posts
with, whether its alerts are published without a district user's approval
(``direct_publish``), and its permission matrix in the center's JSON shape
(``publisher.services.sender_permissions``). A node takes intake only for
its own district: every district the matrix names must lie within it, and
a polygon must lie inside its boundary.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509

from district_nodes.config_values import NodeConfigError, read_secret, required_text
from publisher.cap.districts import District
from publisher.cap.signature_verify import load_certificates
from publisher.services.intake_rules import Submitter
from publisher.services.sender_permissions import (
    SenderPermissions,
    code_covers,
    permissions_from,
)

__all__ = ["NodeAgency", "agency_of_credential", "read_agencies"]

# A polygon drawn along the district's edge may stray by rounding, never further.
_EDGE_TOLERANCE_DEGREES = 1e-6


@dataclass(frozen=True, slots=True)
class NodeAgency:
    code: str
    name: str
    sender: str
    credential: str = field(repr=False)
    certificates: tuple[x509.Certificate, ...]
    permissions: SenderPermissions
    direct_publish: bool

    @property
    def submitter(self) -> Submitter:
        return Submitter(self.code, self.sender, self.certificates, self.permissions)


def agency_of_credential(agencies: Sequence[NodeAgency], credential: str) -> NodeAgency | None:
    """The agency whose credential this is; every one compared, so timing tells nothing."""
    found = None
    for agency in agencies:
        if hmac.compare_digest(agency.credential.encode(), credential.encode()):
            found = agency
    return found


def _file(base: Path, entry: Mapping[str, Any], where: str, key: str) -> Path:
    return (base / required_text(entry, where, key)).resolve()


def _permissions(entry: Mapping[str, Any], where: str, district: District) -> SenderPermissions:
    fields = entry.get("permissions")
    if not isinstance(fields, dict):
        raise NodeConfigError(f"{where}.permissions: a table is required")
    try:
        permissions = permissions_from(fields, f"{where}.permissions.")
    except ValueError as error:
        raise NodeConfigError(str(error)) from None
    outside = sorted(code for code in permissions.districts
                     if not code_covers(district.code, code))
    if outside or not permissions.districts:
        named = outside[0] if outside else "none"
        raise NodeConfigError(f"{where}.permissions.districts: {named} is not within district"
                                f" {district.code}: a node takes intake for its own district")
    if permissions.polygon is not None and not district.geometry.buffer(
            _EDGE_TOLERANCE_DEGREES).covers(permissions.polygon):
        raise NodeConfigError(f"{where}.permissions.polygon: it leaves district"
                                f" {district.code}")
    return permissions


def _agency(base: Path, entry: Any, where: str, district: District) -> NodeAgency:
    if not isinstance(entry, dict):
        raise NodeConfigError(f"{where}: must be a table")
    certificate = _file(base, entry, where, "certificate")
    try:
        certificates = tuple(load_certificates([certificate]))
    except (OSError, ValueError) as error:
        raise NodeConfigError(f"{where}.certificate: {error}") from None
    direct = entry.get("direct_publish", False)
    if not isinstance(direct, bool):
        raise NodeConfigError(f"{where}.direct_publish: {direct!r} is not true or false")
    return NodeAgency(
        code=required_text(entry, where, "code"), name=required_text(entry, where, "name"),
        sender=required_text(entry, where, "sender"),
        credential=read_secret(_file(base, entry, where, "credential_file"),
                               f"{where}.credential_file"),
        certificates=certificates, permissions=_permissions(entry, where, district),
        direct_publish=direct)


def read_agencies(base: Path, entries: Any, district: District) -> tuple[NodeAgency, ...]:
    """``[[agencies]]`` as read from the TOML; NodeConfigError names the key at fault."""
    if entries is None:
        return ()
    if not isinstance(entries, list):
        raise NodeConfigError("agencies: an array of tables ([[agencies]]) is required")
    agencies = tuple(_agency(base, entry, f"agencies[{index}]", district)
                     for index, entry in enumerate(entries))
    for index, agency in enumerate(agencies):
        for earlier in agencies[:index]:
            if agency.code == earlier.code:
                raise NodeConfigError(f"agencies[{index}].code: {agency.code!r} is"
                                        " registered already")
            if hmac.compare_digest(agency.credential.encode(), earlier.credential.encode()):
                raise NodeConfigError(f"agencies[{index}].credential_file: the credential of"
                                        f" {earlier.code} again; each agency needs its own")
    return agencies
