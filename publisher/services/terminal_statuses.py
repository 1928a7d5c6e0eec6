"""Terminals' connection statuses (``channels.terminal_status``): checked, then applied.

A status counts only when its terminal is registered and its HMAC holds
against the SHA-256 of the terminal's token. Then:

- ``online`` (sent by the terminal once connected) must name a connection
  opened within ``CLOCK_TOLERANCE_SECONDS`` of the platform's clock, and
  not one earlier than the latest known: it becomes the terminal's latest
  connection and the terminal is heard from, as by a heartbeat;
- ``offline`` (the Last Will, published by the broker) must name the
  terminal's latest connection known, or a later one: the terminal is
  offline from now until it is heard from again. A will naming an earlier
  connection is a copy sent again, or the broker's late word on a
  connection the terminal has already replaced, and changes nothing.

Anything else is refused with the field and the reason. Every web process
listens, so the same status may be applied more than once; applying it
again changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from publisher.channels.terminal_heartbeat import HeartbeatError, read_moment
from publisher.channels.terminal_status import ConnectionState, TerminalStatus
from publisher.services.device_health import is_disconnected, is_offline
from publisher.services.devices import touch_device
from publisher.services.terminal_heartbeats import (
    CLOCK_TOLERANCE_SECONDS,
    signed_by_terminal,
    terminals_named,
)
from publisher.store.models import Device, utcnow

__all__ = ["SignedStatus", "StatusOutcome", "record_terminal_statuses"]


@dataclass(frozen=True, slots=True)
class SignedStatus:
    """A status as read off the broker, with the HMAC it came with."""

    status: TerminalStatus
    signature: str


@dataclass(frozen=True, slots=True)
class StatusOutcome:
    """What became of one status: refused, or taken (``changed`` when the terminal went from
    offline to online or the other way)."""

    terminal_id: str
    state: ConnectionState
    refusal: str | None = None
    changed: bool = False


def _latest(device: Device) -> datetime | None:
    if device.connection_session is None:
        return None
    try:
        return read_moment(device.connection_session, "session")
    except HeartbeatError:
        return None


def _refusal(device: Device | None, signed: SignedStatus, now: datetime) -> str | None:
    status = signed.status
    if device is None:
        return f"topic: no terminal {status.terminal_id!r} is registered"
    if not signed_by_terminal(device, status.signature, signed.signature):
        return f"hmac: not signed with the token of terminal {device.device_id}"
    opened = status.opened
    ahead = (opened - now).total_seconds()
    if ahead > CLOCK_TOLERANCE_SECONDS:
        return (f"session: {status.session} is {ahead:.0f} s ahead of the platform's clock"
                f" (at most {CLOCK_TOLERANCE_SECONDS} s)")
    if status.state is ConnectionState.ONLINE and -ahead > CLOCK_TOLERANCE_SECONDS:
        return (f"session: {status.session} is {-ahead:.0f} s behind the platform's clock"
                f" (at most {CLOCK_TOLERANCE_SECONDS} s): not a connection opened now")
    latest = _latest(device)
    if latest is not None and opened < latest:
        return (f"session: {status.session} is earlier than the terminal's latest connection"
                f" ({device.connection_session}): a copy of an earlier {status.state.value}")
    return None


def _apply(device: Device, status: TerminalStatus, now: datetime) -> bool:
    """Apply a status found good; whether the terminal changed from offline to online or back."""
    device.connection_session = status.session
    if status.state is ConnectionState.ONLINE:
        came_back = touch_device(device, now)
        device.disconnected_at = None
        return came_back
    went_offline = not is_offline(device, now)
    if not is_disconnected(device):
        device.disconnected_at = now
    return went_offline


def record_terminal_statuses(session: Session, statuses: Sequence[SignedStatus], *,
                             now: datetime | None = None) -> list[StatusOutcome]:
    """Check ``statuses`` and apply them to their terminals, in order; the caller commits."""
    moment = now or utcnow()
    devices = terminals_named(session, {signed.status.terminal_id for signed in statuses})
    outcomes = []
    for signed in statuses:
        status = signed.status
        device = devices.get(status.terminal_id)
        refusal = _refusal(device, signed, moment)
        if refusal is not None or device is None:
            outcomes.append(StatusOutcome(status.terminal_id, status.state, refusal))
        else:
            outcomes.append(StatusOutcome(status.terminal_id, status.state,
                                          changed=_apply(device, status, moment)))
    return outcomes
