"""The relying party against the sandbox: every failure scenario, forgeries, key rotation.

The relying party talks to the sandbox through an ``httpx.Client`` bound to the sandbox app
in-process; ``test_over_real_http`` runs the same code against a real server.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi.testclient import TestClient
from joserfc import jwk, jwt

from identity.errors import (
    ClaimError,
    FranceConnectRefusedError,
    ProviderUnavailableError,
    StateMismatchError,
    TokenValidationError,
    UserinfoError,
)
from identity.franceconnect import check_id_token_claims
from identity.relying_party import FranceConnectClient, RelyingPartyConfig, SignInResult
from identity.sandbox import Sandbox, standalone_app
from parvis.kernel.clock import FixedClock
from tests.identity.conftest import LOGOUT_URI, REDIRECT_URI, SANDBOX_ISSUER, path_and_query, query
from tests.support.server import free_port

SCOPES = ("openid", "given_name", "family_name", "birthdate", "birthplace", "birthcountry")


def config(
    issuer: str = SANDBOX_ISSUER, client_id: str = "fs-es256", **kw: Any
) -> RelyingPartyConfig:
    secrets = {"fs-es256": "secret-es256-0123456789", "fs-rs256": "secret-rs256-0123456789"}
    values: dict[str, Any] = {
        "issuer": issuer,
        "client_id": client_id,
        "client_secret": secrets.get(client_id, "secret-es256-0123456789"),
        "scopes": SCOPES,
        "acr": "eidas1",
        "redirect_uri": REDIRECT_URI,
        "post_logout_redirect_uri": LOGOUT_URI,
        "timeout": 5.0,
    }
    values.update(kw)
    return RelyingPartyConfig(**values)


@pytest.fixture
def jwks_fetches(sandbox_http: TestClient) -> list[str]:
    fetched: list[str] = []

    def hook(request: httpx.Request) -> None:
        if request.url.path.endswith("/jwks"):
            fetched.append(str(request.url))

    sandbox_http.event_hooks = {"request": [hook], "response": []}
    return fetched


@pytest.fixture
def rp(sandbox_http: TestClient, fc_clock: FixedClock) -> FranceConnectClient:
    return FranceConnectClient(config(), http=sandbox_http, clock=fc_clock)


def browse(http: TestClient, url: str, login: str) -> dict[str, str]:
    """What the browser does at the provider: returns the callback's query parameters."""
    page = http.get(path_and_query(url))
    if page.status_code == 200:
        action = re.search(r'action="([^"]+/login)"', page.text)
        assert action, page.text
        page = http.post(action.group(1), data={"login": login})
    assert page.status_code == 303, page.text
    location = page.headers["location"]
    assert location.startswith(REDIRECT_URI)
    return query(location)


def sign_in(rp: FranceConnectClient, http: TestClient, login: str = "test") -> SignInResult:
    request = rp.begin(prompt="login")
    params = browse(http, request.url, login)
    return rp.finish(params, state=request.state, nonce=request.nonce)


# -- the authorization request -----------------------------------------------------------


def test_authorization_request_has_long_random_state_and_nonce_and_eidas1(
    rp: FranceConnectClient,
) -> None:
    first, second = rp.begin(), rp.begin()
    params = query(first.url)
    assert len(first.state) >= 32
    assert len(first.nonce) >= 32
    assert first.state != second.state
    assert first.nonce != second.nonce
    assert params["state"] == first.state
    assert params["nonce"] == first.nonce
    assert params["acr_values"] == "eidas1"
    assert params["response_type"] == "code"
    assert params["scope"].split()[0] == "openid"
    assert first.url.startswith(f"{SANDBOX_ISSUER}/authorize?")


