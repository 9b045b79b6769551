"""docs/oidc-integration.md §4, in a real browser: an administrator signs in (password and TOTP),
registers a platform through the form (a refused redirect URI first, shown on the form), copies the
secret shown once, rotates it and disables the platform; every page passes axe."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pyotp
import pytest
from playwright.sync_api import Page, expect

import identity
from parvis.kernel.context import build_context
from parvis.kernel.principal import Role
from parvis.kernel.settings import load_settings
from tests.browser.conftest import assert_accessible
from tests.support.server import ServerProcess

RP = "https://budget.ville.example"


@pytest.fixture(scope="module")
def admin_server(live_server: ServerProcess) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    ctx = build_context(
        load_settings(
            mode="test",
            database_url=live_server.env["PARVIS_DATABASE_URL"],
            data_dir=live_server.env["PARVIS_DATA_DIR"],
            public_url=live_server.url,
        )
    )
    try:
        with ctx.db.write_session() as db:
            admin = identity.staff_service_from(ctx).create(
                db, email="admin@demo.invalid", roles=frozenset({Role.ADMIN}), actor="system:test"
            )
        yield (
            live_server,
            {"email": admin.email, "password": admin.password, "totp": admin.totp_uri},
        )
    finally:
        ctx.db.dispose()


def api_token(server: ServerProcess, secret: str) -> int:
    response = httpx.post(
        server.url + "/token",
        data={"grant_type": "client_credentials", "scope": "api:consent"},
        auth=("budget", secret),
    )
    return response.status_code


def test_admin_registers_rotates_and_disables_a_platform(
    page: Page, admin_server: tuple[ServerProcess, dict[str, str]]
) -> None:
    server, admin = admin_server
    page.goto(server.url + "/staff/plateformes")
    expect(page).to_have_url(server.url + "/staff/login?next=%2Fstaff%2Fplateformes")
    page.get_by_label("Courriel").fill(admin["email"])
    page.get_by_label("Mot de passe").fill(admin["password"])
    page.get_by_label("Code de votre application d’authentification").fill(
        pyotp.parse_uri(admin["totp"]).now()
    )
    page.get_by_role("button", name="Se connecter").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Plateformes (clients OpenID)")
    expect(page.get_by_text("Aucune plateforme n'est encore enregistrée.")).to_be_visible()
    assert_accessible(page)

    page.get_by_role("link", name="Enregistrer une plateforme").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Enregistrer une plateforme")
    assert_accessible(page)
    page.get_by_label("Identifiant client").fill("budget")
    page.get_by_label("Nom affiché aux habitants").fill("Budget participatif")
    page.get_by_label("URI de redirection, une par ligne").fill(f"{RP}/callback#fragment")
    page.get_by_label("api:consent").check()
    page.get_by_label("Signature du jeton d'identité").select_option("ES256")
    page.get_by_label("Réponse userinfo").select_option("RS256")
    page.get_by_label("URI de déconnexion back-channel (facultatif)").fill(f"{RP}/backchannel")
    page.get_by_role("button", name="Enregistrer la plateforme").click()
    expect(page.get_by_role("alert")).to_contain_text("must not contain a fragment")
    # What was typed is still there, to be corrected.
    expect(page.get_by_label("Identifiant client")).to_have_value("budget")
    expect(page.get_by_label("api:consent")).to_be_checked()
    assert_accessible(page)

    page.get_by_label("URI de redirection, une par ligne").fill(f"{RP}/callback")
    page.get_by_role("button", name="Enregistrer la plateforme").click()
    expect(page.get_by_role("status")).to_have_text("Plateforme enregistrée.")
    first = page.get_by_role("textbox", name="Secret client").input_value()
    assert len(first) >= 43
    expect(page.locator("#metadata")).to_contain_text("ES256")
    assert_accessible(page)
    assert api_token(server, first) == 200

    page.get_by_role("button", name="Créer un nouveau secret").click()
    expect(page.get_by_role("status")).to_have_text("Nouveau secret créé.")
    second = page.get_by_role("textbox", name="Secret client").input_value()
    assert second != first
    assert api_token(server, first) == 401
    assert api_token(server, second) == 200

    page.get_by_role("button", name="Désactiver").click()
    expect(page.get_by_role("status")).to_have_text("Plateforme désactivée.")
    expect(page.locator("#state")).to_contain_text("Désactivée")
    expect(page.get_by_role("textbox", name="Secret client")).to_have_count(0)
    assert_accessible(page)
    assert api_token(server, second) == 401

    page.get_by_role("link", name="Toutes les plateformes").click()
    row = page.locator('#clients tr[data-client="budget"]')
    expect(row.locator(".state")).to_have_text("Désactivée")
    assert_accessible(page)
    page.goto(server.url + "/staff/plateformes?lang=en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Platforms (OpenID clients)")
