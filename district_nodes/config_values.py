"""Reading values out of a node's TOML: the error that names the key, text, secrets in files."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["NodeConfigError", "read_secret", "required_text"]


class NodeConfigError(ValueError):
    """The configuration cannot be used; the message names the key and the reason."""


def required_text(table: Mapping[str, Any], section: str, key: str,
                  default: str | None = None) -> str:
    value = table.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise NodeConfigError(f"{section}.{key}: required text is missing")
    return value.strip()


def read_secret(path: Path, where: str) -> str:
    try:
        secret = path.read_text(encoding="utf-8").strip()
    except OSError as error:
        raise NodeConfigError(f"{where}: {path}: {error.strerror}") from None
    if not secret:
        raise NodeConfigError(f"{where}: {path} is empty")
    return secret
