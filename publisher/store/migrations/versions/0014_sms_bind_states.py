"""The SMPP binds' states as each SMS worker process reports them, for ``/health``.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "sms_bind_states",
        sa.Column("host", sa.String(255), primary_key=True),
        sa.Column("pid", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("route", sa.String(32), primary_key=True),
        sa.Column("bind_index", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, index=True),
    )


def downgrade() -> None:
    op.drop_table("sms_bind_states")
