"""Fixtures shared by the whole suite.

Database tests run against SQLite **and** a real PostgreSQL server that this module starts
(style.md, "Tests"). Each test gets its own freshly migrated database, copied from a
template migrated once per session (a file copy on SQLite, ``CREATE DATABASE … TEMPLATE`` on
PostgreSQL), so tests are independent without paying for migrations every time.

At the end the suite prints how many tests ran on each database; the PostgreSQL run is
never skipped: if no server can be started, the PostgreSQL tests fail with the command to
install one.
"""

from __future__ import annotations

import itertools
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from parvis import migrate
from parvis.app import create_app
from parvis.kernel.clock import FixedClock
from parvis.kernel.db import Database
from parvis.kernel.settings import Settings, load_settings
from tests.support.postgres import TempPostgres

DB_KINDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]

_counter = itertools.count()
_per_db: Counter[tuple[str, str]] = Counter()


@pytest.fixture(scope="session")
def pg_server() -> Iterator[TempPostgres]:
    server = TempPostgres().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "template.sqlite3"
    migrate.upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def pg_template(pg_server: TempPostgres) -> str:
    pg_server.psql("CREATE DATABASE parvis_template")
    migrate.upgrade(pg_server.url_for("parvis_template"))
    return "parvis_template"


def fresh_database(request: pytest.FixtureRequest, kind: str, *, migrated: bool) -> str:
    """A new database of ``kind`` for one test (dropped afterwards on PostgreSQL)."""
    n = next(_counter)
    if kind == "sqlite":
        tmp: Path = request.getfixturevalue("tmp_path")
        path = tmp / f"parvis-{n}.sqlite3"
        if migrated:
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}"
    server: TempPostgres = request.getfixturevalue("pg_server")
    name = f"t{n}"
    if migrated:
        template = request.getfixturevalue("pg_template")
        server.psql(f"CREATE DATABASE {name} TEMPLATE {template}")
    else:
        server.psql(f"CREATE DATABASE {name}")
    request.addfinalizer(lambda: server.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
    return server.url_for(name)


@pytest.fixture(params=DB_KINDS)
def db_kind(request: pytest.FixtureRequest) -> str:
    kind: str = request.param
    return kind


@pytest.fixture
def database_url(request: pytest.FixtureRequest, db_kind: str) -> str:
    """URL of a freshly migrated database (SQLite and PostgreSQL)."""
    return fresh_database(request, db_kind, migrated=True)


@pytest.fixture
def empty_database_url(request: pytest.FixtureRequest, db_kind: str) -> str:
    """URL of an empty database, for migration tests (SQLite and PostgreSQL)."""
    return fresh_database(request, db_kind, migrated=False)


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def make_settings(database_url: str, tmp_path: Path) -> Any:
    def factory(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "mode": "test",
            "database_url": database_url,
            "data_dir": tmp_path / "var",
        }
        values.update(overrides)
        return load_settings(**values)

    return factory


@pytest.fixture
def settings(make_settings: Any) -> Settings:
    result: Settings = make_settings()
    return result


@pytest.fixture
def database(settings: Settings) -> Iterator[Database]:
    db = Database(settings.database_url)
    yield db
    db.dispose()


@pytest.fixture
def app(settings: Settings, clock: FixedClock) -> FastAPI:
    return create_app(settings, clock=clock)


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1") as test_client:
        yield test_client


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    callspec = getattr(item, "callspec", None)
    params = callspec.params if callspec is not None else {}
    kind = params.get("db_kind", params.get("live_server"))
    if kind is None:
        return
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        _per_db[(str(kind), report.outcome)] += 1


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _per_db:
        return
    terminalreporter.section("tests per database")
    for kind in ("sqlite", "postgresql"):
        parts = [
            f"{_per_db[(kind, o)]} {o}"
            for o in ("passed", "failed", "skipped")
            if _per_db[(kind, o)]
        ]
        terminalreporter.write_line(f"{kind}: {', '.join(parts) or 'none ran'}")
