"""consent-registry.md, "What the citizen must be able to do" and "What the DPO must be
able to do", in a real browser (system Chromium, both databases):

1. a citizen signs in (FranceConnect sandbox), gives consent, downloads the signed receipt,
   which verifies offline with the published key, and withdraws with the same single click;
2. the citizen opens an access request; the DPO signs in (password + TOTP), sees it in the
   queue with its Art. 12(3) deadline, closes it; the citizen downloads their export.

axe-core finds no serious or critical violation on the privacy page (with consents,
receipts and a request), a notice, the DPO console and a request page.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pyotp
import pytest
from playwright.sync_api import Browser, Page, expect

import identity
from consent.deadlines import days_left, local_date, response_due
from consent.plugin import seed_demo as consent_demo
from consent.receipts import ReceiptKey, verify_receipt
from identity.plugin import seed_demo as identity_demo
from parvis.kernel.context import build_context
from parvis.kernel.principal import Role
from parvis.kernel.settings import load_settings
from tests.browser.conftest import assert_accessible
from tests.support.server import ServerProcess

NEWSLETTER = "#consent-lettre-information"


@pytest.fixture(scope="module")
def consent_server(live_server: ServerProcess) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    """The live server with the demo register (consent), the demo city (identity) and a DPO."""
    ctx = build_context(
        load_settings(
            mode="test",
            database_url=live_server.env["PARVIS_DATABASE_URL"],
            data_dir=live_server.env["PARVIS_DATA_DIR"],  # the server's keys (audit log)
            public_url=live_server.url,
        )
    )
    try:
        list(consent_demo(ctx))
        list(identity_demo(ctx))
        with ctx.db.write_session() as db:
            dpo = identity.staff_service_from(ctx).create(
                db, email="dpo@demo.invalid", roles=frozenset({Role.DPO}), actor="system:test"
            )
        yield live_server, {"email": dpo.email, "password": dpo.password, "totp": dpo.totp_uri}
    finally:
        ctx.db.dispose()


def sign_in_citizen(page: Page, server: ServerProcess) -> None:
    page.goto(server.url + "/connexion")
    page.locator("#franceconnect").click()
    page.locator("#login-test").click()
    expect(page).to_have_url(server.url + "/mon-compte")
    page.goto(server.url + "/mes-donnees")
    expect(page.get_by_role("heading", level=1)).to_have_text("Mes données personnelles")


def test_give_consent_download_receipt_withdraw(
    page: Page, consent_server: tuple[ServerProcess, dict[str, str]], tmp_path: Path
) -> None:
    server, _ = consent_server
    sign_in_citizen(page, server)
    newsletter = page.locator(NEWSLETTER)
    expect(newsletter.locator(".consent-status")).to_have_attribute("data-status", "none")
    newsletter.get_by_role("button", name="Donner mon consentement").click()
    expect(page.get_by_role("status")).to_contain_text("Votre consentement est enregistré")
    expect(newsletter.locator(".consent-status")).to_have_attribute("data-status", "given")
    with page.expect_download() as download_info:
        page.locator("#receipts").get_by_role("link", name="Télécharger").first.click()
    receipt = tmp_path / "recu.json"
    download_info.value.save_as(receipt)
    published = httpx.get(server.url + "/api/consent/v1/keys").json()["receipts"]
    verified = verify_receipt(
        receipt.read_bytes(), trusted=[ReceiptKey.parse(json.dumps(published))]
    )
    assert verified.purpose_id == "lettre-information"
    assert verified.event_type == "given"
    # Withdrawing is the same single button on the same page (Art. 7(3)).
    newsletter.get_by_role("button", name="Retirer mon consentement").click()
    expect(page.get_by_role("status")).to_contain_text("Votre consentement est retiré")
    expect(newsletter.locator(".consent-status")).to_have_attribute("data-status", "withdrawn")
    expect(page.locator("#receipts tbody tr")).to_have_count(2)
    assert_accessible(page)
    page.get_by_role("link", name="Lire l’information sur le traitement des données").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(
        "Information sur le traitement des données"
    )
    assert_accessible(page)


def test_access_request_dpo_completes_citizen_downloads(
    page: Page,
    browser: Browser,
    consent_server: tuple[ServerProcess, dict[str, str]],
    tmp_path: Path,
) -> None:
    server, dpo = consent_server
    sign_in_citizen(page, server)
    page.get_by_label("Que demandez-vous ?").select_option("access")
    page.get_by_label("Précisions (facultatif)").fill("Toutes mes données, s'il vous plaît.")
    page.get_by_role("button", name="Envoyer ma demande").click()
    expect(page.get_by_role("status")).to_contain_text("Votre demande est enregistrée")
    due = response_due(local_date(datetime.now(UTC), "Europe/Paris"))
    row = page.locator("#requests tr.request").first
    expect(row).to_contain_text(due.isoformat())
    request_id = row.get_attribute("data-request")
    assert request_id

    staff = browser.new_context(locale="fr-FR")
    staff.set_default_timeout(15_000)
    try:
        console = staff.new_page()
        console.goto(server.url + "/staff/login")
        console.get_by_label("Courriel").fill(dpo["email"])
        console.get_by_label("Mot de passe").fill(dpo["password"])
        console.get_by_label("Code de votre application d’authentification").fill(
            pyotp.parse_uri(dpo["totp"]).now()
        )
        console.get_by_role("button", name="Se connecter").click()
        console.goto(server.url + "/dpo")
        expect(console.get_by_role("heading", level=1)).to_have_text(
            "Console du délégué à la protection des données"
        )
        queued = console.locator(f'#queue tr[data-request="{request_id}"]')
        expect(queued.locator(".due")).to_have_text(due.isoformat())
        left = days_left(due, local_date(datetime.now(UTC), "Europe/Paris"))
        expect(queued.locator(".days-left")).to_have_text(str(left))
        assert_accessible(console)
        queued.get_by_role("link").click()
        expect(console.locator("#due")).to_contain_text(due.isoformat())
        assert_accessible(console)
        console.get_by_label("Suite donnée").select_option("granted")
        console.get_by_role("button", name="Clore la demande").click()
        expect(console.get_by_role("status")).to_contain_text("La demande est close")
    finally:
        staff.close()

    page.reload()
    with page.expect_download() as download_info:
        page.get_by_role("link", name="Télécharger mes données").click()
    export = tmp_path / "export.json"
    download_info.value.save_as(export)
    data = json.loads(export.read_text(encoding="utf-8"))
    assert data["format"] == "parvis-subject-export/v1"
    assert data["scope"] == "access"
    assert data["consent"]["requests"][0]["right"] == "access"


def test_dpo_edits_a_register_entry_field_by_field(
    browser: Browser, consent_server: tuple[ServerProcess, dict[str, str]]
) -> None:
    """The register edited in a form (GDPR Art. 30(1)): a French error next to its field,
    then a new version saved; axe on both pages."""
    server, _ = consent_server
    ctx = build_context(
        load_settings(
            mode="test",
            database_url=server.env["PARVIS_DATABASE_URL"],
            data_dir=server.env["PARVIS_DATA_DIR"],
            public_url=server.url,
        )
    )
    try:
        with ctx.db.write_session() as db:
            dpo = identity.staff_service_from(ctx).create(
                db, email="dpo2@demo.invalid", roles=frozenset({Role.DPO}), actor="system:test"
            )
    finally:
        ctx.db.dispose()
    staff = browser.new_context(locale="fr-FR")
    staff.set_default_timeout(15_000)
    try:
        console = staff.new_page()
        console.goto(server.url + "/staff/login")
        console.get_by_label("Courriel").fill(dpo.email)
        console.get_by_label("Mot de passe").fill(dpo.password)
        console.get_by_label("Code de votre application d’authentification").fill(
            pyotp.parse_uri(dpo.totp_uri).now()
        )
        console.get_by_role("button", name="Se connecter").click()
        console.goto(server.url + "/dpo")
        console.locator("#register tbody th a").first.click()
        form = console.locator("#fields-form")
        expect(form).to_be_visible()
        assert_accessible(console)
        form.get_by_label("Nom (français)").fill("")
        form.get_by_role("button", name="Enregistrer une nouvelle version").click()
        expect(console.locator("#err-label-fr")).to_have_text("Ce champ est obligatoire.")
        expect(form.get_by_label("Nom (français)")).to_have_attribute("aria-invalid", "true")
        assert_accessible(console)
        form.get_by_label("Nom (français)").fill("Lettre d’information de la ville")
        form.get_by_label("Motif de la modification").fill("intitulé revu")
        form.get_by_role("button", name="Enregistrer une nouvelle version").click()
        expect(console.get_by_role("status")).to_contain_text("enregistrée")
        expect(console.get_by_role("heading", level=1)).to_have_text(
            "Lettre d’information de la ville"
        )
    finally:
        staff.close()


def test_agent_records_a_joint_consent_at_the_desk(
    browser: Browser, consent_server: tuple[ServerProcess, dict[str, str]]
) -> None:
    """The desk's personal-data forms (Loi 78-17 art. 45; a request on someone's behalf):
    reached from the desk, a French error next to its field, then recorded; axe on each."""
    server, _ = consent_server
    ctx = build_context(
        load_settings(
            mode="test",
            database_url=server.env["PARVIS_DATABASE_URL"],
            data_dir=server.env["PARVIS_DATA_DIR"],
            public_url=server.url,
        )
    )
    try:
        with ctx.db.write_session() as db:
            agent = identity.staff_service_from(ctx).create(
                db, email="agent@demo.invalid", roles=frozenset({Role.AGENT}), actor="system:test"
            )
    finally:
        ctx.db.dispose()
    staff = browser.new_context(locale="fr-FR")
    staff.set_default_timeout(15_000)
    try:
        desk = staff.new_page()
        desk.goto(server.url + "/staff/login")
        desk.get_by_label("Courriel").fill(agent.email)
        desk.get_by_label("Mot de passe").fill(agent.password)
        desk.get_by_label("Code de votre application d’authentification").fill(
            pyotp.parse_uri(agent.totp_uri).now()
        )
        desk.get_by_role("button", name="Se connecter").click()
        desk.goto(server.url + "/staff/guichet")
        desk.locator("#desk-data").click()
        expect(desk.get_by_role("heading", level=1)).to_have_text("Données personnelles au guichet")
        assert_accessible(desk)
        form = desk.locator("#joint-form")
        form.get_by_label("Pseudonyme du mineur").fill("mineur-demo")
        form.get_by_label("Ils donnent leur consentement").check()
        form.get_by_role("button", name="Enregistrer le consentement conjoint").click()
        expect(desk.locator("#joint-err-guardian")).to_have_text("Ce champ est obligatoire.")
        assert_accessible(desk)
        form.get_by_label("Pseudonyme du titulaire de l’autorité parentale").fill("parent-demo")
        form.get_by_role("button", name="Enregistrer le consentement conjoint").click()
        expect(desk.get_by_role("status")).to_have_text("Le consentement conjoint est enregistré.")
    finally:
        staff.close()
