"""Fixtures of the consent tests: a context on a migrated database with the register loaded.

Loading the register (controller, purposes, notices, their audit entries) costs more than
copying a database, so it is done once per session and database kind into a template; a
test that asks for ``service`` gets a fresh copy of that template (a file copy on SQLite,
``CREATE DATABASE … TEMPLATE`` on PostgreSQL) together with the template's key directory
(the audit log's signing key lives there, and the copied log names it).
"""

from __future__ import annotations

import itertools
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from consent import service_from
from consent.loader import load_document
from consent.service import ConsentService
from consent.webhooks import close_http
from parvis import migrate
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext, build_context
from parvis.kernel.settings import Settings, load_settings
from tests.conftest import fresh_database
from tests.consent.factories import catalogue
from tests.support.postgres import TempPostgres

DPO = "staff:dpo-1"
_names = itertools.count()


def register_document() -> dict[str, object]:
    doc = catalogue()
    doc["controllers"][0]["notices"] = [
        {"language": "fr", "text": "Notice en français."},
        {"language": "en", "text": "Notice in English."},
    ]
    return doc


def _load_into(url: str, data_dir: Path) -> None:
    ctx = build_context(
        load_settings(mode="test", database_url=url, data_dir=data_dir), clock=FixedClock()
    )
    try:
        with ctx.db.write_session() as session:
            load_document(ctx, session, register_document(), actor=DPO)
    finally:
        ctx.db.dispose()


@pytest.fixture(scope="session")
def consent_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    root = tmp_path_factory.mktemp("consent-template")
    path = root / "template.sqlite3"
    url = f"sqlite:///{path}"
    migrate.upgrade(url)
    _load_into(url, root / "var")
    return str(path), root / "var"


@pytest.fixture(scope="session")
def consent_pg_template(
    pg_server: TempPostgres, tmp_path_factory: pytest.TempPathFactory
) -> tuple[str, Path]:
    root = tmp_path_factory.mktemp("consent-pg-template")
    pg_server.psql("CREATE DATABASE consent_template")
    url = pg_server.url_for("consent_template")
    migrate.upgrade(url)
    _load_into(url, root / "var")
    return "consent_template", root / "var"


@pytest.fixture
def database_url(request: pytest.FixtureRequest, db_kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh migrated database; with the register already loaded for tests of ``service``."""
    if "service" not in request.fixturenames:
        yield fresh_database(request, db_kind, migrated=True)
        return
    if db_kind == "sqlite":
        template, keys = request.getfixturevalue("consent_sqlite_template")
        path = tmp_path / f"consent-{next(_names)}.sqlite3"
        shutil.copyfile(template, path)
        shutil.copytree(keys, tmp_path / "var", dirs_exist_ok=True)
        yield f"sqlite:///{path}"
        return
    template, keys = request.getfixturevalue("consent_pg_template")
    server: TempPostgres = request.getfixturevalue("pg_server")
    name = f"consent_{next(_names)}"
    server.psql(f"CREATE DATABASE {name} TEMPLATE {template}")
    shutil.copytree(keys, tmp_path / "var", dirs_exist_ok=True)
    try:
        yield server.url_for(name)
    finally:
        server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture
def ctx(settings: Settings, clock: FixedClock) -> Iterator[AppContext]:
    context = build_context(settings, clock=clock)
    yield context
    close_http(context)
    context.db.dispose()


@pytest.fixture
def service(ctx: AppContext) -> ConsentService:
    """The consent service on a database holding the register of ``register_document``."""
    return service_from(ctx)
