"""Agencies: who submits signed CAP through the intake, what each may publish, and
what became of each submission (its original signed message kept beside it).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MOMENT = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "agencies",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("code", sa.String(64), nullable=False, unique=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("sender", sa.String(255), nullable=False),
        sa.Column("contact", sa.String(500), nullable=False),
        sa.Column("certificates", sa.JSON(), nullable=False),
        sa.Column("credential_sha256", sa.String(64), nullable=False, unique=True),
        sa.Column("permissions", sa.JSON(), nullable=False),
        sa.Column("direct_publish", sa.Boolean(), nullable=False),
        sa.Column("webhook_url", sa.String(500), nullable=True),
        sa.Column("webhook_secret", sa.String(128), nullable=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", _MOMENT, nullable=False),
    )
    op.create_table(
        "agency_members",
        sa.Column("agency_id", sa.Integer(),
                  sa.ForeignKey("agencies.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("user_id", sa.Integer(), sa.ForeignKey("users.id", ondelete="CASCADE"),
                  primary_key=True, unique=True),
    )
    op.create_table(
        "intake_records",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("agency_id", sa.Integer(),
                  sa.ForeignKey("agencies.id", ondelete="SET NULL"), nullable=True, index=True),
        sa.Column("sender", sa.String(255), nullable=False),
        sa.Column("identifier", sa.String(255), nullable=False),
        sa.Column("sent", _MOMENT, nullable=False),
        sa.Column("original_xml", sa.LargeBinary(), nullable=False),
        sa.Column("alert_id", sa.Integer(), sa.ForeignKey("alerts.id"), nullable=True,
                  unique=True),
        sa.Column("notified_state", sa.String(32), nullable=True),
        sa.Column("received_at", _MOMENT, nullable=False, index=True),
        sa.UniqueConstraint("sender", "identifier", "sent", name="uq_intake_records_message"),
    )
    op.create_table(
        "intake_refusals",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("agency_id", sa.Integer(),
                  sa.ForeignKey("agencies.id", ondelete="CASCADE"), nullable=False, index=True),
        sa.Column("field", sa.String(100), nullable=False),
        sa.Column("rule", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("received_at", _MOMENT, nullable=False, index=True),
    )
    op.create_table(
        "agency_notifications",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("intake_id", sa.Integer(),
                  sa.ForeignKey("intake_records.id", ondelete="CASCADE"), nullable=False,
                  index=True),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("due_at", _MOMENT, nullable=False, index=True),
        sa.Column("acknowledged_at", _MOMENT, nullable=True),
        sa.Column("created_at", _MOMENT, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("agency_notifications")
    op.drop_table("intake_refusals")
    op.drop_table("intake_records")
    op.drop_table("agency_members")
    op.drop_table("agencies")
