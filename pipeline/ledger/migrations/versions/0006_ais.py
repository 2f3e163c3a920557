"""AIS: transponder positions (indexed by time and by latitude/longitude) and static data per MMSI.

Positions are keyed by (mmsi, time), so ingesting a file twice, or two receivers' copies of one
report, adds a row once. Static data keeps the latest report per MMSI.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "ais_positions",
        sa.Column("mmsi", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("time_utc", TZ, primary_key=True),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("sog", sa.Float, nullable=True),
        sa.Column("cog", sa.Float, nullable=True),
        sa.Column("heading", sa.Float, nullable=True),
        sa.Column("source_file", sa.Text, nullable=False),
    )
    op.create_index("ix_ais_positions_time", "ais_positions", ["time_utc"])
    op.create_index("ix_ais_positions_lat_lon", "ais_positions", ["lat", "lon"])
    op.create_table(
        "ais_static",
        sa.Column("mmsi", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("time_utc", TZ, nullable=False),
        sa.Column("name", sa.String(120), nullable=True),
        sa.Column("imo", sa.String(16), nullable=True),
        sa.Column("callsign", sa.String(32), nullable=True),
        sa.Column("ship_type", sa.String(64), nullable=True),
        sa.Column("length_m", sa.Float, nullable=True),
        sa.Column("width_m", sa.Float, nullable=True),
        sa.Column("source_file", sa.Text, nullable=False),
    )
    op.create_index("ix_ais_static_imo", "ais_static", ["imo"])
    with op.batch_alter_table("deliveries") as batch:
        batch.add_column(sa.Column("dark", sa.Boolean, nullable=True))
        batch.add_column(sa.Column("ais_mmsi", sa.Integer, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("deliveries") as batch:
        batch.drop_column("ais_mmsi")
        batch.drop_column("dark")
    op.drop_index("ix_ais_static_imo", "ais_static")
    op.drop_table("ais_static")
    op.drop_index("ix_ais_positions_lat_lon", "ais_positions")
    op.drop_index("ix_ais_positions_time", "ais_positions")
    op.drop_table("ais_positions")
