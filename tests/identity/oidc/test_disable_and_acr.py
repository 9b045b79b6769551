"""Disabling and enabling a platform through the client registry (what a disabling ends
stays ended), the bearer check of a disabled client's tokens, and the ``acr`` of *this*
web session's sign-in in the ID token (OpenID Connect Core §2)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwk, jwt
from sqlalchemy import select

import audit
import identity
from identity.franceconnect import IdentityPivot
from identity.oidc.service import oidc_from
from identity.oidc.tables import OidcClientRow, OidcCodeRow, OidcSessionRow, OidcTokenRow
from identity.pages import SESSION_ACR
from identity.sandbox.citizens import citizen_by_login
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Citizen, Role, Staff
from parvis.kernel.sessions import cookie_name
from tests.identity.conftest import PUBLIC_URL, Flow, query
from tests.identity.oidc.conftest import (
    CodeFlow,
    Platform,
    bearer,
    introspect,
    pkce,
    register,
    tokens,
)
from tests.identity.oidc.test_admin import PAGES, csrf, events, staff_browser
from tests.identity.oidc.test_cli import parvis

API = {"scopes": ("openid", "eligibility", "age", "api:consent")}


def client_credentials(browser: TestClient, platform: Platform) -> str:
    assert platform.secret is not None
    response = browser.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "api:consent"},
        auth=(platform.client_id, platform.secret),
    )
    assert response.status_code == 200, response.text
    value: str = response.json()["access_token"]
    return value


def revoked_at(ctx: AppContext, client_id: str) -> list[object]:
    with ctx.db.read_session() as db:
        rows = db.scalars(select(OidcTokenRow).where(OidcTokenRow.client_id == client_id))
        return [row.revoked_at for row in rows]


# -- the registry disables, and what it ends stays ended --------------------------------------


def test_the_registry_disabling_ends_tokens_sessions_and_pending_codes(
    ctx: AppContext, browser: TestClient, code_flow: CodeFlow
) -> None:
    platform = register(ctx, **API)
    signed_in = tokens(code_flow, platform)
    api = client_credentials(browser, platform)
    verifier, challenge = pkce()
    pending, _ = code_flow.code(platform, code_challenge=challenge, code_challenge_method="S256")
    other = register(ctx, client_id="consul", redirect_uris=("https://consul.example/cb",))
    with ctx.db.write_session() as db:
        db.add(
            OidcSessionRow(
                sid="other-sid", citizen="c", client_id=other.client_id, created_at=ctx.clock.now()
            )
        )

    with ctx.db.write_session() as db:
        done = oidc_from(ctx).clients.disable(db, platform.client_id)
    assert (done.already, done.tokens_revoked, done.codes_expired) == (False, 2, 1)
    # ADR 0013: one sid per browser and platform, so both sign-ins share one session.
    assert done.sessions_ended == 1, "one session for the browser's two authorizations"
    assert None not in revoked_at(ctx, platform.client_id)
    for token in (signed_in["access_token"], api):
        assert bearer(browser, token).status_code == 401
    with ctx.db.read_session() as db:
        ended = db.scalars(select(OidcSessionRow.ended_at).where(OidcSessionRow.sid == "other-sid"))
        assert list(ended) == [None], "another platform's sessions are untouched"
        code = db.scalar(select(OidcCodeRow).where(OidcCodeRow.used_at.is_(None)))
        assert code is not None
        assert code.client_id == platform.client_id

    with ctx.db.write_session() as db:
        again = oidc_from(ctx).clients.disable(db, platform.client_id)
    assert (again.already, again.tokens_revoked, again.sessions_ended) == (True, 0, 0)

    with ctx.db.write_session() as db:
        assert oidc_from(ctx).clients.enable(db, platform.client_id) is True
        assert oidc_from(ctx).clients.enable(db, platform.client_id) is False
    # Enabled again: nothing the disabling ended comes back (RFC 7009 §2.2).
    for token in (signed_in["access_token"], api):
        assert bearer(browser, token).status_code == 401
    exchanged = code_flow.exchange(platform, pending, code_verifier=verifier)
    assert exchanged.status_code == 400
    assert exchanged.json()["error"] == "invalid_grant", "the pending code expired"
    # The platform works afresh with its unchanged secret.
    fresh = client_credentials(browser, platform)
    assert introspect(browser, platform, fresh).json()["active"] is True
    assert introspect(browser, platform, api).json() == {"active": False}
    assert bearer(browser, tokens(code_flow, platform)["access_token"]).status_code == 200


def test_unknown_clients_cannot_be_disabled_or_enabled(ctx: AppContext) -> None:
    from identity.oidc.errors import UnknownClientError

    registry = oidc_from(ctx).clients
    for operation in (registry.disable, registry.enable):
        for client_id in ("nobody", "../x", ""):
            with pytest.raises(UnknownClientError), ctx.db.write_session() as db:
                operation(db, client_id)


# -- Provider.bearer refuses a disabled client's token, revoked or not ------------------------


def _set_flag(ctx: AppContext, client_id: str, *, disabled: bool) -> None:
    """The disabling flag alone, as a token committed by a token request that had
    authenticated the client just before the disabling committed finds it: the
    registry's revocation never saw that token."""
    with ctx.db.write_session() as db:
        row = db.get(OidcClientRow, client_id)
        assert row is not None
        row.disabled_at = ctx.clock.now() if disabled else None


