"""Fixtures of the identity tests: the app with its built-in FranceConnect sandbox, a
browser-like client that follows the sign-in flow step by step, and a standalone sandbox."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import identity
from identity.sandbox import Sandbox, SandboxClient, standalone_app
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext

PUBLIC_URL = "http://127.0.0.1:8000"
SANDBOX_ISSUER = f"{PUBLIC_URL}/fc-sandbox/api/v2"
REDIRECT_URI = f"{PUBLIC_URL}/auth/franceconnect/callback"
LOGOUT_URI = f"{PUBLIC_URL}/auth/franceconnect/logged-out"


def query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def path_and_query(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


@pytest.fixture
def ctx(app: FastAPI) -> Iterator[AppContext]:
    context: AppContext = app.state.ctx
    yield context
    context.db.dispose()  # tests that never start the app's lifespan still close their pool


@pytest.fixture
def seeded(ctx: AppContext) -> AppContext:
    """The demo as ``parvis demo`` seeds it: consent's register first (its controller), then
    identity (city, rules, census, and the residency-verification purpose)."""
    from consent.plugin import seed_demo as consent_seed_demo
    from identity.plugin import seed_demo

    list(consent_seed_demo(ctx))
    lines = list(seed_demo(ctx))
    assert any("census" in line for line in lines)
    assert any("residency-verification (public task) registered" in line for line in lines)
    return ctx


@pytest.fixture
def browser(app: FastAPI, ctx: AppContext) -> Iterator[TestClient]:
    """A browser on the demo origin; the relying party's back-channel calls go to the same
    app in-process (no network)."""
    with (
        TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as client,
        TestClient(app, base_url=PUBLIC_URL) as back_channel,
    ):
        identity.use_franceconnect_http(ctx, back_channel)
        yield client


@pytest.fixture
def sandbox(ctx: AppContext) -> Sandbox:
    return identity.sandbox_from(ctx)


class Flow:
    """The sign-in flow as a browser walks it, one redirect at a time."""

    def __init__(self, client: TestClient) -> None:
        self.client = client

    def start(self, *, again: bool = False) -> httpx.Response:
        response = self.client.get("/auth/franceconnect/login" + ("?again=1" if again else ""))
        assert response.status_code == 303, response.text
        return response

    def authorize(self, start: httpx.Response) -> httpx.Response:
        return self.client.get(path_and_query(start.headers["location"]))

    def choose(self, login_page: httpx.Response, login: str) -> httpx.Response:
        assert login_page.status_code == 200, login_page.text
        marker = 'action="'
        html = login_page.text
        action = html[html.index(marker) + len(marker) :].split('"', 1)[0]
        return self.client.post(action, data={"login": login})

    def callback(self, provider_redirect: httpx.Response) -> httpx.Response:
        assert provider_redirect.status_code == 303, provider_redirect.text
        return self.client.get(path_and_query(provider_redirect.headers["location"]))

    def sign_in(self, login: str) -> httpx.Response:
        """The whole flow; returns the callback's response."""
        return self.callback(self.choose(self.authorize(self.start()), login))


@pytest.fixture
def flow(browser: TestClient) -> Flow:
    return Flow(browser)


@pytest.fixture
def fc_clock() -> FixedClock:
    return FixedClock()


@pytest.fixture
def lone_sandbox(fc_clock: FixedClock) -> Sandbox:
    """A sandbox on its own (no database): the franceconnect.md checklist runs against it."""
    clients = [
        SandboxClient(
            client_id="fs-es256",
            client_secret="secret-es256-0123456789",
            redirect_uris=(REDIRECT_URI,),
            post_logout_redirect_uris=(LOGOUT_URI,),
            alg="ES256",
        ),
        SandboxClient(
            client_id="fs-rs256",
            client_secret="secret-rs256-0123456789",
            redirect_uris=(REDIRECT_URI,),
            post_logout_redirect_uris=(LOGOUT_URI,),
            alg="RS256",
        ),
        SandboxClient(
            client_id="fs-limited",
            client_secret="secret-limited-0123456789",
            redirect_uris=(REDIRECT_URI,),
            post_logout_redirect_uris=(LOGOUT_URI,),
            scopes=frozenset({"openid", "given_name", "family_name"}),
        ),
    ]
    return Sandbox(issuer=SANDBOX_ISSUER, clock=fc_clock, secret=b"k" * 32, clients=clients)


@pytest.fixture
def sandbox_http(lone_sandbox: Sandbox) -> Iterator[TestClient]:
    with TestClient(
        standalone_app(lone_sandbox), base_url=PUBLIC_URL, follow_redirects=False
    ) as client:
        yield client
