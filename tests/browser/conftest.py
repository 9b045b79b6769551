"""Browser tests: the system Chromium driven headless by Playwright, against a real server.

environment.md: Chromium comes from Debian (`make test` installs it as root when missing;
``scripts/ensure-system-deps.sh``); Playwright never downloads a browser — it is given
``executable_path``. As root Chromium needs ``--no-sandbox``; the background-networking flags
stop it from calling hosts this closed network refuses.

Fixtures: ``live_server`` (``parvis serve`` on a fresh migrated database, SQLite and
PostgreSQL), ``browser`` (one Chromium per session), ``page`` (a fresh context per test:
no cookies carried over), and :func:`assert_accessible` (axe-core, no serious or critical
violation).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, Playwright, sync_playwright

from tests.conftest import DB_KINDS
from tests.support.postgres import TempPostgres
from tests.support.server import ServerProcess

CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


def chromium_path() -> str:
    path = os.environ.get("PARVIS_CHROMIUM") or shutil.which("chromium")
    if not path:
        pytest.fail(
            "Chromium not found: run `make system-deps` as root or `apt-get install -y chromium`",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser(playwright: Playwright) -> Iterator[Browser]:
    # Playwright gives every launch a fresh temporary profile (it refuses --user-data-dir
    # in launch()), which is the "new empty user-data-dir" environment.md asks for.
    browser = playwright.chromium.launch(
        executable_path=chromium_path(), headless=True, args=CHROMIUM_FLAGS
    )
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module", params=DB_KINDS)
def live_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """``parvis serve`` on a freshly migrated database, shared by the tests of one module
    (starting a server costs seconds; each test still gets a fresh browser context)."""
    kind: str = request.param
    tmp = tmp_path_factory.mktemp("live")
    if kind == "sqlite":
        path = tmp / "parvis.sqlite3"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        url = f"sqlite:///{path}"
    else:
        pg: TempPostgres = request.getfixturevalue("pg_server")
        name = f"live_{tmp.name.replace('-', '_')}"
        pg.psql(f"CREATE DATABASE {name} TEMPLATE {request.getfixturevalue('pg_template')}")
        url = pg.url_for(name)
    server = ServerProcess(
        {"PARVIS_DATABASE_URL": url, "PARVIS_DATA_DIR": str(tmp / "var"), "PARVIS_MODE": "test"}
    )
    server.env["PARVIS_PUBLIC_URL"] = server.url
    with server:
        yield server


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(locale="fr-FR", java_script_enabled=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()


def assert_accessible(page: Page) -> None:
    """axe-core (WCAG 2.1 A/AA rules) finds no serious or critical violation on ``page``."""
    results = Axe().run(
        page,
        options={
            "runOnly": {"type": "tag", "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]},
            "resultTypes": ["violations"],
        },
    )
    bad = [
        f"{v['id']} ({v['impact']}): {v['help']} — {[n['target'] for n in v['nodes']][:3]}"
        for v in results.response["violations"]
        if v.get("impact") in {"serious", "critical"}
    ]
    assert not bad, f"accessibility violations on {page.url}:\n" + "\n".join(bad)
