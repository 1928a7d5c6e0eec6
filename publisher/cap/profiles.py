"""Pluggable rule sets ("profiles") that an alert is checked against.

Built in are ``cap12`` (the CAP 1.2 rules alone) and ``municipal`` (those
plus the city's). Other packages add profiles through the entry-point group
``publisher.cap_profiles``: each entry point names a factory called as
``factory(districts=codes)`` that returns a Profile.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection
from importlib.metadata import entry_points
from typing import Protocol

from publisher.cap.model import Alert
from publisher.cap.municipal import MunicipalProfile
from publisher.cap.problems import Problem
from publisher.cap.rules import check_spec_rules

__all__ = [
    "ENTRY_POINT_GROUP",
    "Profile",
    "ProfileFactory",
    "SpecProfile",
    "available_profiles",
    "get_profile",
]

ENTRY_POINT_GROUP = "publisher.cap_profiles"


class Profile(Protocol):
    name: str

    def check(self, alert: Alert) -> list[Problem]: ...


class ProfileFactory(Protocol):
    def __call__(self, *, districts: Collection[str]) -> Profile: ...


class SpecProfile:
    """The rules of the CAP 1.2 specification, nothing more."""

    name = "cap12"

    def check(self, alert: Alert) -> list[Problem]:
        return check_spec_rules(alert)


def _spec_profile(*, districts: Collection[str]) -> Profile:
    return SpecProfile()


def _municipal_profile(*, districts: Collection[str]) -> Profile:
    return MunicipalProfile(districts)


_BUILT_IN: dict[str, ProfileFactory] = {
    SpecProfile.name: _spec_profile,
    MunicipalProfile.name: _municipal_profile,
}


def available_profiles() -> list[str]:
    """Names of the built-in and installed profiles, sorted."""
    return sorted(set(_BUILT_IN) | {entry.name for entry in entry_points(group=ENTRY_POINT_GROUP)})


def get_profile(name: str, *, districts: Collection[str] = ()) -> Profile:
    """The profile called ``name``; ``districts`` are the configured GB/T 2260 codes.

    An unknown name raises ValueError that suggests the closest known names.
    """
    factory = _BUILT_IN.get(name) or _installed_factory(name)
    if factory is None:
        known = available_profiles()
        close = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {' or '.join(repr(match) for match in close)}?" if close else ""
        raise ValueError(f"unknown CAP profile {name!r}{hint} (available: {', '.join(known)})")
    return factory(districts=districts)


def _installed_factory(name: str) -> ProfileFactory | None:
    for entry in entry_points(group=ENTRY_POINT_GROUP, name=name):
        factory: ProfileFactory = entry.load()
        return factory
    return None