def test_discovery_naming_another_issuer_is_refused(
    sandbox_http: TestClient, fc_clock: FixedClock
) -> None:
    rp = FranceConnectClient(
        config(issuer=SANDBOX_ISSUER.replace("/v2", "/v2-other")), http=sandbox_http, clock=fc_clock
    )
    with pytest.raises(ProviderUnavailableError):
        rp.begin()  # 404 at the wrong discovery URL
    lying = FranceConnectClient(config(), http=sandbox_http, clock=fc_clock)
    lying._metadata = None
    original = sandbox_http.get

    def get(url: str, **kw: Any) -> httpx.Response:
        response = original(url, **kw)
        if url.endswith("openid-configuration"):
            doc = response.json() | {"issuer": "https://attacker.example/api/v2"}
            return httpx.Response(200, json=doc)
        return response

    lying.http = type("Shim", (), {"get": staticmethod(get), "post": sandbox_http.post})()  # type: ignore[assignment]
    with pytest.raises(TokenValidationError) as caught:
        lying.metadata()
    assert caught.value.reason == "discovery:issuer"


# -- success, both algorithms -------------------------------------------------------------


@pytest.mark.parametrize("client_id", ["fs-es256", "fs-rs256"])
def test_sign_in_succeeds_with_either_algorithm(
    sandbox_http: TestClient, fc_clock: FixedClock, client_id: str
) -> None:
    rp = FranceConnectClient(config(client_id=client_id), http=sandbox_http, clock=fc_clock)
    result = sign_in(rp, sandbox_http)
    assert re.fullmatch(r"[0-9a-f]{64}v1", result.sub)
    assert result.acr == "eidas1"
    assert result.pivot.family_name == "DUBOIS"
    assert result.pivot.given_name == "Angela Claire Louise"
    assert result.pivot.birthplace == "75107"


@pytest.mark.parametrize(
    "login", ["corse", "ne_etranger", "nom_long", "accents", "plusieurs_prenoms", "date_partielle"]
)
def test_edge_case_identities_are_accepted(
    rp: FranceConnectClient, sandbox_http: TestClient, login: str
) -> None:
    result = sign_in(rp, sandbox_http, login)
    assert result.pivot.family_name


# -- every failure scenario ---------------------------------------------------------------


def test_cancel_is_access_denied(rp: FranceConnectClient, sandbox_http: TestClient) -> None:
    with pytest.raises(FranceConnectRefusedError) as caught:
        sign_in(rp, sandbox_http, "annule")
    assert caught.value.error == "access_denied"


def test_server_error_at_token_endpoint(rp: FranceConnectClient, sandbox_http: TestClient) -> None:
    with pytest.raises(ProviderUnavailableError) as caught:
        sign_in(rp, sandbox_http, "erreur_500")
    assert caught.value.reason == "token:status"


def test_malformed_userinfo(rp: FranceConnectClient, sandbox_http: TestClient) -> None:
    with pytest.raises(UserinfoError) as caught:
        sign_in(rp, sandbox_http, "userinfo_malforme")
    assert caught.value.reason == "userinfo:malformed"


def test_unsigned_userinfo(rp: FranceConnectClient, sandbox_http: TestClient) -> None:
    with pytest.raises(UserinfoError) as caught:
        sign_in(rp, sandbox_http, "userinfo_non_signe")
    assert caught.value.reason == "userinfo:alg"


def test_missing_claims(rp: FranceConnectClient, sandbox_http: TestClient) -> None:
    with pytest.raises(ClaimError) as caught:
        sign_in(rp, sandbox_http, "claims_manquants")
    assert caught.value.reason == "claim:missing"


def test_invalid_cog_birthplace(rp: FranceConnectClient, sandbox_http: TestClient) -> None:
    with pytest.raises(ClaimError) as caught:
        sign_in(rp, sandbox_http, "cog_invalide")
    assert caught.value.reason == "claim:format"


