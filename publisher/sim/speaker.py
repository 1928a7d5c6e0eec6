"""Simulated IP speakers that speak docs/protocols/speaker.md, many in one process.

A speaker checks a push's fields (``audio_url``, ``repeat``, ``volume``,
``language``), answers 202, and then does what a speaker does: it fetches
the audio from ``audio_url``, checks that it is a WAV, plays it (waits its
duration, read from the WAV header, times ``playback_speed``: 1 is real
time, 0 acks as soon as the audio is in) and acks ``played``. A speaker plays
one announcement at a time, in the order they came.

A ``stop`` interrupts what its ``references`` name, playing or waiting to
play, and plays its own audio (the all-clear); it acks ``stopped``. A
``play`` whose ``references`` name what is playing (an Update) replaces it
the same way. An interrupted announcement acks ``stopped``, saying by what
and after how long. Audio that cannot be fetched or is no WAV acks
``failed`` with the reason.

A ``play`` with ``"priority": "interrupt"`` (an earthquake early warning)
stops whatever is playing at once (it acks ``stopped``, "stopped by" the
warning) and plays next, before anything that was waiting, which plays
after it.

``played`` is every announcement a speaker finished or was interrupted in;
``state`` (``GET /devices/<id>/state``) is ``{"device_id", "playing":
{"identifier", "delivery", "seconds"} or null, "played": [...],
"stopped": [identifiers]}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
import wave
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

import aiohttp

from publisher.sim.device_fleet import SimulatedDevice
from publisher.sim.device_sim import (
    Ack,
    DeviceSimConfig,
    DeviceSimulator,
    MessageError,
    interrupts,
)

__all__ = ["SPEAKER_CAPABILITIES", "Played", "SpeakerSimulator"]

SPEAKER_CAPABILITIES: Mapping[str, Any] = MappingProxyType({
    "formats": ["audio/wav"], "volume": 80, "languages": ["zh-CN", "en-US"]})
_STOPPED = "stopped"
_FAILED = "failed"
# How long an announcement that gave its turn to an urgent one waits before asking again.
_YIELD_SECONDS = 0.01


@dataclass(frozen=True, slots=True)
class Played:
    """One announcement a speaker played, to its end or until interrupted."""

    device_id: str
    delivery: str
    identifier: str
    action: str
    audio_url: str
    seconds: float  # the audio's duration, from its WAV header
    language: str
    repeat: int
    volume: int
    interrupted_by: str | None
    at: datetime

    def as_json(self) -> dict[str, Any]:
        return {"delivery": self.delivery, "identifier": self.identifier,
                "action": self.action, "audio_url": self.audio_url,
                "seconds": round(self.seconds, 3), "language": self.language,
                "repeat": self.repeat, "volume": self.volume,
                "interrupted_by": self.interrupted_by, "at": self.at.isoformat()}


@dataclass(slots=True)
class _Playback:
    identifier: str
    delivery: str
    seconds: float
    interrupted: asyncio.Event = field(default_factory=asyncio.Event)
    interrupted_by: str | None = None


class _AudioError(Exception):
    pass


def _whole_number(message: Mapping[str, Any], name: str, lowest: int, highest: int) -> int:
    value = message.get(name)
    if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
        raise MessageError(name, f"{value!r} is not a whole number from {lowest} to {highest}")
    return value


def _wav_seconds(body: bytes) -> float:
    try:
        with wave.open(io.BytesIO(body), "rb") as audio:
            return audio.getnframes() / audio.getframerate()
    except (wave.Error, EOFError) as error:
        raise _AudioError(f"audio_url: not a WAV file ({error})") from None


class SpeakerSimulator(DeviceSimulator):
    kind = "speaker"
    actions = MappingProxyType({"play": "played", "stop": _STOPPED})

    def __init__(self, config: DeviceSimConfig, devices: Sequence[SimulatedDevice], *,
                 playback_speed: float = 1.0) -> None:
        if playback_speed < 0:
            raise ValueError(f"playback_speed: {playback_speed} is negative")
        super().__init__(config, devices)
        self.playback_speed = playback_speed
        self.played: list[Played] = []
        self._playing: dict[str, _Playback] = {}
        self._stopped: dict[str, set[str]] = {device_id: set() for device_id in self.devices}
        self._turns: dict[str, asyncio.Lock] = {}
        self._urgent: dict[str, set[str]] = {}

    def accept(self, device: SimulatedDevice, message: Mapping[str, Any]) -> None:
        url = message.get("audio_url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise MessageError("audio_url", f"{url!r} is not an http(s) URL")
        _whole_number(message, "repeat", 1, 100)
        _whole_number(message, "volume", 0, 100)
        language = message.get("language")
        if not isinstance(language, str) or not language.strip():
            raise MessageError("language", "required: the language of the audio")
        references = message.get("references", [])
        if message["action"] == "stop" and not references:
            raise MessageError("references", "name the messages to stop")
        # At once, not when its turn comes: a stop must not wait behind what it stops.
        self._interrupt(device.device_id, references, by=message["identifier"])
        if interrupts(message):
            self._urgent.setdefault(device.device_id, set()).add(message["identifier"])
            playing = self._playing.get(device.device_id)
            if playing is not None and not self._is_urgent(device.device_id,
                                                           playing.identifier):
                self._interrupt(device.device_id, [playing.identifier],
                                by=message["identifier"])
                self._stopped[device.device_id].discard(playing.identifier)

    def _is_urgent(self, device_id: str, identifier: str) -> bool:
        return identifier in self._urgent.get(device_id, ())

    async def _turn(self, device_id: str, identifier: str) -> asyncio.Lock:
        """The device's turn, taken; one that is not urgent waits while an urgent one is pending."""
        turn = self._turns.setdefault(device_id, asyncio.Lock())
        while True:
            await turn.acquire()
            if self._is_urgent(device_id, identifier) or not self._urgent.get(device_id):
                return turn
            turn.release()
            await asyncio.sleep(_YIELD_SECONDS)

    def _interrupt(self, device_id: str, identifiers: Sequence[str], *, by: str) -> None:
        self._stopped[device_id].update(identifiers)
        playback = self._playing.get(device_id)
        if playback is not None and playback.identifier in identifiers:
            playback.interrupted_by = by
            playback.interrupted.set()

    async def outcome(self, device: SimulatedDevice, message: Mapping[str, Any]) -> Ack:
        try:
            seconds = await self._fetch(message["audio_url"])
        except _AudioError as error:
            self._urgent.get(device.device_id, set()).discard(message["identifier"])
            return Ack(_FAILED, str(error))
        device_id = device.device_id
        turn = await self._turn(device_id, message["identifier"])
        try:
            if message["identifier"] in self._stopped[device_id]:
                return Ack(_STOPPED, "stopped before it played")
            playback = _Playback(message["identifier"], message["delivery"], seconds)
            self._playing[device_id] = playback
            started = time.monotonic()
            try:
                await self._play(playback)
            finally:
                del self._playing[device_id]
                self._urgent.get(device_id, set()).discard(message["identifier"])
        finally:
            turn.release()
        self.played.append(Played(
            device_id=device_id, delivery=message["delivery"],
            identifier=message["identifier"], action=message["action"],
            audio_url=message["audio_url"], seconds=seconds, language=message["language"],
            repeat=message["repeat"], volume=message["volume"],
            interrupted_by=playback.interrupted_by, at=datetime.now(UTC)))
        if playback.interrupted_by is not None:
            return Ack(_STOPPED, f"stopped by {playback.interrupted_by} after"
                                 f" {time.monotonic() - started:.1f} s")
        return Ack(self.actions[message["action"]], f"played {seconds:.1f} s of audio")

    async def _play(self, playback: _Playback) -> None:
        """Until the audio's end (at ``playback_speed``), or until interrupted."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(playback.interrupted.wait(),
                                   playback.seconds * self.playback_speed)

    async def _fetch(self, url: str) -> float:
        """The audio's duration, once it is fetched and known to be a WAV."""
        assert self._client is not None
        try:
            async with self._client.get(url) as response:
                body = await response.read()
                if response.status != 200:
                    raise _AudioError(f"audio_url: {url} answered HTTP {response.status}")
        except (aiohttp.ClientError, TimeoutError) as error:
            raise _AudioError(f"audio_url: {url} not reachable ({error})") from None
        return _wav_seconds(body)

    def state(self, device_id: str) -> dict[str, Any]:
        playback = self._playing.get(device_id)
        return {"device_id": device_id,
                "playing": None if playback is None else {
                    "identifier": playback.identifier, "delivery": playback.delivery,
                    "seconds": round(playback.seconds, 3)},
                "played": [played.as_json() for played in self.played
                           if played.device_id == device_id],
                "stopped": sorted(self._stopped[device_id])}

    def showing(self, device_id: str) -> list[str]:
        playback = self._playing.get(device_id)
        return [] if playback is None else [playback.identifier]
