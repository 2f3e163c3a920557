"""Runs keep the estimate's notes.

``runs.notes``: the estimate's notes (dwell fit, detector recall used, priors, data gaps) as a
JSON list, saved with the run's figures so the report shows how they were made. Runs estimated
before this revision have none (NULL: not kept, as opposed to an empty list).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("notes", sa.Text, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("notes")
