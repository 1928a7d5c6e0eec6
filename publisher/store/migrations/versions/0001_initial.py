"""Initial schema: users and tokens, alerts and their messages, outbox,
targets, deliveries, receipts and the audit log; messages made immutable.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model's types, so that this revision never changes
# when the models do.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=32)


def _create_people() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("username", sa.String(64), nullable=False, unique=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("password_hash", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("locked_until", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "user_roles",
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("role", _enum("role", "author", "approver", "admin", "district_operator",
                                "viewer"), primary_key=True),
    )
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("last_used_at", TIMESTAMP, nullable=True),
        sa.Column("revoked_at", TIMESTAMP, nullable=True),
    )


def _create_alerts() -> None:
    op.create_table(
        "alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("state", _enum("alert_state", "draft", "submitted", "rejected", "published",
                                 "cancelled", "expired"), nullable=False),
        sa.Column("draft", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("event", sa.String(200), nullable=False),
        sa.Column("headline", sa.String(500), nullable=False),
        sa.Column("severity", sa.String(16), nullable=False),
        sa.Column("author_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("approver_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_alerts_state", "alerts", ["state"])
    op.create_index("ix_alerts_expires_at", "alerts", ["expires_at"])
    op.create_table(
        "messages",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=False),
        sa.Column("identifier", sa.String(255), nullable=False),
        sa.Column("sender", sa.String(255), nullable=False),
        sa.Column("sent", TIMESTAMP, nullable=False),
        sa.Column("msg_type", sa.String(16), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("references", sa.Text(), nullable=True),
        sa.Column("expires_at", TIMESTAMP, nullable=True),
        sa.Column("xml", sa.LargeBinary(), nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("issued_by_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("sender", "identifier", "sent"),
    )
    op.create_index("ix_messages_alert_id", "messages", ["alert_id"])
    op.create_index("ix_messages_identifier", "messages", ["identifier"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("messages.id"), nullable=False,
                  unique=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("dispatched_at", TIMESTAMP, nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
    )
    op.create_index("ix_outbox_dispatched_at", "outbox", ["dispatched_at"])
    op.create_table(
        "audit_log",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("at", TIMESTAMP, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=True),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("messages.id"), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
    )
    op.create_index("ix_audit_log_alert_id", "audit_log", ["alert_id"])
    op.create_index("ix_audit_log_at", "audit_log", ["at"])


def _create_deliveries() -> None:
    op.create_table(
        "targets",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("address", sa.String(255), nullable=False),
        sa.Column("district_code", sa.String(6), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("channel", "address"),
    )
    op.create_index("ix_targets_channel_district", "targets", ["channel", "district_code"])
    op.create_table(
        "deliveries",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("target_id", BIG_ID, sa.ForeignKey("targets.id"), nullable=False),
        sa.Column("status", _enum("delivery_status", "pending", "queued", "sending", "sent",
                                  "delivered", "failed", "expired", "skipped"), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("provider_id", sa.String(128), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("queued_at", TIMESTAMP, nullable=True),
        sa.Column("sent_at", TIMESTAMP, nullable=True),
        sa.Column("delivered_at", TIMESTAMP, nullable=True),
        sa.Column("failed_at", TIMESTAMP, nullable=True),
        sa.Column("final_at", TIMESTAMP, nullable=True),
        sa.UniqueConstraint("message_id", "channel", "target_id"),
    )
    op.create_index("ix_deliveries_message_channel_status", "deliveries",
                    ["message_id", "channel", "status"])
    op.create_index("ix_deliveries_provider", "deliveries", ["channel", "provider_id"])
    op.create_table(
        "receipts",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("provider_id", sa.String(128), nullable=True),
        sa.Column("delivery_id", BIG_ID, sa.ForeignKey("deliveries.id"), nullable=True),
        sa.Column("raw", sa.Text(), nullable=False),
        sa.Column("status", sa.String(32), nullable=True),
        sa.Column("outcome", _enum("receipt_outcome", "applied", "duplicate", "late", "unknown",
                                   "invalid"), nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
    )
    op.create_index("ix_receipts_provider_id", "receipts", ["provider_id"])


_REFUSAL = "messages are immutable: a signed CAP message is never changed or removed"


def _make_messages_immutable() -> None:
    # In the database itself, so that no code path (raw SQL, another client,
    # a bulk statement) can alter what was signed and issued.
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"""
            CREATE FUNCTION messages_refuse_change() RETURNS trigger
            LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{_REFUSAL}' USING ERRCODE = 'integrity_constraint_violation';
            END $$""")
        op.execute("""
            CREATE TRIGGER messages_immutable BEFORE UPDATE OR DELETE ON messages
            FOR EACH ROW EXECUTE FUNCTION messages_refuse_change()""")
        return
    for event in ("UPDATE", "DELETE"):
        op.execute(f"""
            CREATE TRIGGER messages_immutable_{event.lower()} BEFORE {event} ON messages
            BEGIN SELECT RAISE(ABORT, '{_REFUSAL}'); END""")


def upgrade() -> None:
    _create_people()
    _create_alerts()
    _create_deliveries()
    _make_messages_immutable()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER messages_immutable ON messages")
        op.execute("DROP FUNCTION messages_refuse_change()")
    for table in ("receipts", "deliveries", "targets", "audit_log", "outbox", "messages",
                  "alerts", "api_tokens", "user_roles", "users"):
        op.drop_table(table)
