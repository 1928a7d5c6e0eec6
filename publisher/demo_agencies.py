"""The demo's agencies: the weather and the earthquake bureau of ``config/agencies.toml``.

Each signs with a demo identity in ``DATA_DIR/agencies/<code>/``, made when
the demo starts as the other demo identities are, and is registered once;
its credential is kept, readable by its owner only, in
``DATA_DIR/demo/agencies.json`` for ``publisher intake submit``. The weather
bureau's alerts wait for approval; the earthquake bureau publishes
earthquake Exercises and Tests directly, and nothing else.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sqlalchemy.orm import Session

from publisher.config import Settings
from publisher.services.actors import Actor
from publisher.services.agencies import find_agency, register_agency
from publisher.services.agencies_file import AGENCIES_FILE, read_agencies_file
from publisher.sim.agency_sender import agency_identity
from publisher.store.models import Role

__all__ = ["CLI_ACTOR", "DEMO_AGENCIES", "agency_credentials_path", "prepare_demo_agencies",
           "print_agencies", "refusal_command", "saved_agency_credentials"]

DEMO_AGENCIES = ("weather", "earthquake")
CLI_ACTOR = Actor(None, "system:publisher agency", frozenset({Role.ADMIN}))
_CREDENTIALS_FILE = "agencies.json"


def agency_credentials_path(data_dir: Path) -> Path:
    return data_dir / "demo" / _CREDENTIALS_FILE


def saved_agency_credentials(data_dir: Path) -> dict[str, str]:
    path = agency_credentials_path(data_dir)
    if not path.exists():
        return {}
    saved: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return saved


def _save(path: Path, credentials: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # The file holds the agencies' credentials: readable by its owner only.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as stream:
        json.dump(credentials, stream, indent=2)


def prepare_demo_agencies(session: Session, settings: Settings) -> dict[str, str]:
    """Make the demo agencies' identities and register them; their credentials by code."""
    data_dir = settings.paths.data_dir
    path = settings.paths.config_dir / AGENCIES_FILE
    for code in DEMO_AGENCIES:
        agency_identity(data_dir, code, code)
    credentials = saved_agency_credentials(data_dir)
    for fields in read_agencies_file(path, data_dir):
        if fields["code"] in DEMO_AGENCIES and find_agency(session, fields["code"]) is None:
            credentials[fields["code"]] = register_agency(session, CLI_ACTOR, fields).credential
    _save(agency_credentials_path(data_dir), credentials)
    return credentials


def refusal_command(url: str, data_dir: Path) -> str:
    return f"publisher intake submit --agency earthquake --url {url} --data-dir {data_dir}"


def print_agencies(url: str, data_dir: Path) -> None:
    print("Agencies:  weather (rainstorm, heat, blizzard: waits for approval) and earthquake"
          " (earthquake Exercises and Tests: published directly), POST /api/intake")
    print("           the earthquake bureau's rainstorm warning, refused by rule event_codes:")
    print(f"           {refusal_command(url, data_dir)}")
