"""Heartbeats of MQTT terminals: checked, then the terminals marked as heard from, many at once.

A heartbeat (``channels.terminal_heartbeat``) counts only when its terminal
is registered, its HMAC holds against the SHA-256 of the terminal's token,
and it is new:

- its ``at`` lies within ``CLOCK_TOLERANCE_SECONDS`` of the platform's
  clock: the broker lets anyone publish, and a heartbeat copied off it must
  not keep a dead terminal online for long;
- it is later than the terminal's last heartbeat taken by this process
  (``LatestHeartbeats``): a copy sent again is refused even within the
  tolerance.

Anything else is refused with the field and the reason, and stored nowhere.
A heartbeat taken sets the terminal's ``last_seen_at`` to the platform's
clock, as an HTTP heartbeat does, so a terminal silent longer than its
``heartbeat_interval`` is offline (``device_health``) and the next
heartbeat brings it back.
"""

from __future__ import annotations

import hmac
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.channels.mqtt_protocol import ack_key
from publisher.channels.terminal_heartbeat import HeartbeatError, TerminalHeartbeat
from publisher.services.devices import touch_device
from publisher.store.models import Device, DeviceKind, utcnow

__all__ = [
    "CLOCK_TOLERANCE_SECONDS",
    "HeartbeatOutcome",
    "LatestHeartbeats",
    "SignedHeartbeat",
    "record_terminal_heartbeats",
    "signed_by_terminal",
    "terminals_named",
]

CLOCK_TOLERANCE_SECONDS = 120
"""How far a heartbeat's ``at`` may lie from the platform's clock, either way."""


@dataclass(frozen=True, slots=True)
class SignedHeartbeat:
    """A heartbeat as read off the broker, with the HMAC it came with."""

    heartbeat: TerminalHeartbeat
    signature: str


@dataclass(frozen=True, slots=True)
class HeartbeatOutcome:
    """What became of one heartbeat: taken (``came_back`` once it had been offline) or refused."""

    terminal_id: str
    refusal: str | None = None
    came_back: bool = False


class LatestHeartbeats:
    """The ``at`` of each terminal's last heartbeat taken, so that a copy is never taken again.

    Kept by the listener for its life; only terminals whose HMAC held are
    named, so it holds at most one entry per registered terminal.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._latest: dict[str, datetime] = {}

    def take(self, terminal_id: str, moment: datetime) -> datetime | None:
        """Note ``moment`` unless it is not later than the last; that last one, if so."""
        with self._lock:
            last = self._latest.get(terminal_id)
            if last is not None and moment <= last:
                return last
            self._latest[terminal_id] = moment
            return None


def signed_by_terminal(device: Device, sign: Callable[[bytes], str], signature: str) -> bool:
    """Whether ``signature`` is what ``sign`` makes with the terminal's key (its token's hash)."""
    if device.token_sha256 is None:
        return False
    return hmac.compare_digest(sign(ack_key(device.token_sha256)), signature)


def _refusal(device: Device | None, signed: SignedHeartbeat, latest: LatestHeartbeats,
             now: datetime) -> str | None:
    heartbeat = signed.heartbeat
    if device is None:
        return f"topic: no terminal {heartbeat.terminal_id!r} is registered"
    if not signed_by_terminal(device, heartbeat.signature, signed.signature):
        return f"hmac: not signed with the token of terminal {device.device_id}"
    try:
        moment = heartbeat.moment
    except HeartbeatError as error:
        return str(error)
    off_by = (moment - now).total_seconds()
    if abs(off_by) > CLOCK_TOLERANCE_SECONDS:
        side = "ahead of" if off_by > 0 else "behind"
        return (f"at: {heartbeat.at} is {abs(off_by):.0f} s {side} the platform's clock"
                f" (at most {CLOCK_TOLERANCE_SECONDS} s either way)")
    last = latest.take(device.device_id, moment)
    if last is not None:
        return (f"at: {heartbeat.at} is not later than the terminal's last heartbeat"
                f" ({last.isoformat()}): a copy of an earlier one")
    return None


def terminals_named(session: Session, terminal_ids: Collection[str]) -> dict[str, Device]:
    """The registered terminals among ``terminal_ids``, by id."""
    return {device.device_id: device for device in session.scalars(select(Device).where(
        Device.device_id.in_(sorted(terminal_ids)), Device.kind == DeviceKind.TERMINAL))}


def record_terminal_heartbeats(session: Session, heartbeats: Sequence[SignedHeartbeat],
                               latest: LatestHeartbeats, *, now: datetime | None = None
                               ) -> list[HeartbeatOutcome]:
    """Check ``heartbeats`` and mark their terminals as heard from, in order; the caller commits."""
    moment = now or utcnow()
    devices = terminals_named(session, {signed.heartbeat.terminal_id for signed in heartbeats})
    outcomes = []
    for signed in heartbeats:
        terminal_id = signed.heartbeat.terminal_id
        device = devices.get(terminal_id)
        refusal = _refusal(device, signed, latest, moment)
        if refusal is not None or device is None:
            outcomes.append(HeartbeatOutcome(terminal_id, refusal))
        else:
            outcomes.append(HeartbeatOutcome(terminal_id, came_back=touch_device(device, moment)))
    return outcomes