def test_state_mismatch_is_refused_before_anything_else(
    rp: FranceConnectClient, sandbox_http: TestClient
) -> None:
    request = rp.begin(prompt="login")
    params = browse(sandbox_http, request.url, "test")
    with pytest.raises(StateMismatchError):
        rp.finish(params, state="another-state-" + "x" * 30, nonce=request.nonce)
    with pytest.raises(StateMismatchError):
        rp.finish({**params, "state": ""}, state="", nonce=request.nonce)


def test_error_with_foreign_state_is_a_state_mismatch(rp: FranceConnectClient) -> None:
    with pytest.raises(StateMismatchError):
        rp.finish({"error": "access_denied", "state": "forged"}, state="s" * 43, nonce="n" * 43)


def test_replayed_code_is_refused(rp: FranceConnectClient, sandbox_http: TestClient) -> None:
    request = rp.begin(prompt="login")
    params = browse(sandbox_http, request.url, "test")
    rp.finish(params, state=request.state, nonce=request.nonce)
    with pytest.raises(TokenValidationError) as caught:
        rp.finish(params, state=request.state, nonce=request.nonce)
    assert caught.value.reason == "token:invalid_grant"


def test_expired_code_is_refused(
    rp: FranceConnectClient, sandbox_http: TestClient, fc_clock: FixedClock
) -> None:
    request = rp.begin(prompt="login")
    params = browse(sandbox_http, request.url, "test")
    fc_clock.advance(timedelta(seconds=31))
    with pytest.raises(TokenValidationError):
        rp.finish(params, state=request.state, nonce=request.nonce)


def test_nonce_mismatch_is_refused(rp: FranceConnectClient, sandbox_http: TestClient) -> None:
    request = rp.begin(prompt="login")
    params = browse(sandbox_http, request.url, "test")
    with pytest.raises(TokenValidationError) as caught:
        rp.finish(params, state=request.state, nonce="x" * 43)
    assert caught.value.reason == "nonce"


# -- ID token claims, signed with the provider's real keys ---------------------------------


def good_claims(lone_sandbox: Sandbox, **overrides: Any) -> dict[str, Any]:
    now = int(lone_sandbox.clock.now().timestamp())
    claims = {
        "iss": SANDBOX_ISSUER,
        "aud": "fs-es256",
        "sub": "a" * 64 + "v1",
        "iat": now,
        "exp": now + 60,
        "nonce": "n" * 43,
        "acr": "eidas1",
    }
    claims.update(overrides)
    return {k: v for k, v in claims.items() if v is not None}


def check(rp: FranceConnectClient, token: str) -> None:
    claims = rp.verify(token)
    check_id_token_claims(
        claims,
        issuer=SANDBOX_ISSUER,
        client_id="fs-es256",
        nonce="n" * 43,
        requested_acr="eidas1",
        now=int(rp.clock.now().timestamp()),
    )


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"iss": "https://fcp-low.sbx.dev-franceconnect.fr/api/v2"}, "iss"),
        ({"aud": "another-client"}, "aud"),
        ({"aud": ["fs-es256", "another-client"]}, "azp"),
        ({"nonce": "m" * 43}, "nonce"),
        ({"nonce": None}, "nonce"),
        ({"acr": "eidas0"}, "acr"),
        ({"acr": None}, "acr"),
        ({"exp": 1}, "exp"),
        ({"iat": 4_000_000_000}, "iat"),
        ({"sub": ""}, "sub"),
    ],
)
def test_id_token_claim_checks(
    rp: FranceConnectClient, lone_sandbox: Sandbox, overrides: dict[str, Any], reason: str
) -> None:
    check(rp, lone_sandbox.sign(lone_sandbox.clients["fs-es256"], good_claims(lone_sandbox)))
    token = lone_sandbox.sign(
        lone_sandbox.clients["fs-es256"], good_claims(lone_sandbox, **overrides)
    )
    with pytest.raises(TokenValidationError) as caught:
        check(rp, token)
    assert caught.value.reason == reason


