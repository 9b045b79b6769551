"""franceconnect.md's checklist against the sandbox, one test per rule (no database)."""

from __future__ import annotations

import base64
import json
import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc import jwk, jwt

from identity.sandbox import Sandbox
from identity.sandbox.web import SESSION_COOKIE
from parvis.kernel.clock import FixedClock
from tests.identity.conftest import LOGOUT_URI, REDIRECT_URI, SANDBOX_ISSUER, query

PREFIX = "/fc-sandbox/api/v2"
SECRETS = {
    "fs-es256": "secret-es256-0123456789",
    "fs-rs256": "secret-rs256-0123456789",
    "fs-limited": "secret-limited-0123456789",
}
NONCE = "n" * 32


def authorize_params(**overrides: str | None) -> dict[str, str]:
    params: dict[str, str | None] = {
        "response_type": "code",
        "client_id": "fs-es256",
        "redirect_uri": REDIRECT_URI,
        "scope": "openid identite_pivot",
        "acr_values": "eidas1",
        "state": "s" * 32,
        "nonce": NONCE,
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def header_of(token: str) -> dict[str, Any]:
    segment = token.split(".", maxsplit=1)[0]
    parsed: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return parsed


def login_action(page: httpx.Response) -> str:
    match = re.search(r'action="([^"]+/login)"', page.text)
    assert match, page.text
    return match.group(1)


def get_code(http: TestClient, login: str = "test", **overrides: str | None) -> str:
    page = http.get(f"{PREFIX}/authorize", params=authorize_params(**overrides))
    if page.status_code == 303:  # a live provider session signs in silently
        return query(page.headers["location"])["code"]
    assert page.status_code == 200, page.text
    back = http.post(login_action(page), data={"login": login})
    assert back.status_code == 303
    return query(back.headers["location"])["code"]


def exchange(
    http: TestClient, code: str, client_id: str = "fs-es256", **extra: str
) -> httpx.Response:
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT_URI,
        "client_id": client_id,
        "client_secret": SECRETS[client_id],
        **extra,
    }
    return http.post(f"{PREFIX}/token", data=form)


def tokens_for(
    http: TestClient, login: str = "test", client_id: str = "fs-es256", **overrides: str | None
) -> dict[str, Any]:
    code = get_code(http, login, client_id=client_id, **overrides)
    response = exchange(http, code, client_id)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def public_keys(http: TestClient) -> jwk.KeySet:
    return jwk.KeySet.import_key_set(http.get(f"{PREFIX}/jwks").json())


def decode(http: TestClient, token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, public_keys(http), algorithms=["ES256", "RS256"]).claims)


def userinfo(http: TestClient, access_token: str) -> httpx.Response:
    return http.get(f"{PREFIX}/userinfo", headers={"authorization": f"Bearer {access_token}"})


def assert_error_redirect(response: httpx.Response, error: str) -> dict[str, str]:
    assert response.status_code == 303, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI)
    params = query(location)
    assert params["error"] == error
    assert params["state"] == "s" * 32
    assert params["error_description"]
    return params


# -- discovery and keys ----------------------------------------------------------------------


def test_discovery_document_advertises_franceconnect_v2(sandbox_http: TestClient) -> None:
    doc = sandbox_http.get(f"{PREFIX}/.well-known/openid-configuration").json()
    assert doc["issuer"] == SANDBOX_ISSUER
    assert doc["response_types_supported"] == ["code"]
    assert doc["grant_types_supported"] == ["authorization_code"]
    assert doc["subject_types_supported"] == ["pairwise"]
    assert doc["claims_parameter_supported"] is True
    assert doc["end_session_endpoint"] == f"{SANDBOX_ISSUER}/session/end"
    assert doc["jwks_uri"] == f"{SANDBOX_ISSUER}/jwks"
    assert doc["token_endpoint_auth_methods_supported"] == ["client_secret_post"]
    assert set(doc["id_token_signing_alg_values_supported"]) == {"ES256", "RS256"}


