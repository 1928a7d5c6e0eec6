"""A terminal's MQTT connection: the latest one known, and when its Last Will said it was lost.

``devices.connection_session`` names the terminal's latest connection (the
``session`` of its ``online`` status or of its will); ``devices
.disconnected_at`` is when the broker published that connection's will. A
device is offline from then until it is heard from again.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-12
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("devices", sa.Column("connection_session", sa.String(64), nullable=True))
    op.add_column("devices", sa.Column("disconnected_at", sa.DateTime(timezone=True),
                                       nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("devices") as batch:
        batch.drop_column("disconnected_at")
        batch.drop_column("connection_session")
