"""Devices: LED boards and speakers, their capabilities, credentials and health.

Each device is reached through its target row (channel ``led`` or
``speaker``, the endpoint URL as address, its district and location), so
that fan-out resolves devices like every other target; this table holds
what only a device has.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model's types, so that this revision never changes
# when the models do.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "devices",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("device_id", sa.String(64), nullable=False, unique=True),
        sa.Column("kind", sa.Enum("led", "speaker", name="device_kind", native_enum=False,
                                  length=32), nullable=False),
        sa.Column("target_id", BIG_ID, sa.ForeignKey("targets.id", ondelete="CASCADE"),
                  nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("capabilities", sa.JSON(), nullable=False),
        sa.Column("heartbeat_interval", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(64), nullable=True),
        sa.Column("last_seen_at", TIMESTAMP, nullable=True),
        sa.Column("created_at", TIMESTAMP, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("devices")
