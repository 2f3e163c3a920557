"""Detections keep whether they are of a persistent object, and why.

``detections.persistent``: the reason a detection was set apart as a persistent object (a pier
head, dolphin, pontoon or moored barge seen at one place with one size in most clear images over
a window far longer than any call; pipeline.portcalls.persistent), or NULL when it is not (or
was detected before this revision and not examined since). Such detections stay in the ledger
and are left out of visits.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("detections") as batch:
        batch.add_column(sa.Column("persistent", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("detections") as batch:
        batch.drop_column("persistent")
