"""Citizen accounts through the web flow, on SQLite and PostgreSQL: pseudonymous storage,
session rotation, one account per identity, FranceConnect errors as pages, logout."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text

import identity
from identity.errors import DuplicateIdentityError
from identity.franceconnect import IdentityPivot
from identity.sandbox import Sandbox
from identity.tables import CitizenRow, FranceConnectLinkRow
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Citizen
from parvis.kernel.sessions import cookie_name
from tests.identity.conftest import LOGOUT_URI, Flow, path_and_query, query

IDENTITY_TABLES = (
    "identity_citizens",
    "identity_fc_links",
    "identity_vault_attributes",
    "identity_decisions",
)


def principal(browser: TestClient, ctx: AppContext) -> object:
    cookie = browser.cookies.get(cookie_name(secure=False))
    with ctx.db.write_session() as db:
        session = ctx.sessions.load(db, cookie)
    return session.principal if session else None


def dump(ctx: AppContext) -> str:
    """Every identity table as text, to look for personal data in clear."""
    with ctx.db.engine.connect() as conn:
        return "\n".join(
            repr(row)
            for table in IDENTITY_TABLES
            for row in conn.execute(text(f"SELECT * FROM {table}"))
        )


def test_sign_in_creates_a_pseudonymous_account(
    flow: Flow, browser: TestClient, ctx: AppContext, sandbox: Sandbox
) -> None:
    before = browser.get("/connexion").cookies.get(
        cookie_name(secure=False)
    ) or browser.cookies.get(cookie_name(secure=False))
    response = flow.sign_in("test")
    assert response.status_code == 303
    assert response.headers["location"] == "/mon-compte"
    after = browser.cookies.get(cookie_name(secure=False))
    assert after
    assert after != before, "the session id is rotated at sign-in"
    who = principal(browser, ctx)
    assert isinstance(who, Citizen)
    with ctx.db.read_session() as db:
        citizen = db.get(CitizenRow, who.pseudonym)
        assert citizen is not None
        assert citizen.birth_year == 1962
        assert citizen.acr == "eidas1"
    stored = dump(ctx)
    citizen_record = sandbox.citizens["test"]
    sub = sandbox.pairwise_sub(sandbox.clients[ctx.settings.fc_client_id], citizen_record)
    for secret in ("DUBOIS", "Angela", "1962-08-24", "75107", sub, sub[:64]):
        assert secret not in stored, f"{secret!r} stored in clear"
    with ctx.db.read_session() as db:
        assert identity.service_from(ctx).vault.get(db, who.pseudonym, "birthdate") == b"1962-08-24"


def test_signing_in_again_finds_the_same_account(
    flow: Flow, browser: TestClient, ctx: AppContext
) -> None:
    flow.sign_in("test")
    first = principal(browser, ctx)
    browser.cookies.clear()
    flow.sign_in("test")
    assert principal(browser, ctx) == first


def test_same_person_with_another_sub_is_linked_not_duplicated(
    flow: Flow, browser: TestClient, ctx: AppContext
) -> None:
    """'accents' and 'accents_sans' are one person spelled differently by two providers:
    two FranceConnect subs, one normalised pivot, one Parvis account."""
    flow.sign_in("accents")
    first = principal(browser, ctx)
    browser.cookies.clear()
    flow.sign_in("accents_sans")
    assert principal(browser, ctx) == first
    with ctx.db.read_session() as db:
        assert db.scalar(select(func.count()).select_from(CitizenRow)) == 1
        assert db.scalar(select(func.count()).select_from(FranceConnectLinkRow)) == 2


def test_a_second_account_for_the_same_identity_is_refused(
    flow: Flow, browser: TestClient, ctx: AppContext
) -> None:
    flow.sign_in("test")
    who = principal(browser, ctx)
    assert isinstance(who, Citizen)
    service = identity.service_from(ctx)
    with ctx.db.read_session() as db:
        existing = service.citizen(db, who.pseudonym).pivot_hash
    with pytest.raises(DuplicateIdentityError), ctx.db.write_session() as db:
        service.create_citizen(db, pivot_hash_value=existing, acr="eidas1", birth_year=1962)
    # A known sub arriving with the pivot of *another* account is refused too.
    browser.cookies.clear()
    flow.sign_in("nom_usage")
    other = IdentityPivot("MARTIN", "Marie", "1985-03-14", "93048", "99100")
    dubois = IdentityPivot("DUBOIS", "Angela Claire Louise", "1962-08-24", "75107", "99100")
    with ctx.db.write_session() as db:  # a new sub for MARTIN's account (another provider)
        service.sign_in_citizen(db, sub="f" * 64 + "v1", acr="eidas1", pivot=other)
    with pytest.raises(DuplicateIdentityError), ctx.db.write_session() as db:
        service.sign_in_citizen(db, sub="f" * 64 + "v1", acr="eidas1", pivot=dubois)
    with ctx.db.read_session() as db:
        assert db.scalar(select(func.count()).select_from(CitizenRow)) == 2


@pytest.mark.parametrize(
    ("login", "status", "kind", "french"),
    [
        ("annule", 401, "access_denied", "Vous avez annulé la connexion"),
        ("erreur_500", 502, "unavailable", "FranceConnect ne répond pas correctement"),
        ("claims_manquants", 422, "claims", "n’a pas transmis les données"),
        ("userinfo_non_signe", 401, "rejected", "n’a pas pu être vérifiée"),
    ],
)
def test_franceconnect_errors_are_clear_pages(
    *,
    flow: Flow,
    browser: TestClient,
    ctx: AppContext,
    login: str,
    status: int,
    kind: str,
    french: str,
) -> None:
    response = flow.sign_in(login)
    assert response.status_code == status
    assert response.headers["content-type"].startswith("text/html")
    assert f'data-kind="{kind}"' in response.text
    assert french in response.text
    assert not isinstance(principal(browser, ctx), Citizen)


def test_callback_without_the_session_state_is_refused(flow: Flow, browser: TestClient) -> None:
    provider_redirect = flow.choose(flow.authorize(flow.start()), "test")
    browser.cookies.clear()  # another browser, or a forged link
    response = flow.callback(provider_redirect)
    assert response.status_code == 400
    assert 'data-kind="state"' in response.text


def test_state_is_single_use(flow: Flow, browser: TestClient) -> None:
    provider_redirect = flow.choose(flow.authorize(flow.start()), "test")
    assert flow.callback(provider_redirect).status_code == 303
    replay = flow.callback(provider_redirect)
    assert replay.status_code == 400


def test_logout_goes_through_session_end_and_back(
    flow: Flow, browser: TestClient, ctx: AppContext
) -> None:
    flow.sign_in("test")
    csrf = browser.get("/mon-compte").text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    refused = browser.post("/auth/logout", data={})
    assert refused.status_code == 403, "CSRF token required"
    out = browser.post("/auth/logout", data={"csrf_token": csrf})
    assert out.status_code == 303
    params = query(out.headers["location"])
    assert out.headers["location"].startswith(f"{ctx.settings.fc_issuer}/session/end?")
    assert set(params) == {"id_token_hint", "state", "post_logout_redirect_uri"}
    assert params["post_logout_redirect_uri"] == LOGOUT_URI
    assert "form-action 'self' http://127.0.0.1:8000" in out.headers["content-security-policy"]
    assert not isinstance(principal(browser, ctx), Citizen), "signed out locally at once"
    back = browser.get(path_and_query(out.headers["location"]))
    assert back.status_code == 303
    page = browser.get(path_and_query(back.headers["location"]))
    assert page.status_code == 200
    assert 'id="logged-out"' in page.text
    assert browser.get("/mon-compte").headers["location"] == "/connexion"
