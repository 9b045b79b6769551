"""One migration history: upgrade → downgrade → upgrade on both engines, no drift."""

from __future__ import annotations

import asyncio

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect

from parvis import migrate
from parvis.app import create_app
from parvis.kernel.db import make_engine
from parvis.kernel.settings import load_settings
from parvis.migrate import SchemaBehindError
from parvis.tables import metadata


def test_upgrade_downgrade_upgrade(empty_database_url: str) -> None:
    url = empty_database_url
    assert not migrate.schema_status(url).at_head
    migrate.upgrade(url)
    assert migrate.schema_status(url).at_head
    engine = make_engine(url)
    tables_at_head = set(inspect(engine).get_table_names())
    assert set(metadata.tables) <= tables_at_head
    migrate.downgrade(url, "base")
    assert migrate.schema_status(url).current == ()
    leftover = set(inspect(engine).get_table_names()) - {"alembic_version"}
    assert leftover == set()
    migrate.upgrade(url)
    assert set(inspect(engine).get_table_names()) == tables_at_head
    engine.dispose()


def test_migrations_match_the_models(database_url: str) -> None:
    engine = make_engine(database_url)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    engine.dispose()
    assert diff == []


def test_app_refuses_a_database_behind_the_code(empty_database_url: str) -> None:
    app = create_app(load_settings(mode="test", database_url=empty_database_url))

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass

    with pytest.raises(SchemaBehindError, match="run `parvis db upgrade`"):
        asyncio.run(start())
