"""AIS draught reports: per MMSI the draught it reported (metres) at its first report and at
each change, keyed by (mmsi, time) so a file ingested twice adds nothing. The estimate reads the
draught a tanker reported after leaving a load berth as evidence of how full it loaded.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ais_draughts",
        sa.Column("mmsi", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("time_utc", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("draught_m", sa.Float, nullable=False),
        sa.Column("source_file", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ais_draughts")
