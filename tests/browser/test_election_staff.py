"""Staff election pages in a real browser (ADR 0006, "Definitions, platforms, CLI";
ballot/staff_pages.py): an election officer builds a participatory budget with the election form
(a question of each type, options and costs added with its buttons, a mistake shown next to its
field);
an election officer signs in with password and TOTP, creates a draft from
the text area (after a refused definition), schedules and opens it through the confirmation pages;
an agent marks a paper voter; the officer closes early (forced), enters the paper totals, tallies
and publishes; the results page shows the paper ballots separately. Every staff page passes the
axe check (which needs JavaScript in the page; that the pages carry no script is checked in
tests/ballot/test_staff_pages.py), and the election page fits a phone screen. Headless
Chromium, both databases.
"""

from __future__ import annotations

import re
import secrets
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import yaml
from playwright.sync_api import Browser, BrowserContext, Page, expect

import identity
from ballot import demo
from identity.plugin import seed_demo as seed_identity
from parvis.kernel.context import build_context
from parvis.kernel.principal import Role
from parvis.kernel.settings import load_settings
from tests.browser.conftest import assert_accessible
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser

ELECTION_ID = uuid.UUID("8e4d6f5b-0a7c-4b9d-8e1f-3a4b5c6d7e8f")


@dataclass(frozen=True)
class Account:
    email: str
    password: str
    totp: str


@dataclass(frozen=True)
class Setup:
    server: ServerProcess
    officer: Account
    agent: Account
    #: Another officer: a TOTP code is accepted once, so two tests cannot share an account.
    form_officer: Account
    paper_voter: str


@pytest.fixture(scope="module")
def staff_server(live_server: ServerProcess) -> Iterator[Setup]:
    """The live server with the demo city and rule (identity), an officer, an agent and a
    citizen account for the paper vote."""
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
        staff = identity.staff_service_from(ctx)
        with ctx.db.write_session() as db:
            officer = staff.create(
                db,
                email="officier@demo.invalid",
                roles=frozenset({Role.ELECTION_OFFICER}),
                actor="system:test",
            )
            agent = staff.create(
                db, email="agent@demo.invalid", roles=frozenset({Role.AGENT}), actor="system:test"
            )
            form_officer = staff.create(
                db,
                email="officier-formulaire@demo.invalid",
                roles=frozenset({Role.ELECTION_OFFICER}),
                actor="system:test",
            )
            citizen = identity.service_from(ctx).create_citizen(
                db, pivot_hash_value=secrets.token_hex(32), acr="eidas1", birth_year=1970
            )
        yield Setup(
            server=live_server,
            officer=Account(officer.email, officer.password, officer.totp_uri),
            agent=Account(agent.email, agent.password, agent.totp_uri),
            form_officer=Account(form_officer.email, form_officer.password, form_officer.totp_uri),
            paper_voter=citizen.id,
        )
    finally:
        ctx.db.dispose()


def staff_context(browser: Browser, *, phone: bool = False) -> BrowserContext:
    if phone:
        context = browser.new_context(
            locale="fr-FR",
            viewport={"width": 360, "height": 740},
            is_mobile=True,
            has_touch=True,
        )
    else:
        context = browser.new_context(locale="fr-FR")
    context.set_default_timeout(30_000)
    return context


def sign_in(page: Page, server: ServerProcess, account: Account, then: str) -> None:
    """The real staff sign-in (password and TOTP), coming back to ``then``."""
    page.goto(server.url + then)
    expect(page).to_have_url(re.compile(r"/staff/login\?next="))
    page.get_by_label("Courriel").fill(account.email)
    page.get_by_label("Mot de passe").fill(account.password)
    totp = pyotp.parse_uri(account.totp)
    assert isinstance(totp, pyotp.TOTP)
    page.get_by_label("Code de votre application d’authentification").fill(totp.now())
    page.get_by_role("button", name="Se connecter").click()
    expect(page).to_have_url(server.url + then)


