"""Visits keep the scene ids of their sightings, in order (Visit.sightings).

The estimate's recall check on the analyst's own imagery reads them; without a column a stored
visit lost them, and `to_row` refused the record. Existing rows get an empty list (unknown).

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("visits") as batch:
        batch.add_column(
            sa.Column("sightings", sa.Text, nullable=False, server_default=sa.text("'[]'"))
        )


def downgrade() -> None:
    with op.batch_alter_table("visits") as batch:
        batch.drop_column("sightings")
