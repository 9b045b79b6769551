"""The voting booth in a real browser: a sandbox citizen opens the booth of a participatory
budget and gets the voting right at once, before filling the ballot (ballot-secrecy.md §2,
"voting right early"), votes, reads the pending receipt ("will appear at HH:MM", the board's
signed promise verified by the page), checks it on the tracker (the code in the URL
fragment), sees it "Included" with its verified proof once the server integrates the batch,
and re-votes; "get my voting right now, vote later on this device" on the election page,
then a vote after a reload without the session; an older booth's right moved from
localStorage to IndexedDB; the booth refuses a manifest key it was not served with; every
ballot type through the form, the ranking with the keyboard only; an encrypted election
(docs/board-format.md §10), every type encrypted and proved in the page, the server checking
every proof and the board holding the ciphertexts. Headless Chromium, both databases
(``live_server``).

The server runs in ``test`` mode, where no publisher thread integrates batches: the tests
integrate pending ballots themselves with ``ElectionService.integrate_batches(force=True)``
on the same database (docs/ballot-api.md, batched boards).

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
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import Browser, BrowserContext, Page, Request, Route, expect

from ballot import booth_pages, demo, locale_fr, register
from ballot.board import tracking_code
from ballot.service import service_from
from ballot.token import b64u_decode
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
#: The demo's participatory budget is an encrypted election (ballot/demo.py); this booth
#: casts public (version 1) ballots, so these tests vote on a public copy of it.
BUDGET_ID = uuid.UUID("8e4d6f5b-0a7c-4b9d-8e1f-3a4b5c6d7e8f")
ENCRYPTED_ID = uuid.UUID("2e9f6a1c-3b7d-4c5e-8f0a-1b2c3d4e5f60")


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
        "mode": "public",
        "id": str(ALL_TYPES_ID),
        "title": {"fr": "Toutes les questions"},
        "opens_at": opens.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "closes_at": (opens + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eligibility": {"rule": demo.DEMO_RULE},
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


def _public_budget() -> dict[str, Any]:
    """The demo's participatory budget as a public-ballot election (the booth's version 1)."""
    budget = next(d for d in demo.definitions(datetime.now(UTC)) if d["id"] == str(demo.BUDGET_ID))
    for member in ("trustees", "threshold"):
        budget.pop(member)
    return {**budget, "id": str(BUDGET_ID), "mode": "public"}


@pytest.fixture(scope="module")
def demo_server(live_server: ServerProcess) -> Iterator[ServerProcess]:
    """The live server seeded as `make demo` does, plus an election with every other type."""
    for bundle in ("booth.js", "tracker.js", "election.js"):
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
            service.create(session, data=_public_budget(), actor="staff:test")
        for election in (ALL_TYPES_ID, BUDGET_ID):
            service.schedule(election_id=str(election), actor="staff:test")
            service.open(election_id=str(election), actor="staff:test")
        yield live_server
    finally:
        ctx.db.dispose()


def _encrypted_definition(trustees: list[str]) -> dict[str, Any]:
    """Every question type (the demo's participatory budget among them) in an encrypted
    election (docs/board-format.md §10.2), with ``trustees`` (staff e-mails), 2 of them to
    decrypt."""
    data = _all_types_definition()
    budget = next(d for d in demo.definitions(datetime.now(UTC)) if d["id"] == str(demo.BUDGET_ID))
    single = {
        "id": "avis",
        "type": "single",
        "title": {"fr": "Votre avis"},
        "options": [{"id": o, "title": {"fr": o.capitalize()}} for o in ("oui", "non")],
    }
    data.update(
        id=str(ENCRYPTED_ID),
        title={"fr": "Budget chiffré"},
        revote=True,
        mode="encrypted",
        questions=[budget["questions"][0], single, *data["questions"]],
        trustees=[{"label": f"Garant {i}", "staff": email} for i, email in enumerate(trustees)],
        threshold=2,
    )
    return data


@pytest.fixture(scope="module")
def encrypted_election(demo_server: ServerProcess) -> Iterator[ServerProcess]:
    """An encrypted election opened through the real service: three trustee accounts, the key
    ceremony run in memory for them (ballot/ceremony_local.py) and imported onto the board,
    then the v2 manifest."""
    import identity
    from ballot.ceremony_local import new_static_keys, run_ceremony
    from parvis.kernel.principal import Role

    ctx = _context(demo_server)
    try:
        service = service_from(ctx)
        emails = [f"garant-{i}-{uuid.uuid4().hex[:6]}@ville.test" for i in range(3)]
        accounts = identity.staff_service_from(ctx)
        with ctx.db.write_session() as db:
            for email in emails:
                accounts.create(
                    db, email=email, roles=frozenset({Role.TRUSTEE}), actor="system:test"
                )
            service.create(db, data=_encrypted_definition(emails), actor="staff:test")
        service.schedule(election_id=str(ENCRYPTED_ID), actor="staff:test")
        statics = new_static_keys(3)
        setup = service.start_ceremony(
            election_id=str(ENCRYPTED_ID),
            actor="staff:test",
            static_keys=[k.public.encoded.hex() for k in statics],
        )
        ceremony = run_ceremony(setup, statics)
        service.import_ceremony(
            election_id=str(ENCRYPTED_ID), document=ceremony.document, actor="staff:test"
        )
        service.open(election_id=str(ENCRYPTED_ID), actor="staff:test")
        yield demo_server
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


def _integrate(server: ServerProcess) -> int:
    """What the ballot publisher does at a batch boundary, now (not running in test mode)."""
    ctx = _context(server)
    try:
        integrated: int = service_from(ctx).integrate_batches(force=True)
        return integrated
    finally:
        ctx.db.dispose()


def _local_time(moment: str, page: Page) -> str:
    """HH:MM of an RFC 3339 UTC time in the browser's own time zone."""
    zone = page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    return datetime.fromisoformat(moment).astimezone(ZoneInfo(zone)).strftime("%H:%M")


def _right_kept(page: Page) -> None:
    """The booth says the voting right is on this device (obtained at open, or found)."""
    expect(page.locator("#booth-notice")).to_contain_text(
        "Votre droit de vote est conservé dans ce navigateur"
    )
    expect(page.locator("#booth-notice")).to_contain_text("il n’est délivré qu’une fois")


def _cast(page: Page) -> tuple[str, str]:
    """Validate the ballot; the receipt is pending: (tracking code, local HH:MM it appears)."""
    with page.expect_response(
        lambda r: r.url.endswith("/ballots") and r.request.method == "POST", timeout=30_000
    ) as answer:
        page.locator("#cast").click()
        expect(page.locator("#booth-status")).to_contain_text("Envoi de votre bulletin")
    assert answer.value.status == 201
    receipt = answer.value.json()
    assert receipt["status"] == "pending"
    assert receipt["index"] is None
    assert receipt["inclusion_proof"] is None
    expect(page.locator("#receipt")).to_be_visible(timeout=30_000)
    at = _local_time(receipt["appears_at"], page)
    expect(page.locator("#receipt-proof")).to_contain_text(
        f"Enregistré — apparaîtra sur le tableau vers {at}."
    )
    code = page.locator("#tracking-code").inner_text()
    assert CODE.match(code), code
    assert code == receipt["tracking_code"]
    return code, at


def _track_pending(page: Page, code: str, at: str) -> None:
    """The booth's tracker link carries the code in the fragment; the lookup has no cookie."""
    link = page.locator("#tracker-link")
    assert (link.get_attribute("href") or "").endswith(f"/suivi#code={code}")
    with page.expect_request(lambda r: "/receipts/" in r.url) as lookup:
        link.click()
    assert "cookie" not in lookup.value.all_headers()
    expect(page).to_have_url(re.compile(r"/suivi#code="))
    expect(page.locator("#tracker-verdict")).to_have_text(
        f"Enregistré — apparaîtra sur le tableau vers {at} (le bulletin de code de suivi {code})."
    )


def _included(page: Page, code: str) -> None:
    expect(page.locator("#tracker-verdict")).to_have_text(
        f"Inclus : le bulletin de code de suivi {code} figure sur le tableau d’affichage public, "
        "et votre navigateur a vérifié la preuve."
    )


def _replaced(page: Page, code: str) -> None:
    """A ballot a later ballot of the same voting right replaced: on the board, proof
    verified, not counted (docs/ballot-api.md, receipts, ``superseded``)."""
    expect(page.locator("#tracker-verdict")).to_have_text(
        "Remplacé par un vote plus récent : ce bulletin n’est pas compté."
    )
    expect(page.locator("#tracker-result li").first).to_contain_text(
        f"Le bulletin de code de suivi {code} figure sur le tableau d’affichage public, mais "
        "vous avez voté à nouveau"
    )
    expect(page.locator("#tracker-result")).to_contain_text("Entrée")


def _stored(page: Page, election: uuid.UUID) -> dict[str, Any]:
    """What the booth keeps in IndexedDB for ``election``, and localStorage's old keys."""
    result: dict[str, Any] = page.evaluate(
        """async (election) => {
          const db = await new Promise((resolve, reject) => {
            const open = indexedDB.open('parvis-booth');
            open.onsuccess = () => resolve(open.result);
            open.onerror = () => reject(open.error);
          });
          const get = (store) => new Promise((resolve, reject) => {
            const req = db.transaction(store).objectStore(store).get(election);
            req.onsuccess = () => resolve(req.result ?? null);
            req.onerror = () => reject(req.error);
          });
          const out = {
            right: await get('rights'),
            receipt: await get('receipts'),
            legacy_right: localStorage.getItem('parvis:right:' + election),
            legacy_receipt: localStorage.getItem('parvis:receipt:' + election),
          };
          db.close();
          return out;
        }""",
        str(election),
    )
    return result


@pytest.fixture
def paris_page(browser: Browser) -> Iterator[Page]:
    """A citizen in France: the receipt's UTC boundary is shown in local time (UTC+1/+2)."""
    context = browser.new_context(locale="fr-FR", timezone_id="Europe/Paris")
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()


def test_vote_check_the_receipt_and_revote(paris_page: Page, demo_server: ServerProcess) -> None:
    page = paris_page
    sign_in(page, demo_server, "test")
    requests: list[Request] = []
    page.on("request", lambda r: requests.append(r) if "/static/" not in r.url else None)
    posts = lambda: [r for r in requests if r.method == "POST"]  # noqa: E731
    _booth(page, demo_server, BUDGET_ID)
    expect(page.get_by_role("heading", level=1)).to_have_text("Budget participatif 2026")

    # The voting right is obtained as soon as the booth opens, before anything is filled:
    # one token request, with the session cookie and the CSRF header; kept in IndexedDB.
    _right_kept(page)
    expect(page.locator("#booth-status")).to_have_text(
        "Votre droit de vote anonyme est prêt et conservé dans ce navigateur."
    )
    tokens = [r for r in posts() if r.url.endswith("/tokens")]
    assert len(tokens) == 1
    headers = tokens[0].all_headers()
    assert "cookie" in headers
    assert headers.get("x-csrf-token")
    # ballot-secrecy.md §3: the blinded message went first to …/issuance, then the browser
    # through FranceConnect (the sandbox's single sign-on: no page) with the nonce that binds
    # this election and that blinded message, then the token request for the same message.
    issuance = [r for r in posts() if r.url.endswith("/issuance")]
    assert len(issuance) == 1
    blinded = json.loads(issuance[0].post_data or "")["blinded_msg"]
    assert json.loads(tokens[0].post_data or "")["blinded_msg"] == blinded
    authorize = [r for r in requests if "/fc-sandbox/api/v2/authorize" in r.url]
    assert len(authorize) == 1, [r.url for r in requests]
    nonce = parse_qs(urlsplit(authorize[0].url).query)["nonce"][0]
    assert nonce == register.issuance_nonce(
        str(BUDGET_ID), register.blinded_hash(b64u_decode(blinded, field="blinded"))
    )
    callback = [r for r in requests if "/auth/franceconnect/callback" in r.url]
    order = [requests.index(r) for r in (issuance[0], authorize[0], callback[0], tokens[0])]
    assert order == sorted(order)
    assert page.locator("#ballot-form input:checked").count() == 0
    stored = _stored(page, BUDGET_ID)
    assert stored["right"]["last_seq"] == 0
    assert stored["legacy_right"] is None
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
    assert len(posts()) == 2  # still only the issuance and token requests

    page.get_by_role("checkbox", name=re.compile("^Tiers-lieu")).uncheck()
    page.get_by_role("checkbox", name=re.compile("^Jardins")).check()
    expect(total).to_contain_text("Total : 345")
    code, at = _cast(page)
    expect(page.locator("#ballot-form")).to_be_hidden()
    expect(page.get_by_role("button", name="Modifier mon vote")).to_be_visible()
    assert_accessible(page)

    # The ballot went without any cookie, signed with the right obtained at open.
    ballots = [r for r in posts() if r.url.endswith("/ballots")]
    assert len(ballots) == 1
    assert len([r for r in posts() if r.url.endswith("/tokens")]) == 1
    assert "cookie" not in ballots[0].all_headers()
    cast = json.loads(ballots[0].post_data or "")
    assert cast["ballot"]["seq"] == 1
    assert cast["ballot"]["choices"] == {"projets": ["jardins", "pistes-cyclables", "aire-de-jeux"]}
    assert cast["token"] == stored["right"]["token"]
    assert _stored(page, BUDGET_ID)["right"]["last_seq"] == 1

    # Pending until the boundary: the tracker says when, then "Inclus" with the proof.
    _track_pending(page, code, at)
    assert_accessible(page)
    assert _integrate(demo_server) >= 1
    page.reload()
    _included(page, code)
    assert_accessible(page)
    # No request that carried the session cookie had the tracking code in it.
    for r in requests:
        if "cookie" in r.all_headers():
            assert code not in r.url, r.url
            assert code.replace("-", "") not in r.url, r.url

    # Re-vote from the same browser: no new token, a higher seq, a new tracking code.
    _booth(page, demo_server, BUDGET_ID)
    expect(page.locator("#booth-notice")).to_contain_text("Vous avez déjà voté")
    expect(page.locator("#booth-notice")).to_contain_text(code)
    expect(page.locator("#cast")).to_have_text("Voter à nouveau")
    page.get_by_role("checkbox", name=re.compile("^Composteurs")).check()
    page.get_by_role("checkbox", name=re.compile("^Fontaines")).check()
    second, at = _cast(page)
    assert second != code
    assert len([r for r in posts() if r.url.endswith("/tokens")]) == 1
    revote = json.loads([r for r in posts() if r.url.endswith("/ballots")][-1].post_data or "")
    assert revote["ballot"]["seq"] == 2
    assert revote["token"] == cast["token"]
    _track_pending(page, second, at)
    assert _integrate(demo_server) >= 1
    page.reload()
    _included(page, second)

    # Both ballots are committed on the public board; the first code still tracks, also
    # through an older link with the code in the query, and says it is no longer counted.
    board = httpx.get(f"{demo_server.url}/elections/{BUDGET_ID}/board").json()
    leaves = {c["leaf_hash"] for c in board["commitments"]}
    assert {_leaf_of(cast), _leaf_of(revote)} <= leaves
    page.goto(f"{demo_server.url}/scrutins/{BUDGET_ID}/suivi?code={code}")
    _replaced(page, code)
    assert_accessible(page)
    page.goto(f"{demo_server.url}/scrutins/{BUDGET_ID}/suivi")
    page.get_by_role("textbox", name="Code de suivi").fill(code.lower().replace("-", " "))
    page.get_by_role("button", name="Vérifier").click()
    _replaced(page, code)
    page.get_by_role("textbox", name="Code de suivi").fill(second)
    page.get_by_role("button", name="Vérifier").click()
    _included(page, second)
    page.get_by_role("textbox", name="Code de suivi").fill("AAAA-AAAA-AAAA-AAAA")
    page.get_by_role("button", name="Vérifier").click()
    expect(page.locator("#tracker-verdict")).to_contain_text(
        "Aucun bulletin de ce tableau d’affichage"
    )


def test_vote_later_on_this_device(page: Page, demo_server: ServerProcess) -> None:
    """The election page's "get my voting right now, vote later on this device": the right
    only; later, signed out, the booth of the same browser casts with it."""
    sign_in(page, demo_server, "nom_long")
    posts: list[Request] = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
    page.goto(f"{demo_server.url}/scrutins")
    page.get_by_role("link", name=re.compile("^Consultation : la rue du Marché")).click()
    expect(page).to_have_url(f"{demo_server.url}/scrutins/{demo.CONSULTATION_ID}")
    early = page.locator("#early")
    expect(early).to_contain_text(
        "si vous perdez l’appareil ou effacez les données de ce navigateur avant de déposer "
        "votre bulletin, votre droit de vote est perdu. Il n’est délivré qu’une fois."
    )
    button = page.get_by_role(
        "button", name="Obtenir mon droit de vote maintenant, voter plus tard sur cet appareil"
    )
    expect(button).to_be_visible()
    assert_accessible(page)
    assert not posts  # nothing happens before the citizen asks
    button.click()
    expect(page.locator("#early-status")).to_contain_text(
        "C’est fait : votre droit de vote anonyme est conservé dans ce navigateur."
    )
    expect(button).to_be_hidden()
    expect(page.get_by_role("link", name="Aller à l’isoloir")).to_be_visible()
    assert_accessible(page)
    tokens = [r for r in posts if r.url.endswith("/tokens")]
    assert len(tokens) == 1
    assert tokens[0].all_headers().get("x-csrf-token")
    right = _stored(page, demo.CONSULTATION_ID)["right"]
    assert right["last_seq"] == 0

    # Later, on the same device, without the session: the page knows the right is kept.
    context: BrowserContext = page.context
    context.clear_cookies()
    page.reload()
    expect(page.locator("#early-status")).to_have_text(
        "Votre droit de vote est déjà conservé dans ce navigateur. Votez quand vous le "
        "souhaitez avant la clôture, depuis cet appareil et ce navigateur."
    )
    expect(button).to_be_hidden()
    page.get_by_role("link", name="Aller à l’isoloir").click()
    expect(page.locator("#ballot-form")).to_be_visible()
    _right_kept(page)
    expect(page.locator("#sign-in-link")).to_be_hidden()
    page.get_by_role("radio", name="Oui").check()
    code, _ = _cast(page)
    assert len([r for r in posts if r.url.endswith("/tokens")]) == 1
    cast = json.loads(next(r for r in posts if r.url.endswith("/ballots")).post_data or "")
    assert cast["token"] == right["token"]
    assert cast["ballot"]["seq"] == 1
    # And the same browser re-votes from there (the stored right's last_seq).
    _booth(page, demo_server, demo.CONSULTATION_ID)
    expect(page.locator("#booth-notice")).to_contain_text(code)
    page.get_by_role("radio", name="Non").check()
    _cast(page)
    revote = json.loads([r for r in posts if r.url.endswith("/ballots")][-1].post_data or "")
    assert revote["ballot"]["seq"] == 2
    assert revote["token"] == right["token"]


def test_a_right_kept_by_an_older_booth_moves_to_indexeddb(
    page: Page, demo_server: ServerProcess
) -> None:
    """An older booth kept the right (and the last receipt) in localStorage: the booth moves
    them to IndexedDB on first load, removes them from localStorage, and votes with them."""
    sign_in(page, demo_server, "accents")
    posts: list[Request] = []
    page.on("request", lambda r: posts.append(r) if r.method == "POST" else None)
    _booth(page, demo_server, BUDGET_ID)
    _right_kept(page)
    right = _stored(page, BUDGET_ID)["right"]
    manifest = httpx.get(f"{demo_server.url}/elections/{BUDGET_ID}/manifest").json()
    # What an older booth left: the right after one ballot (last_seq 1), and its receipt.
    old_right = {**right, "last_seq": 1}
    old_receipt = {
        "tracking_code": "ABCD-EFGH-IJKL-MNOP",
        "seq": 1,
        "board_origin": manifest["board"]["origin"],
        "board_key": manifest["board"]["key"],
    }
    page.evaluate(
        """async ([election, right, receipt]) => {
          const db = await new Promise((resolve, reject) => {
            const open = indexedDB.open('parvis-booth');
            open.onsuccess = () => resolve(open.result);
            open.onerror = () => reject(open.error);
          });
          await new Promise((resolve, reject) => {
            const tx = db.transaction(['rights', 'receipts'], 'readwrite');
            tx.objectStore('rights').delete(election);
            tx.objectStore('receipts').delete(election);
            tx.oncomplete = resolve;
            tx.onerror = () => reject(tx.error);
          });
          db.close();
          localStorage.setItem('parvis:right:' + election, right);
          localStorage.setItem('parvis:receipt:' + election, receipt);
        }""",
        [str(BUDGET_ID), json.dumps(old_right), json.dumps(old_receipt)],
    )
    before = _stored(page, BUDGET_ID)
    assert before["right"] is None
    assert before["legacy_right"] is not None

    _booth(page, demo_server, BUDGET_ID)
    notice = page.locator("#booth-notice")
    expect(notice).to_contain_text("Vous avez déjà voté depuis ce navigateur")
    expect(notice).to_contain_text("ABCD-EFGH-IJKL-MNOP")
    after = _stored(page, BUDGET_ID)
    assert after["right"] == old_right
    assert after["receipt"] == old_receipt
    assert after["legacy_right"] is None
    assert after["legacy_receipt"] is None
    assert len([r for r in posts if r.url.endswith("/tokens")]) == 1

    page.get_by_role("checkbox", name=re.compile("^Composteurs")).check()
    _cast(page)
    cast = json.loads([r for r in posts if r.url.endswith("/ballots")][-1].post_data or "")
    assert cast["token"] == right["token"]
    assert cast["ballot"]["seq"] == 2
    assert len([r for r in posts if r.url.endswith("/tokens")]) == 1


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
    # The right first: the booth goes through FranceConnect and back (ballot-secrecy.md §3).
    _right_kept(page)
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


def _status_log(page: Page) -> None:
    """Record every text #booth-status shows (the encryption state lasts a fraction of a
    second: polling could miss it)."""
    page.add_init_script(
        """document.addEventListener('DOMContentLoaded', () => {
          const status = document.getElementById('booth-status');
          if (!status) return;
          window.statusLog = [];
          new MutationObserver(() => window.statusLog.push(status.textContent))
            .observe(status, { childList: true, characterData: true, subtree: true });
        });"""
    )


def test_an_encrypted_ballot_of_every_type(
    paris_page: Page, encrypted_election: ServerProcess
) -> None:
    """docs/board-format.md §10.3 in the browser: the booth encrypts and proves every answer
    on the device ("Chiffrement de votre bulletin…"), casts ``encrypted`` without any clear
    choice, the server checks every proof and acknowledges it, and the public board holds
    exactly those ciphertexts, which verify under the manifest; the tracker finds the ballot;
    a re-vote is encrypted again, with the same voting right."""
    from ballot.encrypted_ballot import verify_encrypted_ballot
    from ballot.group import Point
    from ballot.jcs import canonical
    from ballot.questions import parse_questions
    from ballot.token import TokenMessage, b64u_decode
    from ballot.transcript import Context

    page = paris_page
    server = encrypted_election
    _status_log(page)
    sign_in(page, server, "test")
    posted: list[dict[str, Any]] = []
    page.on(
        "request",
        lambda r: (
            posted.append(json.loads(r.post_data or "{}"))
            if r.url.endswith("/ballots") and r.method == "POST"
            else None
        ),
    )
    _booth(page, server, ENCRYPTED_ID)
    expect(page.get_by_role("heading", level=1)).to_have_text("Budget chiffré")
    _right_kept(page)
    for project in ("jardins", "pistes-cyclables"):
        page.locator(f"#q-projets-{project}").check()
    page.locator("#q-avis-non").check()
    page.locator("#q-choix-a").check()
    page.locator("#q-choix-c").check()
    page.locator("#q-mentions-a-0").check()
    page.locator("#q-mentions-b-2").check()
    page.locator("#q-ordre-b").check()
    page.locator("#q-ordre-a").check()
    code, at = _cast(page)
    statuses = page.evaluate("window.statusLog")
    encrypting = statuses.index("Chiffrement de votre bulletin sur cet appareil…")
    assert any(text.startswith("Envoi de votre bulletin") for text in statuses[encrypting:])

    # What was sent: the encrypted form only, for exactly the manifest's questions.
    cast = posted[0]
    assert set(cast["ballot"]) == {"election", "seq", "encrypted"}
    manifest = httpx.get(f"{server.url}/elections/{ENCRYPTED_ID}/manifest").json()
    assert manifest["format"] == "parvis-manifest-v2"
    questions = parse_questions(manifest["questions"])
    assert list(cast["ballot"]["encrypted"]) == [q.id for q in questions]
    assert "jardins" not in json.dumps(cast)
    # The board, public from entry 0 in an encrypted election, holds exactly these
    # ciphertexts once the batch is integrated, and they verify under the manifest.
    _track_pending(page, code, at)
    assert _integrate(server) >= 1
    page.reload()
    _included(page, code)
    board = httpx.get(f"{server.url}/elections/{ENCRYPTED_ID}/board").json()
    on_board = [e["cast"] for e in board["entries"] if e.get("kind") == "ballot"]
    assert on_board == [cast]
    vk = TokenMessage.from_bytes(b64u_decode(cast["token"]["msg"], field="msg")).voter_key
    key = Point.decode(b64u_decode(manifest["encryption"]["joint_key"], field="key"))
    context = Context(str(ENCRYPTED_ID), hashlib.sha256(canonical(manifest)).digest(), vk)
    verify_encrypted_ballot(questions, key, context, on_board[0]["ballot"]["encrypted"])

    # Re-vote: encrypted again (new ciphertexts), seq 2, same token.
    _booth(page, server, ENCRYPTED_ID)
    expect(page.locator("#booth-notice")).to_contain_text("Vous avez déjà voté")
    page.locator("#q-projets-composteurs").check()
    page.locator("#q-avis-oui").check()
    page.locator("#q-choix-b").check()
    page.locator("#q-choix-c").check()
    page.locator("#q-mentions-a-1").check()
    page.locator("#q-mentions-b-1").check()
    page.locator("#q-ordre-c").check()
    page.locator("#q-ordre-b").check()
    second, _ = _cast(page)
    assert second != code
    revote = posted[-1]
    assert revote["ballot"]["seq"] == 2
    assert revote["token"] == cast["token"]
    assert (
        revote["ballot"]["encrypted"]["projets"]["cells"]
        != (cast["ballot"]["encrypted"]["projets"]["cells"])
    )
    verify_encrypted_ballot(questions, key, context, revote["ballot"]["encrypted"])


def test_the_tracker_explains_a_failed_check_in_french(
    page: Page, demo_server: ServerProcess
) -> None:
    """A board that answers with a forged checkpoint, then one that fails: the tracker says
    what went wrong in the page language, never the developer's English message."""
    leaf = hashlib.sha256(b"a ballot the board never signed").digest()
    code = tracking_code(leaf)
    forged = {
        "election": str(BUDGET_ID),
        "tracking_code": code,
        "leaf_hash": base64.urlsafe_b64encode(leaf).rstrip(b"=").decode(),
        "status": "included",
        "superseded": False,
        "appears_at": None,
        "index": 0,
        "tree_size": 1,
        "inclusion_proof": [],
        "checkpoint": "not a signed note\n",
    }
    answers = [
        {"status": 200, "json": forged},
        {"status": 500, "body": '{"status": 500}', "content_type": "application/problem+json"},
    ]

    def board(route: Route) -> None:
        route.fulfill(**answers.pop(0))  # type: ignore[arg-type]

    page.route("**/receipts/**", board)
    page.goto(f"{demo_server.url}/scrutins/{BUDGET_ID}/suivi#code={code}")
    expect(page.locator("#tracker-verdict")).to_contain_text("La preuve n’a pas été vérifiée")
    expect(page.locator("#tracker-result li")).to_have_text(
        "L’état signé du tableau d’affichage n’est pas signé avec la clé publiée pour ce vote."
    )
    assert_accessible(page)
    page.get_by_role("button", name="Vérifier").click()
    expect(page.locator("#tracker-verdict")).to_have_text(
        "La vérification n’a pas pu aboutir. Veuillez réessayer plus tard."
    )
    expect(page.locator("#tracker-result li")).to_have_count(0)


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
        for election in (BUDGET_ID, demo.CONSULTATION_ID):
            _booth(page, demo_server, election)
            assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        expect(page.locator("#booth-notice")).to_contain_text("connectez-vous d’abord")
        expect(page.get_by_role("link", name="Se connecter pour voter")).to_be_visible()
        expect(page.locator("#cast")).to_be_disabled()
        box = page.locator("#q-pietonnisation-oui").locator("xpath=..").bounding_box()
        assert box is not None
        assert box["height"] >= 44
        assert_accessible(page)
        page.goto(f"{demo_server.url}/scrutins/{BUDGET_ID}/suivi")
        expect(page.locator("#tracker-form")).to_be_visible()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        # Signed out, the election page offers to sign in before getting the right early.
        page.goto(f"{demo_server.url}/scrutins/{BUDGET_ID}")
        expect(page.locator("#early-status")).to_have_text(
            "Connectez-vous pour obtenir votre droit de vote maintenant."
        )
        expect(page.locator("#get-right")).to_be_hidden()
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        assert_accessible(page)
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
    templates = [
        *TEMPLATES.glob("booth*.html"),
        *TEMPLATES.glob("tracker*.html"),
        TEMPLATES / "ballot" / "election.html",
    ]
    assert len(templates) == 5
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
    scripts = [
        *booth_pages.BOOTH_MESSAGES.values(),
        *booth_pages.TRACKER_MESSAGES.values(),
        *booth_pages.ELECTION_MESSAGES.values(),
    ]
    missing = (in_templates | in_pages | set(scripts)) - known
    assert in_pages
    assert missing == set()


def test_every_script_message_key_exists() -> None:
    """Each key web/src uses (m.t('key'), say('key'), done('key'), progress('key'), the
    problem map) is on the page."""
    keys = set()
    for name in ("booth.ts", "tracker.ts", "election.ts", "obtain.ts"):
        text = (ROOT / "web" / "src" / name).read_text(encoding="utf-8")
        keys |= set(re.findall(r"(?:\.t|say|done|progress)\('([a-zA-Z]+)'", text))
        keys |= set(re.findall(r"'[a-z-]+': '([a-zA-Z]+)'", text))
        for pair in re.findall(r"\? '([a-zA-Z]+)' : '([a-zA-Z]+)'", text):
            keys |= set(pair)
    rendered = {
        re.sub(r"-([a-z])", lambda m: m.group(1).upper(), key)
        for key in [
            *booth_pages.BOOTH_MESSAGES,
            *booth_pages.TRACKER_MESSAGES,
            *booth_pages.ELECTION_MESSAGES,
        ]
    }
    assert len(keys) > 40
    assert keys - rendered == set()
