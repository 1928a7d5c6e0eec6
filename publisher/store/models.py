"""Tables of the platform. Every state change that matters is a row here.

A Celery task only points at rows: deliveries are rows, the outbox is rows,
receipts are rows, so a crash, a redelivery or a broker outage loses nothing.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy import event as orm_event
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Mapper,
    ORMExecuteState,
    Session,
    mapped_column,
    relationship,
)

from publisher.channels.base import DeliveryStatus

__all__ = [
    "Alert",
    "AlertState",
    "ApiToken",
    "App",
    "AppDeliveryMode",
    "AppEvent",
    "AppEventSequence",
    "AuditEntry",
    "Base",
    "ContactKind",
    "ContactPoint",
    "Delivery",
    "DeliveryPart",
    "DeliveryStatus",
    "Device",
    "DeviceKind",
    "DistrictLocalAlert",
    "DistrictNode",
    "DistrictNodeCount",
    "FeedDocument",
    "Message",
    "MessageImmutableError",
    "OutboxEntry",
    "Receipt",
    "ReceiptOutcome",
    "Role",
    "StaffSession",
    "Subscriber",
    "SubscriberDistrict",
    "Target",
    "TargetDistrict",
    "User",
    "UserRole",
    "utcnow",
]

# BIGINT on PostgreSQL for tables that grow with every target; SQLite only
# auto-increments an INTEGER PRIMARY KEY.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Timestamp(TypeDecorator[datetime]):
    """Always timezone-aware UTC, on every database.

    SQLite keeps the wall-clock time without its offset, so a time is stored
    as UTC (a Beijing time would otherwise read back eight hours off) and
    read back marked UTC. A naive time is taken to be UTC already.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None or value.tzinfo is None:
            return value
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


class Base(DeclarativeBase):
    pass


class Role(enum.StrEnum):
    AUTHOR = "author"
    APPROVER = "approver"
    ADMIN = "admin"
    DISTRICT_OPERATOR = "district_operator"
    VIEWER = "viewer"


class AlertState(enum.StrEnum):
    DRAFT = "draft"
    SUBMITTED = "submitted"
    REJECTED = "rejected"
    PUBLISHED = "published"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


class ReceiptOutcome(enum.StrEnum):
    APPLIED = "applied"        # moved its delivery along
    DUPLICATE = "duplicate"    # the delivery was already in that state
    LATE = "late"              # the delivery was already final in another state
    UNKNOWN = "unknown"        # no delivery carries that provider id
    INVALID = "invalid"        # the receipt could not be parsed


def _enum(kind: type[enum.StrEnum], name: str) -> Enum:
    return Enum(kind, name=name, native_enum=False, length=32,
                values_callable=lambda members: [member.value for member in members])


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200), default="")
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(Timestamp(), default=None)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)

    roles: Mapped[list[UserRole]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )

    def has_role(self, role: Role) -> bool:
        return any(granted.role is role for granted in self.roles)

    def __repr__(self) -> str:
        # The hash stays out of every repr and log line.
        return f"User(id={self.id!r}, username={self.username!r})"


class UserRole(Base):
    __tablename__ = "user_roles"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True)
    role: Mapped[Role] = mapped_column(_enum(Role, "role"), primary_key=True)

    user: Mapped[User] = relationship(back_populates="roles")


class ApiToken(Base):
    """A bearer token. Only its SHA-256 is stored; the token is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(100))
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(Timestamp(), default=None)
    revoked_at: Mapped[datetime | None] = mapped_column(Timestamp(), default=None)

    user: Mapped[User] = relationship(lazy="joined")

    def __repr__(self) -> str:
        return f"ApiToken(id={self.id!r}, name={self.name!r}, user_id={self.user_id!r})"


class Alert(Base):
    """One warning through its life: draft, approval, its messages, its end."""

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[AlertState] = mapped_column(_enum(AlertState, "alert_state"), index=True)
    # The composed CAP alert as JSON (publisher.cap.views form); the source of
    # the next message while the alert is a draft or awaits approval.
    draft: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))       # CAP status: Actual, Exercise, ...
    event: Mapped[str] = mapped_column(String(200), default="")
    headline: Mapped[str] = mapped_column(String(500), default="")
    severity: Mapped[str] = mapped_column(String(16), default="")
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    approver_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    rejection_reason: Mapped[str | None] = mapped_column(Text, default=None)
    expires_at: Mapped[datetime | None] = mapped_column(Timestamp(), default=None, index=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow, onupdate=utcnow)

    messages: Mapped[list[Message]] = relationship(
        back_populates="alert", order_by="Message.id", lazy="selectin"
    )
    # Loaded with the alert, so a page of alerts names its agencies in one query.
    intake: Mapped[IntakeRecord | None] = relationship(back_populates="alert", lazy="selectin")

    @property
    def agency(self) -> Agency | None:
        """The agency that submitted the alert through the intake; None for the center's own."""
        return self.intake.agency if self.intake is not None else None

    @property
    def latest_message(self) -> Message | None:
        return self.messages[-1] if self.messages else None


