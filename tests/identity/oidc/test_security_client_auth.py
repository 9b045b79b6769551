"""Security tests of client authentication at the token, revocation and introspection
endpoints (RFC 6749 §2.3 and §5.2, RFC 7523 §2.2 and §3): wrong secrets, methods not
registered, unknown and disabled clients, and forged ``private_key_jwt`` assertions."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from joserfc import jwk, jwt

import identity.oidc.clients as clients_module
from identity.oidc.service import oidc_from
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from tests.identity.oidc.conftest import CodeFlow, Platform, register

API = ("api:consent",)


def _cc(browser: TestClient, **kw: Any) -> httpx.Response:
    """A client-credentials token request (RFC 6749 §4.4.2)."""
    data = {"grant_type": "client_credentials", "scope": "api:consent", **kw.pop("data", {})}
    return browser.post("/token", data=data, **kw)


@pytest.fixture
def api_client(ctx: AppContext) -> Platform:
    return register(
        ctx, client_id="city-api", scopes=API, redirect_uris=(), post_logout_redirect_uris=()
    )


def _assert_invalid_client(response: httpx.Response) -> dict[str, Any]:
    assert response.status_code == 401, response.text
    body: dict[str, Any] = response.json()
    assert body["error"] == "invalid_client"
    assert response.headers["www-authenticate"].startswith("Basic ")
    assert "access_token" not in body
    return body


# -- secrets ---------------------------------------------------------------------------------


def test_right_secret_basic_is_accepted(browser: TestClient, api_client: Platform) -> None:
    ok = _cc(browser, auth=(api_client.client_id, api_client.secret))
    assert ok.status_code == 200, ok.text
    assert ok.json()["scope"] == "api:consent"


def test_wrong_secret_is_invalid_client(browser: TestClient, api_client: Platform) -> None:
    _assert_invalid_client(_cc(browser, auth=(api_client.client_id, "not-the-secret")))
    _assert_invalid_client(_cc(browser, auth=(api_client.client_id, api_client.secret + "x")))
    _assert_invalid_client(_cc(browser, auth=(api_client.client_id, "")))


def test_method_not_registered_is_invalid_client(browser: TestClient, api_client: Platform) -> None:
    """The right secret sent with ``client_secret_post`` by a ``client_secret_basic``
    client is refused (OpenID Connect Registration §2 ``token_endpoint_auth_method``)."""
    posted = _cc(
        browser, data={"client_id": api_client.client_id, "client_secret": api_client.secret}
    )
    _assert_invalid_client(posted)
    public_style = _cc(browser, data={"client_id": api_client.client_id})
    _assert_invalid_client(public_style)


def test_unknown_and_known_clients_fail_alike(browser: TestClient, api_client: Platform) -> None:
    known = _assert_invalid_client(_cc(browser, auth=(api_client.client_id, "wrong")))
    unknown = _assert_invalid_client(_cc(browser, auth=("no-such-client", "wrong")))
    malformed = _assert_invalid_client(_cc(browser, auth=("NO SUCH/CLIENT", "wrong")))
    assert known == unknown == malformed
    post_known = _cc(browser, data={"client_id": api_client.client_id, "client_secret": "wrong"})
    post_unknown = _cc(browser, data={"client_id": "no-such-client", "client_secret": "wrong"})
    assert _assert_invalid_client(post_known) == _assert_invalid_client(post_unknown) == known


def test_unknown_client_takes_the_same_path_as_a_known_one(
    browser: TestClient, api_client: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Constant time: an unknown client id computes the keyed hash too (against a dummy),
    so the answer's timing does not tell which client ids exist. Counted, not timed."""
    calls: list[bytes] = []
    real = clients_module.keyed_hash

    def counting(key: bytes, value: bytes) -> str:
        calls.append(value)
        return real(key, value)

    monkeypatch.setattr(clients_module, "keyed_hash", counting)
    _cc(browser, auth=(api_client.client_id, "wrong-1"))
    known = len(calls)
    calls.clear()
    _cc(browser, auth=("no-such-client", "wrong-2"))
    assert len(calls) == known == 1
    assert calls == [b"wrong-2"]


def test_disabled_client_is_invalid_client(
    browser: TestClient, api_client: Platform, ctx: AppContext
) -> None:
    with ctx.db.write_session() as db:
        oidc_from(ctx).clients.disable(db, api_client.client_id)
    _assert_invalid_client(_cc(browser, auth=(api_client.client_id, api_client.secret)))


def test_rotated_secret_replaces_the_old_one(
    browser: TestClient, api_client: Platform, ctx: AppContext
) -> None:
    with ctx.db.write_session() as db:
        new = oidc_from(ctx).clients.rotate_secret(db, api_client.client_id)
    _assert_invalid_client(_cc(browser, auth=(api_client.client_id, api_client.secret)))
    assert _cc(browser, auth=(api_client.client_id, new)).status_code == 200


