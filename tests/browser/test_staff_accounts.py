"""Staff accounts in a real browser (docs/operations.md, "Staff accounts"): an administrator
creates an account and reads its one-time password; its holder signs in with it, must choose
a password first, then enrols the second factor from a QR code drawn by segno, confirms a
code, sees the recovery codes once and lands on the desk. Every page passes the axe check.
Headless Chromium, both databases."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

import identity
from parvis.kernel.context import build_context
from parvis.kernel.principal import Role
from parvis.kernel.settings import load_settings
from tests.browser.conftest import assert_accessible
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser

ADMIN_PASSWORD = "the administrator's password"
HOLDER = "agent.accueil@demo.invalid"


@pytest.fixture(scope="module")
def admin(live_server: ServerProcess) -> Iterator[tuple[ServerProcess, str, str]]:
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
            created = identity.staff_service_from(ctx).create(
                db,
                email="admin@demo.invalid",
                roles=frozenset({Role.ADMIN}),
                actor="system:test",
                password=ADMIN_PASSWORD,
            )
        yield live_server, created.email, created.totp_uri
    finally:
        ctx.db.dispose()


def sign_in(page: Page, email: str, password: str, code: str = "") -> None:
    page.get_by_label("Courriel").fill(email)
    page.get_by_label("Mot de passe").fill(password)
    page.get_by_label("Code de votre application d’authentification").fill(code)
    page.get_by_role("button", name="Se connecter").click()


def test_a_new_agent_enrols_from_the_qr_code(
    page: Page, browser: Browser, admin: tuple[ServerProcess, str, str]
) -> None:
    server, email, totp_uri = admin
    page.goto(server.url + "/staff/login")
    totp = pyotp.parse_uri(totp_uri)
    assert isinstance(totp, pyotp.TOTP)
    sign_in(page, email, ADMIN_PASSWORD, totp.now())
    expect(page).to_have_url(server.url + "/staff/comptes")
    expect(page.get_by_role("heading", level=1)).to_have_text("Comptes des agents")
    assert_accessible(page)
    page.locator("#email").fill(HOLDER)
    page.get_by_label("Agent d’accueil").check()
    page.get_by_role("button", name="Créer", exact=True).click()
    one_time = page.locator("#one-time code").inner_text()
    assert len(one_time) >= 12
    expect(page.locator(f"text={HOLDER}").first).to_be_visible()
    assert_accessible(page)

    holder = browser.new_context(locale="fr-FR").new_page()
    try:
        holder.goto(server.url + "/staff/login")
        sign_in(holder, HOLDER, one_time)
        expect(holder).to_have_url(server.url + "/staff/mot-de-passe")
        assert_accessible(holder)
        holder.get_by_label("Nouveau mot de passe", exact=True).fill("a password of my own")
        holder.get_by_label("Nouveau mot de passe, une seconde fois").fill("a password of my own")
        holder.get_by_role("button", name="Enregistrer le mot de passe").click()
        expect(holder).to_have_url(server.url + "/staff/double-facteur")

        qr = holder.locator("#qr svg")
        expect(qr).to_be_visible()
        box = qr.bounding_box()
        assert box is not None
        assert box["width"] >= 100
        assert box["height"] >= 100
        assert qr.locator("path").count() >= 1, "the modules are drawn"
        assert_accessible(holder)
        secret = holder.locator("#totp-secret").inner_text().replace(" ", "")
        holder.get_by_label("Code de votre application d’authentification").fill(
            pyotp.TOTP(secret).now()
        )
        holder.get_by_role("button", name="Confirmer").click()
        expect(holder.get_by_role("heading", level=1)).to_have_text("Codes de secours")
        codes = holder.locator("#recovery-codes code").all_inner_texts()
        assert len(codes) == 10
        assert all(re.fullmatch(r"[a-z0-9]{5}-[a-z0-9]{5}", c) for c in codes)
        assert_accessible(holder)
        holder.get_by_role("link", name="Je les ai conservés : continuer").click()
        expect(holder).to_have_url(server.url + "/staff/guichet")
    finally:
        holder.context.close()
