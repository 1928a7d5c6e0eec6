"""District sub-center nodes: the registry, their aggregated receipts, their local alerts.

Each node is reached through its target row (channel ``district``, the
node's URL as address, its district code, and the same code in
``target_districts``), so that fan-out resolves nodes like every other
target; these tables hold what only a node has.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model's types, so that this revision never changes
# when the models do.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "district_nodes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(6), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("target_id", BIG_ID, sa.ForeignKey("targets.id", ondelete="CASCADE"),
                  nullable=False, unique=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("credential_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("certificate_pem", sa.Text(), nullable=False),
        sa.Column("heartbeat_interval", sa.Integer(), nullable=False),
        sa.Column("last_heard_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "district_node_counts",
        sa.Column("delivery_id", BIG_ID, sa.ForeignKey("deliveries.id", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("local_channel", sa.String(32), primary_key=True),
        sa.Column("delivered", sa.Integer(), nullable=False),
        sa.Column("failed", sa.Integer(), nullable=False),
        sa.Column("pending", sa.Integer(), nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
    )
    op.create_table(
        "district_local_alerts",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("node_id", sa.Integer(),
                  sa.ForeignKey("district_nodes.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("sender", sa.String(255), nullable=False),
        sa.Column("identifier", sa.String(255), nullable=False),
        sa.Column("sent", TIMESTAMP, nullable=False),
        sa.Column("xml", sa.LargeBinary(), nullable=False),
        sa.Column("message_id", sa.Integer(), sa.ForeignKey("messages.id"), nullable=False),
        sa.Column("received_at", TIMESTAMP, nullable=False),
        sa.UniqueConstraint("sender", "identifier", "sent"),
    )


def downgrade() -> None:
    op.drop_table("district_local_alerts")
    op.drop_table("district_node_counts")
    op.drop_table("district_nodes")
