"""The SMS segments of each delivery, and the SMS failover episodes audited once.

``deliveries.num_segments``: how many SMS the message took, as the provider
reported it (a Twilio-compatible API segments the text itself) or as the
parts sent over SMPP. ``sms_failover_episodes``: one row per message and
pair of routes, taken by the first SMS worker process to record that
failover, which alone writes its audit entry.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-11
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("deliveries", sa.Column("num_segments", sa.Integer(), nullable=True))
    op.create_table(
        "sms_failover_episodes",
        sa.Column("message_id", sa.Integer(),
                  sa.ForeignKey("messages.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("from_route", sa.String(32), primary_key=True),
        sa.Column("to_route", sa.String(32), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sms_failover_episodes")
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("num_segments")
