"""Fixtures of the OpenID provider tests: registered platforms and a signed-in citizen
walking the code flow through the FranceConnect sandbox (all in-process, no network)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from identity.oidc.clients import Registration
from identity.oidc.service import oidc_from
from parvis.kernel.context import AppContext
from tests.identity.conftest import Flow, path_and_query, query

RP = "https://decidim.example.org"
REDIRECT = f"{RP}/users/auth/parvis/callback"


@dataclass
class Platform:
    client_id: str
    secret: str | None
    redirect_uri: str


def register(ctx: AppContext, **kw: Any) -> Platform:
    values: dict[str, Any] = {
        "client_id": "decidim",
        "name": "Decidim de Démoville",
        "redirect_uris": (REDIRECT,),
        "post_logout_redirect_uris": (f"{RP}/logged-out",),
        "scopes": ("openid", "eligibility", "age", "residence"),
    }
    values.update(kw)
    reg = Registration(**values)
    with ctx.db.write_session() as db:
        secret = oidc_from(ctx).clients.create(db, reg)
    return Platform(reg.client_id, secret, reg.redirect_uris[0] if reg.redirect_uris else "")


@pytest.fixture
def platform(ctx: AppContext) -> Platform:
    return register(ctx)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest())
    return verifier, challenge.rstrip(b"=").decode()


class CodeFlow:
    """The authorization code flow as a platform and a browser walk it."""

    def __init__(self, browser: TestClient, flow: Flow) -> None:
        self.browser = browser
        self.flow = flow

    def authorize(self, platform: Platform, **extra: str) -> httpx.Response:
        params = {
            "response_type": "code",
            "client_id": platform.client_id,
            "redirect_uri": platform.redirect_uri,
            "scope": "openid eligibility age",
            "state": "st-" + secrets.token_hex(4),
            "nonce": "n-" + secrets.token_hex(4),
        }
        params.update(extra)
        return self.browser.get("/authorize", params={k: v for k, v in params.items() if v != ""})

    def sign_in_from(self, response: httpx.Response, login: str = "test") -> httpx.Response:
        """From /authorize's redirect to the sign-in, through the sandbox, back to
        /authorize (returns its answer)."""
        assert response.status_code == 303, response.text
        start = self.browser.get(path_and_query(response.headers["location"]))
        back = self.flow.callback(self.flow.choose(self.flow.authorize(start), login))
        assert back.status_code == 303, back.text
        assert back.headers["location"].startswith("/authorize?")
        return self.browser.get(back.headers["location"])

    def page(self, platform: Platform, **extra: str) -> httpx.Response:
        """/authorize's answer once signed in (signing in through the sandbox if asked)."""
        response = self.authorize(platform, **extra)
        if response.status_code == 303:
            response = self.sign_in_from(response)
        return response

    def consent(self, page: httpx.Response, decision: str = "allow") -> httpx.Response:
        assert page.status_code == 200, page.text
        html = page.text
        fields = {
            part.split('name="', 1)[1].split('"', 1)[0]: part.split('value="', 1)[1].split('"', 1)[
                0
            ]
            for part in html.split("<input")[1:]
        }
        import html as html_lib

        fields = {k: html_lib.unescape(v) for k, v in fields.items()}
        fields["decision"] = decision
        return self.browser.post("/authorize", data=fields)

    def code(self, platform: Platform, **extra: str) -> tuple[str, dict[str, str]]:
        """Sign in (if needed), consent (if asked), and return the code and the redirect's
        query."""
        response = self.authorize(platform, **extra)
        if response.status_code == 303:
            response = self.sign_in_from(response)
        if response.status_code == 200:
            response = self.consent(response)
        assert response.status_code == 302, response.text
        location = response.headers["location"]
        sep = "&" if "?" in platform.redirect_uri else "?"
        assert location.startswith(platform.redirect_uri + sep), location
        q = query(location)
        return q["code"], q

    def exchange(self, platform: Platform, code: str, **extra: str) -> httpx.Response:
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": platform.redirect_uri,
        }
        data.update(extra)
        auth = (platform.client_id, platform.secret) if platform.secret else None
        return self.browser.post("/token", data=data, auth=auth)


@pytest.fixture
def code_flow(browser: TestClient, flow: Flow) -> CodeFlow:
    return CodeFlow(browser, flow)


def bearer(browser: TestClient, token: str) -> httpx.Response:
    """GET /userinfo with ``token`` as a bearer token (RFC 6750 §2.1)."""
    return browser.get("/userinfo", headers={"Authorization": f"Bearer {token}"})


def introspect(browser: TestClient, platform: Platform, token: str) -> httpx.Response:
    """POST /introspect (RFC 7662 §2.1) authenticated as ``platform`` with HTTP Basic."""
    auth = (platform.client_id, platform.secret) if platform.secret else None
    data = {"token": token} if auth else {"token": token, "client_id": platform.client_id}
    return browser.post("/introspect", data=data, auth=auth)


def tokens(code_flow: CodeFlow, platform: Platform, **extra: str) -> dict[str, Any]:
    """Sign in (if needed), consent, exchange the code with PKCE: the token response."""
    verifier, challenge = pkce()
    code, _ = code_flow.code(
        platform, code_challenge=challenge, code_challenge_method="S256", **extra
    )
    response = code_flow.exchange(platform, code, code_verifier=verifier)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body
