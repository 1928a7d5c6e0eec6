"""District nodes: when each node's next heartbeat is due, by its own interval.

The beat task runs every few seconds and sends a heartbeat only to the
nodes whose ``heartbeat_due_at`` has come (NULL: never sent, due now),
moving it one interval on; the index keeps that look-up cheap for hundreds
of nodes.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("district_nodes") as table:
        table.add_column(sa.Column("heartbeat_due_at", TIMESTAMP, nullable=True))
        table.create_index("ix_district_nodes_heartbeat_due_at", ["heartbeat_due_at"])


def downgrade() -> None:
    with op.batch_alter_table("district_nodes") as table:
        table.drop_index("ix_district_nodes_heartbeat_due_at")
        table.drop_column("heartbeat_due_at")
