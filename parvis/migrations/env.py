"""Alembic environment: runs migrations on the URL given by :mod:`parvis.migrate`."""

from __future__ import annotations

from alembic import context

from parvis.kernel.db import make_engine
from parvis.tables import metadata

config = context.config
url = config.attributes.get("database_url") or config.get_main_option("sqlalchemy.url")
assert url, "parvis.migrate passes the database URL"

engine = make_engine(url)
try:
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            # SQLite cannot ALTER most things: batch mode recreates the table instead.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()
