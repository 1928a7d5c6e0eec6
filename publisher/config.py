"""Configuration, read once at start-up into frozen dataclasses.

Sources, later ones winning: built-in defaults, ``config/publisher.toml``
(or the file named by ``PUBLISHER_CONFIG``), then ``PUBLISHER_*`` environment
variables. Nothing here is read at import time.

With no configuration at all the platform runs embedded: SQLite and a broker
that needs no server, both under the data directory (``./var`` by default,
``PUBLISHER_DATA_DIR`` or ``--data-dir`` to move it).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from publisher.observability.redaction import redacted

__all__ = ["ConfigError", "Paths", "Settings", "installation_environment", "load_paths",
           "load_settings"]

_PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ConfigError(ValueError):
    """A configuration value is wrong; the message names the key and the reason."""


@dataclass(frozen=True, slots=True)
class Paths:
    config_dir: Path
    data_dir: Path

    @property
    def districts_file(self) -> Path:
        return self.config_dir / "districts.toml"

    @property
    def authorities_file(self) -> Path:
        return self.config_dir / "authorities.toml"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything a process of the platform needs to know about its installation."""

    paths: Paths
    # SQLAlchemy URL; default: SQLite in the data directory.
    database_url: str = ""
    # Kombu URL; default: a broker in a SQLite file in the data directory.
    broker_url: str = ""
    # The CAP sender and identifier parts of messages the center issues.
    center_sender: str = "warning-center@beijing.gov.cn"
    division_code: str = "110000"
    agency_code: str = "YJZX"
    # Channels the fan-out delivers on, by registered name.
    channels: tuple[str, ...] = ("memory",)
    batch_size: int = 1000
    # Extra options per channel, e.g. {"memory": {"sink": "var/memory-sink.db"}}.
    channel_options: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Per-client limits by kind of request, e.g. {"login": {"burst": 10, "per_minute": 6}}
    # (publisher.web.rate_limit).
    rate_limits: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # Reverse proxies whose X-Forwarded-For names the client (publisher.web.client_address).
    trusted_proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(f"batch_size: must be at least 1, not {self.batch_size}")

    def __repr__(self) -> str:
        # URLs and channel options hold passwords and tokens: a repr ends up in logs.
        shown = ", ".join(f"{item.name}={redacted(getattr(self, item.name))!r}"
                          for item in fields(self))
        return f"Settings({shown})"

    @property
    def embedded(self) -> bool:
        return self.database_url.startswith("sqlite")


def _paths(environ: Mapping[str, str], data_dir: Path | None) -> Paths:
    return Paths(
        config_dir=Path(environ.get("PUBLISHER_CONFIG_DIR", _PROJECT_ROOT / "config")),
        data_dir=data_dir or Path(environ.get("PUBLISHER_DATA_DIR", "var")).absolute(),
    )


def installation_environment(data_dir: Path, config: Path, database_url: str, broker_url: str,
                             base: Mapping[str, str] = os.environ) -> dict[str, str]:
    """``base`` with the variables that make a ``publisher`` process one of an installation:
    its data directory, its configuration file, its database and its broker."""
    return {**base, "PUBLISHER_DATA_DIR": str(data_dir), "PUBLISHER_CONFIG": str(config),
            "PUBLISHER_DATABASE_URL": database_url, "PUBLISHER_BROKER_URL": broker_url}


def load_paths(environ: Mapping[str, str] = os.environ, data_dir: Path | None = None) -> Paths:
    return _paths(environ, data_dir)


_ENVIRONMENT_KEYS = {
    "PUBLISHER_DATABASE_URL": "database_url",
    "PUBLISHER_BROKER_URL": "broker_url",
    "PUBLISHER_CENTER_SENDER": "center_sender",
    "PUBLISHER_DIVISION_CODE": "division_code",
    "PUBLISHER_AGENCY_CODE": "agency_code",
    "PUBLISHER_CHANNELS": "channels",
    "PUBLISHER_BATCH_SIZE": "batch_size",
    "PUBLISHER_TRUSTED_PROXIES": "trusted_proxies",
}


def _file_values(paths: Paths, environ: Mapping[str, str]) -> dict[str, Any]:
    path = Path(environ.get("PUBLISHER_CONFIG", paths.config_dir / "publisher.toml"))
    if not path.exists():
        return {}
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"{path}: {error}") from None
    known = {item.name for item in fields(Settings)} - {"paths"}
    unknown = sorted(set(document) - known)
    if unknown:
        raise ConfigError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(sorted(known))})")
    return document


def _coerced(name: str, value: Any) -> Any:
    if name in ("channels", "trusted_proxies"):
        items = value.split(",") if isinstance(value, str) else value
        return tuple(str(item).strip() for item in items if str(item).strip())
    if name == "batch_size":
        try:
            return int(value)
        except (TypeError, ValueError):
            raise ConfigError(f"batch_size: {value!r} is not a whole number") from None
    return value


def load_settings(environ: Mapping[str, str] = os.environ,
                  data_dir: Path | None = None) -> Settings:
    paths = _paths(environ, data_dir)
    values = _file_values(paths, environ)
    for variable, name in _ENVIRONMENT_KEYS.items():
        if variable in environ:
            values[name] = environ[variable]
    settings = Settings(paths, **{name: _coerced(name, value) for name, value in values.items()})
    defaults: dict[str, Any] = {}
    if not settings.database_url:
        defaults["database_url"] = f"sqlite:///{paths.data_dir / 'publisher.db'}"
    if not settings.broker_url:
        defaults["broker_url"] = f"sqla+sqlite:///{paths.data_dir / 'broker.db'}"
    # Channels receive their options only: a default under the data directory is filled here.
    speaker = {"audio_dir": str(paths.data_dir / "audio"),
               **settings.channel_options.get("speaker", {})}
    defaults["channel_options"] = {**settings.channel_options, "speaker": speaker}
    return replace(settings, **defaults)