def test_expiry_allows_a_small_skew_only(
    rp: FranceConnectClient, lone_sandbox: Sandbox, fc_clock: FixedClock
) -> None:
    token = lone_sandbox.sign(lone_sandbox.clients["fs-es256"], good_claims(lone_sandbox))
    fc_clock.advance(timedelta(seconds=60 + 29))
    check(rp, token)
    fc_clock.advance(timedelta(seconds=1))
    with pytest.raises(TokenValidationError, match="expired"):
        check(rp, token)


def test_acr_at_least_the_requested_level(rp: FranceConnectClient, lone_sandbox: Sandbox) -> None:
    higher = lone_sandbox.sign(
        lone_sandbox.clients["fs-es256"], good_claims(lone_sandbox, acr="eidas2")
    )
    check(rp, higher)


# -- forgeries and key rotation ------------------------------------------------------------


def b64(data: Any) -> str:
    raw = data if isinstance(data, bytes) else json.dumps(data).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def test_alg_none_is_rejected(rp: FranceConnectClient, lone_sandbox: Sandbox) -> None:
    kid = lone_sandbox.keys.ec.kid
    forged = f"{b64({'alg': 'none', 'kid': kid})}.{b64(good_claims(lone_sandbox))}."
    with pytest.raises(TokenValidationError) as caught:
        check(rp, forged)
    assert caught.value.reason == "alg"


def test_hs256_signed_with_the_public_key_is_rejected(
    rp: FranceConnectClient, lone_sandbox: Sandbox
) -> None:
    """The algorithm-confusion attack: HMAC keyed with the provider's public RSA key."""
    public_pem = lone_sandbox.keys.rsa.as_pem(private=False)
    kid = lone_sandbox.keys.rsa.kid
    # joserfc itself refuses to use a public key as an HMAC secret: forge it by hand.
    signing_input = (
        f"{b64({'alg': 'HS256', 'kid': kid, 'typ': 'JWT'})}.{b64(good_claims(lone_sandbox))}"
    )
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64(mac)}"
    with pytest.raises(TokenValidationError) as caught:
        check(rp, forged)
    assert caught.value.reason == "alg"


def test_rs256_header_on_the_ec_key_is_rejected(
    rp: FranceConnectClient, lone_sandbox: Sandbox
) -> None:
    token = lone_sandbox.sign(lone_sandbox.clients["fs-es256"], good_claims(lone_sandbox))
    _header, payload, signature = token.split(".")
    swapped = f"{b64({'alg': 'RS256', 'kid': lone_sandbox.keys.ec.kid})}.{payload}.{signature}"
    with pytest.raises(TokenValidationError):
        check(rp, swapped)


def test_tampered_payload_is_rejected(rp: FranceConnectClient, lone_sandbox: Sandbox) -> None:
    token = lone_sandbox.sign(lone_sandbox.clients["fs-es256"], good_claims(lone_sandbox))
    header, _payload, signature = token.split(".")
    forged = f"{header}.{b64(good_claims(lone_sandbox, sub='b' * 64 + 'v1'))}.{signature}"
    with pytest.raises(TokenValidationError) as caught:
        check(rp, forged)
    assert caught.value.reason == "signature"


def test_token_of_a_foreign_key_with_a_known_kid_is_rejected(
    rp: FranceConnectClient, lone_sandbox: Sandbox
) -> None:
    attacker = jwk.ECKey.generate_key("P-256", parameters={"kid": lone_sandbox.keys.ec.kid})
    forged = jwt.encode({"alg": "ES256", "kid": attacker.kid}, good_claims(lone_sandbox), attacker)
    with pytest.raises(TokenValidationError) as caught:
        check(rp, forged)
    assert caught.value.reason == "signature"


def test_unknown_kid_refetches_the_jwks_once_then_succeeds(
    rp: FranceConnectClient, lone_sandbox: Sandbox, jwks_fetches: list[str]
) -> None:
    check(rp, lone_sandbox.sign(lone_sandbox.clients["fs-es256"], good_claims(lone_sandbox)))
    assert len(jwks_fetches) == 1
    lone_sandbox.keys.rotate()
    check(rp, lone_sandbox.sign(lone_sandbox.clients["fs-es256"], good_claims(lone_sandbox)))
    assert len(jwks_fetches) == 2, "one re-fetch for the new kid"


