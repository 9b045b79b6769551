"""The authorization code flow end to end, step by step, and its security properties."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from joserfc import jwk, jwt
from joserfc.errors import JoseError

from identity.oidc.keystore import JWKS_MAX_AGE, NEXT_KEY_MIN_PUBLISHED
from identity.oidc.provider import ID_TOKEN_SECONDS
from parvis.kernel.context import AppContext
from tests.identity.conftest import query
from tests.identity.oidc.conftest import CodeFlow, Platform, bearer, pkce, register, tokens


def test_discovery_lists_what_is_supported(browser: TestClient, ctx: AppContext) -> None:
    doc = browser.get("/.well-known/openid-configuration").json()
    assert doc["issuer"] == ctx.settings.public_url
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["authorization_response_iss_parameter_supported"] is True
    assert doc["subject_types_supported"] == ["pairwise"]
    assert {"eligibility", "age", "residence"} <= set(doc["scopes_supported"])
    keys = browser.get("/jwks.json").json()["keys"]
    assert {k["alg"] for k in keys} == {"RS256", "ES256"}
    assert all("d" not in k for k in keys)


def test_sign_in_consent_code_token_userinfo(
    code_flow: CodeFlow, platform: Platform, browser: TestClient, ctx: AppContext
) -> None:
    verifier, challenge = pkce()
    code, q = code_flow.code(platform, code_challenge=challenge, code_challenge_method="S256")
    assert q["iss"] == ctx.settings.public_url  # RFC 9207
    token = code_flow.exchange(platform, code, code_verifier=verifier)
    assert token.status_code == 200, token.text
    body = token.json()
    keys = jwk.KeySet.import_key_set(browser.get("/jwks.json").json())
    id_token = jwt.decode(body["id_token"], keys, algorithms=["RS256"])
    assert id_token.claims["iss"] == ctx.settings.public_url
    assert id_token.claims["aud"] == "decidim"
    assert "birthdate" not in id_token.claims
    info = browser.get("/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert info.status_code == 200, info.text
    claims = info.json()
    assert claims["sub"] == id_token.claims["sub"]
    assert set(claims) >= {"age_over_18", "eligibility"}
    assert "residence" not in claims  # not asked for; and it needs consent


def test_replayed_code_is_refused_and_revokes_its_tokens(
    code_flow: CodeFlow, platform: Platform, browser: TestClient
) -> None:
    verifier, challenge = pkce()
    code, _ = code_flow.code(platform, code_challenge=challenge, code_challenge_method="S256")
    first = code_flow.exchange(platform, code, code_verifier=verifier)
    assert first.status_code == 200
    again = code_flow.exchange(platform, code, code_verifier=verifier)
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    info = browser.get(
        "/userinfo", headers={"Authorization": f"Bearer {first.json()['access_token']}"}
    )
    assert info.status_code == 401


def test_plain_pkce_is_refused(code_flow: CodeFlow, platform: Platform) -> None:
    code_flow.code(platform)  # signs in and consents once
    response = code_flow.authorize(platform, code_challenge="a" * 43, code_challenge_method="plain")
    assert response.status_code == 302
    assert "error=invalid_request" in response.headers["location"]
    assert "iss=" in response.headers["location"]


def test_wrong_pkce_verifier_is_refused(code_flow: CodeFlow, platform: Platform) -> None:
    _verifier, challenge = pkce()
    code, _ = code_flow.code(platform, code_challenge=challenge, code_challenge_method="S256")
    other, _ = pkce()
    response = code_flow.exchange(platform, code, code_verifier=other)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_prompt_none_without_session_is_login_required(
    code_flow: CodeFlow, platform: Platform
) -> None:
    response = code_flow.authorize(platform, prompt="none")
    assert response.status_code == 302
    assert "error=login_required" in response.headers["location"]


def test_redirect_uri_tricks_are_refused_without_redirecting(
    code_flow: CodeFlow, platform: Platform
) -> None:
    base = platform.redirect_uri
    for trick in (
        base + "/../../evil",
        base.upper(),
        base + "#frag",
        base + "x",
        base[:-3],
        "https://evil.example/cb",
        base + "?next=https://evil.example",
    ):
        response = code_flow.authorize(platform, redirect_uri=trick)
        assert response.status_code == 400, trick
        assert "location" not in response.headers


def test_pairwise_subjects_differ_across_sectors_and_are_stable(
    code_flow: CodeFlow, platform: Platform, ctx: AppContext, browser: TestClient
) -> None:
    other = register(
        ctx,
        client_id="consul",
        name="CONSUL",
        redirect_uris=("https://consul.example.net/auth/cb",),
        post_logout_redirect_uris=(),
    )

    def sub(p: Platform) -> str:
        code, _ = code_flow.code(p)
        token = code_flow.exchange(p, code).json()["access_token"]
        return str(
            browser.get("/userinfo", headers={"Authorization": f"Bearer {token}"}).json()["sub"]
        )

    first = sub(platform)
    assert sub(platform) == first
    assert sub(other) != first


def test_public_client_without_pkce_is_refused(code_flow: CodeFlow, ctx: AppContext) -> None:
    public = register(
        ctx,
        client_id="city-app",
        auth_method="none",
        redirect_uris=("https://app.city.example/cb",),
        post_logout_redirect_uris=(),
    )
    response = code_flow.authorize(public)
    assert response.status_code == 302
    assert "error=invalid_request" in response.headers["location"]


def test_jwks_cache_life_is_the_keystores(browser: TestClient) -> None:
    """The JWKS ``max-age`` is the constant the rotation delay is computed from (a next
    key is published for twice that before it signs), so the two cannot drift apart."""
    response = browser.get("/jwks.json")
    assert response.headers["cache-control"] == f"public, max-age={JWKS_MAX_AGE}"
    assert timedelta(seconds=2 * JWKS_MAX_AGE) == NEXT_KEY_MIN_PUBLISHED


def test_signed_userinfo_carries_iss_aud_iat_and_a_short_exp(
    code_flow: CodeFlow, browser: TestClient, ctx: AppContext
) -> None:
    """OpenID Connect Core §5.3.2: a signed userinfo response MUST contain ``iss`` (the
    issuer) and ``aud`` (the client id); ``iat`` and ``exp`` bound its life like the ID
    token's."""
    platform = register(ctx, userinfo_alg="ES256", id_token_alg="ES256")
    body = tokens(code_flow, platform)
    response = bearer(browser, body["access_token"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/jwt"
    keys = jwk.KeySet.import_key_set(browser.get("/jwks.json").json())
    signed = jwt.decode(response.text, keys, algorithms=["ES256"])
    claims = signed.claims
    now = int(ctx.clock.now().timestamp())
    assert claims["iss"] == ctx.settings.public_url
    assert claims["aud"] == platform.client_id
    assert claims["iat"] == now
    assert claims["exp"] == now + ID_TOKEN_SECONDS
    id_token = jwt.decode(body["id_token"], keys, algorithms=["ES256"]).claims
    assert claims["exp"] - claims["iat"] == id_token["exp"] - id_token["iat"]
    assert claims["sub"] == id_token["sub"]
    registry = jwt.JWTClaimsRegistry(
        now=now + ID_TOKEN_SECONDS + 1, leeway=0, exp={"essential": True}
    )
    with pytest.raises(JoseError):
        registry.validate(claims)


def test_signed_userinfo_uses_the_registered_userinfo_algorithm(
    code_flow: CodeFlow, browser: TestClient, ctx: AppContext
) -> None:
    """OpenID Connect Dynamic Client Registration 1.0 §2 ``userinfo_signed_response_alg``:
    "JWS alg algorithm REQUIRED for signing UserInfo Responses" — the client's UserInfo
    algorithm, not its ID token algorithm (a strict client refuses any other)."""
    platform = register(ctx, userinfo_alg="ES256", id_token_alg="RS256")
    body = tokens(code_flow, platform)
    response = bearer(browser, body["access_token"])
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/jwt"
    keys = jwk.KeySet.import_key_set(browser.get("/jwks.json").json())
    signed = jwt.decode(response.text, keys, algorithms=["ES256"])
    assert signed.header["alg"] == "ES256"
    assert {k["kid"]: k["alg"] for k in keys.as_dict()["keys"]}[signed.header["kid"]] == "ES256"
    id_token = jwt.decode(body["id_token"], keys, algorithms=["RS256"])
    assert id_token.header["alg"] == "RS256"


@pytest.mark.parametrize(
    ("parameter", "error"),
    [
        ("request", "request_not_supported"),
        ("request_uri", "request_uri_not_supported"),
    ],
)
def test_request_objects_are_refused_not_ignored(
    code_flow: CodeFlow, platform: Platform, ctx: AppContext, parameter: str, error: str
) -> None:
    """OpenID Connect Core §6.1/§6.2 and §3.1.2.6: an OP that does not support ``request``
    (``request_uri``) answers ``request_not_supported`` (``request_uri_not_supported``) on
    the redirect URI — and issues no code from the request's other parameters."""
    value = "eyJhbGciOiJub25lIn0.e30." if parameter == "request" else "https://rp/req/1"
    response = code_flow.page(platform, state="st-req", **{parameter: value})
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(platform.redirect_uri + "?"), location
    q = query(location)
    assert q["error"] == error
    assert q["state"] == "st-req"
    assert q["iss"] == ctx.settings.public_url
    assert "code" not in q
    doc = code_flow.browser.get("/.well-known/openid-configuration").json()
    assert doc["request_parameter_supported"] is False
    assert doc["request_uri_parameter_supported"] is False


def test_no_consent_is_asked_for_an_email_that_cannot_be_released(
    code_flow: CodeFlow, browser: TestClient, ctx: AppContext
) -> None:
    """GDPR Art. 4(11), 7: consent is asked for a processing that can happen. Without
    ``email`` in ``PARVIS_FC_SCOPES`` (the default) Parvis never holds an address, so the
    consent screen does not ask to share one, and no grant or consent records it."""
    from identity.oidc.tables import OidcGrantRow

    assert "email" not in ctx.settings.fc_scopes.split()
    platform = register(ctx, scopes=("openid", "eligibility", "age", "email"))
    page = code_flow.page(platform, scope="openid eligibility age email", ui_locales="fr")
    assert page.status_code == 200, page.text
    assert 'data-scope="age"' in page.text
    assert 'data-scope="email"' not in page.text
    assert "adresse électronique" not in page.text
    response = code_flow.consent(page)
    assert response.status_code == 302, response.text
    body = code_flow.exchange(platform, query(response.headers["location"])["code"]).json()
    assert "email" not in bearer(browser, body["access_token"]).json()
    with ctx.db.read_session() as db:
        [grant] = db.query(OidcGrantRow).all()
    assert "email" not in grant.groups.split()
