"""Channels by name: the built-in ones, and third parties' through an entry-point group.

A package adds a channel by declaring, in its own metadata::

    [project.entry-points."publisher.channels"]
    loudspeaker = "acme_alerts.loudspeaker:LoudspeakerChannel"

Names are resolved lazily, so an installed but broken third-party channel
only fails when it is asked for, and a typo gets a "did you mean".
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from publisher.channels.base import Channel

__all__ = [
    "ENTRY_POINT_GROUP",
    "UnknownChannelError",
    "available_channels",
    "channel_class",
    "create_channel",
    "register_channel",
]

ENTRY_POINT_GROUP = "publisher.channels"

_BUILT_IN = {
    "app": "publisher.channels.app_push:AppChannel",
    "district": "publisher.channels.district:DistrictChannel",
    "feed": "publisher.channels.feed:FeedChannel",
    "led": "publisher.channels.led:LedChannel",
    "memory": "publisher.channels.memory:MemoryChannel",
    "mqtt": "publisher.channels.mqtt:MqttChannel",
    "sms": "publisher.channels.sms:SmsChannel",
    "speaker": "publisher.channels.speaker:SpeakerChannel",
    "wechat": "publisher.channels.wechat:WechatChannel",
}

_registered: dict[str, type[Channel[Any]]] = {}


class UnknownChannelError(LookupError):
    def __init__(self, name: str, known: list[str]) -> None:
        suggestions = difflib.get_close_matches(name, known, n=3)
        hint = f"; did you mean {' or '.join(repr(item) for item in suggestions)}?" \
            if suggestions else f" (known: {', '.join(known) or 'none'})"
        self.name = name
        self.message = f"channel: unknown channel {name!r}{hint}"
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message


def register_channel(cls: type[Channel[Any]]) -> type[Channel[Any]]:
    """Register a channel class under its ``name``; usable as a class decorator."""
    existing = _registered.get(cls.name)
    if existing is not None and existing is not cls:
        raise ValueError(f"channel: the name {cls.name!r} is taken by {existing.__qualname__}")
    _registered[cls.name] = cls
    return cls


def _declared() -> dict[str, str]:
    declared = dict(_BUILT_IN)
    for entry in entry_points(group=ENTRY_POINT_GROUP):
        declared.setdefault(entry.name, entry.value)
    return declared


def available_channels() -> list[str]:
    return sorted(set(_declared()) | set(_registered))


def _load(reference: str) -> type[Channel[Any]]:
    module_name, _, attribute = reference.partition(":")
    loaded = getattr(import_module(module_name), attribute)
    if not (isinstance(loaded, type) and issubclass(loaded, Channel)):
        raise TypeError(f"channel: {reference} is not a Channel class")
    return loaded


def channel_class(name: str) -> type[Channel[Any]]:
    if name in _registered:
        return _registered[name]
    reference = _declared().get(name)
    if reference is None:
        raise UnknownChannelError(name, available_channels())
    loaded = _load(reference)
    if loaded.name != name:
        raise TypeError(f"channel: {reference} declares the name {loaded.name!r}, not {name!r}")
    return register_channel(loaded)


def create_channel(name: str, options: Mapping[str, Any] | None = None) -> Channel[Any]:
    return channel_class(name)(options)
