"""Terminals: MQTT receivers in schools, hospitals, newsrooms and control rooms.

A terminal is a device of kind ``terminal`` (the kind is stored as text, so
the new kind needs no change of type) that protects one sector; the sector
and its district name the topics its alerts are published on.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("devices") as table:
        table.add_column(sa.Column("sector", sa.String(16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices") as table:
        table.drop_column("sector")