def test_non_ascii_secret_is_invalid_client_not_an_error(
    browser: TestClient, api_client: Platform
) -> None:
    token = base64.b64encode(f"{api_client.client_id}:s\u00e9cret".encode()).decode()
    response = _cc(browser, headers={"Authorization": f"Basic {token}"})
    _assert_invalid_client(response)


def test_code_of_one_client_cannot_be_exchanged_by_another(
    code_flow: CodeFlow, platform: Platform, ctx: AppContext
) -> None:
    other = register(
        ctx,
        client_id="consul",
        redirect_uris=(platform.redirect_uri,),  # even with the same redirect URI
        post_logout_redirect_uris=(),
    )
    code, _ = code_flow.code(platform)
    stolen = code_flow.exchange(other, code)
    assert (stolen.status_code, stolen.json()["error"]) == (400, "invalid_grant")
    assert code_flow.exchange(platform, code).status_code == 200


# -- client credentials: scopes --------------------------------------------------------------


@pytest.mark.parametrize(
    "scope",
    ["openid", "openid api:consent", "age", "api:ballot", "api:consent api:ballot", ""],
)
def test_client_credentials_cannot_get_user_or_unregistered_scopes(
    browser: TestClient, api_client: Platform, scope: str
) -> None:
    response = _cc(browser, auth=(api_client.client_id, api_client.secret), data={"scope": scope})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "invalid_scope"


def test_sign_in_client_cannot_use_client_credentials(
    browser: TestClient, platform: Platform
) -> None:
    response = _cc(browser, auth=(platform.client_id, platform.secret))
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


# -- private_key_jwt (RFC 7523) --------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Signer:
    """A platform holding a private key registered as its JWKS."""

    def __init__(self, ctx: AppContext, clock: FixedClock, client_id: str) -> None:
        self.key = jwk.RSAKey.generate_key(2048, parameters={"kid": f"{client_id}-1"})
        self.client_id = client_id
        self.clock = clock
        self.issuer = ctx.settings.public_url
        register(
            ctx,
            client_id=client_id,
            scopes=API,
            redirect_uris=(),
            post_logout_redirect_uris=(),
            auth_method="private_key_jwt",
            jwks={"keys": [self.key.as_dict(private=False)]},
        )

    def claims(self, **over: Any) -> dict[str, Any]:
        now = int(self.clock.now().timestamp())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": f"{self.issuer}/token",
            "iat": now,
            "exp": now + 60,
            "jti": secrets.token_urlsafe(16),
        }
        claims.update(over)
        return {k: v for k, v in claims.items() if v is not None}

    def assertion(self, **over: Any) -> str:
        return jwt.encode({"alg": "RS256", "kid": self.key.kid}, self.claims(**over), self.key)


def _jwt_auth(browser: TestClient, assertion: str, **data: str) -> httpx.Response:
    return _cc(
        browser,
        data={
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion,
            **data,
        },
    )


@pytest.fixture
def signer(ctx: AppContext, clock: FixedClock) -> Signer:
    return Signer(ctx, clock, "city-jwt")


def test_private_key_jwt_valid_assertion_is_accepted(browser: TestClient, signer: Signer) -> None:
    response = _jwt_auth(browser, signer.assertion())
    assert response.status_code == 200, response.text
    assert _jwt_auth(browser, signer.assertion(aud=signer.issuer)).status_code == 200