def test_jwks_has_one_es256_and_one_rs256_key_with_kids(sandbox_http: TestClient) -> None:
    keys = sandbox_http.get(f"{PREFIX}/jwks").json()["keys"]
    assert sorted((k["kty"], k["alg"]) for k in keys) == [("EC", "ES256"), ("RSA", "RS256")]
    assert all(k["kid"] for k in keys)
    assert not any("d" in k for k in keys), "private parts never published"


def test_rotation_switch_replaces_both_keys(
    sandbox_http: TestClient, lone_sandbox: Sandbox
) -> None:
    before = {k["kid"] for k in sandbox_http.get(f"{PREFIX}/jwks").json()["keys"]}
    old_token = tokens_for(sandbox_http)["id_token"]
    lone_sandbox.keys.rotate()
    after = {k["kid"] for k in sandbox_http.get(f"{PREFIX}/jwks").json()["keys"]}
    assert len(after) == 2
    assert before.isdisjoint(after)
    with pytest.raises(Exception, match="kid"):
        decode(sandbox_http, old_token)


# -- per-client algorithm ------------------------------------------------------------------


@pytest.mark.parametrize(("client_id", "alg"), [("fs-es256", "ES256"), ("fs-rs256", "RS256")])
def test_signing_algorithm_is_chosen_per_client(
    sandbox_http: TestClient, client_id: str, alg: str
) -> None:
    tokens = tokens_for(sandbox_http, client_id=client_id)
    assert header_of(tokens["id_token"])["alg"] == alg
    info = userinfo(sandbox_http, tokens["access_token"])
    assert header_of(info.text)["alg"] == alg


# -- required parameters ---------------------------------------------------------------------


def test_state_is_required(sandbox_http: TestClient) -> None:
    response = sandbox_http.get(f"{PREFIX}/authorize", params=authorize_params(state=None))
    assert response.status_code == 303
    assert query(response.headers["location"])["error"] == "invalid_request"
    assert "state" not in query(response.headers["location"])


def test_nonce_shorter_than_22_characters_is_refused(sandbox_http: TestClient) -> None:
    assert_error_redirect(
        sandbox_http.get(f"{PREFIX}/authorize", params=authorize_params(nonce="x" * 21)),
        "invalid_request",
    )
    assert (
        sandbox_http.get(f"{PREFIX}/authorize", params=authorize_params(nonce="x" * 22)).status_code
        == 200
    )


def test_nonce_minimum_is_configurable_to_32(fc_clock: FixedClock, lone_sandbox: Sandbox) -> None:
    from identity.sandbox import standalone_app

    strict = Sandbox(
        issuer=SANDBOX_ISSUER,
        clock=fc_clock,
        secret=b"k" * 32,
        clients=lone_sandbox.clients.values(),
        nonce_min_length=32,
    )
    with TestClient(standalone_app(strict), follow_redirects=False) as http:
        short = http.get(f"{PREFIX}/authorize", params=authorize_params(nonce="x" * 31))
        assert_error_redirect(short, "invalid_request")
        assert (
            http.get(f"{PREFIX}/authorize", params=authorize_params(nonce="x" * 32)).status_code
            == 200
        )
    with pytest.raises(ValueError, match="22"):
        Sandbox(issuer=SANDBOX_ISSUER, clock=fc_clock, secret=b"k" * 32, nonce_min_length=16)


def test_acr_values_are_required_and_eidas1(sandbox_http: TestClient) -> None:
    assert_error_redirect(
        sandbox_http.get(f"{PREFIX}/authorize", params=authorize_params(acr_values=None)),
        "invalid_request",
    )
    assert_error_redirect(
        sandbox_http.get(f"{PREFIX}/authorize", params=authorize_params(acr_values="eidas3")),
        "invalid_acr",
    )


def test_response_type_must_be_code(sandbox_http: TestClient) -> None:
    assert_error_redirect(
        sandbox_http.get(f"{PREFIX}/authorize", params=authorize_params(response_type="token")),
        "unsupported_response_type",
    )