class Message(Base):
    """A signed CAP message exactly as issued. Never changed after insert."""

    __tablename__ = "messages"
    __table_args__ = (UniqueConstraint("sender", "identifier", "sent"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    alert_id: Mapped[int] = mapped_column(ForeignKey("alerts.id"), index=True)
    identifier: Mapped[str] = mapped_column(String(255), index=True)
    sender: Mapped[str] = mapped_column(String(255))
    sent: Mapped[datetime] = mapped_column(Timestamp())
    msg_type: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    references: Mapped[str | None] = mapped_column(Text, default=None)
    expires_at: Mapped[datetime | None] = mapped_column(Timestamp(), default=None)
    xml: Mapped[bytes] = mapped_column(LargeBinary)
    sha256: Mapped[str] = mapped_column(String(64))
    issued_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), default=None)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)

    alert: Mapped[Alert] = relationship(back_populates="messages")


class MessageImmutableError(RuntimeError):
    """An attempt to change or delete a message that was signed and issued."""

    def __init__(self, action: str) -> None:
        super().__init__(f"messages are immutable: refused to {action} a signed CAP message")


# The database refuses too (triggers of the first migration); these say so
# before any SQL is sent, for the unit of work and for bulk statements alike.
@orm_event.listens_for(Message, "before_update")
def _refuse_message_update(_mapper: Mapper[Message], _connection: Any, _target: Message) -> None:
    raise MessageImmutableError("update")


@orm_event.listens_for(Message, "before_delete")
def _refuse_message_delete(_mapper: Mapper[Message], _connection: Any, _target: Message) -> None:
    raise MessageImmutableError("delete")


@orm_event.listens_for(Session, "do_orm_execute")
def _refuse_bulk_message_change(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete) and state.bind_mapper is Message.__mapper__:
        raise MessageImmutableError("update" if state.is_update else "delete")


class OutboxEntry(Base):
    """Written in the publishing transaction; the relay turns it into a fan-out task."""

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(Timestamp(), default=None,
                                                           index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)


