"""The register of alerting authorities whose signatures we know.

Like WMO's Register of Alerting Authorities, it names each authority by its
CAP sender and holds the certificates it signs with. A message from a
registered authority that must sign is rejected when it arrives unsigned or
signed by a certificate that is not registered for it.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from publisher.cap.certificates import load_pem_certificates

__all__ = ["Authority", "AuthorityRegistry", "RegistryError", "load_authorities"]


class RegistryError(ValueError):
    """The register file is wrong; the message names the entry and the field."""


@dataclass(frozen=True, slots=True)
class Authority:
    sender: str
    name: str
    certificates: tuple[x509.Certificate, ...]
    requires_signature: bool

    def holds(self, certificate: x509.Certificate) -> bool:
        fingerprint = certificate.fingerprint(hashes.SHA256())
        return any(known.fingerprint(hashes.SHA256()) == fingerprint
                   for known in self.certificates)


class AuthorityRegistry:
    def __init__(self, authorities: Iterable[Authority] = ()) -> None:
        self._by_sender: Mapping[str, Authority] = {
            authority.sender: authority for authority in authorities
        }

    def for_sender(self, sender: str) -> Authority | None:
        return self._by_sender.get(sender)

    def certificates(self) -> list[x509.Certificate]:
        return [certificate for authority in self._by_sender.values()
                for certificate in authority.certificates]

    def __len__(self) -> int:
        return len(self._by_sender)


def _required_text(entry: Mapping[str, Any], field: str, where: str) -> str:
    value = entry.get(field)
    if not isinstance(value, str) or not value.strip():
        raise RegistryError(f"{where}.{field}: required text is missing")
    return value


def _certificates(entry: Mapping[str, Any], base: Path, where: str) -> tuple[x509.Certificate, ...]:
    files = entry.get("certificates", [])
    if not isinstance(files, list) or not all(isinstance(name, str) for name in files):
        raise RegistryError(f"{where}.certificates: must be a list of PEM file names")
    loaded: list[x509.Certificate] = []
    for name in files:
        path = base / name
        try:
            loaded.extend(load_pem_certificates(path.read_bytes()))
        except (OSError, ValueError) as error:
            raise RegistryError(f"{where}.certificates: {path}: {error}") from None
    return tuple(loaded)


def load_authorities(path: Path) -> AuthorityRegistry:
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise RegistryError(f"{path}: {error}") from None
    authorities: list[Authority] = []
    for index, entry in enumerate(document.get("authority", [])):
        where = f"{path.name}: authority[{index}]"
        certificates = _certificates(entry, path.parent, where)
        requires_signature = bool(entry.get("requires_signature", False))
        if requires_signature and not certificates:
            raise RegistryError(f"{where}.certificates: required when requires_signature is true")
        authorities.append(Authority(
            sender=_required_text(entry, "sender", where),
            name=_required_text(entry, "name", where),
            certificates=certificates,
            requires_signature=requires_signature,
        ))
    return AuthorityRegistry(authorities)