def test_scope_must_contain_openid(sandbox_http: TestClient) -> None:
    assert_error_redirect(
        sandbox_http.get(f"{PREFIX}/authorize", params=authorize_params(scope="given_name")),
        "invalid_scope",
    )


def test_scope_beyond_habilitation_comes_back_as_error_redirect(sandbox_http: TestClient) -> None:
    params = authorize_params(client_id="fs-limited", scope="openid given_name birthdate")
    error = assert_error_redirect(
        sandbox_http.get(f"{PREFIX}/authorize", params=params), "invalid_scope"
    )
    assert "birthdate" in error["error_description"]
    allowed = authorize_params(client_id="fs-limited", scope="openid given_name family_name")
    assert sandbox_http.get(f"{PREFIX}/authorize", params=allowed).status_code == 200


def test_unregistered_redirect_uri_is_shown_never_redirected(sandbox_http: TestClient) -> None:
    response = sandbox_http.get(
        f"{PREFIX}/authorize", params=authorize_params(redirect_uri="https://evil.example/cb")
    )
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "redirect_uri" in response.text
    unknown_client = sandbox_http.get(
        f"{PREFIX}/authorize", params=authorize_params(client_id="nobody")
    )
    assert unknown_client.status_code == 400


# -- prompt, idp_hint, provider session ----------------------------------------------------


def test_provider_session_skips_the_login_page_unless_prompt_login(
    sandbox_http: TestClient,
) -> None:
    get_code(sandbox_http)  # opens a FranceConnect session (cookie)
    assert sandbox_http.cookies.get(SESSION_COOKIE)
    silent = sandbox_http.get(f"{PREFIX}/authorize", params=authorize_params())
    assert silent.status_code == 303
    assert "code" in query(silent.headers["location"])
    forced = sandbox_http.get(f"{PREFIX}/authorize", params=authorize_params(prompt="login"))
    assert forced.status_code == 200
    assert "Choisissez une identité de test" in forced.text


def test_idp_hint_shows_only_that_provider(sandbox_http: TestClient) -> None:
    page = sandbox_http.get(
        f"{PREFIX}/authorize", params=authorize_params(idp_hint="sandbox-ameli")
    )
    assert page.status_code == 200
    assert "accents_sans" in page.text
    assert "login-test" not in page.text
    refused = sandbox_http.post(login_action(page), data={"login": "test"})
    assert refused.status_code == 400
    unknown = sandbox_http.get(f"{PREFIX}/authorize", params=authorize_params(idp_hint="nope"))
    assert_error_redirect(unknown, "invalid_request")


def test_login_page_lists_every_enabled_test_citizen(
    sandbox_http: TestClient, lone_sandbox: Sandbox
) -> None:
    page = sandbox_http.get(f"{PREFIX}/authorize", params=authorize_params())
    for citizen in lone_sandbox.citizens.values():
        assert f'id="login-{citizen.login}"' in page.text
    assert "content-security-policy" in page.headers


# -- codes and tokens --------------------------------------------------------------------


def test_code_expires_after_30_seconds(sandbox_http: TestClient, fc_clock: FixedClock) -> None:
    code = get_code(sandbox_http)
    fc_clock.advance(timedelta(seconds=30))
    response = exchange(sandbox_http, code)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_code_is_single_use_and_replay_revokes_its_token(sandbox_http: TestClient) -> None:
    code = get_code(sandbox_http)
    first = exchange(sandbox_http, code)
    assert first.status_code == 200
    second = exchange(sandbox_http, code)
    assert second.status_code == 400
    assert second.json()["error"] == "invalid_grant"
    assert userinfo(sandbox_http, first.json()["access_token"]).status_code == 401


