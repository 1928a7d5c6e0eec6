"""Where the platform finds its configuration, read once at start-up.

``PUBLISHER_CONFIG_DIR`` moves the whole configuration folder;
``PUBLISHER_VAR_DIR`` moves the folder for state (database, keys, outputs).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

__all__ = ["Paths", "load_paths"]

_PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True, slots=True)
class Paths:
    config_dir: Path
    var_dir: Path

    @property
    def districts_file(self) -> Path:
        return self.config_dir / "districts.toml"

    @property
    def authorities_file(self) -> Path:
        return self.config_dir / "authorities.toml"


def load_paths(environ: Mapping[str, str] = os.environ) -> Paths:
    return Paths(
        config_dir=Path(environ.get("PUBLISHER_CONFIG_DIR", _PROJECT_ROOT / "config")),
        var_dir=Path(environ.get("PUBLISHER_VAR_DIR", _PROJECT_ROOT / "var")),
    )
