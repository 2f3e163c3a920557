"""Visits, deliveries and their evidence; runs gain coverage and supersession.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("estimated_utc", TZ, nullable=True))
        batch.add_column(sa.Column("coverage", sa.Text, nullable=True))
        batch.add_column(sa.Column("superseded_by", sa.String(64), nullable=True))
    op.create_table(
        "visits",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("port", sa.String(100), nullable=False),
        sa.Column("berth", sa.String(100), nullable=False),
        sa.Column("vessel_key", sa.String(200), nullable=False),
        sa.Column("first_seen_utc", TZ, nullable=False),
        sa.Column("last_seen_utc", TZ, nullable=False),
        sa.Column("arrived_after_utc", TZ, nullable=True),
        sa.Column("departed_before_utc", TZ, nullable=True),
        sa.Column("n_obs", sa.Integer, nullable=False),
        sa.Column("length_m", sa.Float, nullable=False),
        sa.Column("beam_m", sa.Float, nullable=False),
        sa.Column("evidence", sa.Text, nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
    )
    op.create_table(
        "deliveries",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("vessel", sa.String(200), nullable=False),
        sa.Column("imo", sa.String(32), nullable=True),
        sa.Column("id_probability", sa.Float, nullable=False),
        sa.Column("load_visit", sa.String(64), nullable=False),
        sa.Column("discharge_visit", sa.String(64), nullable=True),
        sa.Column("barrels_p10", sa.Float, nullable=False),
        sa.Column("barrels_p50", sa.Float, nullable=False),
        sa.Column("barrels_p90", sa.Float, nullable=False),
        sa.Column("barrels_33", sa.Float, nullable=False),
        sa.Column("barrels_50", sa.Float, nullable=False),
        sa.Column("barrels_90", sa.Float, nullable=False),
        sa.Column("product", sa.String(64), nullable=False),
        sa.Column("method", sa.Text, nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("superseded_by", sa.String(64), nullable=True),
        sa.Column("candidates", sa.Text, nullable=False),
    )
    op.create_index("ix_deliveries_superseded_by", "deliveries", ["superseded_by"])
    op.create_table(
        "delivery_evidence",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("delivery_id", sa.String(64), primary_key=True),
        sa.Column("kind", sa.String(16), primary_key=True),
        sa.Column("ref", sa.String(200), primary_key=True),
    )


def downgrade() -> None:
    op.drop_table("delivery_evidence")
    op.drop_index("ix_deliveries_superseded_by", table_name="deliveries")
    op.drop_table("deliveries")
    op.drop_table("visits")
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("superseded_by")
        batch.drop_column("coverage")
        batch.drop_column("estimated_utc")
