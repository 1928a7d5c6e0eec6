"""Apps: registered app backends that receive alerts over the stream or a webhook.

Each app is a target (channel ``app``) with a row of its own here, and every
message handed to it is an event whose id is the app's stream cursor. Event
ids come from a one-row sequence table, locked by whoever appends, so that
they are committed in id order.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "apps",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("target_id", _BIG_ID,
                  sa.ForeignKey("targets.id", ondelete="CASCADE"), nullable=False, unique=True),
        sa.Column("credential_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column("webhook_url", sa.String(500), nullable=True),
        sa.Column("webhook_secret", sa.String(128), nullable=True),
        sa.Column("districts", sa.JSON(), nullable=False),
        sa.Column("languages", sa.JSON(), nullable=False),
        sa.Column("severities", sa.JSON(), nullable=False),
        sa.Column("statuses", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "app_events",
        sa.Column("id", _BIG_ID, primary_key=True, autoincrement=False),
        sa.Column("app_id", sa.Integer(), sa.ForeignKey("apps.id", ondelete="CASCADE"),
                  nullable=False),
        sa.Column("delivery_id", _BIG_ID, sa.ForeignKey("deliveries.id", ondelete="CASCADE"),
                  nullable=False, unique=True),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_app_events_app_id_id", "app_events", ["app_id", "id"])
    sequence = op.create_table(
        "app_event_sequence",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("last_id", sa.BigInteger(), nullable=False),
    )
    op.bulk_insert(sequence, [{"id": 1, "last_id": 0}])


def downgrade() -> None:
    op.drop_table("app_event_sequence")
    op.drop_index("ix_app_events_app_id_id", table_name="app_events")
    op.drop_table("app_events")
    op.drop_table("apps")
