"""One migration history: upgrade → downgrade → upgrade on both engines, no drift."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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

    # A thread of its own: Playwright's sync API (browser tests, same session) keeps an
    # event loop running in the main thread, where asyncio.run() is refused.
    with (
        ThreadPoolExecutor(1) as pool,
        pytest.raises(SchemaBehindError, match="run `parvis db upgrade`"),
    ):
        pool.submit(asyncio.run, start()).result()


def test_a_branch_that_depends_on_another_counts_as_applied(tmp_path: Path) -> None:
    """Alembic records only the tip of a branch whose ``depends_on`` names another branch's
    head; the schema is still at head (CONTRIBUTING's migration rule relies on it)."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from parvis.migrate import SchemaStatus, _ancestry

    versions = tmp_path / "scripts" / "versions"
    versions.mkdir(parents=True)
    (tmp_path / "scripts" / "env.py").write_text(
        "from alembic import context\n"
        "from sqlalchemy import create_engine\n"
        "engine = create_engine(context.config.get_main_option('sqlalchemy.url'))\n"
        "with engine.connect() as c:\n"
        "    context.configure(connection=c)\n"
        "    with context.begin_transaction():\n"
        "        context.run_migrations()\n"
    )
    template = (
        "revision = {rev!r}\ndown_revision = None\nbranch_labels = ({label!r},)\n"
        "depends_on = {dep!r}\n\ndef upgrade():\n    pass\n\ndef downgrade():\n    pass\n"
    )
    (versions / "k.py").write_text(template.format(rev="k1", label="kern", dep=None))
    (versions / "d.py").write_text(template.format(rev="d1", label="dom", dep="k1"))
    cfg = Config()
    cfg.set_main_option("script_location", str(tmp_path / "scripts"))
    cfg.set_main_option("sqlalchemy.url", f"sqlite:///{tmp_path / 'x.sqlite3'}")
    command.upgrade(cfg, "dom@head")
    script = ScriptDirectory.from_config(cfg)
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_heads()
    engine.dispose()
    assert current == ("d1",)  # alembic does not record k1
    status = SchemaStatus(
        current=current, heads=tuple(script.get_heads()), applied=_ancestry(script, current)
    )
    assert status.at_head
    assert not SchemaStatus(current=(), heads=("k1", "d1"), applied=frozenset()).at_head