def test_token_signed_by_a_rotated_away_key_is_rejected(
    rp: FranceConnectClient, lone_sandbox: Sandbox, jwks_fetches: list[str]
) -> None:
    old = lone_sandbox.sign(lone_sandbox.clients["fs-es256"], good_claims(lone_sandbox))
    lone_sandbox.keys.rotate()
    with pytest.raises(TokenValidationError) as caught:
        check(rp, old)
    assert caught.value.reason == "unknown-kid"
    assert len(jwks_fetches) == 2, "fetched, then re-fetched exactly once before failing"


def test_userinfo_about_another_subject_is_rejected(
    rp: FranceConnectClient, sandbox_http: TestClient, lone_sandbox: Sandbox
) -> None:
    request = rp.begin(prompt="login")
    params = browse(sandbox_http, request.url, "test")
    original = lone_sandbox.pairwise_sub
    calls = {"n": 0}

    def drifting(client: Any, citizen: Any) -> str:
        calls["n"] += 1
        return original(client, citizen) if calls["n"] == 1 else "c" * 64 + "v1"

    lone_sandbox.pairwise_sub = drifting  # type: ignore[method-assign]
    with pytest.raises(UserinfoError) as caught:
        rp.finish(params, state=request.state, nonce=request.nonce)
    assert caught.value.reason == "userinfo:sub"


def test_logout_url_has_the_three_required_parameters(
    rp: FranceConnectClient, sandbox_http: TestClient
) -> None:
    result = sign_in(rp, sandbox_http)
    url = rp.logout_url(id_token=result.id_token, state="st" * 16)
    params = query(url)
    assert url.startswith(f"{SANDBOX_ISSUER}/session/end?")
    assert params == {
        "id_token_hint": result.id_token,
        "state": "st" * 16,
        "post_logout_redirect_uri": LOGOUT_URI,
    }
    back = sandbox_http.get(path_and_query(url))
    assert back.headers["location"] == f"{LOGOUT_URI}?state={'st' * 16}"


# -- over real HTTP ----------------------------------------------------------------------


