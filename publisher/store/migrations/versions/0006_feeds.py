"""Feed documents: the public Atom and RSS feeds, prebuilt whenever an alert changes.

One row per served document (format and page of the unfiltered feed); every
row of one build carries the same version, fingerprint and validity, so that
a web process learns from one row whether what it holds is current.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model's types, so that this revision never changes
# when the models do.
TIMESTAMP = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "feed_documents",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("media_type", sa.String(64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("etag", sa.String(66), nullable=False),
        sa.Column("changed_at", TIMESTAMP, nullable=False),
        sa.Column("valid_until", TIMESTAMP, nullable=True),
    )


def downgrade() -> None:
    op.drop_table("feed_documents")
