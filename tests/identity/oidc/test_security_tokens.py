"""Security tests of codes and tokens (docs/oidc-integration.md §6): single-use short-lived codes,
expired and revoked access tokens at userinfo (RFC 6750 §3.1), introspection (RFC 7662) and
revocation (RFC 7009) across clients, and pairwise subjects (Core §8.1)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from identity.oidc.provider import ACCESS_TOKEN_SECONDS, CODE_SECONDS
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.sessions import cookie_name
from tests.identity.oidc.conftest import (
    CodeFlow,
    Platform,
    bearer,
    introspect,
    register,
    tokens,
)

# -- codes (RFC 6749 §4.1.2, §10.5) ----------------------------------------------------------


def test_code_lifetime_is_short() -> None:
    """RFC 6749 §4.1.2: "A maximum authorization code lifetime of 10 minutes is
    RECOMMENDED"; a browser redirect takes seconds."""
    assert 0 < CODE_SECONDS <= 60


def test_code_expires_after_its_lifetime(
    code_flow: CodeFlow, platform: Platform, clock: FixedClock
) -> None:
    code, _ = code_flow.code(platform)
    clock.advance(timedelta(seconds=CODE_SECONDS - 1))
    assert code_flow.exchange(platform, code).status_code == 200
    late, _ = code_flow.code(platform)
    clock.advance(timedelta(seconds=CODE_SECONDS))
    response = code_flow.exchange(platform, late)
    assert (response.status_code, response.json()["error"]) == (400, "invalid_grant")


def test_replayed_code_revokes_every_token_it_produced(
    code_flow: CodeFlow, platform: Platform, browser: TestClient
) -> None:
    code, _ = code_flow.code(platform)
    first = code_flow.exchange(platform, code)
    assert first.status_code == 200
    token = first.json()["access_token"]
    assert bearer(browser, token).status_code == 200
    # A token of another sign-in of the same citizen is not touched by the replay.
    unrelated = tokens(code_flow, platform)["access_token"]
    again = code_flow.exchange(platform, code)
    assert (again.status_code, again.json()["error"]) == (400, "invalid_grant")
    assert "access_token" not in again.json()
    assert bearer(browser, token).status_code == 401
    assert introspect(browser, platform, token).json() == {"active": False}
    assert bearer(browser, unrelated).status_code == 200


def test_code_with_another_redirect_uri_at_the_token_endpoint_is_refused(
    code_flow: CodeFlow, platform: Platform
) -> None:
    """RFC 6749 §4.1.3: redirect_uri must be identical to the authorization request's."""
    code, _ = code_flow.code(platform)
    response = code_flow.exchange(platform, code, redirect_uri=platform.redirect_uri + "/x")
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_garbage_code_is_invalid_grant(code_flow: CodeFlow, platform: Platform) -> None:
    for code in ("", "x", "A" * 5000, "\u00e9t\u00e9"):
        response = code_flow.exchange(platform, code)
        assert response.status_code == 400, code
        assert response.json()["error"] in {"invalid_grant", "invalid_request"}


# -- access tokens at userinfo (RFC 6750 §3.1) ----------------------------------------------


def test_expired_access_token_is_invalid_token(
    code_flow: CodeFlow, platform: Platform, browser: TestClient, clock: FixedClock
) -> None:
    body = tokens(code_flow, platform)
    assert body["expires_in"] == ACCESS_TOKEN_SECONDS
    token = body["access_token"]
    clock.advance(timedelta(seconds=ACCESS_TOKEN_SECONDS - 1))
    assert bearer(browser, token).status_code == 200
    clock.advance(timedelta(seconds=1))
    response = bearer(browser, token)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'
    assert response.headers["cache-control"] == "no-store"
    assert introspect(browser, platform, token).json() == {"active": False}


def test_missing_or_malformed_bearer(browser: TestClient) -> None:
    missing = browser.get("/userinfo")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"  # no error code (RFC 6750 §3.1)
    for value in ("Bearer nope", "Bearer " + "a" * 5000, "Basic abc", "Bearer  "):
        response = browser.get("/userinfo", headers={"Authorization": value})
        assert response.status_code == 401, value
        assert response.headers["www-authenticate"].startswith("Bearer")


def test_client_credentials_token_is_refused_at_userinfo(
    browser: TestClient, ctx: AppContext
) -> None:
    api = register(
        ctx,
        client_id="city-api",
        scopes=("api:consent",),
        redirect_uris=(),
        post_logout_redirect_uris=(),
    )
    token = browser.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "api:consent"},
        auth=(api.client_id, api.secret),
    ).json()["access_token"]
    response = bearer(browser, token)
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


# -- revocation (RFC 7009) and introspection (RFC 7662) --------------------------------------


@pytest.fixture
def other(ctx: AppContext) -> Platform:
    return register(
        ctx,
        client_id="consul",
        name="CONSUL",
        redirect_uris=("https://consul.example.net/auth/cb",),
        post_logout_redirect_uris=(),
    )


def test_revoked_token_is_invalid_and_inactive(
    code_flow: CodeFlow, platform: Platform, browser: TestClient
) -> None:
    token = tokens(code_flow, platform)["access_token"]
    assert introspect(browser, platform, token).json()["active"] is True
    response = browser.post(
        "/revoke", data={"token": token}, auth=(platform.client_id, platform.secret)
    )
    assert response.status_code == 200
    assert bearer(browser, token).status_code == 401
    assert introspect(browser, platform, token).json() == {"active": False}
    # Revoking again, or an unknown token, is not an error (RFC 7009 §2.2).
    for value in (token, "unknown-token"):
        again = browser.post(
            "/revoke", data={"token": value}, auth=(platform.client_id, platform.secret)
        )
        assert again.status_code == 200


