"""franceconnect.md, "The sandbox Parvis ships", in a real browser: a sandbox citizen signs in
through FranceConnect's sandbox, is found eligible through the census and signs out through
``/session/end``; a citizen outside the territory sees why not and completes the postal-code
path."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, expect

import identity
from consent.plugin import seed_demo as consent_seed_demo
from identity.plugin import seed_demo
from parvis.kernel.context import build_context
from parvis.kernel.settings import load_settings
from tests.browser.conftest import assert_accessible
from tests.support.server import ServerProcess


@pytest.fixture(scope="module")
def demo_server(live_server: ServerProcess) -> Iterator[ServerProcess]:
    """The live server with the demo city, its rule and its census, after consent's register
    (whose controller gets identity's residency-verification purpose), as `parvis demo`."""
    ctx = build_context(
        load_settings(
            mode="test",
            database_url=live_server.env["PARVIS_DATABASE_URL"],
            data_dir=live_server.env["PARVIS_DATA_DIR"],  # the server's keys (audit log)
            public_url=live_server.url,
        )
    )
    try:
        list(consent_seed_demo(ctx))
        list(seed_demo(ctx))
        yield live_server
    finally:
        ctx.db.dispose()


def sign_in(page: Page, server: ServerProcess, login: str) -> None:
    page.goto(server.url + "/connexion")
    assert_accessible(page)
    page.get_by_role("link", name="S’identifier avec FranceConnect").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Choisissez une identité de test")
    page.locator(f"#login-{login}").click()
    expect(page).to_have_url(server.url + "/mon-compte")


def test_census_citizen_signs_in_is_eligible_and_signs_out(
    page: Page, demo_server: ServerProcess
) -> None:
    sign_in(page, demo_server, "test")
    expect(page.locator("#rule-budget-participatif .eligible")).to_contain_text(
        "Vous pouvez participer"
    )
    assert_accessible(page)
    # The account links to the platforms the citizen signed in to (none yet).
    page.get_by_role("link", name="Plateformes connectées").click()
    expect(page).to_have_url(demo_server.url + "/mon-compte/plateformes")
    expect(page.get_by_role("heading", level=1)).to_have_text("Plateformes connectées")
    expect(page.locator("main")).to_contain_text(
        "Vous ne vous êtes connecté à aucune plateforme avec Parvis."
    )
    assert_accessible(page)
    page.go_back()
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page.locator("#logged-out")).to_have_text(
        "Vous êtes déconnecté de Parvis et de FranceConnect."
    )
    page.goto(demo_server.url + "/mon-compte")
    expect(page).to_have_url(demo_server.url + "/connexion")


def test_outsider_sees_why_and_completes_the_postal_code_path(
    page: Page, demo_server: ServerProcess
) -> None:
    sign_in(page, demo_server, "hors_territoire")
    reason = page.locator('#rule-budget-participatif [data-reason="no_residency_evidence"]')
    expect(reason).to_contain_text("demandez ci-dessous un courrier avec un code")
    page.get_by_label("Code commune (INSEE)").first.fill("93048")
    page.get_by_label("Adresse postale").fill("12 rue de Paris\n93100 Montreuil")
    page.get_by_role("button", name="M’envoyer un courrier").click()
    expect(page.get_by_role("status")).to_contain_text("Un courrier avec un code sera envoyé")
    # The town hall exports the letters (mail merge); the citizen receives the code.
    ctx = build_context(
        load_settings(
            mode="test",
            database_url=demo_server.env["PARVIS_DATABASE_URL"],
            data_dir=demo_server.env["PARVIS_DATA_DIR"],
            public_url=demo_server.url,
        )
    )
    try:
        with ctx.db.write_session() as db:
            letters = identity.service_from(ctx).export_letters(db, actor="staff:agent1")
    finally:
        ctx.db.dispose()
    code = next(csv.DictReader(io.StringIO(letters.csv_text)))["code"]
    page.get_by_label("Code imprimé sur le courrier").fill("WRONGCODE2")
    page.get_by_role("button", name="Vérifier le code").click()
    expect(page.get_by_role("alert")).to_contain_text("essais restants : 4")
    page.get_by_label("Code imprimé sur le courrier").fill(code)
    page.get_by_role("button", name="Vérifier le code").click()
    expect(page.get_by_role("status")).to_contain_text("Votre code est correct")
    expect(page.locator("#rule-budget-participatif .eligible")).to_contain_text(
        "code reçu par courrier"
    )
    assert_accessible(page)


