"""Platform-to-Parvis APIs authorised with the OAuth 2.0 client-credentials grant (ADR 0007;
docs/consent-api.md), end to end through HTTP on SQLite and PostgreSQL.

A platform registered at the OpenID provider with the ``api:*`` scopes gets an access token
from ``POST /token`` (RFC 6749 §4.4, ``client_secret_basic``), and calls the consent API and
the ballot platform API with it (RFC 6750 §2.1) for the controller consent links it to.
Failures follow RFC 6750 §3.1 (``WWW-Authenticate`` with ``invalid_token`` or
``insufficient_scope``) with a problem+json body; deprecated API keys keep working until
their sunset, with ``Deprecation`` and ``Sunset`` headers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from consent.clients import (
    DEPRECATED_SINCE,
    DEPRECATION_DAYS,
    create_client,
    link_client,
    retire_key,
)
from consent.loader import load_document
from identity.oidc.clients import Registration
from identity.oidc.provider import ACCESS_TOKEN_SECONDS
from identity.oidc.service import oidc_from
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from tests.consent.factories import catalogue
from tests.identity.oidc.conftest import CodeFlow, Platform, pkce, register

PROBLEM = "tag:parvis.fr,2026:problem/"
CONSENT = "/api/consent/v1/purposes"
BALLOT = "/api/ballot/v1/elections"


@pytest.fixture
def register_loaded(ctx: AppContext) -> AppContext:
    """Two controllers in the register: the city and its neighbour."""
    doc = catalogue()
    other = catalogue(controller_id="ville-voisine")["controllers"][0]
    for purpose in other["purposes"]:
        purpose["id"] = "voisine-" + purpose["id"]
    doc["controllers"].append(other)
    with ctx.db.write_session() as db:
        load_document(ctx, db, doc, actor="staff:dpo")
    return ctx


def api_platform(
    ctx: AppContext,
    client_id: str = "decidim",
    *,
    scopes: tuple[str, ...] = ("api:consent", "api:ballot"),
    controller: str | None = "ville-exemple",
) -> Platform:
    """An OAuth client with API scopes only (no sign-in), linked to ``controller``."""
    platform = api_client(ctx, client_id, scopes=scopes)
    if controller is not None:
        with ctx.db.write_session() as db:
            link_client(
                ctx,
                db,
                client_id=client_id,
                controller_id=controller,
                name=client_id,
                actor="staff:admin",
            )
    return platform


def api_client(ctx: AppContext, client_id: str, *, scopes: tuple[str, ...]) -> Platform:
    """``parvis client create ID --name … --scope api:…``: no redirect URI, a secret."""
    registration = Registration(
        client_id=client_id, name=client_id, redirect_uris=(), scopes=scopes
    )
    with ctx.db.write_session() as db:
        secret = oidc_from(ctx).clients.create(db, registration)
    return Platform(client_id, secret, "")


def token_response(browser: TestClient, platform: Platform, scope: str) -> httpx.Response:
    """RFC 6749 §4.4.2 with client_secret_basic (RFC 6749 §2.3.1)."""
    assert platform.secret is not None
    return browser.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(platform.client_id, platform.secret),
    )


def access_token(browser: TestClient, platform: Platform, scope: str) -> str:
    response = token_response(browser, platform, scope)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["token_type"] == "Bearer"
    assert body["scope"] == scope
    assert body["expires_in"] == ACCESS_TOKEN_SECONDS
    assert "refresh_token" not in body  # RFC 6749 §4.4.3: "SHOULD NOT be included"
    token: str = body["access_token"]
    return token


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def refused(response: httpx.Response, status: int, slug: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, Any] = response.json()
    assert body["type"] == PROBLEM + slug, body
    return body


def test_a_platform_calls_both_apis_with_a_client_credentials_token(
    browser: TestClient, register_loaded: AppContext
) -> None:
    ctx = register_loaded
    platform = api_platform(ctx)
    token = access_token(browser, platform, "api:consent api:ballot")

    purposes = browser.get(CONSENT, headers=bearer(token))
    assert purposes.status_code == 200, purposes.text
    assert purposes.json()["controller"] == "ville-exemple"
    assert {p["id"] for p in purposes.json()["purposes"]} == {
        "newsletter",
        "budget-participatif",
        "listes-electorales",
    }
    assert "Deprecation" not in purposes.headers
    assert "Sunset" not in purposes.headers

    elections = browser.get(BALLOT, headers=bearer(token))
    assert elections.status_code == 200, elections.text
    assert elections.json() == {"elections": []}

    # The scheme is case-insensitive (RFC 9110 §11.1).
    assert browser.get(CONSENT, headers={"Authorization": f"bearer {token}"}).status_code == 200


def test_each_api_needs_its_scope(browser: TestClient, register_loaded: AppContext) -> None:
    ctx = register_loaded
    platform = api_platform(ctx)
    consent_only = access_token(browser, platform, "api:consent")
    assert browser.get(CONSENT, headers=bearer(consent_only)).status_code == 200
    ballot = browser.get(BALLOT, headers=bearer(consent_only))
    body = refused(ballot, 403, "api-insufficient-scope")
    assert "api:ballot" in body["detail"]
    assert ballot.headers["www-authenticate"] == (
        'Bearer realm="parvis", error="insufficient_scope", scope="api:ballot"'
    )
    ballot_only = access_token(browser, platform, "api:ballot")
    consent = browser.get(CONSENT, headers=bearer(ballot_only))
    refused(consent, 403, "api-insufficient-scope")
    assert 'scope="api:consent"' in consent.headers["www-authenticate"]
    assert browser.get(BALLOT, headers=bearer(ballot_only)).status_code == 200

    # A client registered without the ballot scope cannot even obtain it (RFC 6749 §5.2).
    narrow = api_platform(ctx, "consul", scopes=("api:consent",), controller="ville-voisine")
    denied = token_response(browser, narrow, "api:ballot")
    assert denied.status_code == 400
    assert denied.json()["error"] == "invalid_scope"


def test_expired_and_revoked_tokens_are_invalid(
    browser: TestClient, register_loaded: AppContext, clock: FixedClock
) -> None:
    ctx = register_loaded
    platform = api_platform(ctx)
    token = access_token(browser, platform, "api:consent")
    assert browser.get(CONSENT, headers=bearer(token)).status_code == 200

    clock.advance(timedelta(seconds=ACCESS_TOKEN_SECONDS))
    expired = browser.get(CONSENT, headers=bearer(token))
    refused(expired, 401, "api-invalid-token")
    assert expired.headers["www-authenticate"] == 'Bearer realm="parvis", error="invalid_token"'
    assert expired.headers["cache-control"] == "no-store"

    fresh = access_token(browser, platform, "api:consent api:ballot")
    assert browser.get(BALLOT, headers=bearer(fresh)).status_code == 200
    assert platform.secret is not None
    revoked = browser.post(
        "/revoke", data={"token": fresh}, auth=(platform.client_id, platform.secret)
    )
    assert revoked.status_code == 200, revoked.text  # RFC 7009 §2.2
    for url in (CONSENT, BALLOT):
        response = browser.get(url, headers=bearer(fresh))
        refused(response, 401, "api-invalid-token")
        assert 'error="invalid_token"' in response.headers["www-authenticate"]

    # A disabled client's live tokens stop working at once.
    live = access_token(browser, platform, "api:consent")
    with ctx.db.write_session() as db:
        oidc_from(ctx).clients.disable(db, platform.client_id)
    body = refused(browser.get(CONSENT, headers=bearer(live)), 401, "api-invalid-token")
    assert "disabled" in body["detail"]


def test_missing_malformed_and_unknown_credentials(
    browser: TestClient, register_loaded: AppContext
) -> None:
    missing = browser.get(CONSENT)
    refused(missing, 401, "api-token-required")
    # RFC 6750 §3.1: no error code when the request carried no credentials.
    assert missing.headers["www-authenticate"] == 'Bearer realm="parvis"'
    basic = browser.get(BALLOT, headers={"Authorization": "Basic ZGVjaWRpbTpzZWNyZXQ="})
    refused(basic, 401, "api-token-required")
    for value in (b"Bearer a b", "Bearer tok€n".encode(), b"Bearer " + b"x" * 600):
        refused(browser.get(CONSENT, headers={"Authorization": value}), 401, "api-invalid-token")
    unknown = browser.get(CONSENT, headers=bearer("A" * 43))
    refused(unknown, 401, "api-invalid-token")
    assert "unknown, expired or revoked" in unknown.json()["detail"]


def test_a_client_not_linked_to_a_controller_is_forbidden(
    browser: TestClient, register_loaded: AppContext
) -> None:
    ctx = register_loaded
    stranger = api_platform(ctx, "cap-collectif", controller=None)
    token = access_token(browser, stranger, "api:consent api:ballot")
    for url in (CONSENT, BALLOT):
        response = browser.get(url, headers=bearer(token))
        assert response.status_code == 403, response.text
        assert response.headers["content-type"] == "application/problem+json"
        body = response.json()
        assert body["title"] == "Platform not linked to a controller"
        assert body["type"] == "tag:parvis.fr,2026:problem/consent-api-client-unlinked", body
        assert "cap-collectif" in body["detail"]
        assert "parvis consent add-client" in body["detail"]
        # Not an RFC 6750 failure: the token is fine, the platform acts for no one here.
        assert "www-authenticate" not in response.headers

    # Once linked, the same token works; once the link is revoked, it is refused again.
    with ctx.db.write_session() as db:
        link_client(
            ctx,
            db,
            client_id="cap-collectif",
            controller_id="ville-voisine",
            name="CAP",
            actor="staff:admin",
        )
    linked = browser.get(CONSENT, headers=bearer(token))
    assert linked.status_code == 200
    assert linked.json()["controller"] == "ville-voisine"
    from consent.clients import revoke_client

    with ctx.db.write_session() as db:
        revoke_client(ctx, db, client_id="cap-collectif", actor="staff:admin")
    assert browser.get(CONSENT, headers=bearer(token)).status_code == 403


def test_a_citizens_sign_in_token_is_refused(
    browser: TestClient, register_loaded: AppContext, code_flow: CodeFlow
) -> None:
    """A code-flow token acts for a citizen at the platform, never for the platform at
    Parvis — even from a client that is linked to a controller and may use the APIs. (The
    provider also refuses ``api:*`` scopes at /authorize; the APIs do not rely on it.)"""
    ctx = register_loaded
    both = register(ctx, scopes=("openid", "eligibility", "age", "api:consent", "api:ballot"))
    with ctx.db.write_session() as db:
        link_client(
            ctx,
            db,
            client_id=both.client_id,
            controller_id="ville-exemple",
            name="Decidim",
            actor="staff:admin",
        )
    verifier, challenge = pkce()
    code, _ = code_flow.code(
        both,
        scope="openid age",
        code_challenge=challenge,
        code_challenge_method="S256",
    )
    exchanged = code_flow.exchange(both, code, code_verifier=verifier)
    assert exchanged.status_code == 200, exchanged.text
    user_token = exchanged.json()["access_token"]
    assert browser.get("/userinfo", headers=bearer(user_token)).status_code == 200
    for url in (CONSENT, BALLOT):
        response = browser.get(url, headers=bearer(user_token))
        body = refused(response, 401, "api-invalid-token")
        assert "citizen's sign-in" in body["detail"]
    # The same client's own client-credentials token is accepted.
    own = access_token(browser, both, "api:consent")
    assert browser.get(CONSENT, headers=bearer(own)).status_code == 200


def test_legacy_api_keys_work_until_their_sunset_with_deprecation_headers(
    browser: TestClient, register_loaded: AppContext, clock: FixedClock
) -> None:
    """ADR 0007: a key minted before the switch keeps working for DEPRECATION_DAYS, and
    every answer says so (RFC 9745 Deprecation, RFC 8594 Sunset)."""
    ctx = register_loaded
    with ctx.db.write_session() as db:
        key = create_client(
            ctx,
            db,
            client_id="consul",
            controller_id="ville-voisine",
            name="Consul",
            actor="staff:admin",
        )
    sunset = clock.now() + timedelta(days=DEPRECATION_DAYS)
    for url in (CONSENT, BALLOT):
        response = browser.get(url, headers=bearer(key))
        assert response.status_code == 200, response.text
        # RFC 9745 §2.1: an RFC 9651 Date, "@" and the epoch seconds.
        assert response.headers["deprecation"] == f"@{int(DEPRECATED_SINCE.timestamp())}"
        assert parsedate_to_datetime(response.headers["sunset"]) == sunset.replace(microsecond=0)
    assert browser.get(CONSENT, headers=bearer(key)).json()["controller"] == "ville-voisine"

    # The administrator moves the sunset closer; past it, the key is an invalid token.
    with ctx.db.write_session() as db:
        retire_key(
            ctx, db, client_id="consul", actor="staff:admin", at=clock.now() + timedelta(days=1)
        )
    assert browser.get(CONSENT, headers=bearer(key)).status_code == 200
    clock.advance(timedelta(days=1))
    gone = browser.get(BALLOT, headers=bearer(key))
    body = refused(gone, 401, "consent-api-client")
    assert "client-credentials grant" in body["detail"]
    assert gone.headers["www-authenticate"] == 'Bearer realm="parvis", error="invalid_token"'

    # The same platform moves to client credentials under the same client id.
    platform = api_client(ctx, "consul", scopes=("api:ballot",))
    token = access_token(browser, platform, "api:ballot")
    moved = browser.get(BALLOT, headers=bearer(token))
    assert moved.status_code == 200
    assert "deprecation" not in moved.headers


def test_a_retired_key_is_refused_at_once_and_a_wrong_key_too(
    browser: TestClient, register_loaded: AppContext
) -> None:
    ctx = register_loaded
    with ctx.db.write_session() as db:
        key = create_client(
            ctx,
            db,
            client_id="consul",
            controller_id="ville-voisine",
            name="Consul",
            actor="staff:admin",
        )
    wrong = key[:-4] + ("AAAA" if not key.endswith("AAAA") else "BBBB")
    refused(browser.get(CONSENT, headers=bearer(wrong)), 401, "consent-api-client")
    assert browser.get(CONSENT, headers=bearer(key)).status_code == 200
    with ctx.db.write_session() as db:
        assert retire_key(ctx, db, client_id="consul", actor="staff:admin") is None
    refused(browser.get(CONSENT, headers=bearer(key)), 401, "consent-api-client")


def test_keys_of_an_older_installation_survive_the_upgrade_with_a_sunset(
    empty_database_url: str, tmp_path: Path
) -> None:
    """ADR 0007 migration (consent_0002): a key stored by the previous schema, and the
    webhooks that reference its platform, survive the upgrade; the key works for
    DEPRECATION_DAYS after the upgrade and says so."""
    from sqlalchemy import create_engine, text

    from parvis import migrate
    from parvis.app import create_app
    from parvis.kernel.keys import derive_key, keyed_hash
    from parvis.kernel.settings import load_settings

    url = empty_database_url
    settings = load_settings(mode="test", database_url=url, data_dir=tmp_path / "var")
    migrate.upgrade(url, "consent_0001")
    secret = "s" * 43
    stored = keyed_hash(derive_key(settings.secret_key, "consent/api-key/v1"), secret.encode())
    engine = create_engine(url)
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO consent_controllers (id, definition, version, created_at, "
                "updated_at) VALUES ('ville-exemple', '{}', 1, :t, :t)"
            ),
            {"t": "2026-01-01 00:00:00"},
        )
        connection.execute(
            text(
                "INSERT INTO consent_api_clients (id, controller_id, name, key_hash, "
                "created_at) VALUES ('decidim', 'ville-exemple', 'Decidim', :h, :t)"
            ),
            {"h": stored, "t": "2026-01-01 00:00:00"},
        )
        connection.execute(
            text(
                "INSERT INTO consent_webhooks (client_id, url, events, active, created_at) "
                "VALUES ('decidim', 'https://decidim.example.org/hook', '*', :a, :t)"
            ),
            {"a": True, "t": "2026-01-01 00:00:00"},
        )
    before = datetime.now(UTC)
    migrate.upgrade(url)
    after = datetime.now(UTC)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM consent_webhooks")).scalar() == 1
    engine.dispose()

    app = create_app(settings, clock=FixedClock())
    with TestClient(app, base_url="http://127.0.0.1") as http:
        answer = http.get(BALLOT, headers=bearer(f"decidim.{secret}"))
        assert answer.status_code == 200, answer.text
        sunset = parsedate_to_datetime(answer.headers["sunset"])
        days = timedelta(days=DEPRECATION_DAYS)
        assert before.replace(microsecond=0) + days <= sunset <= after + days
        refused(http.get(BALLOT, headers=bearer(f"decidim.{'t' * 43}")), 401, "consent-api-client")
    app.state.ctx.db.dispose()
