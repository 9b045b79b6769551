"""Issue 7, item 8, in a real browser: a sandbox citizen votes through the booth on a
participatory budget, reads the tracking code, checks it on the tracker (the inclusion
proof and the checkpoint signature are verified by the page's script), and re-votes; the
booth refuses a manifest key it was not served with; every ballot type through the form,
the ranking with the keyboard only. Headless Chromium, both databases (``live_server``).

The demo data is what ``make demo`` seeds: identity's demo city, rule and census, then
``ballot.demo.seed_demo``. The booth's scripts are built from ``web/src`` by ``npm run
build`` in ``web/`` (``make node-deps``); a missing bundle is a failure, never a skip.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import Browser, Page, Request, Route, expect

from ballot import booth_pages, demo, locale_fr
from ballot.service import service_from
from identity.plugin import seed_demo as seed_identity
from parvis import locale_fr as kernel_fr
from parvis.kernel.context import AppContext, build_context
from parvis.kernel.settings import load_settings
from tests.browser.conftest import assert_accessible
from tests.support.server import ServerProcess

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
STATIC = ROOT / "ballot" / "static"
CODE = re.compile(r"^[A-Z2-7]{4}(-[A-Z2-7]{4}){3}$")
ALL_TYPES_ID = uuid.UUID("7d3c5e4a-9f6b-4a8c-9d0e-2f3a4b5c6d7e")


def _context(server: ServerProcess) -> AppContext:
    return build_context(
        load_settings(
            mode="test",
            database_url=server.env["PARVIS_DATABASE_URL"],
            data_dir=server.env["PARVIS_DATA_DIR"],
            public_url=server.url,
        )
    )


def _all_types_definition() -> dict[str, Any]:
    opens = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    options = [{"id": o, "title": {"fr": f"Option {o.upper()}"}} for o in ("a", "b", "c")]
    return {
        "id": str(ALL_TYPES_ID),
        "title": {"fr": "Toutes les questions"},
        "opens_at": opens.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "closes_at": (opens + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eligibility": {"rule": demo.DEMO_RULE, "population": 100},
        "revote": False,
        "min_anonymity_set": 1,
        "paper": False,
        "questions": [
            {
                "id": "choix",
                "type": "approval",
                "title": {"fr": "Deux options"},
                "exactly": 2,
                "options": options,
            },
            {
                "id": "mentions",
                "type": "majority_judgment",
                "title": {"fr": "Mentions"},
                "grades": ["Très bien", "Bien", "À rejeter"],
                "options": options[:2],
            },
            {
                "id": "ordre",
                "type": "ranked",
                "title": {"fr": "Classement"},
                "min": 2,
                "max": 3,
                "options": options,
            },
        ],
    }


@pytest.fixture(scope="module")
def demo_server(live_server: ServerProcess) -> Iterator[ServerProcess]:
    """The live server seeded as `make demo` does, plus an election with every other type."""
    for bundle in ("booth.js", "tracker.js"):
        if not (STATIC / bundle).is_file():
            pytest.fail(f"ballot/static/{bundle} is missing: run `npm run build` in web/")
    ctx = _context(live_server)
    try:
        list(seed_identity(ctx))
        lines = list(demo.seed_demo(ctx))
        assert any("opened" in line for line in lines), lines
        service = service_from(ctx)
        with ctx.db.write_session() as session:
            service.create(session, data=_all_types_definition(), actor="staff:test")
        service.schedule(election_id=str(ALL_TYPES_ID), actor="staff:test")
        service.open(election_id=str(ALL_TYPES_ID), actor="staff:test")
        yield live_server
    finally:
        ctx.db.dispose()


def sign_in(page: Page, server: ServerProcess, login: str) -> None:
    page.goto(server.url + "/connexion")
    page.locator("#franceconnect").click()
    page.locator(f"#login-{login}").click()
    expect(page).to_have_url(server.url + "/mon-compte")


def _booth(page: Page, server: ServerProcess, election: uuid.UUID) -> None:
    page.goto(f"{server.url}/scrutins/{election}/isoloir")
    # The form appears once the script checked the manifest's key against the page's.
    expect(page.locator("#ballot-form")).to_be_visible()
    expect(page.locator("#script-pending")).to_have_count(0)


def _cast(page: Page) -> str:
    page.locator("#cast").click()
    expect(page.locator("#booth-status")).to_contain_text("Envoi de votre bulletin")
    expect(page.locator("#receipt")).to_be_visible(timeout=30_000)
    expect(page.locator("#receipt-proof")).to_contain_text("Vérifié par votre navigateur")
    code = page.locator("#tracking-code").inner_text()
    assert CODE.match(code), code
    return code


def _track(page: Page, code: str) -> None:
    page.locator("#tracker-link").click()
    expect(page).to_have_url(re.compile(r"/suivi\?code="))
    expect(page.locator("#tracker-verdict")).to_have_text(
        f"Inclus : le bulletin de code de suivi {code} figure sur le tableau d’affichage public, "
        "et votre navigateur a vérifié la preuve."
    )


def test_vote_check_the_receipt_and_revote(page: Page, demo_server: ServerProcess) -> None:
    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r) if r.method == "POST" else None)
    sign_in(page, demo_server, "test")
    _booth(page, demo_server, demo.BUDGET_ID)
    expect(page.get_by_role("heading", level=1)).to_have_text("Budget participatif 2026")
    assert_accessible(page)

    # Over the envelope: the live total says so, and the booth refuses before any request.
    for project in ("pistes-cyclables", "aire-de-jeux", "tiers-lieu"):
        page.locator(f"#q-projets-{project}").check()
    total = page.locator("#q-projets-total")
    expect(total).to_contain_text("Total : 550")
    expect(total).to_contain_text("Dépassement de l’enveloppe : 150")
    page.locator("#cast").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Votre bulletin n’est pas complet")
    expect(summary).to_contain_text("plus que l’enveloppe de 400")
    expect(page.locator("#q-projets-error")).to_be_visible()
    assert_accessible(page)
    assert not [r for r in requests if "/elections/" in r.url]

    page.get_by_role("checkbox", name=re.compile("^Tiers-lieu")).uncheck()
    page.get_by_role("checkbox", name=re.compile("^Jardins")).check()
    expect(total).to_contain_text("Total : 345")
    code = _cast(page)
    expect(page.locator("#ballot-form")).to_be_hidden()
    expect(page.get_by_role("button", name="Modifier mon vote")).to_be_visible()

    # One token request with the session cookie; the ballot went without any cookie.
    tokens = [r for r in requests if r.url.endswith("/tokens")]
    ballots = [r for r in requests if r.url.endswith("/ballots")]
    assert len(tokens) == 1
    assert len(ballots) == 1
    assert "cookie" in tokens[0].all_headers()
    assert "cookie" not in ballots[0].all_headers()
    cast = json.loads(ballots[0].post_data or "")
    assert cast["ballot"]["seq"] == 1
    assert cast["ballot"]["choices"] == {"projets": ["jardins", "pistes-cyclables", "aire-de-jeux"]}

    _track(page, code)
    assert_accessible(page)

    # Re-vote from the same browser: no new token, a higher seq, a new tracking code.
    _booth(page, demo_server, demo.BUDGET_ID)
    expect(page.locator("#booth-notice")).to_contain_text("Vous avez déjà voté")
    expect(page.locator("#booth-notice")).to_contain_text(code)
    expect(page.locator("#cast")).to_have_text("Voter à nouveau")
    page.get_by_role("checkbox", name=re.compile("^Composteurs")).check()
    page.get_by_role("checkbox", name=re.compile("^Fontaines")).check()
    second = _cast(page)
    assert second != code
    assert len([r for r in requests if r.url.endswith("/tokens")]) == 1
    revote = json.loads([r for r in requests if r.url.endswith("/ballots")][-1].post_data or "")
    assert revote["ballot"]["seq"] == 2
    assert revote["token"] == cast["token"]
    _track(page, second)

    # Both ballots are committed on the public board; the first code still tracks.
    board = httpx.get(f"{demo_server.url}/elections/{demo.BUDGET_ID}/board").json()
    leaves = {c["leaf_hash"] for c in board["commitments"]}
    assert {_leaf_of(cast), _leaf_of(revote)} <= leaves
    page.goto(f"{demo_server.url}/scrutins/{demo.BUDGET_ID}/suivi")
    page.get_by_role("textbox", name="Code de suivi").fill(code.lower().replace("-", " "))
    page.get_by_role("button", name="Vérifier").click()
    expect(page.locator("#tracker-verdict")).to_contain_text("Inclus")
    page.get_by_role("textbox", name="Code de suivi").fill("AAAA-AAAA-AAAA-AAAA")
    page.get_by_role("button", name="Vérifier").click()
    expect(page.locator("#tracker-verdict")).to_contain_text(
        "Aucun bulletin de ce tableau d’affichage"
    )


def _leaf_of(cast: dict[str, Any]) -> str:
    from ballot.board import ballot_entry, entry_leaf_hash
    from ballot.token import b64u_encode, parse_cast

    return b64u_encode(entry_leaf_hash(ballot_entry(parse_cast(cast))))


def test_the_booth_refuses_a_key_it_was_not_served_with(
    page: Page, demo_server: ServerProcess
) -> None:
    """A per-voter ("tagging") key in the manifest answer: nothing is blinded or sent."""
    from ballot import rsabssa

    other = rsabssa.generate_key(2048).public_key()
    spki = other.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )

    def b64u(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    def tag(route: Route) -> None:
        manifest = route.fetch().json()
        manifest["issuer"]["spki"] = b64u(spki)
        manifest["issuer"]["key_id"] = b64u(hashlib.sha256(spki).digest())
        route.fulfill(json=manifest)

    posts: list[str] = []
    page.on("request", lambda r: posts.append(r.url) if r.method == "POST" else None)
    page.route(f"**/elections/{demo.CONSULTATION_ID}/manifest", tag)
    page.goto(f"{demo_server.url}/scrutins/{demo.CONSULTATION_ID}/isoloir")
    alert = page.get_by_role("alert")
    expect(alert).to_contain_text("n’est pas celle engagée dans le manifeste public")
    expect(page.locator("#ballot-form")).to_have_count(0)
    assert not [url for url in posts if "/elections/" in url]
    assert_accessible(page)


def test_every_ballot_type_with_the_keyboard(page: Page, demo_server: ServerProcess) -> None:
    sign_in(page, demo_server, "nom_usage")
    _booth(page, demo_server, ALL_TYPES_ID)
    assert_accessible(page)
    # Approval (exactly 2) and majority judgment left incomplete: one message per rule.
    page.get_by_role("checkbox", name="Option A").first.check()
    page.locator("#cast").click()
    expect(page.locator("#q-choix-error")).to_have_text("Choisissez exactement 2 options.")
    expect(page.locator("#q-mentions-error")).to_contain_text("il manque : Option A, Option B")
    expect(page.locator("#q-ordre-error")).to_have_text("Classez au moins 2 options.")
    assert_accessible(page)

    page.locator("#q-choix-c").check()
    page.get_by_role("group", name="Option A").get_by_label("Bien", exact=True).check()
    page.get_by_role("group", name="Option B").get_by_label("À rejeter").check()
    # Ranking with the keyboard only: tick C then A (Space), then move A up (Enter).
    ranking = page.locator("#q-ordre-ranking")
    ranking.locator("#q-ordre-c").focus()
    page.keyboard.press("Space")
    ranking.locator("#q-ordre-a").focus()
    page.keyboard.press("Space")
    expect(page.locator("#q-ordre-live")).to_have_text("Option A : position 2 sur 2.")
    page.get_by_role("button", name="Monter : Option A").focus()
    page.keyboard.press("Enter")
    expect(page.locator("#q-ordre-live")).to_have_text("Option A : position 1 sur 2.")
    expect(page.get_by_role("button", name="Monter : Option A")).to_be_focused()
    assert ranking.locator("li.ranked .rank-position").all_inner_texts() == ["1", "2"]

    posted: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda r: (
            posted.append(json.loads(r.post_data or "{}")) if r.url.endswith("/ballots") else None
        ),
    )
    _cast(page)
    expect(page.get_by_role("button", name="Modifier mon vote")).to_be_hidden()
    assert posted[0]["ballot"]["choices"] == {
        "choix": ["a", "c"],
        "mentions": {"a": 1, "b": 2},
        "ordre": ["a", "c"],
    }
    # Re-voting is not allowed in this election: the booth says so and stays disabled.
    _booth(page, demo_server, ALL_TYPES_ID)
    expect(page.locator("#booth-notice")).to_contain_text("ne permet pas de modifier un vote")
    expect(page.locator("#cast")).to_be_disabled()


def test_on_a_phone_signed_out_and_unknown_election(
    browser: Browser, demo_server: ServerProcess
) -> None:
    """A 360 px wide touch screen: no horizontal scrolling, touch-sized controls; signed
    out, the booth asks to sign in first and sends nothing."""
    context = browser.new_context(
        locale="fr-FR", viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    try:
        for election in (demo.BUDGET_ID, demo.CONSULTATION_ID):
            _booth(page, demo_server, election)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        expect(page.locator("#booth-notice")).to_contain_text("connectez-vous d’abord")
        expect(page.get_by_role("link", name="Se connecter pour voter")).to_be_visible()
        expect(page.locator("#cast")).to_be_disabled()
        box = page.locator("#q-pietonnisation-oui").locator("xpath=..").bounding_box()
        assert box is not None
        assert box["height"] >= 44
        assert_accessible(page)
        page.goto(f"{demo_server.url}/scrutins/{demo.BUDGET_ID}/suivi")
        expect(page.locator("#tracker-form")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        response = page.goto(f"{demo_server.url}/scrutins/{uuid.uuid4()}/isoloir")
        assert response is not None
        assert response.status == 404
        expect(page.get_by_role("heading", level=1)).to_have_text("Scrutin introuvable")
    finally:
        context.close()


# --- French first: every message of the booth and the tracker is translated ----------------

MSGID = re.compile(r'_\(\s*"([^"]+)"\s*\)')
TEMPLATES = ROOT / "ballot" / "templates"


def test_every_booth_message_is_translated() -> None:
    known = set(locale_fr.MESSAGES) | set(kernel_fr.MESSAGES)
    templates = [*TEMPLATES.glob("booth*.html"), *TEMPLATES.glob("tracker*.html")]
    assert len(templates) == 4
    in_templates = {m for path in templates for m in MSGID.findall(path.read_text("utf-8"))}
    tree = ast.parse(Path(booth_pages.__file__).read_text(encoding="utf-8"))
    in_pages = {
        node.args[0].value
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "_t"
        and isinstance(node.args[0], ast.Constant)
    }
    scripts = [*booth_pages.BOOTH_MESSAGES.values(), *booth_pages.TRACKER_MESSAGES.values()]
    missing = (in_templates | in_pages | set(scripts)) - known
    assert in_pages
    assert missing == set()


def test_every_script_message_key_exists() -> None:
    """Each key web/src uses (m.t('key'), say('key'), the problem map) is on the page."""
    keys = set()
    for name in ("booth.ts", "tracker.ts"):
        text = (ROOT / "web" / "src" / name).read_text(encoding="utf-8")
        keys |= set(re.findall(r"(?:\.t|say)\('([a-zA-Z]+)'", text))
        keys |= set(re.findall(r"'[a-z-]+': '([a-zA-Z]+)'", text))
        for pair in re.findall(r"\? '([a-zA-Z]+)' : '([a-zA-Z]+)'", text):
            keys |= set(pair)
    rendered = {
        re.sub(r"-([a-z])", lambda m: m.group(1).upper(), key)
        for key in [*booth_pages.BOOTH_MESSAGES, *booth_pages.TRACKER_MESSAGES]
    }
    assert len(keys) > 40
    assert keys - rendered == set()