@pytest.fixture
def served_sandbox(lone_sandbox: Sandbox) -> Iterator[tuple[str, Sandbox]]:
    """The standalone sandbox served by uvicorn on a free port (a real HTTP server)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    lone_sandbox.issuer = f"{base}/fc-sandbox/api/v2"
    lone_sandbox.timeout_delay = 1.0
    server = uvicorn.Server(
        uvicorn.Config(standalone_app(lone_sandbox), port=port, log_level="error", lifespan="off")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.01)
    assert server.started
    yield base, lone_sandbox
    server.should_exit = True
    thread.join(timeout=10)


def test_over_real_http(served_sandbox: tuple[str, Sandbox], fc_clock: FixedClock) -> None:
    base, sandbox = served_sandbox
    with (
        httpx.Client(timeout=5, follow_redirects=False) as http,
        httpx.Client(base_url=base, follow_redirects=False) as browser,
    ):
        rp = FranceConnectClient(config(issuer=sandbox.issuer), http=http, clock=fc_clock)
        request = rp.begin()
        page = browser.get(path_and_query(request.url))
        action = re.search(r'action="([^"]+/login)"', page.text)
        assert action
        back = browser.post(action.group(1), data={"login": "test"})
        result = rp.finish(
            query(back.headers["location"]), state=request.state, nonce=request.nonce
        )
        assert result.pivot.family_name == "DUBOIS"


def test_timeout_over_real_http(served_sandbox: tuple[str, Sandbox], fc_clock: FixedClock) -> None:
    base, sandbox = served_sandbox
    with (
        httpx.Client(timeout=0.3, follow_redirects=False) as http,
        httpx.Client(base_url=base, follow_redirects=False) as browser,
    ):
        rp = FranceConnectClient(config(issuer=sandbox.issuer), http=http, clock=fc_clock)
        request = rp.begin()
        page = browser.get(path_and_query(request.url))
        action = re.search(r'action="([^"]+/login)"', page.text)
        assert action
        back = browser.post(action.group(1), data={"login": "delai"})
        with pytest.raises(ProviderUnavailableError) as caught:
            rp.finish(query(back.headers["location"]), state=request.state, nonce=request.nonce)
        assert caught.value.reason == "timeout"


def test_unreachable_provider(fc_clock: FixedClock) -> None:
    with httpx.Client(timeout=1) as http:
        rp = FranceConnectClient(
            config(issuer=f"http://127.0.0.1:{free_port()}/api/v2"), http=http, clock=fc_clock
        )
        with pytest.raises(ProviderUnavailableError) as caught:
            rp.begin()
        assert caught.value.reason == "transport"


# -- authorization response issuer (RFC 9207) and token typing (RFC 8725 §3.11) -----------


def test_authorization_response_from_another_issuer_is_refused(
    rp: FranceConnectClient, sandbox_http: TestClient
) -> None:
    """RFC 9207 §2.4: "If the value does not exactly match the expected issuer identifier
    …, the client MUST reject the authorization response and MUST NOT proceed with the
    authorization grant." Refused before the code is used (it still works afterwards), and
    on an error response too; the right ``iss`` is accepted."""
    request = rp.begin(prompt="login")
    params = browse(sandbox_http, request.url, "test")
    for wrong in ("https://attacker.example/api/v2", SANDBOX_ISSUER + "/", ""):
        with pytest.raises(TokenValidationError) as caught:
            rp.finish({**params, "iss": wrong}, state=request.state, nonce=request.nonce)
        assert caught.value.reason == "authorization-response:iss"
    refusal = {"error": "access_denied", "state": request.state, "iss": "https://attacker.example"}
    with pytest.raises(TokenValidationError) as caught:
        rp.finish(refusal, state=request.state, nonce=request.nonce)
    assert caught.value.reason == "authorization-response:iss"
    result = rp.finish({**params, "iss": SANDBOX_ISSUER}, state=request.state, nonce=request.nonce)
    assert result.pivot.family_name == "DUBOIS"


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "logout+jwt"])
def test_an_id_token_typed_as_another_token_is_refused(
    rp: FranceConnectClient, sandbox_http: TestClient, lone_sandbox: Sandbox, typ: str
) -> None:
    """Token confusion (RFC 8725 §3.11, RFC 9068 §4): a JWT whose header types it as an
    access token (``at+jwt``) or any other kind of token is not an ID token, even when
    FranceConnect's key signed it and its claims would pass. Driven through the token
    endpoint's answer, as an impostor in the middle would serve it."""
    original = sandbox_http.post

    def post(url: str, **kw: Any) -> httpx.Response:
        response = original(url, **kw)
        if not url.endswith("/token") or response.status_code != 200:
            return response
        body = response.json()
        client = lone_sandbox.clients["fs-es256"]
        key = lone_sandbox.keys.for_alg(client.alg)
        claims = jwt.decode(body["id_token"], key).claims
        header = {"alg": client.alg, "kid": key.kid, "typ": typ}
        body["id_token"] = jwt.encode(header, claims, key)
        return httpx.Response(200, json=body, headers={"content-type": "application/json"})

    request = rp.begin(prompt="login")
    params = browse(sandbox_http, request.url, "test")
    rp.http = type("Shim", (), {"get": sandbox_http.get, "post": staticmethod(post)})()  # type: ignore[assignment]
    with pytest.raises(TokenValidationError) as caught:
        rp.finish(params, state=request.state, nonce=request.nonce)
    assert caught.value.reason == "typ"