def test_another_client_can_neither_revoke_nor_introspect_a_token(
    code_flow: CodeFlow, platform: Platform, other: Platform, browser: TestClient
) -> None:
    token = tokens(code_flow, platform)["access_token"]
    revoke = browser.post("/revoke", data={"token": token}, auth=(other.client_id, other.secret))
    assert revoke.status_code == 400  # RFC 7009 §2.1: refused; the token stays valid
    assert bearer(browser, token).status_code == 200
    assert introspect(browser, other, token).json() == {"active": False}
    mine = introspect(browser, platform, token).json()
    assert mine["active"] is True
    assert mine["client_id"] == platform.client_id
    assert (
        mine["iss"] == code_flow.browser.get("/.well-known/openid-configuration").json()["issuer"]
    )


def test_public_client_cannot_introspect_or_revoke(
    code_flow: CodeFlow, ctx: AppContext, browser: TestClient, platform: Platform
) -> None:
    public = register(
        ctx,
        client_id="city-app",
        auth_method="none",
        redirect_uris=("https://app.city.example/cb",),
        post_logout_redirect_uris=(),
    )
    token = tokens(code_flow, platform)["access_token"]
    response = introspect(browser, public, token)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"
    revoke = browser.post("/revoke", data={"token": token, "client_id": public.client_id})
    assert revoke.status_code == 401
    assert bearer(browser, token).status_code == 200


def test_introspection_without_credentials_is_invalid_client(
    code_flow: CodeFlow, platform: Platform, browser: TestClient
) -> None:
    token = tokens(code_flow, platform)["access_token"]
    response = browser.post("/introspect", data={"token": token})
    assert response.status_code == 401
    assert response.json() == {
        "error": "invalid_client",
        "error_description": "client authentication failed",
    }


# -- pairwise subjects (Core §8.1) ------------------------------------------------------------


def _sub(code_flow: CodeFlow, browser: TestClient, platform: Platform) -> str:
    token = tokens(code_flow, platform)["access_token"]
    return str(bearer(browser, token).json()["sub"])


def _franceconnect_sub(ctx: AppContext, browser: TestClient) -> str:
    """The ``sub`` FranceConnect gave at sign-in, read from the ID token kept (sealed) in the
    browser's web session (only the test reads it: Parvis stores FranceConnect's sub as a
    keyed hash)."""
    with ctx.db.write_session() as db:
        session = ctx.sessions.load(db, browser.cookies.get(cookie_name(secure=False)))
    id_token = session.extra.get("fc_id_token") if session is not None else None
    if not id_token:
        raise AssertionError("no FranceConnect ID token in the session")
    payload = id_token.split(".")[1]
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return str(claims["sub"])


def test_pairwise_sub_per_sector(
    code_flow: CodeFlow,
    platform: Platform,
    other: Platform,
    ctx: AppContext,
    browser: TestClient,
) -> None:
    same_sector = register(
        ctx,
        client_id="decidim-youth",
        name="Conseil des jeunes",
        redirect_uris=("https://decidim.example.org/youth/callback",),
        post_logout_redirect_uris=(),
    )
    declared = register(
        ctx,
        client_id="cap",
        name="CAP Collectif",
        redirect_uris=("https://cap.example.com/cb", "https://cap-mobile.example.com/cb"),
        sector_identifier="https://decidim.example.org/sector.json",
        post_logout_redirect_uris=(),
    )
    first = _sub(code_flow, browser, platform)
    assert _sub(code_flow, browser, platform) == first  # stable
    assert _sub(code_flow, browser, same_sector) == first  # same host: same sector
    assert _sub(code_flow, browser, declared) == first  # declared sector
    assert _sub(code_flow, browser, other) != first  # another sector
    fc_sub = _franceconnect_sub(ctx, browser)
    subs = {first, _sub(code_flow, browser, other)}
    assert fc_sub not in subs
    assert all(fc_sub[:16] not in s for s in subs)
    # Introspection tells the same pairwise sub as userinfo, per client.
    token = tokens(code_flow, other)["access_token"]
    assert introspect(browser, other, token).json()["sub"] == _sub(code_flow, browser, other)


# -- bodies over the form parser's limits (RFC 6749 §5.2, RFC 6750 §3.1) ---------------------

TOO_MANY_FIELDS = "&".join(f"f{n}=x" for n in range(1001))
FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.mark.parametrize("endpoint", ["/token", "/revoke", "/introspect"])
def test_a_form_over_the_limits_is_invalid_request_json(browser: TestClient, endpoint: str) -> None:
    """More than 1000 fields: RFC 6749 §5.2 ``invalid_request`` as JSON, never cached, not
    Starlette's plain-text 400 nor a problem+json document."""
    response = browser.post(endpoint, content=TOO_MANY_FIELDS, headers=FORM)
    assert response.status_code == 400
    assert response.headers["content-type"] == "application/json"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == "invalid_request"
    assert body["error_description"].startswith("malformed form body: Too many fields")


def test_a_form_over_the_limits_at_userinfo_and_authorize(browser: TestClient) -> None:
    userinfo = browser.post("/userinfo", content=TOO_MANY_FIELDS, headers=FORM)
    assert userinfo.status_code == 400
    assert userinfo.headers["www-authenticate"] == 'Bearer error="invalid_request"'
    # The authorization endpoint cannot read a redirect URI: a page, never a redirect.
    page = browser.post("/authorize", content=TOO_MANY_FIELDS, headers=FORM)
    assert page.status_code == 400
    assert "location" not in page.headers
    assert page.headers["content-type"].startswith("text/html")
