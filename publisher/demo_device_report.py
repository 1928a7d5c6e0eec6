"""What the demo's boards and speakers did with an alert, read back from the devices themselves.

Boards are read from their simulator's state (what each one shows now),
speakers from their record of what they played, and the announcement from
its audio, fetched from the platform as the speakers fetched it: it must
start with the attention tone and then hold the same speech ``repeat``
times (``repeats_after_tone``). Acks are read from the receipts the
platform stored, deliveries from their rows.
"""

from __future__ import annotations

import collections
import io
import json
import urllib.request
import wave
from array import array
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from publisher.channels.attention_tone import attention_tone
from publisher.channels.led_layout import text_width
from publisher.channels.led_preview import preview_message
from publisher.channels.led_text import Board, Page, read_board
from publisher.demo_devices import LED, SPEAKER, DemoDevices
from publisher.sim.device_fleet import SimulatedDevice
from publisher.store.models import Delivery, Receipt

__all__ = [
    "Count",
    "ack_states",
    "boards_showing",
    "boards_still_showing",
    "delivery_counts",
    "repeats_after_tone",
    "speakers_played",
    "speakers_stopped",
    "write_previews",
]

# Longer than any pause inside espeak-ng's speech, shorter than the pause between repeats.
_REPEAT_GAP_SECONDS = 1.0
_FETCH_SECONDS = 30.0


def repeats_after_tone(audio: bytes) -> int:
    """How many times one stretch of speech follows the attention tone; 0 if it is not so.

    The stretches are what silences longer than ``_REPEAT_GAP_SECONDS``
    separate, each without its leading and trailing silence; they must be
    the same samples, as an announcement repeats one synthesis.
    """
    with wave.open(io.BytesIO(audio), "rb") as reader:
        rate = reader.getframerate()
        frames = reader.readframes(reader.getnframes())
    tone = attention_tone(rate)
    if not frames.startswith(tone):
        return 0
    samples = array("h", frames[len(tone):])
    stretches = _stretches(samples, round(_REPEAT_GAP_SECONDS * rate))
    if not stretches or any(stretch != stretches[0] for stretch in stretches):
        return 0
    return len(stretches)


def _stretches(samples: array[int], gap: int) -> list[array[int]]:
    found: list[array[int]] = []
    start = last = -1
    zeros = 0
    for index, sample in enumerate(samples):
        if sample:
            if start < 0:
                start = index
            last, zeros = index, 0
            continue
        zeros += 1
        if zeros == gap and start >= 0:
            found.append(samples[start:last + 1])
            start = -1
    if start >= 0:
        found.append(samples[start:last + 1])
    return found


@dataclass(frozen=True, slots=True)
class Count:
    """Devices of one kind inside a district and outside it, and how many of each did it."""

    inside: int = 0
    inside_did: int = 0
    outside: int = 0
    outside_did: int = 0

    def add(self, inside: bool, did: bool) -> Count:
        if inside:
            return Count(self.inside + 1, self.inside_did + did, self.outside, self.outside_did)
        return Count(self.inside, self.inside_did, self.outside + 1, self.outside_did + did)


def _count(devices: Sequence[SimulatedDevice], district: str,
           did: dict[str, bool]) -> Count:
    count = Count()
    for device in devices:
        count = count.add(device.district_code == district, did[device.device_id])
    return count


def _fits(shown: dict[str, Any], capabilities: dict[str, Any]) -> bool:
    rows, cells = int(capabilities["rows"]), 2 * int(capabilities["columns"])
    return all(len(page) <= rows and all(text_width(row) <= cells for row in page)
               for page in shown["pages"])


def _shown(fleet: DemoDevices, device: SimulatedDevice, identifier: str) -> dict[str, Any] | None:
    return next((shown for shown in fleet.state(LED, device.device_id)["showing"]
                 if shown["identifier"] == identifier), None)


