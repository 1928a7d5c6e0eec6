"""Subscribers: their contact points (numbers, openids) and the districts they follow.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model's types, so that this revision never changes
# when the models do.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "subscribers",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("language", sa.String(16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("is_test", sa.Boolean(), nullable=False),
        sa.Column("subscribed_at", TIMESTAMP, nullable=True),
        sa.Column("unsubscribed_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.Column("updated_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "contact_points",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("subscriber_id", BIG_ID,
                  sa.ForeignKey("subscribers.id", ondelete="CASCADE"), nullable=False),
        sa.Column("kind", sa.Enum("msisdn", "wechat_openid", name="contact_kind",
                                  native_enum=False, length=32), nullable=False),
        sa.Column("value", sa.String(128), nullable=False),
        sa.Column("created_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("kind", "value"),
    )
    op.create_index("ix_contact_points_subscriber_id", "contact_points", ["subscriber_id"])
    op.create_table(
        "subscriber_districts",
        sa.Column("subscriber_id", BIG_ID,
                  sa.ForeignKey("subscribers.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("district_code", sa.String(6), primary_key=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
    )


def downgrade() -> None:
    for table in ("subscriber_districts", "contact_points", "subscribers"):
        op.drop_table(table)
