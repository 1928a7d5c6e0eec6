"""The register of automatic senders and what each may publish without a human.

``config/eew.toml`` lists each machine sender (the seismic network's
earthquake early-warning system) by its CAP ``sender``, the certificates it
signs with, and its policy: the permission matrix every sender outside the
center has (``sender_permissions``: the event codes, the areas as GB/T 2260
district codes and optionally a polygon, the statuses) and a rate limit
(docs/eew.md). A certificate file may be named relative to the file, or under
the installation's data directory as ``{data_dir}/...``; one that is not
there yet leaves its sender registered but unable to publish, and is looked
for again at the next message (``EewRegister``), so an identity installed
later needs no restart.
"""

from __future__ import annotations

import logging
import threading
import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from publisher.cap.certificates import load_pem_certificates
from publisher.services.sender_permissions import SenderPermissions, permissions_from

__all__ = [
    "EEW_CONFIG_FILE",
    "EewPolicy",
    "EewPolicyError",
    "EewRegister",
    "EewSender",
    "RateLimit",
    "load_eew_senders",
]

log = logging.getLogger(__name__)

EEW_CONFIG_FILE = "eew.toml"
_DATA_DIR = "{data_dir}"
_REQUIRED_PERMISSIONS = ("event_codes", "districts", "statuses")
_PERMISSIONS = (*_REQUIRED_PERMISSIONS, "polygon")


class EewPolicyError(ValueError):
    """The register file is wrong; the message names the entry and the field."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    messages: int
    seconds: int


@dataclass(frozen=True, slots=True)
class EewPolicy:
    permissions: SenderPermissions
    rate_limit: RateLimit


@dataclass(frozen=True, slots=True)
class EewSender:
    sender: str
    name: str
    certificate_files: tuple[Path, ...]
    certificates: tuple[x509.Certificate, ...]
    policy: EewPolicy

    @property
    def actor_name(self) -> str:
        """How the audit log names it."""
        return f"eew:{self.sender}"

    def holds(self, certificate: x509.Certificate) -> bool:
        fingerprint = certificate.fingerprint(hashes.SHA256())
        return any(known.fingerprint(hashes.SHA256()) == fingerprint
                   for known in self.certificates)


class _Reader:
    def __init__(self, entry: Mapping[str, Any], where: str) -> None:
        self.entry, self.where = entry, where

    def error(self, field: str, reason: str) -> EewPolicyError:
        return EewPolicyError(f"{self.where}.{field}: {reason}")

    def text(self, field: str) -> str:
        value = self.entry.get(field)
        if not isinstance(value, str) or not value.strip():
            raise self.error(field, "required text is missing")
        return value.strip()

    def texts(self, field: str) -> list[str]:
        value = self.entry.get(field)
        if not isinstance(value, list) or not value or not all(
                isinstance(item, str) and item.strip() for item in value):
            raise self.error(field, "required: a non-empty list of text")
        return [item.strip() for item in value]

    def whole_number(self, table: Mapping[str, Any], field: str) -> int:
        value = table.get(field)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.error(f"rate_limit.{field}", f"{value!r} is not a whole number from 1")
        return value


def _permissions(reader: _Reader) -> SenderPermissions:
    # A policy left empty would let a machine publish nothing, which is a mistake in the file.
    for field in _REQUIRED_PERMISSIONS:
        reader.texts(field)
    try:
        return permissions_from({field: reader.entry.get(field) for field in _PERMISSIONS},
                                f"{reader.where}.")
    except ValueError as error:
        raise EewPolicyError(str(error)) from None


def _rate_limit(reader: _Reader) -> RateLimit:
    table = reader.entry.get("rate_limit")
    if not isinstance(table, Mapping):
        raise reader.error("rate_limit", "required: {messages = N, seconds = S}")
    return RateLimit(reader.whole_number(table, "messages"),
                     reader.whole_number(table, "seconds"))


def _certificate_files(reader: _Reader, base: Path, data_dir: Path) -> tuple[Path, ...]:
    files = []
    for name in reader.texts("certificates"):
        if name.startswith(_DATA_DIR):
            files.append(data_dir / name.removeprefix(_DATA_DIR).lstrip("/"))
        else:
            files.append(base / name)
    return tuple(files)


def _certificates(files: Sequence[Path], where: str) -> tuple[x509.Certificate, ...]:
    loaded: list[x509.Certificate] = []
    for path in files:
        if not path.exists():
            log.warning("EEW sender certificate missing; its messages are refused until it is"
                        " installed", extra={"sender_entry": where, "path": str(path)})
            continue
        try:
            loaded.extend(load_pem_certificates(path.read_bytes()))
        except (OSError, ValueError) as error:
            raise EewPolicyError(f"{where}.certificates: {path}: {error}") from None
    return tuple(loaded)


def load_eew_senders(path: Path, data_dir: Path) -> tuple[EewSender, ...]:
    """The senders of the register at ``path``; none when the file does not exist."""
    if not path.exists():
        return ()
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise EewPolicyError(f"{path}: {error}") from None
    senders = []
    for index, entry in enumerate(document.get("sender", [])):
        reader = _Reader(entry, f"{path.name}: sender[{index}]")
        files = _certificate_files(reader, path.parent, data_dir)
        senders.append(EewSender(
            sender=reader.text("sender"), name=reader.text("name"), certificate_files=files,
            certificates=_certificates(files, reader.where),
            policy=EewPolicy(_permissions(reader), _rate_limit(reader))))
    return tuple(senders)


class EewRegister:
    """The senders, read again whenever the file or a certificate file changes on disk."""

    def __init__(self, path: Path, data_dir: Path) -> None:
        self.path, self.data_dir = path, data_dir
        self._lock = threading.Lock()
        self._stamp: tuple[float | None, ...] | None = None
        self._senders: tuple[EewSender, ...] = ()

    def _watched(self) -> list[Path]:
        return [self.path, *(file for sender in self._senders
                             for file in sender.certificate_files)]

    def _current_stamp(self) -> tuple[float | None, ...]:
        return tuple(path.stat().st_mtime if path.exists() else None
                     for path in self._watched())

    def senders(self) -> tuple[EewSender, ...]:
        with self._lock:
            if self._stamp is None or self._current_stamp() != self._stamp:
                self._senders = load_eew_senders(self.path, self.data_dir)
                self._stamp = self._current_stamp()
            return self._senders

    def certificates(self) -> list[x509.Certificate]:
        return [certificate for sender in self.senders() for certificate in sender.certificates]

    def holding(self, certificate: x509.Certificate) -> EewSender | None:
        return next((sender for sender in self.senders() if sender.holds(certificate)), None)
