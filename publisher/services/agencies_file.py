"""Agencies written in a TOML file (``config/agencies.toml``), as the registry's fields.

A certificate file is named relative to the file, or under the installation's
data directory as ``{data_dir}/...``. Each entry becomes the JSON an
administrator would post to ``/api/agencies``; registering stays the
registry's job (``publisher.services.agencies``), with the same checks.
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

__all__ = ["AGENCIES_FILE", "AgencyFileError", "certificate_path", "read_agencies_file"]

AGENCIES_FILE = "agencies.toml"
_DATA_DIR = "{data_dir}"
_MATRIX = ("event_codes", "districts", "polygon", "statuses", "channels")


class AgencyFileError(ValueError):
    """The file is wrong; the message names the entry and the field."""


def certificate_path(name: str, base: Path, data_dir: Path) -> Path:
    if name.startswith(_DATA_DIR):
        return data_dir / name.removeprefix(_DATA_DIR).lstrip("/")
    return base / name


def _fields(entry: dict[str, Any], where: str, base: Path, data_dir: Path) -> dict[str, Any]:
    files = entry.get("certificates", [])
    if not isinstance(files, list) or not all(isinstance(name, str) for name in files):
        raise AgencyFileError(f"{where}.certificates: a list of PEM file names")
    pems = []
    for name in files:
        path = certificate_path(name, base, data_dir)
        try:
            pems.append(path.read_text(encoding="ascii"))
        except (OSError, UnicodeDecodeError) as error:
            raise AgencyFileError(f"{where}.certificates: {path}: {error}") from None
    fields = {key: value for key, value in entry.items()
              if key not in (*_MATRIX, "certificates")}
    return {**fields, "certificates": pems,
            "permissions": {key: entry[key] for key in _MATRIX if key in entry}}


def read_agencies_file(path: Path, data_dir: Path) -> list[dict[str, Any]]:
    """The entries of ``path`` as registry fields, in file order."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise AgencyFileError(f"{path}: {error}") from None
    entries = document.get("agency", [])
    return [_fields(entry, f"{path.name}: agency[{index}]", path.parent, data_dir)
            for index, entry in enumerate(entries)]