def test_userinfo_refuses_a_disabled_clients_token_that_was_not_revoked(
    ctx: AppContext, browser: TestClient, code_flow: CodeFlow
) -> None:
    platform = register(ctx, **API)
    access = tokens(code_flow, platform)["access_token"]
    assert bearer(browser, access).status_code == 200

    _set_flag(ctx, platform.client_id, disabled=True)
    assert revoked_at(ctx, platform.client_id) == [None], "the token row is live"
    refused = bearer(browser, access)
    assert refused.status_code == 401
    assert refused.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    posted = browser.post("/userinfo", data={"access_token": access})
    assert posted.status_code == 401
    with ctx.db.read_session() as db:
        assert oidc_from(ctx).provider.bearer(db, access) is None
    # A disabled client cannot introspect either (it no longer authenticates).
    assert introspect(browser, platform, access).status_code == 401

    _set_flag(ctx, platform.client_id, disabled=False)
    assert bearer(browser, access).status_code == 200, "only the flag refused it"


# -- the admin page and the CLI enable ---------------------------------------------------------


@pytest.fixture
def admin(app: FastAPI) -> Iterator[TestClient]:
    with staff_browser(app, Staff("admin1", frozenset({Role.ADMIN}))) as browser:
        yield browser


def test_the_admin_page_disables_and_enables(
    admin: TestClient, ctx: AppContext, browser: TestClient
) -> None:
    platform = register(ctx, client_id="budget", redirect_uris=(), scopes=("api:consent",))
    before = client_credentials(browser, platform)
    token = csrf(admin.get(f"{PAGES}/budget"))
    assert 'value="enable"' not in admin.get(f"{PAGES}/budget").text
    disabled = admin.post(f"{PAGES}/budget", data={"csrf_token": token, "action": "disable"})
    assert disabled.status_code == 200
    assert 'value="enable"' in disabled.text
    assert "Réactiver cette plateforme" in disabled.text

    enabled = admin.post(f"{PAGES}/budget", data={"csrf_token": token, "action": "enable"})
    assert enabled.status_code == 200
    assert "Plateforme réactivée." in enabled.text
    assert "En service" in enabled.text
    assert 'value="disable"' in enabled.text
    assert 'value="enable"' not in enabled.text
    assert bearer(browser, before).status_code == 401
    assert introspect(browser, platform, before).json() == {"active": False}
    assert client_credentials(browser, platform)

    # Enabling an enabled client changes nothing and is not audited.
    twice = admin.post(f"{PAGES}/budget", data={"csrf_token": token, "action": "enable"})
    assert twice.status_code == 200
    (enabling,) = events(ctx, "identity.oidc.client.enabled")
    assert enabling.actor == "staff:admin1"
    assert enabling.details == {"client_id": "budget"}
    assert enabling.subject is None
    (disabling,) = events(ctx, "identity.oidc.client.disabled")
    assert disabling.details == {"client_id": "budget", "tokens_revoked": 1, "sessions_ended": 0}

    without_csrf = admin.post(f"{PAGES}/budget", data={"csrf_token": "x", "action": "enable"})
    assert without_csrf.status_code == 403
    missing = admin.post(f"{PAGES}/nobody", data={"csrf_token": token, "action": "enable"})
    assert missing.status_code == 404


