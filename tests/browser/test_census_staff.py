"""The census import page in a real browser (franceconnect.md, "Residency and eligibility"):
an administrator uploads a Windows-1252 file with `;` separators, reads the preview (the
active census stays), confirms and activates it; every state passes the axe check. Headless
Chromium, both databases."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyotp
import pytest
from playwright.sync_api import Page, expect

import identity
from identity.plugin import seed_demo as seed_identity
from parvis.kernel.context import build_context
from parvis.kernel.principal import Role
from parvis.kernel.settings import load_settings
from tests.browser.conftest import assert_accessible
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser

CENSUS = (
    "family_name;given_names;birthdate;birthplace;commune\r\n"
    "Bœuf-Lefèvre;Françoise;02/01/1980;75107;93048\r\n"
    "Garçon;Jérôme;1975-03-04;75107;93048\r\n"
).encode("cp1252")


@pytest.fixture(scope="module")
def admin(live_server: ServerProcess) -> Iterator[tuple[ServerProcess, str, str, str]]:
    ctx = build_context(
        load_settings(
            mode="test",
            database_url=live_server.env["PARVIS_DATABASE_URL"],
            data_dir=live_server.env["PARVIS_DATA_DIR"],
            public_url=live_server.url,
        )
    )
    try:
        list(seed_identity(ctx))
        with ctx.db.write_session() as db:
            created = identity.staff_service_from(ctx).create(
                db, email="admin@demo.invalid", roles=frozenset({Role.ADMIN}), actor="system:test"
            )
        yield live_server, created.email, created.password, created.totp_uri
    finally:
        ctx.db.dispose()


def test_census_preview_then_confirmed_activation(
    page: Page, admin: tuple[ServerProcess, str, str, str]
) -> None:
    server, email, password, totp_uri = admin
    page.goto(server.url + "/staff/recensement")
    expect(page).to_have_url(re.compile(r"/staff/login\?next="))
    page.get_by_label("Courriel").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    totp = pyotp.parse_uri(totp_uri)
    assert isinstance(totp, pyotp.TOTP)
    page.get_by_label("Code de votre application d’authentification").fill(totp.now())
    page.get_by_role("button", name="Se connecter").click()
    expect(page).to_have_url(server.url + "/staff/recensement")
    assert_accessible(page)

    page.locator("#file").set_input_files(
        {"name": "recensement.csv", "mimeType": "text/csv", "buffer": CENSUS}
    )
    page.get_by_role("button", name="Importer", exact=True).click()
    report = page.locator("#report pre")
    expect(report).to_contain_text("accepted: 2")
    expect(report).to_contain_text("rejected: 0")
    # The demo census (seeded) is still the active one; the new import waits.
    rows = page.locator("tbody tr")
    statuses = page.locator("tbody .status")  # newest import first
    expect(statuses).to_have_text(["en attente", "actif"])
    assert_accessible(page)

    page.get_by_label("J’ai lu l’aperçu ; remplacer le recensement actif par cet import").check()
    page.get_by_role("button", name="Activer ce recensement").click()
    expect(page.get_by_text("Import du recensement activé.")).to_be_visible()
    expect(statuses).to_have_text(["actif", "remplacé"])
    assert_accessible(page)

    # A pending import can be activated later, from the list.
    page.locator("#file").set_input_files(
        {"name": "recensement.csv", "mimeType": "text/csv", "buffer": CENSUS}
    )
    page.get_by_role("button", name="Importer", exact=True).click()
    page.goto(server.url + "/staff/recensement")
    expect(statuses).to_have_text(["en attente", "actif", "remplacé"])
    assert_accessible(page)
    pending = rows.filter(has_text="en attente")
    pending.get_by_role("checkbox").check()
    pending.get_by_role("button", name="Activer", exact=True).click()
    expect(page.get_by_text("Import du recensement activé.")).to_be_visible()
    expect(statuses).to_have_text(["actif", "remplacé", "remplacé"])
