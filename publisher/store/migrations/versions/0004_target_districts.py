"""Target districts: a subscriber's number is reached by each of the districts it follows.

A number stays one SMS target however many districts it follows, so that an
alert naming two of them reaches it once; the districts move from
``targets.district_code`` to rows of ``target_districts``. Devices keep
their one ``district_code`` and have no rows there.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model's types, so that this revision never changes
# when the models do.
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

# The SMS targets of subscribers, as ``publisher.services.subscribers`` made
# them before this revision: one per number, its district the one followed.
_FOLLOWED = """
    INSERT INTO target_districts (target_id, district_code)
    SELECT DISTINCT targets.id, subscriber_districts.district_code
    FROM targets
    JOIN contact_points ON contact_points.kind = 'msisdn'
                       AND contact_points.value = targets.address
    JOIN subscriber_districts
      ON subscriber_districts.subscriber_id = contact_points.subscriber_id
    WHERE targets.channel = 'sms'
"""
_CODE_CLEARED = """
    UPDATE targets SET district_code = NULL
    WHERE targets.channel = 'sms' AND targets.address IN (
        SELECT contact_points.value FROM contact_points WHERE contact_points.kind = 'msisdn')
"""
# One district per number again: the first one followed, by code.
_CODE_RESTORED = """
    UPDATE targets SET district_code = (
        SELECT MIN(target_districts.district_code) FROM target_districts
        WHERE target_districts.target_id = targets.id)
    WHERE targets.channel = 'sms' AND targets.address IN (
        SELECT contact_points.value FROM contact_points WHERE contact_points.kind = 'msisdn')
"""


def upgrade() -> None:
    op.create_table(
        "target_districts",
        sa.Column("target_id", BIG_ID,
                  sa.ForeignKey("targets.id", ondelete="CASCADE"), primary_key=True),
        sa.Column("district_code", sa.String(6), primary_key=True),
    )
    op.execute(_FOLLOWED)
    op.execute(_CODE_CLEARED)


def downgrade() -> None:
    op.execute(_CODE_RESTORED)
    op.drop_table("target_districts")