def test_token_endpoint_needs_client_secret_post(sandbox_http: TestClient) -> None:
    code = get_code(sandbox_http)
    wrong = exchange(sandbox_http, code, client_secret="not-the-secret")
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    basic = sandbox_http.post(
        f"{PREFIX}/token",
        data={"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI},
        auth=("fs-es256", SECRETS["fs-es256"]),
    )
    assert basic.status_code == 401


def test_token_response_has_60_second_tokens_and_no_refresh_token(sandbox_http: TestClient) -> None:
    body = tokens_for(sandbox_http)
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 60
    assert "refresh_token" not in body
    claims = decode(sandbox_http, body["id_token"])
    assert claims["exp"] - claims["iat"] == 60
    for name in ("iss", "aud", "sub", "exp", "iat", "nonce", "acr", "auth_time", "at_hash", "sid"):
        assert name in claims
    assert claims["acr"] == "eidas1"
    assert claims["nonce"] == NONCE
    assert "amr" not in claims


def test_amr_only_when_asked_through_claims(sandbox_http: TestClient) -> None:
    asked = tokens_for(sandbox_http, claims=json.dumps({"id_token": {"amr": {"essential": True}}}))
    assert decode(sandbox_http, asked["id_token"])["amr"] == ["pwd"]


def test_access_token_expires_after_60_seconds(
    sandbox_http: TestClient, fc_clock: FixedClock
) -> None:
    body = tokens_for(sandbox_http)
    fc_clock.advance(timedelta(seconds=59))
    assert userinfo(sandbox_http, body["access_token"]).status_code == 200
    fc_clock.advance(timedelta(seconds=1))
    expired = userinfo(sandbox_http, body["access_token"])
    assert expired.status_code == 401
    assert 'error="invalid_token"' in expired.headers["www-authenticate"]


# -- userinfo and claims -----------------------------------------------------------------


def test_userinfo_is_a_signed_application_jwt(sandbox_http: TestClient) -> None:
    body = tokens_for(sandbox_http)
    info = userinfo(sandbox_http, body["access_token"])
    assert info.headers["content-type"] == "application/jwt"
    claims = decode(sandbox_http, info.text)
    assert claims["sub"] == decode(sandbox_http, body["id_token"])["sub"]


def test_scope_to_claim_map(sandbox_http: TestClient) -> None:
    body = tokens_for(sandbox_http, scope="openid given_name birth")
    claims = decode(sandbox_http, userinfo(sandbox_http, body["access_token"]).text)
    assert set(claims) - {"iss", "aud"} == {
        "sub",
        "given_name",
        "given_name_array",
        "birthplace",
        "birthcountry",
    }
    assert claims["given_name"] == "Angela Claire Louise"
    assert claims["given_name_array"] == ["Angela", "Claire", "Louise"]


@pytest.mark.parametrize(
    ("login", "expected"),
    [
        ("corse", {"birthplace": "2A004", "birthcountry": "99100"}),
        ("ne_etranger", {"birthplace": "", "birthcountry": "99350"}),
        ("date_partielle", {"birthdate": "1948-01-01"}),
        ("nom_usage", {"family_name": "MARTIN", "preferred_username": "DURAND"}),
        ("test", {"gender": "female", "birthdate": "1962-08-24"}),
    ],
)
def test_claim_formats(sandbox_http: TestClient, login: str, expected: dict[str, str]) -> None:
    body = tokens_for(sandbox_http, login, scope="openid identite_pivot preferred_username")
    claims = decode(sandbox_http, userinfo(sandbox_http, body["access_token"]).text)
    for name, value in expected.items():
        assert claims[name] == value


def test_sub_is_pairwise_64_hex_plus_v1(sandbox_http: TestClient) -> None:
    es = decode(sandbox_http, tokens_for(sandbox_http, client_id="fs-es256")["id_token"])["sub"]
    rs = decode(sandbox_http, tokens_for(sandbox_http, client_id="fs-rs256")["id_token"])["sub"]
    assert re.fullmatch(r"[0-9a-f]{64}v1", es)
    assert re.fullmatch(r"[0-9a-f]{64}v1", rs)
    assert es != rs, "pairwise: another service provider sees another sub"
    again = decode(
        sandbox_http, tokens_for(sandbox_http, client_id="fs-es256", prompt="login")["id_token"]
    )["sub"]
    assert again == es, "stable for the same provider"


# -- failure scenarios -----------------------------------------------------------------


def test_cancel_comes_back_as_access_denied(sandbox_http: TestClient) -> None:
    page = sandbox_http.get(f"{PREFIX}/authorize", params=authorize_params())
    cancel = login_action(page).replace("/login", "/cancel")
    assert_error_redirect(sandbox_http.post(cancel), "access_denied")


def test_citizen_scenario_cancel(sandbox_http: TestClient) -> None:
    page = sandbox_http.get(f"{PREFIX}/authorize", params=authorize_params())
    assert_error_redirect(
        sandbox_http.post(login_action(page), data={"login": "annule"}), "access_denied"
    )


def test_disabled_account_cannot_sign_in(sandbox_http: TestClient) -> None:
    page = sandbox_http.get(f"{PREFIX}/authorize", params=authorize_params())
    refused = sandbox_http.post(login_action(page), data={"login": "desactive"})
    assert refused.status_code == 400
    assert "désactivé" in refused.text or "disabled" in refused.text


def test_scenario_server_error(sandbox_http: TestClient) -> None:
    assert exchange(sandbox_http, get_code(sandbox_http, "erreur_500")).status_code == 500


@pytest.mark.parametrize(
    ("login", "check"),
    [
        ("userinfo_malforme", lambda text: text.count(".") != 2),
        (
            "userinfo_non_signe",
            lambda text: text.endswith(".") and header_of(text)["alg"] == "none",
        ),
    ],
)
def test_scenario_bad_userinfo(sandbox_http: TestClient, login: str, check: Any) -> None:
    body = tokens_for(sandbox_http, login)
    info = userinfo(sandbox_http, body["access_token"])
    assert info.headers["content-type"] == "application/jwt"
    assert check(info.text)


def test_scenario_missing_claims(sandbox_http: TestClient) -> None:
    body = tokens_for(sandbox_http, "claims_manquants")
    claims = decode(sandbox_http, userinfo(sandbox_http, body["access_token"]).text)
    assert "family_name" not in claims
    assert "birthdate" not in claims
    assert "given_name" in claims


# -- logout -----------------------------------------------------------------------------


def test_session_end_requires_its_three_parameters(sandbox_http: TestClient) -> None:
    id_token = tokens_for(sandbox_http)["id_token"]
    full = {
        "id_token_hint": id_token,
        "state": "logout-state-0123456789",
        "post_logout_redirect_uri": LOGOUT_URI,
    }
    for missing in full:
        params = {k: v for k, v in full.items() if k != missing}
        response = sandbox_http.get(f"{PREFIX}/session/end", params=params)
        assert response.status_code == 400, missing
    bad_uri = sandbox_http.get(
        f"{PREFIX}/session/end",
        params={**full, "post_logout_redirect_uri": "https://evil.example/"},
    )
    assert bad_uri.status_code == 400
    ok = sandbox_http.get(f"{PREFIX}/session/end", params=full)
    assert ok.status_code == 303
    assert ok.headers["location"] == f"{LOGOUT_URI}?state=logout-state-0123456789"


def test_session_end_closes_the_provider_session(sandbox_http: TestClient) -> None:
    id_token = tokens_for(sandbox_http)["id_token"]
    sandbox_http.get(
        f"{PREFIX}/session/end",
        params={
            "id_token_hint": id_token,
            "state": "x" * 22,
            "post_logout_redirect_uri": LOGOUT_URI,
        },
    )
    again = sandbox_http.get(f"{PREFIX}/authorize", params=authorize_params())
    assert again.status_code == 200, "no silent sign-in after logout"


def test_clock_is_controllable(sandbox_http: TestClient, fc_clock: FixedClock) -> None:
    claims = decode(sandbox_http, tokens_for(sandbox_http)["id_token"])
    assert claims["iat"] == int(fc_clock.now().timestamp())