def definition() -> str:
    opens = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    return yaml.safe_dump(
        {
            "mode": "public",
            "id": str(ELECTION_ID),
            "title": {"fr": "Nom de la nouvelle place", "en": "Name of the new square"},
            "opens_at": opens.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "closes_at": (opens + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "eligibility": {"rule": demo.DEMO_RULE},
            "revote": True,
            "min_anonymity_set": 1,
            "paper": True,
            "questions": [
                {
                    "id": "place",
                    "type": "single",
                    "title": {"fr": "Quel nom pour la place ?"},
                    "options": [
                        {"id": "olympe", "title": {"fr": "Place Olympe-de-Gouges"}},
                        {"id": "tilleuls", "title": {"fr": "Place des Tilleuls"}},
                    ],
                }
            ],
        },
        allow_unicode=True,
        sort_keys=False,
    )


def take_step(page: Page, slug: str, button: str, *, force: bool = False) -> None:
    page.locator(f"#step-{slug}").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Confirmer cette étape")
    assert_accessible(page)
    if force:
        page.get_by_label(re.compile("^Clore maintenant")).check()
    page.get_by_role("button", name=f"Confirmer : {button}").click()


def test_officer_and_agent_run_an_election_with_paper_votes(
    browser: Browser, staff_server: Setup
) -> None:
    server = staff_server.server
    officer_context = staff_context(browser)
    agent_context = staff_context(browser, phone=True)
    try:
        officer = officer_context.new_page()
        sign_in(officer, server, staff_server.officer, "/staff/scrutins")
        expect(officer.get_by_role("heading", level=1)).to_have_text("Scrutins")
        assert_accessible(officer)

        # A refused definition: the reason on the form, the text kept, nothing created.
        officer.get_by_role("link", name="Nouveau scrutin").click()
        assert_accessible(officer)
        text = definition()
        officer.get_by_label("Ou la définition sous forme de texte").fill(
            text.replace("min_anonymity_set: 1", "min_anonymity_set: 0")
        )
        officer.get_by_role("button", name="Créer le brouillon depuis cette définition").click()
        alert = officer.get_by_role("alert")
        expect(alert).to_contain_text("La définition n’est pas valide")
        expect(alert).to_contain_text("min_anonymity_set : un nombre entier de 1")
        expect(officer.get_by_label("Ou la définition sous forme de texte")).to_have_attribute(
            "aria-invalid", "true"
        )
        assert_accessible(officer)

        officer.get_by_label("Ou la définition sous forme de texte").fill(text)
        officer.get_by_role("button", name="Créer le brouillon depuis cette définition").click()
        expect(officer).to_have_url(re.compile(rf"/staff/scrutins/{ELECTION_ID}\?fait=cree$"))
        expect(officer.get_by_role("status")).to_have_text(
            "Le brouillon du scrutin est enregistré."
        )
        expect(officer.locator("#status")).to_have_text("brouillon")
        assert_accessible(officer)

        take_step(officer, "programmer", "Programmer")
        expect(officer.locator("#status")).to_have_text("programmé")
        take_step(officer, "ouvrir", "Ouvrir")
        expect(officer.get_by_role("status")).to_contain_text("Le scrutin est ouvert")
        expect(officer.locator("#status")).to_have_text("ouvert")
        expect(officer.locator("#verify-command")).to_have_value(
            f"parvis verify-board {server.url}/elections/{ELECTION_ID}/board"
        )
        assert_accessible(officer)

        # The agent, on a phone, records a paper vote.
        agent = agent_context.new_page()
        sign_in(agent, server, staff_server.agent, f"/staff/scrutins/{ELECTION_ID}")
        expect(officer.locator("#step-clore")).to_be_visible()
        expect(agent.locator("[id^=step-]")).to_have_count(0)
        agent.get_by_label("Identifiant de la personne (pseudonyme)").fill(staff_server.paper_voter)
        agent.get_by_role("button", name="Enregistrer le vote papier").click()
        expect(agent.get_by_role("status")).to_contain_text("Le vote papier est enregistré")
        expect(agent.locator("#paper-marked")).to_have_text("1")
        assert agent.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert_accessible(agent)
        agent.get_by_label("Identifiant de la personne (pseudonyme)").fill(staff_server.paper_voter)
        agent.get_by_role("button", name="Enregistrer le vote papier").click()
        expect(agent.locator("#paper-error")).to_contain_text("Un vote papier est déjà enregistré")
        assert_accessible(agent)

        # The officer closes before the closing time (forced), enters the totals, tallies.
        officer.reload()
        take_step(officer, "clore", "Clore", force=True)
        expect(officer.locator("#status")).to_have_text("clos")
        officer.get_by_label("Votants sur papier").fill("1")
        officer.get_by_label("Place des Tilleuls").fill("1")
        officer.get_by_role("button", name="Enregistrer les totaux papier").click()
        expect(officer.get_by_role("status")).to_have_text("Les totaux papier sont enregistrés.")
        assert_accessible(officer)
        take_step(officer, "depouiller", "Dépouiller")
        take_step(officer, "publier", "Publier")
        expect(officer.locator("#status")).to_have_text("publié")
        officer.get_by_role("link", name="Résultats").click()
        expect(
            officer.get_by_role("heading", level=2, name="Bulletins papier (comptés à part)")
        ).to_be_visible()
        expect(officer.locator("dl.figures")).to_contain_text("Votants sur papier")
    finally:
        officer_context.close()
        agent_context.close()


def test_officer_builds_a_budget_election_with_the_form(
    browser: Browser, staff_server: Setup
) -> None:
    """The form as a town hall uses it: every field typed or chosen in the browser, the
    buttons posting the form back, a French error next to the field, axe on each state."""
    server = staff_server.server
    context = staff_context(browser)
    try:
        officer = context.new_page()
        sign_in(officer, server, staff_server.form_officer, "/staff/scrutins/nouveau")
        expect(officer.get_by_role("heading", level=1)).to_have_text("Nouveau scrutin")
        assert_accessible(officer)

        officer.get_by_label("Titre en français").fill("Budget participatif des écoles")
        officer.get_by_label("Ouverture le").fill("2026-09-01T08:00")
        officer.get_by_label("Clôture le").fill("2026-09-30T20:00")
        officer.get_by_label("Règle d’éligibilité").select_option(demo.DEMO_RULE)
        officer.get_by_label("Bulletins en clair").check()
        officer.get_by_label("Question en français").fill("Quels projets pour les écoles ?")
        officer.get_by_label("Type").select_option("budget")
        officer.get_by_role("button", name="Afficher les champs de ce type").click()
        officer.get_by_label("Enveloppe (euros)").fill("10 000")
        option = "#questions-0-options-{}-{}"
        officer.locator(option.format(0, "title-fr")).fill("Potager")
        officer.locator(option.format(0, "cost")).fill("4 000")
        officer.locator(option.format(1, "title-fr")).fill("Préau")
        officer.locator(option.format(1, "cost")).fill("7 000")
        officer.get_by_role("button", name="Ajouter une option à la question 1").click()
        expect(officer.locator(option.format(2, "title-fr"))).to_be_focused()
        officer.locator(option.format(2, "title-fr")).fill("Livres")
        assert_accessible(officer)

        # One question of each other type, their own fields shown by one round trip.
        others = {1: "approval", 2: "majority_judgment", 3: "ranked", 4: "single"}
        for _ in others:
            officer.get_by_role("button", name="Ajouter une question").click()
        for q, kind in others.items():
            officer.locator(f"#questions-{q}-title-fr").fill(f"Question {kind}")
            officer.locator(f"#questions-{q}-type").select_option(kind)
            for o in range(2):
                officer.locator(f"#questions-{q}-options-{o}-title-fr").fill(f"Choix {o + 1}")
        officer.get_by_role("button", name="Afficher les champs de ce type").first.click()
        expect(officer.locator("#questions-1-max")).to_be_visible()
        expect(officer.locator("#questions-2-grades")).to_have_value(
            "Très bien\nBien\nAssez bien\nPassable\nInsuffisant"
        )
        expect(officer.locator("#questions-3-min")).to_be_visible()
        expect(officer.locator("#questions-0-envelope")).to_have_value("10 000")
        assert_accessible(officer)

        # The third project has no cost: said next to its field, nothing saved.
        officer.get_by_role("button", name="Créer le brouillon", exact=True).first.click()
        expect(officer.locator("#questions-0-options-2-cost-error")).to_have_text(
            "Ce champ est obligatoire."
        )
        expect(officer.locator(option.format(2, "cost"))).to_have_attribute("aria-invalid", "true")
        expect(officer.get_by_role("alert")).to_contain_text("Le scrutin n’est pas enregistré")
        expect(officer.locator(option.format(1, "title-fr"))).to_have_value("Préau")
        assert_accessible(officer)

        officer.locator(option.format(2, "cost")).fill("1 500")
        officer.get_by_role("button", name="Créer le brouillon", exact=True).last.click()
        expect(officer).to_have_url(re.compile(r"/staff/scrutins/[0-9a-f-]{36}\?fait=cree$"))
        expect(officer.get_by_role("status")).to_have_text(
            "Le brouillon du scrutin est enregistré."
        )
        expect(officer.get_by_role("heading", level=1)).to_have_text(
            "Budget participatif des écoles"
        )
        assert_accessible(officer)

        # The edit page shows what was saved, as typed.
        officer.get_by_role("link", name="Modifier le brouillon").click()
        expect(officer.get_by_label("Enveloppe (euros)")).to_have_value("10000")
        expect(officer.locator(option.format(2, "title-fr"))).to_have_value("Livres")
        expect(officer.get_by_label("Ouverture le")).to_have_value("2026-09-01T08:00")
        expect(officer.locator("#questions-2-type")).to_have_value("majority_judgment")
        expect(officer.locator("#questions-4-title-fr")).to_have_value("Question single")
        assert_accessible(officer)
    finally:
        context.close()
