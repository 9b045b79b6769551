"""Interoperability with an independent OpenID Connect client (docs/oidc-integration.md §2).

A real ``parvis serve`` process (on SQLite and on PostgreSQL) and the npm package
``openid-client`` (``tests/node/oidc_rp.mjs``), which nobody in this project wrote: discovery,
authorization code with PKCE S256, ``state`` and ``nonce``, RFC 9207 ``iss``, the token
exchange with ID-token validation (signature from the JWKS, ``iss``, ``aud``, ``nonce``),
userinfo, a replayed code, and RP-initiated logout. This test plays the browser over HTTP:
the sandbox FranceConnect sign-in, the consent screen, the logout confirmation.

Fails, never skips, when Node.js or ``web/node_modules`` is missing: ``make node-deps``.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from parvis.domains import plugins
from parvis.kernel.context import AppContext, build_context
from parvis.kernel.settings import load_settings
from tests.identity.oidc.conftest import register
from tests.identity.oidc.test_logout import forms
from tests.support.server import REPO, ServerProcess, free_port

SCRIPT = REPO / "tests" / "node" / "oidc_rp.mjs"
NODE_MODULES = REPO / "web" / "node_modules"
SCOPE = "openid eligibility age"
PAIRWISE = re.compile(r"^[A-Za-z0-9_-]{43}$")

pytestmark = pytest.mark.node


@pytest.fixture
def node() -> str:
    path = shutil.which("node")
    if path is None:
        pytest.fail("Node.js is not installed: the interop tests need `node` (Node 20) on PATH")
    if not (NODE_MODULES / "openid-client").is_dir():
        pytest.fail(f"{NODE_MODULES}/openid-client is missing: run `make node-deps` (npm ci)")
    return path


@pytest.fixture
def server(database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    """``parvis serve`` whose public URL (the issuer) is its own loopback address."""
    env = {
        "PARVIS_MODE": "test",
        "PARVIS_DATA_DIR": str(tmp_path / "var"),
        "PARVIS_DATABASE_URL": database_url,
    }
    process = ServerProcess(env)
    process.env["PARVIS_PUBLIC_URL"] = process.url
    with process:
        yield process


@pytest.fixture
def ctx(server: ServerProcess) -> Iterator[AppContext]:
    """The same database and settings as the server, to register platforms."""
    settings = load_settings(
        mode="test",
        database_url=server.env["PARVIS_DATABASE_URL"],
        data_dir=server.env["PARVIS_DATA_DIR"],
        public_url=server.url,
    )
    context = build_context(settings)
    for plugin in plugins():
        if plugin.setup is not None:
            plugin.setup(context)
    yield context
    context.db.dispose()


class Browser:
    """A citizen's browser over real HTTP: follows redirects one by one and fills in the
    pages on the way (sandbox sign-in as the ``test`` citizen, consent, logout)."""

    def __init__(self) -> None:
        self.http = httpx.Client(follow_redirects=False, timeout=30)
        self.pages: list[str] = []

    def walk(self, url: str, *, until: str) -> str:
        """Browse from ``url`` until a redirect leaves for ``until``; returns that URL."""
        response = self.http.get(url)
        for _ in range(30):
            if response.is_redirect:
                location = urljoin(str(response.url), response.headers["location"])
                if location.startswith(until):
                    return location
                response = self.http.get(location)
                continue
            assert response.status_code == 200, (str(response.url), response.text[:500])
            response = self._submit(response)
        pytest.fail(f"no redirect to {until} after 30 steps (pages: {self.pages})")

    def _submit(self, page: httpx.Response) -> httpx.Response:
        path = page.url.path
        self.pages.append(path)
        here = str(page.url)
        if "/fc-sandbox/" in path:
            action = next(a for a, _ in forms(page.text) if a.endswith("/login"))
            return self.http.post(urljoin(here, action), data={"login": "test"})
        wanted = {"/authorize": {"decision": "allow"}, "/logout/confirmer": {}}
        [(action, fields)] = [(a, f) for a, f in forms(page.text) if a in wanted]
        return self.http.post(urljoin(here, action), data={**fields, **wanted[action]})

    def close(self) -> None:
        self.http.close()


class RelyingParty:
    """One run of ``node tests/node/oidc_rp.mjs`` (JSON lines on stdin/stdout)."""

    def __init__(self, node: str) -> None:
        self.process = subprocess.Popen(
            [node, str(SCRIPT)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO,
        )

    def send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()

    def receive(self) -> dict[str, Any]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        if not line:
            self.process.wait(timeout=30)
            assert self.process.stderr is not None
            pytest.fail(f"node exited ({self.process.returncode}): {self.process.stderr.read()}")
        answer: dict[str, Any] = json.loads(line)
        # openid-client refused something: the whole test fails with its reason.
        assert "error" not in answer, answer
        return answer

    def close(self) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        try:
            self.process.wait(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.wait()
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()


def sign_in_and_out(
    node: str, browser: Browser, *, issuer: str, client_id: str, secret: str | None, rp: str
) -> dict[str, Any]:
    """The whole journey of one platform; returns what openid-client saw and where the
    browser ended after the logout."""
    rp_process = RelyingParty(node)
    try:
        rp_process.send(
            {
                "issuer": issuer,
                "client_id": client_id,
                "client_secret": secret,
                "redirect_uri": f"{rp}/callback",
                "post_logout_redirect_uri": f"{rp}/logged-out",
                "scope": SCOPE,
            }
        )
        start = rp_process.receive()["authorization_url"]
        assert start.startswith(f"{issuer}/authorize?")
        callback = browser.walk(start, until=f"{rp}/callback")
        rp_process.send({"callback_url": callback})
        result = rp_process.receive()
    finally:
        rp_process.close()
    assert rp_process.process.returncode == 0
    result["logged_out_at"] = browser.walk(result["end_session_url"], until=f"{rp}/")
    return result


def test_openid_client_signs_in_validates_and_logs_out(
    node: str, server: ServerProcess, ctx: AppContext
) -> None:
    port = free_port()  # nothing listens there: the browser stops at the redirect
    confidential_rp = f"http://127.0.0.1:{port}"
    public_rp = f"http://localhost:{port}"  # another host, hence another pairwise sector
    confidential = register(
        ctx,
        client_id="decidim",
        redirect_uris=(f"{confidential_rp}/callback",),
        post_logout_redirect_uris=(f"{confidential_rp}/logged-out",),
        scopes=("openid", "eligibility", "age"),
        allow_loopback_http=True,
    )
    public = register(
        ctx,
        client_id="city-app",
        auth_method="none",
        redirect_uris=(f"{public_rp}/callback",),
        post_logout_redirect_uris=(f"{public_rp}/logged-out",),
        scopes=("openid", "age"),
        allow_loopback_http=True,
    )
    assert confidential.secret is not None
    assert public.secret is None
    browser = Browser()
    try:
        seen = sign_in_and_out(
            node,
            browser,
            issuer=server.url,
            client_id="decidim",
            secret=confidential.secret,
            rp=confidential_rp,
        )
        # The citizen signed in through the sandbox and agreed on the consent screen.
        assert browser.pages[:2] == ["/fc-sandbox/api/v2/authorize", "/authorize"]
        again = sign_in_and_out(
            node, browser, issuer=server.url, client_id="city-app", secret=None, rp=public_rp
        )
    finally:
        browser.close()

    claims = seen["id_token_claims"]
    assert claims["iss"] == server.url
    assert claims["aud"] == "decidim"
    assert PAIRWISE.match(claims["sub"])
    assert isinstance(claims["sid"], str)
    assert "birthdate" not in claims
    info = seen["userinfo"]
    assert info["sub"] == claims["sub"]
    assert info["age_over_18"] is True
    assert isinstance(info["eligibility"], list)
    assert not {"birthdate", "given_name", "family_name", "email", "residence"} & set(info)
    assert seen["token_type"].lower() == "bearer"
    assert seen["replay"] == "invalid_grant"
    assert seen["end_session_url"].startswith(f"{server.url}/logout?")
    assert seen["logged_out_at"] == f"{confidential_rp}/logged-out?state={seen['logout_state']}"

    public_claims = again["id_token_claims"]
    assert public_claims["aud"] == "city-app"
    assert PAIRWISE.match(public_claims["sub"])
    assert public_claims["sub"] != claims["sub"]  # pairwise: another sector, another sub
    assert again["userinfo"]["sub"] == public_claims["sub"]
    assert "eligibility" not in again["userinfo"]  # not among this client's scopes
    assert again["replay"] == "invalid_grant"
    assert again["logged_out_at"] == f"{public_rp}/logged-out?state={again['logout_state']}"
