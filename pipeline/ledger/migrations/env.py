"""Alembic environment for the TankerWatch ledger.

The ledger (pipeline/ledger/engine.py) runs the migrations programmatically, passing its own open
connection in ``config.attributes["connection"]`` so the upgrade happens inside the store's
transaction (and lock). Without one (the `alembic` command line with a ``sqlalchemy.url``), an
engine is built from the URL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

config = context.config


def _run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=None,
        render_as_batch=connection.dialect.name == "sqlite",
        transaction_per_migration=False,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.begin() as conn:
        _run(conn)
    engine.dispose()
