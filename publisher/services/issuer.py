"""The warning center as the issuer of CAP messages: its sender, its identifier
scheme, and the profile every message it issues must pass."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path

from publisher.cap.districts import load_districts
from publisher.cap.municipal import BEIJING_TIME, make_identifier
from publisher.cap.profiles import Profile, get_profile
from publisher.config import Settings, load_paths

__all__ = ["Issuer", "default_profile", "municipal_profile"]


@cache
def municipal_profile(districts_file: Path) -> Profile:
    return get_profile("municipal", districts=load_districts(districts_file).codes())


def default_profile() -> Profile:
    """The municipal profile of the installation's configured districts."""
    return municipal_profile(load_paths().districts_file)


@dataclass(frozen=True)
class Issuer:
    sender: str
    division_code: str
    agency_code: str
    profile: Profile

    @classmethod
    def from_settings(cls, settings: Settings) -> Issuer:
        return cls(settings.center_sender, settings.division_code, settings.agency_code,
                   municipal_profile(settings.paths.districts_file))

    def sent_time(self, now: datetime) -> datetime:
        """``now`` as CAP writes the center's ``sent``: whole seconds, Beijing time."""
        return now.astimezone(BEIJING_TIME).replace(microsecond=0)

    def identifier(self, sent: datetime, sequence: int) -> str:
        return make_identifier(self.division_code, self.agency_code, sent, sequence)

    def identifier_prefix(self, sent: datetime) -> str:
        """What every identifier issued in the second ``sent`` starts with."""
        return self.identifier(sent, 0).rsplit("-", 1)[0] + "-"
