"""Delivery parts: the provider id and state of every part of a message, and duplicates.

A concatenated SMS is submitted as several parts, each with its own SMSC
message id and its own delivery report; the delivery's status is the
aggregate of its parts. ``deliveries.duplicates`` counts parts submitted
again after their response was lost, each of which the receiver may get twice.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model's types, so that this revision never changes
# when the models do.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)
DELIVERY_STATUS = sa.Enum("pending", "queued", "sending", "sent", "delivered", "failed",
                          "expired", "skipped", name="delivery_status", native_enum=False,
                          length=32)


def upgrade() -> None:
    with op.batch_alter_table("deliveries") as deliveries:
        deliveries.add_column(sa.Column("duplicates", sa.Integer(), nullable=False,
                                        server_default="0"))
    op.create_table(
        "delivery_parts",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("delivery_id", BIG_ID,
                  sa.ForeignKey("deliveries.id", ondelete="CASCADE"), nullable=False),
        sa.Column("part_number", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("provider_id", sa.String(128), nullable=False),
        sa.Column("status", DELIVERY_STATUS, nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("final_at", TIMESTAMP, nullable=True),
        sa.UniqueConstraint("delivery_id", "part_number"),
    )
    op.create_index("ix_delivery_parts_provider", "delivery_parts", ["channel", "provider_id"])


def downgrade() -> None:
    op.drop_index("ix_delivery_parts_provider", "delivery_parts")
    op.drop_table("delivery_parts")
    with op.batch_alter_table("deliveries") as deliveries:
        deliveries.drop_column("duplicates")