def test_cancel_at_the_sandbox_shows_a_clear_page(page: Page, demo_server: ServerProcess) -> None:
    page.goto(demo_server.url + "/connexion")
    page.get_by_role("link", name="S’identifier avec FranceConnect").click()
    page.locator("#cancel").click()
    expect(page.get_by_role("alert")).to_contain_text("Vous avez annulé la connexion")
    assert_accessible(page)


def test_platform_logout_offers_to_return_or_to_sign_out(
    page: Page, demo_server: ServerProcess
) -> None:
    """RP-initiated logout without ``id_token_hint`` (ADR 0013): the confirmation page, in
    French, offers to return to the platform (still signed in to Parvis) or to sign out of
    Parvis and FranceConnect in this browser."""
    from identity.oidc.clients import Registration
    from identity.oidc.service import oidc_from

    back = demo_server.url + "/"
    ctx = build_context(
        load_settings(
            mode="test",
            database_url=demo_server.env["PARVIS_DATABASE_URL"],
            data_dir=demo_server.env["PARVIS_DATA_DIR"],
            public_url=demo_server.url,
        )
    )
    try:
        registration = Registration(
            client_id="plateforme-logout",
            name="Plateforme de test",
            redirect_uris=(demo_server.url + "/cb",),
            post_logout_redirect_uris=(back,),
            allow_loopback_http=True,
        )
        with ctx.db.write_session() as db:
            oidc_from(ctx).clients.create(db, registration)
    finally:
        ctx.db.dispose()
    logout = f"{demo_server.url}/logout?client_id=plateforme-logout&state=s1"
    sign_in(page, demo_server, "test")

    page.goto(f"{logout}&post_logout_redirect_uri={back}")
    assert_accessible(page)
    expect(page.locator("#back-to-platform")).to_have_text("Revenir à la plateforme")
    page.locator("#back-to-platform").click()
    expect(page).to_have_url(back + "?state=s1")
    page.goto(demo_server.url + "/mon-compte")
    expect(page).to_have_url(demo_server.url + "/mon-compte")  # still signed in

    page.goto(f"{logout}&post_logout_redirect_uri={back}")
    page.get_by_role("button", name="Se déconnecter").click()
    expect(page).to_have_url(back + "?state=s1")
    page.goto(demo_server.url + "/mon-compte")
    expect(page).to_have_url(demo_server.url + "/connexion")


def test_the_franceconnect_button_as_its_guidelines_show_it(
    page: Page, live_server: ServerProcess
) -> None:
    """FranceConnect's partner guidelines: "S’identifier avec" over "FranceConnect" in bold
    on the State's blue, the logo on the left, "Qu’est-ce que FranceConnect ?" under it, and
    nothing of the button fetched from another site."""
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(live_server.url + "/connexion")
    button = page.locator("a.fr-connect")
    expect(button).to_have_accessible_name("S’identifier avec FranceConnect")
    expect(button).to_have_attribute("href", "/auth/franceconnect/login")
    expect(button).to_have_css("background-color", "rgb(0, 0, 145)")
    expect(button.locator(".fr-connect__brand")).to_have_css("font-weight", "700")
    login, brand, logo = (
        button.locator(selector).bounding_box()
        for selector in (".fr-connect__login", ".fr-connect__brand", "svg.fr-connect__logo")
    )
    assert login is not None
    assert brand is not None
    assert logo is not None
    assert brand["y"] >= login["y"] + login["height"] - 1, "FranceConnect goes under the login line"
    assert logo["x"] + logo["width"] <= login["x"], "the logo is on the left"
    help_link = page.get_by_role("link", name="Qu’est-ce que FranceConnect ?")
    expect(help_link).to_have_attribute("href", "https://franceconnect.gouv.fr/")
    expect(help_link).to_have_attribute("target", "_blank")
    assert_accessible(page)
    assert all(url.startswith(live_server.url) for url in requested), requested