def test_parvis_client_enable(ctx: AppContext, browser: TestClient) -> None:
    platform = register(ctx, client_id="budget", redirect_uris=(), scopes=("api:consent",))
    before = client_credentials(browser, platform)
    assert parvis(ctx, "client", "disable", "budget").exit_code == 0
    enabled = parvis(ctx, "client", "enable", "budget")
    assert enabled.exit_code == 0, enabled.output
    assert enabled.stdout.strip() == "budget enabled"
    assert "\tactive\t" in parvis(ctx, "client", "list").stdout
    assert parvis(ctx, "client", "enable", "budget").stdout.strip() == "budget was not disabled"
    assert bearer(browser, before).status_code == 401, "a revoked token stays revoked"
    assert client_credentials(browser, platform)
    unknown = parvis(ctx, "client", "enable", "nobody")
    assert unknown.exit_code == 1
    assert unknown.stderr.strip() == "error: no client 'nobody'"
    with ctx.db.read_session() as db:
        kinds = [
            e.event_type
            for e in audit.service_from(ctx).query(db, actor="system:cli", limit=100)
            if e.event_type.startswith("identity.oidc.client.")
        ]
    assert kinds == ["identity.oidc.client.disabled", "identity.oidc.client.enabled"]


# -- the acr of this session's sign-in --------------------------------------------------------


def _id_token(browser: TestClient, body: dict[str, Any]) -> dict[str, Any]:
    keys = jwk.KeySet.import_key_set(browser.get("/jwks.json").json())
    return dict(jwt.decode(body["id_token"], keys).claims)


def _pivot(login: str) -> IdentityPivot:
    c = citizen_by_login(login)
    assert c is not None
    return IdentityPivot(
        family_name=c.family_name,
        given_name=c.given_name,
        birthdate=c.birthdate,
        birthplace=c.birthplace,
        birthcountry=c.birthcountry,
    )


def test_each_browser_gets_the_acr_of_its_own_sign_in(
    app: FastAPI, ctx: AppContext, browser: TestClient, code_flow: CodeFlow, platform: Platform
) -> None:
    """Browser A signs in through the FranceConnect sandbox (eidas1, FranceConnect v2).
    The same citizen then signs in on browser B at eidas2 (a FranceConnect+ identity
    provider, another ``sub`` for the same pivot: the sandbox implements v2 only, so this
    second sign-in goes through identity's own sign-in service and a session written as
    the callback writes it). The citizen record now says eidas2; each browser's ID token
    says the level of its own sign-in."""
    first = tokens(code_flow, platform)
    assert _id_token(browser, first)["acr"] == "eidas1"

    with ctx.db.write_session() as db:
        pseudonym = identity.service_from(ctx).sign_in_citizen(
            db, sub="fc-plus-sub", acr="eidas2", pivot=_pivot("test")
        )
        session_b = ctx.sessions.create(db, Citizen(pseudonym), extra={SESSION_ACR: "eidas2"})
    with TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as browser_b:
        assert session_b.cookie is not None
        browser_b.cookies.set(cookie_name(secure=ctx.settings.secure_cookies), session_b.cookie)
        flow_b = CodeFlow(browser_b, Flow(browser_b))
        second = tokens(flow_b, platform)
        assert _id_token(browser_b, second)["acr"] == "eidas2"
        assert _id_token(browser, second)["sub"] == _id_token(browser, first)["sub"]

        # Browser A's session still vouches for eidas1 only, whatever the record says now.
        assert _id_token(browser, tokens(code_flow, platform))["acr"] == "eidas1"
        essential = json.dumps({"id_token": {"acr": {"essential": True, "values": ["eidas2"]}}})
        refused = code_flow.authorize(platform, claims=essential)
        assert refused.status_code == 302
        assert query(refused.headers["location"])["error"] == "unmet_authentication_requirements"
        met = tokens(flow_b, platform, claims=essential)
        assert _id_token(browser_b, met)["acr"] == "eidas2"


def test_the_callback_records_the_level_and_sign_out_forgets_it(
    ctx: AppContext, browser: TestClient, flow: Flow
) -> None:
    signed_in = flow.sign_in("test")
    assert signed_in.status_code == 303
    cookie = browser.cookies.get(cookie_name(secure=ctx.settings.secure_cookies))
    assert cookie is not None
    with ctx.db.write_session() as db:
        session = ctx.sessions.load(db, cookie)
    assert session is not None
    assert session.extra[SESSION_ACR] == "eidas1"

    token = browser.get("/mon-compte").text.split('name="csrf_token" value="', 1)[1].split('"')[0]
    assert browser.post("/auth/logout", data={"csrf_token": token}).status_code == 303
    cookie = browser.cookies.get(cookie_name(secure=ctx.settings.secure_cookies))
    assert cookie is not None
    with ctx.db.write_session() as db:
        after = ctx.sessions.load(db, cookie)
    assert after is not None
    assert SESSION_ACR not in after.extra
