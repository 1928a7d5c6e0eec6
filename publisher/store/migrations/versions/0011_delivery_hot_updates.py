"""Deliveries and their parts updated in place: no index on their status, room on their pages.

A delivery row is written four times on its way (planned, claimed, handed
over, its receipt) and a part twice. PostgreSQL writes an update without
touching any index (a heap-only tuple) when no indexed column changes and
the row's page has room for the new version. The index on (message, channel,
status) made every move of a status an entry in each of the table's indexes;
the unique (message, channel, target) index serves the same lookups of a
message's deliveries. Pages filled to half leave room for the versions that
one batch's claim or one drain of receipts writes at once, until the old
ones are pruned.

The fill factor applies to pages written from now on; SQLite has neither.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FILLED = ("deliveries", "delivery_parts")
FILL_FACTOR = 50


def upgrade() -> None:
    op.drop_index("ix_deliveries_message_channel_status", "deliveries")
    if op.get_bind().dialect.name == "postgresql":
        for table in _FILLED:
            op.execute(f"ALTER TABLE {table} SET (fillfactor = {FILL_FACTOR})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _FILLED:
            op.execute(f"ALTER TABLE {table} RESET (fillfactor)")
    op.create_index("ix_deliveries_message_channel_status", "deliveries",
                    ["message_id", "channel", "status"])
