"""Scene catalogue, per-berth observations, skips, runs and detections.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "runs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("config", sa.Text, nullable=False),
        sa.Column("config_hash", sa.String(64), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("code_version", sa.String(64), nullable=False),
        sa.Column("created_utc", TZ, nullable=False),
    )
    op.create_table(
        "scenes",
        sa.Column("id", sa.String(200), primary_key=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("sensor", sa.String(64), nullable=False),
        sa.Column("acquired_utc", TZ, nullable=False),
        sa.Column("port", sa.String(100), nullable=False),
        sa.Column("path", sa.Text, nullable=False),
        sa.Column("crs", sa.Text, nullable=False),
        sa.Column("gsd_m", sa.Float, nullable=False),
        sa.Column("bands", sa.Text, nullable=False),
        sa.Column("valid_fraction", sa.Float, nullable=False),
        sa.Column("cloud_fraction", sa.Float, nullable=False),
        sa.Column("width", sa.Integer, nullable=False),
        sa.Column("height", sa.Integer, nullable=False),
        sa.Column("stac_path", sa.Text, nullable=True),
    )
    op.create_index("ix_scenes_port_acquired", "scenes", ["port", "acquired_utc"])
    op.create_table(
        "observations",
        sa.Column("scene_id", sa.String(200), primary_key=True),
        sa.Column("berth", sa.String(100), primary_key=True),
        sa.Column("port", sa.String(100), nullable=False),
        sa.Column("acquired_utc", TZ, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("clear_fraction", sa.Float, nullable=False),
        sa.Column("sensor", sa.String(64), nullable=False),
        sa.Column("gsd_m", sa.Float, nullable=False),
    )
    op.create_index("ix_observations_port_acquired", "observations", ["port", "acquired_utc"])
    op.create_table(
        "skips",
        sa.Column("key", sa.String(300), primary_key=True),
        sa.Column("port", sa.String(100), nullable=False),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("created_utc", TZ, nullable=False),
    )
    op.create_table(
        "detections",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("scene_id", sa.String(200), nullable=False),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("geometry_wkt", sa.Text, nullable=False),
        sa.Column("lon", sa.Float, nullable=False),
        sa.Column("lat", sa.Float, nullable=False),
        sa.Column("length_m", sa.Float, nullable=False),
        sa.Column("beam_m", sa.Float, nullable=False),
        sa.Column("heading_deg", sa.Float, nullable=False),
        sa.Column("score", sa.Float, nullable=False),
        sa.Column("cls", sa.String(64), nullable=False),
    )
    op.create_index("ix_detections_scene_model", "detections", ["scene_id", "model"])
    op.create_table(
        "scene_processing",
        sa.Column("scene_id", sa.String(200), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("n_detections", sa.Integer, nullable=False),
        sa.Column("done_utc", TZ, nullable=False),
    )


def downgrade() -> None:
    for name in ("scene_processing", "detections", "skips", "observations", "scenes", "runs"):
        op.drop_table(name)