class Target(Base):
    """Somebody or something a channel delivers to: a phone, a board, a node, a terminal.

    Channels that keep richer registries (devices, subscribers, nodes) keep
    a target row per address, so that fan-out resolves every channel the same
    way: by district, by location, and by the test flag.
    """

    __tablename__ = "targets"
    __table_args__ = (
        UniqueConstraint("channel", "address"),
        Index("ix_targets_channel_district", "channel", "district_code"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    address: Mapped[str] = mapped_column(String(255))
    district_code: Mapped[str | None] = mapped_column(String(6), default=None)
    lon: Mapped[float | None] = mapped_column(Float, default=None)
    lat: Mapped[float | None] = mapped_column(Float, default=None)
    language: Mapped[str] = mapped_column(String(16), default="zh-CN")
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)

    followed_districts: Mapped[list[TargetDistrict]] = relationship(
        cascade="all, delete-orphan", order_by="TargetDistrict.district_code")


class TargetDistrict(Base):
    """A district a target is reached by besides its own ``district_code``.

    A subscriber's number follows several districts but is one target, so that
    an alert naming two of them reaches it once; devices have one district and
    no rows here. Planning asks of each target whether it follows a district
    named: its primary key, target first, answers that.
    """

    __tablename__ = "target_districts"

    target_id: Mapped[int] = mapped_column(
        ForeignKey("targets.id", ondelete="CASCADE"), primary_key=True)
    district_code: Mapped[str] = mapped_column(String(6), primary_key=True)


class DeviceKind(enum.StrEnum):
    LED = "led"
    SPEAKER = "speaker"
    TERMINAL = "terminal"

    @property
    def channel(self) -> str:
        """The channel that reaches devices of this kind: a terminal listens on MQTT."""
        return "mqtt" if self is DeviceKind.TERMINAL else self.value


class Device(Base):
    """An LED board, a speaker or an MQTT terminal: what only a device has, beside its target row.

    The target row (channel = kind, address = endpoint URL, district,
    location, test flag) is what fan-out reaches. A device proves who it is
    with a token (stored as SHA-256) when it acks or sends a heartbeat, and
    counts as offline once it has been silent longer than its interval.
    """

    __tablename__ = "devices"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    device_id: Mapped[str] = mapped_column(String(64), unique=True)
    kind: Mapped[DeviceKind] = mapped_column(_enum(DeviceKind, "device_kind"))
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"),
                                           unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    capabilities: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    heartbeat_interval: Mapped[int] = mapped_column(Integer, default=60)
    token_sha256: Mapped[str | None] = mapped_column(String(64), default=None)
    last_seen_at: Mapped[datetime | None] = mapped_column(Timestamp(), default=None)
    # A terminal's latest MQTT connection known (its ``session``), and when the
    # broker reported it lost (its Last Will): offline until heard from again.
    connection_session: Mapped[str | None] = mapped_column(String(64), default=None)
    disconnected_at: Mapped[datetime | None] = mapped_column(Timestamp(), default=None)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    # What a terminal protects (school, hospital, water...); its alerts' topics name it.
    sector: Mapped[str | None] = mapped_column(String(16), default=None)

    target: Mapped[Target] = relationship()


class Delivery(Base):
    # No index names the status, so that moving it is an update in place
    # (migration 0013): the unique index finds a message's deliveries.
    __tablename__ = "deliveries"
    __table_args__ = (
        UniqueConstraint("message_id", "channel", "target_id"),
        Index("ix_deliveries_provider", "channel", "provider_id"),
        {"postgresql_with": {"fillfactor": 50}},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    channel: Mapped[str] = mapped_column(String(32))
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id"))
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus, "delivery_status"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    provider_id: Mapped[str | None] = mapped_column(String(128), default=None)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    queued_at: Mapped[datetime | None] = mapped_column(Timestamp(), default=None)
    sent_at: Mapped[datetime | None] = mapped_column(Timestamp(), default=None)
    delivered_at: Mapped[datetime | None] = mapped_column(Timestamp(), default=None)
    failed_at: Mapped[datetime | None] = mapped_column(Timestamp(), default=None)
    final_at: Mapped[datetime | None] = mapped_column(Timestamp(), default=None)
    # Parts submitted again after their response was lost: the receiver may
    # get each of them twice.
    duplicates: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The SMS segments the message took, as the provider reported them (a
    # REST provider segments the text itself) or as the parts sent over SMPP.
    num_segments: Mapped[int | None] = mapped_column(Integer, default=None)


class DeliveryPart(Base):
    """One part of a delivery as the provider knows it: a concatenated SMS has several.

    Each part has its own provider id and its own receipts; the delivery's
    status is the aggregate of its parts' statuses.
    """

    __tablename__ = "delivery_parts"
    __table_args__ = (
        UniqueConstraint("delivery_id", "part_number"),
        Index("ix_delivery_parts_provider", "channel", "provider_id"),
        {"postgresql_with": {"fillfactor": 50}},
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"))
    part_number: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(32))
    provider_id: Mapped[str] = mapped_column(String(128))
    status: Mapped[DeliveryStatus] = mapped_column(_enum(DeliveryStatus, "delivery_status"))
    detail: Mapped[str | None] = mapped_column(Text, default=None)
    final_at: Mapped[datetime | None] = mapped_column(Timestamp(), default=None)


class Receipt(Base):
    """Every receipt as it arrived, parsed or not, and what it did."""

    __tablename__ = "receipts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    channel: Mapped[str] = mapped_column(String(32))
    provider_id: Mapped[str | None] = mapped_column(String(128), default=None, index=True)
    delivery_id: Mapped[int | None] = mapped_column(ForeignKey("deliveries.id"), default=None)
    raw: Mapped[str] = mapped_column(Text)
    status: Mapped[str | None] = mapped_column(String(32), default=None)
    outcome: Mapped[ReceiptOutcome] = mapped_column(_enum(ReceiptOutcome, "receipt_outcome"))
    received_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


class AuditEntry(Base):
    """Append-only: who did what, when, and why."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), default=None,
                                                 index=True)
    message_id: Mapped[int | None] = mapped_column(ForeignKey("messages.id"), default=None)
    reason: Mapped[str | None] = mapped_column(Text, default=None)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class ContactKind(enum.StrEnum):
    MSISDN = "msisdn"                # E.164, e.g. +8613800138000
    WECHAT_OPENID = "wechat_openid"


class Subscriber(Base):
    """A citizen who asked for alerts, over any channel: one row however many numbers.

    The channels deliver to target rows; every change of a subscription
    rewrites the subscriber's targets in the same transaction
    (``publisher.services.subscribers``).
    """

    __tablename__ = "subscribers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    language: Mapped[str] = mapped_column(String(16), default="zh-CN")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    is_test: Mapped[bool] = mapped_column(Boolean, default=False)
    subscribed_at: Mapped[datetime | None] = mapped_column(Timestamp(), default=None)
    unsubscribed_at: Mapped[datetime | None] = mapped_column(Timestamp(), default=None)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow, onupdate=utcnow)

    contact_points: Mapped[list[ContactPoint]] = relationship(
        back_populates="subscriber", cascade="all, delete-orphan", lazy="selectin",
        order_by="ContactPoint.id")
    districts: Mapped[list[SubscriberDistrict]] = relationship(
        cascade="all, delete-orphan", lazy="selectin", order_by="SubscriberDistrict.district_code")

    def __repr__(self) -> str:
        # Phone numbers and openids are personal data: they stay out of reprs and logs.
        return f"Subscriber(id={self.id!r}, active={self.active!r})"


class ContactPoint(Base):
    """One way to reach a subscriber; a number or an openid belongs to one subscriber only."""

    __tablename__ = "contact_points"
    __table_args__ = (UniqueConstraint("kind", "value"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[ContactKind] = mapped_column(_enum(ContactKind, "contact_kind"))
    value: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)

    subscriber: Mapped[Subscriber] = relationship(back_populates="contact_points")

    def __repr__(self) -> str:
        return f"ContactPoint(id={self.id!r}, kind={self.kind.value!r})"


class SubscriberDistrict(Base):
    """A district (GB/T 2260 code) a subscriber follows; 110000 is the whole city."""

    __tablename__ = "subscriber_districts"

    subscriber_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True)
    district_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


class FeedDocument(Base):
    """One prebuilt public feed document (a format and page of the unfiltered feed).

    Rebuilt whenever an alert on the feed changes; the web serves these bytes
    as they are. Every row of one build has the same ``version``;
    ``valid_until`` is when its first entry leaves the feed (an expiry).
    """

    __tablename__ = "feed_documents"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    fingerprint: Mapped[str] = mapped_column(String(64))
    media_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)
    etag: Mapped[str] = mapped_column(String(66))
    changed_at: Mapped[datetime] = mapped_column(Timestamp())
    valid_until: Mapped[datetime | None] = mapped_column(Timestamp(), default=None)


class DistrictNode(Base):
    """A district sub-center: what only a node has, beside its target row.

    The target row (channel ``district``, address = the node's URL, district
    code) is what fan-out reaches; the node follows its own district through
    ``target_districts`` too. A node proves who it is with a credential
    (stored as SHA-256, shown once), and signs its local alerts with the key
    of ``certificate_pem``. The center sends it a heartbeat whenever
    ``heartbeat_due_at`` has come, and it counts as offline once silent
    longer than its heartbeat interval (and a short grace).
    """

    __tablename__ = "district_nodes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(6), unique=True)
    name: Mapped[str] = mapped_column(String(200), default="")
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"),
                                           unique=True)
    # The author of the node's local alerts as the center republishes them.
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    credential_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    certificate_pem: Mapped[str] = mapped_column(Text)
    heartbeat_interval: Mapped[int] = mapped_column(Integer, default=60)
    last_heard_at: Mapped[datetime | None] = mapped_column(Timestamp(), default=None)
    # NULL: no heartbeat sent yet, so one is due at once.
    heartbeat_due_at: Mapped[datetime | None] = mapped_column(Timestamp(), default=None,
                                                               index=True)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)

    target: Mapped[Target] = relationship()

    def __repr__(self) -> str:
        return f"DistrictNode(code={self.code!r})"


class DistrictNodeCount(Base):
    """A node's aggregated local receipt: per local channel, how its devices fared."""

    __tablename__ = "district_node_counts"

    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("deliveries.id", ondelete="CASCADE"), primary_key=True)
    local_channel: Mapped[str] = mapped_column(String(32), primary_key=True)
    delivered: Mapped[int] = mapped_column(Integer, default=0)
    failed: Mapped[int] = mapped_column(Integer, default=0)
    pending: Mapped[int] = mapped_column(Integer, default=0)
    received_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


class DistrictLocalAlert(Base):
    """A district's own alert as its node reported it, and the center's message that carries it."""

    __tablename__ = "district_local_alerts"
    __table_args__ = (UniqueConstraint("sender", "identifier", "sent"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    node_id: Mapped[int] = mapped_column(ForeignKey("district_nodes.id", ondelete="CASCADE"),
                                         index=True)
    sender: Mapped[str] = mapped_column(String(255))
    identifier: Mapped[str] = mapped_column(String(255))
    sent: Mapped[datetime] = mapped_column(Timestamp())
    xml: Mapped[bytes] = mapped_column(LargeBinary)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    received_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


class StaffSession(Base):
    """A person signed in to the staff web pages, until they log out or it expires.

    The browser holds a random token; only its SHA-256 is stored. The CSRF
    token is per session: every form and every cookie-authenticated API
    write must carry it.
    """

    __tablename__ = "staff_sessions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(Timestamp(), default=None)

    user: Mapped[User] = relationship(lazy="joined")

    def __repr__(self) -> str:
        # Neither token appears in a repr or a log line.
        return f"StaffSession(id={self.id!r}, user_id={self.user_id!r})"


class AppDeliveryMode(enum.StrEnum):
    STREAM = "stream"    # the app holds GET /api/stream open
    WEBHOOK = "webhook"  # the platform posts each event to the app's URL


class App(Base):
    """A registered app backend: what only an app has, beside its target row.

    The target row (channel ``app``, address ``app:<name>``, the districts it
    follows, the test flag) is what fan-out reaches. The app proves who it is
    with a credential (stored as SHA-256, shown once). The webhook secret is
    kept as issued, because the platform signs with it; it is shown once and
    never appears in a repr or a log line. Empty filter lists mean "all".
    """

    __tablename__ = "apps"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    target_id: Mapped[int] = mapped_column(ForeignKey("targets.id", ondelete="CASCADE"),
                                           unique=True)
    credential_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    mode: Mapped[AppDeliveryMode] = mapped_column(_enum(AppDeliveryMode, "app_delivery_mode"))
    webhook_url: Mapped[str | None] = mapped_column(String(500), default=None)
    webhook_secret: Mapped[str | None] = mapped_column(String(128), default=None)
    districts: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    severities: Mapped[list[str]] = mapped_column(JSON, default=list)
    statuses: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)

    target: Mapped[Target] = relationship()

    def __repr__(self) -> str:
        return f"App(name={self.name!r}, mode={self.mode.value!r})"


class AppEvent(Base):
    """One message handed to one app: its id is the app's stream cursor.

    Ids come from ``AppEventSequence`` under its row lock, so they are
    committed in id order: a reader that has seen event N has every event
    below N that will ever exist.
    """

    __tablename__ = "app_events"
    __table_args__ = (Index("ix_app_events_app_id_id", "app_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    app_id: Mapped[int] = mapped_column(ForeignKey("apps.id", ondelete="CASCADE"))
    delivery_id: Mapped[int] = mapped_column(ForeignKey("deliveries.id", ondelete="CASCADE"),
                                             unique=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("messages.id"))
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


class AppEventSequence(Base):
    """The last app event id given out: one row, locked by whoever appends events."""

    __tablename__ = "app_event_sequence"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_id: Mapped[int] = mapped_column(BigInteger, default=0)


class Agency(Base):
    """An agency that submits signed CAP through the intake, with what it may publish.

    ``permissions`` is the matrix of ``publisher.services.sender_permissions``
    in its JSON shape; ``certificates`` are the PEM certificates its
    signatures must come from. The credential is stored as SHA-256 (shown
    once); the webhook secret as issued, because the platform signs with it.
    """

    __tablename__ = "agencies"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    sender: Mapped[str] = mapped_column(String(255))
    contact: Mapped[str] = mapped_column(String(500), default="")
    certificates: Mapped[list[str]] = mapped_column(JSON, default=list)
    credential_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    permissions: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    direct_publish: Mapped[bool] = mapped_column(Boolean, default=False)
    webhook_url: Mapped[str | None] = mapped_column(String(500), default=None)
    webhook_secret: Mapped[str | None] = mapped_column(String(128), default=None)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)

    members: Mapped[list[AgencyMember]] = relationship(
        cascade="all, delete-orphan", lazy="selectin")

    def __repr__(self) -> str:
        return f"Agency(code={self.code!r})"


class AgencyMember(Base):
    """A person of the agency: an existing user, linked to it."""

    __tablename__ = "agency_members"

    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"),
                                           primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"),
                                         primary_key=True, unique=True)
    user: Mapped[User] = relationship(lazy="joined")


class IntakeRecord(Base):
    """One message an agency submitted: the original as signed, and what became of it.

    (sender, identifier, sent) is unique: the same message twice is a
    conflict, never a second alert. ``alert_id`` is the center's alert made
    from it; ``notified_state`` the alert state the agency was last told of.
    """

    __tablename__ = "intake_records"
    __table_args__ = (UniqueConstraint("sender", "identifier", "sent",
                                       name="uq_intake_records_message"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A removed agency leaves its submissions, with their original signed messages.
    agency_id: Mapped[int | None] = mapped_column(
        ForeignKey("agencies.id", ondelete="SET NULL"), index=True)
    sender: Mapped[str] = mapped_column(String(255))
    identifier: Mapped[str] = mapped_column(String(255))
    sent: Mapped[datetime] = mapped_column(Timestamp())
    original_xml: Mapped[bytes] = mapped_column(LargeBinary)
    alert_id: Mapped[int | None] = mapped_column(ForeignKey("alerts.id"), default=None,
                                                 unique=True)
    notified_state: Mapped[str | None] = mapped_column(String(32), default=None)
    received_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow, index=True)

    alert: Mapped[Alert | None] = relationship(back_populates="intake")
    agency: Mapped[Agency | None] = relationship(lazy="joined")


class IntakeRefusal(Base):
    """A submission refused at the door: counted in the agency's report with its rule."""

    __tablename__ = "intake_refusals"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    agency_id: Mapped[int] = mapped_column(ForeignKey("agencies.id", ondelete="CASCADE"),
                                           index=True)
    field: Mapped[str] = mapped_column(String(100))
    rule: Mapped[str] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)
    received_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow, index=True)


class AgencyNotification(Base):
    """One state change told to an agency's webhook, retried until a 2xx."""

    __tablename__ = "agency_notifications"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    intake_id: Mapped[int] = mapped_column(ForeignKey("intake_records.id", ondelete="CASCADE"),
                                           index=True)
    event: Mapped[str] = mapped_column(String(32))
    body: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(Text, default=None)
    due_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow, index=True)
    acknowledged_at: Mapped[datetime | None] = mapped_column(Timestamp(), default=None)
    created_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)


class SmsBindState(Base):
    """One SMPP bind of one SMS worker process, as that process last reported it.

    Each worker writes its binds every few seconds and deletes them when it
    stops cleanly; a row not written for a while belongs to a process gone
    without a word, and readers ignore it by ``updated_at``.
    """

    __tablename__ = "sms_bind_states"

    host: Mapped[str] = mapped_column(String(255), primary_key=True)
    pid: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    route: Mapped[str] = mapped_column(String(32), primary_key=True)
    bind_index: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    state: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow, index=True)


class SmsFailoverEpisode(Base):
    """A message's SMS sent over ``to_route`` because ``from_route`` was down: audited once.

    Every SMS worker process may see the same failover of a message; the one
    whose insert takes this row writes the audit entry.
    """

    __tablename__ = "sms_failover_episodes"

    message_id: Mapped[int] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True)
    from_route: Mapped[str] = mapped_column(String(32), primary_key=True)
    to_route: Mapped[str] = mapped_column(String(32), primary_key=True)
    at: Mapped[datetime] = mapped_column(Timestamp(), default=utcnow)
