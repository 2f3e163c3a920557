"""Visits keep the 1-sigma error of their length and beam (the error sizes the estimate used).

Existing rows get 0, which the Visit record reads as "unknown" (the estimate then falls back to
the single-image error at the default GSD, as it did for them before).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("visits") as batch:
        batch.add_column(
            sa.Column("length_sigma_m", sa.Float, nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(
            sa.Column("beam_sigma_m", sa.Float, nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    with op.batch_alter_table("visits") as batch:
        batch.drop_column("beam_sigma_m")
        batch.drop_column("length_sigma_m")