def boards_showing(fleet: DemoDevices, identifier: str, district: str,
                   colour: str) -> tuple[Count, list[int]]:
    """Boards showing ``identifier`` in ``colour`` within their size; the pages of each inside."""
    did: dict[str, bool] = {}
    pages: list[int] = []
    for device in fleet.devices(LED):
        shown = _shown(fleet, device, identifier)
        did[device.device_id] = (shown is not None and shown["colour"] == colour
                                 and _fits(shown, dict(device.capabilities)))
        if shown is not None and device.district_code == district:
            pages.append(len(shown["pages"]))
    return _count(fleet.devices(LED), district, did), pages


def boards_still_showing(fleet: DemoDevices, identifier: str, district: str) -> Count:
    """Boards that show ``identifier`` (a Cancel of it leaves none)."""
    did = {device.device_id: _shown(fleet, device, identifier) is not None
           for device in fleet.devices(LED)}
    return _count(fleet.devices(LED), district, did)


def _played(fleet: DemoDevices, device: SimulatedDevice, identifier: str,
            action: str) -> list[dict[str, Any]]:
    return [played for played in fleet.state(SPEAKER, device.device_id)["played"]
            if played["identifier"] == identifier and played["action"] == action
            and played["interrupted_by"] is None]


def _fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=_FETCH_SECONDS) as response:  # noqa: S310 - the platform's own audio URL
        body: bytes = response.read()
    return body


def speakers_played(fleet: DemoDevices, identifier: str, district: str,
                    repeat: int) -> tuple[Count, float]:
    """Speakers that played ``identifier`` to its end: the tone, then ``repeat`` times; seconds."""
    did: dict[str, bool] = {}
    heard: dict[str, int] = {}
    seconds = 0.0
    for device in fleet.devices(SPEAKER):
        played = _played(fleet, device, identifier, "play")
        for each in played:
            if each["audio_url"] not in heard:
                heard[each["audio_url"]] = repeats_after_tone(_fetch(each["audio_url"]))
            seconds = max(seconds, each["seconds"])
        did[device.device_id] = any(each["repeat"] == repeat
                                    and heard[each["audio_url"]] == repeat for each in played)
    return _count(fleet.devices(SPEAKER), district, did), seconds


def speakers_stopped(fleet: DemoDevices, identifier: str, cancel: str, district: str) -> Count:
    """Speakers told to stop ``identifier`` that played the all-clear of ``cancel``."""
    did = {device.device_id: identifier in fleet.state(SPEAKER, device.device_id)["stopped"]
           and bool(_played(fleet, device, cancel, "stop"))
           for device in fleet.devices(SPEAKER)}
    return _count(fleet.devices(SPEAKER), district, did)


def delivery_counts(session: Session, message_id: int) -> dict[str, dict[str, int]]:
    """A message's deliveries by channel and status."""
    counts: dict[str, dict[str, int]] = {}
    for channel, status, number in session.execute(
            select(Delivery.channel, Delivery.status, func.count())
            .where(Delivery.message_id == message_id)
            .group_by(Delivery.channel, Delivery.status)):
        counts.setdefault(channel, {})[status.value] = number
    return counts


def ack_states(session: Session, message_id: int, channels: Sequence[str]) -> dict[str, int]:
    """The states the devices acked a message's deliveries with, as the platform received them."""
    raws = session.scalars(
        select(Receipt.raw).join(Delivery, Delivery.id == Receipt.delivery_id)
        .where(Delivery.message_id == message_id, Delivery.channel.in_(channels)))
    return dict(collections.Counter(str(json.loads(raw).get("state")) for raw in raws))


def write_previews(fleet: DemoDevices, identifier: str, district: str,
                   folder: Path) -> list[Path]:
    """PNGs of the pages each board of ``district`` shows for ``identifier``, as a board draws them.

    Raises FontNotFoundError when no CJK font is installed.
    """
    written: list[Path] = []
    folder.mkdir(parents=True, exist_ok=True)
    for device in fleet.devices(LED):
        shown = _shown(fleet, device, identifier)
        if shown is None or device.district_code != district:
            continue
        board = read_board(device.capabilities, Board())
        pages = [Page(device.language, tuple(rows)) for rows in shown["pages"]]
        for number, png in enumerate(preview_message(pages, shown["colour"], board), start=1):
            path = folder / f"{device.device_id}-{number}.png"
            path.write_bytes(png)
            written.append(path)
    return written