def _unsigned(claims: dict[str, Any]) -> str:
    header = _b64(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{_b64(json.dumps(claims).encode())}."


def _hs256_with_public_key(signer: Signer, claims: dict[str, Any]) -> str:
    """Key confusion (RFC 8725 §2.1): HMAC keyed with the client's *public* key."""
    public_pem = signer.key.as_pem(private=False)
    header = _b64(json.dumps({"alg": "HS256", "kid": signer.key.kid}).encode())
    body = _b64(json.dumps(claims).encode())
    mac = hmac.new(public_pem, f"{header}.{body}".encode(), hashlib.sha256).digest()
    return f"{header}.{body}.{_b64(mac)}"


def _tampered(signer: Signer) -> str:
    """A genuine assertion whose payload was swapped after signing (a later exp)."""
    header, _payload, signature = signer.assertion().split(".")
    later = signer.claims(exp=int(signer.clock.now().timestamp()) + 200)
    return f"{header}.{_b64(json.dumps(later).encode())}.{signature}"


FORGERIES: dict[str, Callable[[Signer], str]] = {
    "alg none": lambda s: _unsigned(s.claims()),
    "alg none, empty signature stripped": lambda s: _unsigned(s.claims())[:-1],
    "HS256 keyed with the public key": lambda s: _hs256_with_public_key(s, s.claims()),
    "expired": lambda s: s.assertion(
        iat=int(s.clock.now().timestamp()) - 400, exp=int(s.clock.now().timestamp()) - 100
    ),
    "valid for too long": lambda s: s.assertion(exp=int(s.clock.now().timestamp()) + 86_400),
    "no exp": lambda s: s.assertion(exp=None),
    "no jti": lambda s: s.assertion(jti=None),
    "wrong aud": lambda s: s.assertion(aud="https://other-op.example/token"),
    "aud of the userinfo endpoint": lambda s: s.assertion(aud=f"{s.issuer}/userinfo"),
    "iss differs from sub": lambda s: s.assertion(iss="someone-else"),
    "issued long ago": lambda s: s.assertion(iat=int(s.clock.now().timestamp()) - 3600),
    "not before in the future": lambda s: s.assertion(nbf=int(s.clock.now().timestamp()) + 600),
    "signature of another key": lambda s: jwt.encode(
        {"alg": "RS256", "kid": s.key.kid}, s.claims(), jwk.RSAKey.generate_key(2048)
    ),
    "tampered payload": _tampered,
    "not a JWT": lambda _s: "not.a.jwt",
    "sub is not a string": lambda s: _unsigned({**s.claims(), "sub": 42}),
}


@pytest.mark.parametrize("forge", FORGERIES.values(), ids=FORGERIES.keys())
def test_forged_assertions_are_invalid_client(
    browser: TestClient, signer: Signer, forge: Callable[[Signer], str]
) -> None:
    _assert_invalid_client(_jwt_auth(browser, forge(signer)))


def test_replayed_jti_is_invalid_client(browser: TestClient, signer: Signer) -> None:
    assertion = signer.assertion()
    assert _jwt_auth(browser, assertion).status_code == 200
    _assert_invalid_client(_jwt_auth(browser, assertion))


def test_assertion_is_spent_even_by_a_failed_request(browser: TestClient, signer: Signer) -> None:
    assertion = signer.assertion()
    failed = _jwt_auth(browser, assertion, scope="api:ballot")  # not registered: refused
    assert (failed.status_code, failed.json()["error"]) == (400, "invalid_scope")
    _assert_invalid_client(_jwt_auth(browser, assertion))


def test_replay_is_refused_for_as_long_as_the_assertion_is_valid(
    browser: TestClient, signer: Signer, clock: FixedClock
) -> None:
    assertion = signer.assertion(exp=int(clock.now().timestamp()) + 300)
    assert _jwt_auth(browser, assertion).status_code == 200
    clock.advance(timedelta(seconds=320))  # past exp + leeway? not yet: exp+30 = 330
    _assert_invalid_client(_jwt_auth(browser, assertion))
    clock.advance(timedelta(seconds=3600))
    _assert_invalid_client(_jwt_auth(browser, assertion))  # expired by then


def test_assertion_for_another_client_is_invalid_client(
    browser: TestClient, signer: Signer, ctx: AppContext, clock: FixedClock
) -> None:
    other = Signer(ctx, clock, "town-jwt")
    # Signed with the attacker's own key but naming the victim as iss and sub.
    victim = jwt.encode(
        {"alg": "RS256", "kid": signer.key.kid},
        other.claims(iss=signer.client_id, sub=signer.client_id),
        other.key,
    )
    _assert_invalid_client(_jwt_auth(browser, victim))
    # RFC 7521 §4.2: a client_id in the form must name the assertion's client.
    _assert_invalid_client(_jwt_auth(browser, other.assertion(), client_id=signer.client_id))
    named = _jwt_auth(browser, other.assertion(), client_id=other.client_id)
    assert named.status_code == 200, named.text
    token = named.json()["access_token"]
    assert _jwt_auth_introspect(browser, other, token).json()["client_id"] == other.client_id
    assert _jwt_auth_introspect(browser, signer, token).json() == {"active": False}


def _jwt_auth_introspect(browser: TestClient, signer: Signer, token: str) -> httpx.Response:
    return browser.post(
        "/introspect",
        data={
            "token": token,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": signer.assertion(),
        },
    )


def test_secret_client_cannot_authenticate_with_an_assertion(
    browser: TestClient, api_client: Platform, signer: Signer
) -> None:
    forged = signer.assertion(iss=api_client.client_id, sub=api_client.client_id)
    _assert_invalid_client(_jwt_auth(browser, forged))


def test_jwt_client_cannot_authenticate_with_a_secret(browser: TestClient, signer: Signer) -> None:
    _assert_invalid_client(_cc(browser, auth=(signer.client_id, "anything")))
