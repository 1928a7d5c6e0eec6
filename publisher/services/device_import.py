"""Devices in bulk: a device list as the simulators write it, and the devices kept in config.

A device list is a JSON array of objects with the fields of
``publisher.services.devices.DEVICE_FIELDS`` and the device's ``token``;
only the token's SHA-256 is stored. ``devices.toml`` in the config
directory holds ``[[device]]`` tables with the same fields and
``token_sha256`` instead of the token, so that no secret sits in config.

Either is applied entry by entry, by device id: a new id registers a
device, a known one is brought in line with its entry (endpoint, location,
capabilities, and the token it now has), so applying a list again changes
nothing. An entry is applied whole or refused whole, with its index, its
field and the reason; the other entries are applied.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from publisher.services.devices import apply_device_spec, device_spec
from publisher.services.district_names import DistrictNames
from publisher.services.errors import Conflict, InvalidInput
from publisher.services.users import token_digest

__all__ = [
    "DEVICES_CONFIG_FILE",
    "MIN_TOKEN_LENGTH",
    "DeviceImportReport",
    "EntryError",
    "apply_configured_devices",
    "import_device_list",
    "read_device_config",
    "read_device_list",
    "token_sha256",
]

DEVICES_CONFIG_FILE = "devices.toml"
MIN_TOKEN_LENGTH = 16
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True, slots=True)
class EntryError:
    entry: int
    """The entry's index in the list, from 0."""
    field: str
    reason: str

    def __str__(self) -> str:
        where = f"[{self.entry}]" + (f".{self.field}" if self.field else "")
        return f"device{where}: {self.reason}"


@dataclass(slots=True)
class DeviceImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    errors: list[EntryError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def read_device_list(text: str) -> list[Any]:
    """The entries of a device list; InvalidInput (field ``file``) when it is no JSON array."""
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInput(f"malformed JSON at line {error.lineno} column {error.colno}:"
                           f" {error.msg}", field="file") from None
    if not isinstance(document, list):
        raise InvalidInput("expected a JSON array of devices", field="file")
    return document


def read_device_config(path: Path) -> list[Any]:
    """The ``[[device]]`` entries of a config file; none when there is no such file."""
    if not path.exists():
        return []
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise InvalidInput(f"not valid TOML: {error}", field=str(path)) from None
    unknown = sorted(set(document) - {"device"})
    if unknown:
        raise InvalidInput(f"unknown table {unknown[0]!r}: devices are [[device]] tables",
                           field=str(path))
    entries = document.get("device", [])
    if not isinstance(entries, list):
        raise InvalidInput("devices are [[device]] tables", field=str(path))
    return entries


def token_sha256(token: Any) -> str:
    """The SHA-256 of a device's token; InvalidInput (field ``token``) when it is too short."""
    if not isinstance(token, str) or len(token.strip()) < MIN_TOKEN_LENGTH:
        raise InvalidInput(f"required: the device's token, at least {MIN_TOKEN_LENGTH}"
                           " characters", field="token")
    return token_digest(token.strip())


def _token_digest(entry: Mapping[str, Any]) -> str:
    return token_sha256(entry.get("token"))


def _configured_digest(entry: Mapping[str, Any]) -> str:
    digest = entry.get("token_sha256")
    if not isinstance(digest, str) or not _SHA256_HEX.fullmatch(digest):
        raise InvalidInput("required: the SHA-256 of the device's token, 64 lowercase hex"
                           " digits (sha256sum of the token, without a newline)",
                           field="token_sha256")
    return digest


def _apply_entries(session: Session, entries: Sequence[Any], districts: DistrictNames,
                   credential: str, digest_of: Callable[[Mapping[str, Any]], str]
                   ) -> DeviceImportReport:
    report = DeviceImportReport()
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            report.errors.append(EntryError(index, "", "must be an object"))
            continue
        try:
            spec = device_spec({name: value for name, value in entry.items()
                                if name != credential}, districts)
            _, outcome = apply_device_spec(session, spec, digest_of(entry))
        except (InvalidInput, Conflict) as error:
            report.errors.append(EntryError(index, error.field or "", error.reason))
            continue
        setattr(report, outcome, getattr(report, outcome) + 1)
    return report


def import_device_list(session: Session, entries: Sequence[Any],
                       districts: DistrictNames) -> DeviceImportReport:
    """Apply the entries of a device list (each with its ``token``)."""
    return _apply_entries(session, entries, districts, "token", _token_digest)


def apply_configured_devices(session: Session, path: Path,
                             districts: DistrictNames) -> DeviceImportReport:
    """Apply the devices of a ``devices.toml`` (each with its ``token_sha256``)."""
    return _apply_entries(session, read_device_config(path), districts, "token_sha256",
                          _configured_digest)
