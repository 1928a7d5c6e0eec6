"""The node's own SQLite store: what it received, what its devices did, what it owes the center.

A small schema created at start-up; it is the node's alone and shares
nothing with the center's database or its migrations.

- ``messages``: every CAP message the node holds, from the center or its
  own, unique by (sender, identifier, sent); its catch-up cursor when known,
  and its state (``relayed``, ``expired``, ``cancelled``, ``superseded``).
- ``deliveries``: one row per message and local device (or member of the
  SMS group), whose id is the provider id the device acks.
- ``delivery_tallies``: per message and channel, how many of its deliveries
  are delivered, failed and pending, kept with every change of a delivery's
  status (``tallies.py``) so that a receipt never recounts the deliveries.
- ``sms_parts``: the SMSC's id of every part of an SMS delivery, and the
  state its delivery report gave.
- ``outbox``: receipts and local alerts to post to the center, kept until
  the center took them.
- ``users`` and ``local_alerts``: the district's operators and their drafts.
- ``intake_records``: what the district's agencies submitted, as they signed
  it, unique by (sender, identifier, sent), and the draft each became.
- ``node_state``: the catch-up cursor.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import (
    Engine,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    select,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column

from publisher.store.models import Timestamp, utcnow

__all__ = [
    "CURSOR_KEY",
    "Delivery",
    "DeliveryTally",
    "LocalAlert",
    "LocalAlertState",
    "MessageState",
    "NodeBase",
    "NodeIntake",
    "NodeState",
    "NodeUser",
    "OutboxItem",
    "SmsPart",
    "StoredMessage",
    "create_schema",
    "end_referenced",
    "find_message",
    "read_cursor",
    "write_cursor",
]

CURSOR_KEY = "cursor"


class NodeBase(DeclarativeBase):
    pass


class MessageState(enum.StrEnum):
    RELAYED = "relayed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"
    SUPERSEDED = "superseded"


class LocalAlertState(enum.StrEnum):
    PENDING = "pending"
    PUBLISHED = "published"


class StoredMessage(NodeBase):
    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("sender", "identifier", "sent"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sender: Mapped[str] = mapped_column(String(255))
    identifier: Mapped[str] = mapped_column(String(255))
    sent: Mapped[str] = mapped_column(String(32))
    msg_type: Mapped[str] = mapped_column(String(16))
    origin: Mapped[str] = mapped_column(String(16))  # "center" or "local"
    cursor: Mapped[int | None] = mapped_column(Integer, unique=True)
    xml: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[str] = mapped_column(String(16))
    expires: Mapped[datetime | None] = mapped_column(Timestamp())
    received_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


class Delivery(NodeBase):
    __tablename__ = "deliveries"
    __table_args__ = (UniqueConstraint("message_id", "device_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    channel: Mapped[str] = mapped_column(String(32))
    device_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow, onupdate=utcnow)


class DeliveryTally(NodeBase):
    __tablename__ = "delivery_tallies"

    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), primary_key=True)
    channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    pending: Mapped[int] = mapped_column(Integer, default=0)


class SmsPart(NodeBase):
    __tablename__ = "sms_parts"

    provider_id: Mapped[str] = mapped_column(String(128), primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id"), index=True)
    status: Mapped[str] = mapped_column(String(16))


class OutboxItem(NodeBase):
    __tablename__ = "outbox"
    __table_args__ = (UniqueConstraint("kind", "key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # "receipt" or "alert"
    key: Mapped[str] = mapped_column(String(600))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(Integer, default=1)
    posted_version: Mapped[int] = mapped_column(Integer, default=0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")


class NodeUser(NodeBase):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))


class LocalAlert(NodeBase):
    __tablename__ = "local_alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    author: Mapped[str] = mapped_column(String(64))
    approver: Mapped[str | None] = mapped_column(String(64))
    state: Mapped[str] = mapped_column(String(16), default=LocalAlertState.PENDING.value)
    draft: Mapped[str] = mapped_column(Text)  # the composed fields, as JSON
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"))
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


class NodeIntake(NodeBase):
    """A message an agency registered with the district submitted, kept as the agency signed
    it, and the district draft (``local_alerts``) it became."""

    __tablename__ = "intake_records"
    __table_args__ = (UniqueConstraint("sender", "identifier", "sent"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency: Mapped[str] = mapped_column(String(64))
    sender: Mapped[str] = mapped_column(String(255))
    identifier: Mapped[str] = mapped_column(String(255))
    sent: Mapped[str] = mapped_column(String(32))
    original_xml: Mapped[bytes] = mapped_column(LargeBinary)
    local_alert_id: Mapped[int] = mapped_column(ForeignKey("local_alerts.id"))
    received_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


class NodeState(NodeBase):
    __tablename__ = "node_state"

    key: Mapped[str] = mapped_column(String(32), primary_key=True)
    value: Mapped[int] = mapped_column(Integer)


def create_schema(engine: Engine) -> None:
    NodeBase.metadata.create_all(engine)


def find_message(session: Session, sender: str, identifier: str,
                 sent: str) -> StoredMessage | None:
    """The message held under this key, ``sent`` compared as an instant.

    The center's heartbeat writes ``sent`` in UTC, while the CAP text keeps
    the offset it was written with (+08:00 in Beijing).
    """
    moment = datetime.fromisoformat(sent)
    return next((held for held in session.scalars(select(StoredMessage).where(
        StoredMessage.sender == sender, StoredMessage.identifier == identifier))
        if datetime.fromisoformat(held.sent) == moment), None)


def end_referenced(session: Session, identifiers: Sequence[str], cancelled: bool) -> None:
    """Mark what an Update replaces as superseded, what a Cancel withdraws as cancelled."""
    if not identifiers:
        return
    ending = MessageState.CANCELLED if cancelled else MessageState.SUPERSEDED
    for held in session.scalars(select(StoredMessage).where(
            StoredMessage.identifier.in_(identifiers),
            StoredMessage.state == MessageState.RELAYED.value)):
        held.state = ending.value


def read_cursor(session: Session) -> int:
    state = session.get(NodeState, CURSOR_KEY)
    return 0 if state is None else state.value


def write_cursor(session: Session, cursor: int) -> None:
    """Move the cursor forward to ``cursor``; it never moves back."""
    state = session.get(NodeState, CURSOR_KEY)
    if state is None:
        session.add(NodeState(key=CURSOR_KEY, value=cursor))
    elif cursor > state.value:
        state.value = cursor
