"""Acks of MQTT terminals: checked, then recorded as receipts of the MQTT channel, many at once.

A terminal acks on ``acks/{terminal_id}`` with an HMAC keyed with the
SHA-256 of its token, which is what the registry keeps
(``mqtt_protocol``): an ack whose terminal is unknown or whose HMAC does not
hold is refused and stored nowhere, like an HTTP ack with a wrong token.
The others go through ``store_receipts``, the path of every receipt, in one
call per batch; the terminal is marked as heard from.

The provider id an ack names is made of the terminal and the identifier it
acks, so a terminal can only ever ack its own deliveries.
"""

from __future__ import annotations

import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from publisher.channels.base import Channel
from publisher.channels.mqtt_protocol import TerminalAck, ack_key, sign_ack
from publisher.services.devices import touch_device
from publisher.services.receipts import StoredReceipt, store_receipts
from publisher.store.models import Device, DeviceKind, utcnow

__all__ = ["SignedAck", "TerminalAckOutcome", "record_terminal_acks"]


@dataclass(frozen=True, slots=True)
class SignedAck:
    """An ack as read off the broker, with the HMAC it came with."""

    ack: TerminalAck
    signature: str = ""

    def __repr__(self) -> str:
        return f"SignedAck({self.ack!r})"


@dataclass(frozen=True, slots=True)
class TerminalAckOutcome:
    """What became of one ack: stored (``receipt``) or refused (``refusal`` names the field)."""

    receipt: StoredReceipt | None
    refusal: str | None = None


def _holds(device: Device, signed: SignedAck) -> bool:
    if device.token_sha256 is None:
        return False
    expected = sign_ack(ack_key(device.token_sha256), signed.ack.text())
    return hmac.compare_digest(expected, signed.signature)


def record_terminal_acks(session: Session, channel: Channel[Any], acks: Sequence[SignedAck], *,
                         now: datetime | None = None) -> list[TerminalAckOutcome]:
    """Check and record ``acks`` of ``channel`` (the MQTT one), in order; the caller commits."""
    moment = now or utcnow()
    named = {signed.ack.terminal_id for signed in acks}
    devices = {device.device_id: device for device in session.scalars(select(Device).where(
        Device.device_id.in_(sorted(named)), Device.kind == DeviceKind.TERMINAL))}
    refusals: list[str | None] = []
    accepted: list[SignedAck] = []
    for signed in acks:
        device = devices.get(signed.ack.terminal_id)
        if device is None:
            refusals.append(f"topic: no terminal {signed.ack.terminal_id!r} is registered")
        elif not _holds(device, signed):
            refusals.append(f"hmac: not signed with the token of terminal {device.device_id}")
        else:
            refusals.append(None)
            accepted.append(signed)
            touch_device(device, moment)
    stored = iter(store_receipts(session, channel, [signed.ack.receipt()
                                                    for signed in accepted]))
    return [TerminalAckOutcome(None, refusal) if refusal is not None
            else TerminalAckOutcome(next(stored)) for refusal in refusals]
