"""Logout: OpenID Connect RP-Initiated Logout 1.0 (``/logout``) and Back-Channel Logout 1.0
(logout tokens POSTed to a platform's ``backchannel_logout_uri``), on both databases.

The platform receiving logout tokens is a real HTTP server on 127.0.0.1
(:class:`tests.consent.receiver.Receiver`); the FranceConnect sandbox runs in the app."""

from __future__ import annotations

import html
import logging
from collections.abc import Iterator
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwk, jwt
from sqlalchemy import select

import audit
from identity.oidc.service import BACKCHANNEL_ATTEMPTS, BACKCHANNEL_EVENT, oidc_from
from identity.oidc.tables import OidcGrantRow, OidcSessionRow
from identity.sandbox.web import SESSION_COOKIE
from parvis.kernel.context import AppContext
from tests.consent.receiver import Receiver
from tests.identity.conftest import PUBLIC_URL, path_and_query
from tests.identity.oidc.conftest import RP, CodeFlow, Platform, pkce, register
from tests.support.server import free_port

LOGGED_OUT = f"{RP}/logged-out"
OTHER = "https://consul.example.net"


class _Forms(HTMLParser):
    """The forms of a page: action and hidden fields (what a browser would submit)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((values.get("action", ""), {}))
        elif tag == "input" and self.forms and values.get("name"):
            self.forms[-1][1][values["name"]] = html.unescape(values.get("value", ""))


def forms(page: str) -> list[tuple[str, dict[str, str]]]:
    parser = _Forms()
    parser.feed(page)
    return parser.forms


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as running:
        yield running


@pytest.fixture
def other(ctx: AppContext, receiver: Receiver) -> Platform:
    """A second platform (another sector) registered for back-channel logout."""
    return register(
        ctx,
        client_id="consul",
        name="CONSUL",
        redirect_uris=(f"{OTHER}/users/auth/openid_connect/callback",),
        post_logout_redirect_uris=(),
        backchannel_logout_uri=f"{receiver.url}/backchannel",
        allow_loopback_http=True,
    )


def sign_in_at(code_flow: CodeFlow, platform: Platform) -> dict[str, Any]:
    """The token response of a full code flow with PKCE."""
    verifier, challenge = pkce()
    code, _ = code_flow.code(platform, code_challenge=challenge, code_challenge_method="S256")
    response = code_flow.exchange(platform, code, code_verifier=verifier)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def keyset(browser: TestClient) -> jwk.KeySet:
    return jwk.KeySet.import_key_set(browser.get("/jwks.json").json())


def id_claims(browser: TestClient, tokens: dict[str, Any]) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        tokens["id_token"], keyset(browser), algorithms=["RS256", "ES256"]
    ).claims
    return claims


def userinfo_status(browser: TestClient, tokens: dict[str, Any]) -> int:
    headers = {"Authorization": f"Bearer {tokens['access_token']}"}
    return browser.get("/userinfo", headers=headers).status_code


def check_logout_token(
    browser: TestClient, ctx: AppContext, raw: bytes, *, audience: str, sub: str, sid: str
) -> dict[str, Any]:
    """Back-Channel Logout 1.0 §2.4 and the RP's validation steps of §2.6."""
    form = parse_qs(raw.decode())
    assert list(form) == ["logout_token"]
    token = jwt.decode(form["logout_token"][0], keyset(browser), algorithms=["RS256", "ES256"])
    assert token.header["typ"] == "logout+jwt"
    assert token.header["kid"] in {k["kid"] for k in browser.get("/jwks.json").json()["keys"]}
    claims: dict[str, Any] = token.claims
    assert claims["iss"] == ctx.settings.public_url
    assert claims["aud"] == audience
    now = int(ctx.clock.now().timestamp())
    assert claims["iat"] == now
    assert 0 < claims["exp"] - claims["iat"] <= 120
    assert isinstance(claims["jti"], str)
    assert len(claims["jti"]) >= 16
    assert claims["events"] == {BACKCHANNEL_EVENT: {}}
    assert claims["sub"] == sub
    assert claims["sid"] == sid
    assert "nonce" not in claims  # §2.4: "A nonce Claim MUST NOT be present"
    return claims


def fc_sso_answer(app: FastAPI, fc_session: str) -> int:
    """What the sandbox's /authorize answers for a FranceConnect session cookie: 303 (single
    sign-on, the session is alive) or 200 (the login page: no session)."""
    with TestClient(
        app, base_url=PUBLIC_URL, follow_redirects=False, cookies={SESSION_COOKIE: fc_session}
    ) as fresh:
        start = fresh.get("/auth/franceconnect/login")
        assert start.status_code == 303
        return fresh.get(path_and_query(start.headers["location"])).status_code


def test_rp_initiated_logout_ends_every_session_and_returns_with_state(
    *,
    app: FastAPI,
    ctx: AppContext,
    browser: TestClient,
    code_flow: CodeFlow,
    platform: Platform,
    other: Platform,
    receiver: Receiver,
) -> None:
    mine = sign_in_at(code_flow, platform)
    theirs = sign_in_at(code_flow, other)
    fc_session = browser.cookies.get(SESSION_COOKIE)
    assert fc_session
    assert fc_sso_answer(app, fc_session) == 303
    their_claims = id_claims(browser, theirs)

    page = browser.get(
        "/logout",
        params={
            "id_token_hint": mine["id_token"],
            "post_logout_redirect_uri": LOGGED_OUT,
            "state": "bye-42",
        },
    )
    assert page.status_code == 200, page.text
    # The platform that asked is signed out at once; nothing else until the citizen confirms.
    assert userinfo_status(browser, mine) == 401
    assert userinfo_status(browser, theirs) == 200
    assert receiver.received == []

    [(action, fields)] = forms(page.text)
    confirmed = browser.post(action, data=fields)
    assert confirmed.status_code == 303, confirmed.text
    end_session = confirmed.headers["location"]
    assert end_session.startswith(f"{PUBLIC_URL}/fc-sandbox/api/v2/session/end?")
    back_from_fc = browser.get(path_and_query(end_session))
    assert back_from_fc.status_code == 303
    to_parvis = browser.get(path_and_query(back_from_fc.headers["location"]))
    assert to_parvis.status_code == 303
    to_platform = browser.get(to_parvis.headers["location"])
    assert to_platform.status_code == 303
    assert to_platform.headers["location"] == f"{LOGGED_OUT}?state=bye-42"

    # FranceConnect's session ended at the sandbox (its /session/end was called): the
    # same cookie no longer signs anyone in.
    assert fc_sso_answer(app, fc_session) == 200
    # Parvis's session ended: a new authorization asks to sign in again.
    assert code_flow.authorize(platform).status_code == 303

    # The other platform got a valid logout token for its session; the one that asked did
    # not (it initiated the logout).
    assert receiver.arrived.wait(timeout=30)
    [delivery] = receiver.received
    assert delivery.path == "/backchannel"
    assert delivery.headers["content-type"] == "application/x-www-form-urlencoded"
    check_logout_token(
        browser,
        ctx,
        delivery.body,
        audience="consul",
        sub=their_claims["sub"],
        sid=their_claims["sid"],
    )
    assert userinfo_status(browser, theirs) == 401
    with ctx.db.read_session() as db:
        open_sessions = db.scalars(
            select(OidcSessionRow.client_id).where(OidcSessionRow.ended_at.is_(None))
        ).all()
    assert open_sessions == []


def test_unregistered_post_logout_redirect_uri_is_an_error_page_without_redirect(
    ctx: AppContext,
    browser: TestClient,
    code_flow: CodeFlow,
    platform: Platform,
    other: Platform,
) -> None:
    mine = sign_in_at(code_flow, platform)
    register(
        ctx,
        client_id="city-site",
        redirect_uris=("https://city.example/cb",),
        post_logout_redirect_uris=("https://city.example/bye",),
    )
    for target in (
        "https://evil.example/logged-out",
        LOGGED_OUT.upper(),
        LOGGED_OUT + "/",
        LOGGED_OUT + "?next=https://evil.example",
        LOGGED_OUT + "#x",
        LOGGED_OUT[:-3],
        RP + "/logged-out/../evil",
        "https://city.example/bye",  # registered, but by another platform
    ):
        response = browser.get(
            "/logout",
            params={
                "id_token_hint": mine["id_token"],
                "post_logout_redirect_uri": target,
                "state": "s",
            },
        )
        assert response.status_code == 400, target
        assert "location" not in response.headers
        assert 'id="oidc-error"' in response.text
    # Nothing was ended by the refused requests.
    assert userinfo_status(browser, mine) == 200


def test_invalid_hints_and_mismatched_client_are_refused(
    browser: TestClient, code_flow: CodeFlow, platform: Platform, other: Platform
) -> None:
    mine = sign_in_at(code_flow, platform)
    head, body, signature = mine["id_token"].split(".")
    forged = f"{head}.{body}.{signature[:-4]}AAAA"
    for params in (
        {"id_token_hint": forged, "post_logout_redirect_uri": LOGGED_OUT},
        {"id_token_hint": "not-a-jwt", "post_logout_redirect_uri": LOGGED_OUT},
        # client_id must be the hint's audience (RP-Initiated Logout 1.0 §2).
        {"id_token_hint": mine["id_token"], "client_id": "consul"},
        {"client_id": "nobody-here", "post_logout_redirect_uri": LOGGED_OUT},
        # alone, a URI that no platform registered names no platform.
        {"post_logout_redirect_uri": "https://evil.example/logged-out"},
    ):
        response = browser.get("/logout", params=params)
        assert response.status_code == 400, params
        assert "location" not in response.headers
    # A form over the parser's limits gets the same error page, not JSON and not a 500.
    flood = browser.post("/logout", data={f"f{i}": "x" for i in range(1001)})
    assert flood.status_code == 400
    assert flood.headers["content-type"].startswith("text/html")
    assert "location" not in flood.headers
    assert userinfo_status(browser, mine) == 200


def test_logout_without_hint_asks_first_and_ends_nothing(
    browser: TestClient,
    code_flow: CodeFlow,
    platform: Platform,
    other: Platform,
    receiver: Receiver,
) -> None:
    """A cross-site GET /logout (no hint) cannot sign the citizen out of the platforms:
    only the confirmation, protected by the session's CSRF token, does."""
    mine = sign_in_at(code_flow, platform)
    theirs = sign_in_at(code_flow, other)
    page = browser.get(
        "/logout", params={"client_id": "decidim", "post_logout_redirect_uri": LOGGED_OUT}
    )
    assert page.status_code == 200
    assert userinfo_status(browser, mine) == 200
    assert userinfo_status(browser, theirs) == 200
    [(action, fields)] = forms(page.text)
    refused = browser.post(action, data={**fields, "csrf_token": "forged"})
    assert refused.status_code == 403
    assert userinfo_status(browser, mine) == 200
    assert receiver.received == []


def test_logout_without_parvis_session_goes_straight_back(
    browser: TestClient, code_flow: CodeFlow, platform: Platform
) -> None:
    mine = sign_in_at(code_flow, platform)
    browser.cookies.clear()
    response = browser.get(
        "/logout",
        params={
            "id_token_hint": mine["id_token"],
            "post_logout_redirect_uri": LOGGED_OUT,
            "state": "a b&c",
        },
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"{LOGGED_OUT}?{urlencode({'state': 'a b&c'})}"
    assert userinfo_status(browser, mine) == 401  # the platform's own session ended


def test_revoking_a_platform_sends_back_channel_logout(
    *,
    ctx: AppContext,
    browser: TestClient,
    code_flow: CodeFlow,
    platform: Platform,
    other: Platform,
    receiver: Receiver,
) -> None:
    mine = sign_in_at(code_flow, platform)
    theirs = sign_in_at(code_flow, other)
    claims = id_claims(browser, theirs)
    page = browser.get("/mon-compte/plateformes")
    assert page.status_code == 200
    by_client = {fields["client_id"]: (action, fields) for action, fields in forms(page.text)}
    action, fields = by_client["consul"]
    assert action == "/mon-compte/plateformes/revoquer"
    done = browser.post(action, data=fields)
    assert done.status_code == 303
    assert receiver.arrived.wait(timeout=30)
    [delivery] = receiver.received
    check_logout_token(
        browser, ctx, delivery.body, audience="consul", sub=claims["sub"], sid=claims["sid"]
    )
    assert userinfo_status(browser, theirs) == 401
    assert userinfo_status(browser, mine) == 200  # the other platform is untouched
    with ctx.db.read_session() as db:
        grants = db.scalars(select(OidcGrantRow.client_id)).all()
    assert grants == ["decidim"]


def _notices_for(ctx: AppContext, client_id: str) -> list[Any]:
    service = oidc_from(ctx)
    with ctx.db.write_session() as db:
        citizen = db.scalars(
            select(OidcSessionRow.citizen).where(OidcSessionRow.client_id == client_id)
        ).one()
        return service.end_sessions(db, citizen=citizen, client_id=client_id)


def audit_failures(ctx: AppContext) -> list[audit.AuditEvent]:
    with ctx.db.read_session() as db:
        return audit.service_from(ctx).query(
            db, event_type="identity.oidc.backchannel_logout_failed", limit=100
        )


def test_failed_delivery_is_retried_with_backoff(
    ctx: AppContext, code_flow: CodeFlow, other: Platform, receiver: Receiver
) -> None:
    sign_in_at(code_flow, other)
    service = oidc_from(ctx)
    service.backchannel_backoff = 0.01
    receiver.statuses.extend([503, 502])
    notices = _notices_for(ctx, "consul")
    assert service.deliver(notices).result(timeout=60) == {"consul": 200}
    assert [r.body for r in receiver.received] == [receiver.received[0].body] * 3
    assert audit_failures(ctx) == []


def test_undeliverable_logout_is_recorded_without_personal_data(
    ctx: AppContext,
    browser: TestClient,
    code_flow: CodeFlow,
    caplog: pytest.LogCaptureFixture,
) -> None:
    nowhere = register(
        ctx,
        client_id="offline",
        redirect_uris=("https://offline.example/cb",),
        post_logout_redirect_uris=(),
        backchannel_logout_uri=f"http://127.0.0.1:{free_port()}/logout",
        allow_loopback_http=True,
    )
    tokens = sign_in_at(code_flow, nowhere)
    claims = id_claims(browser, tokens)
    service = oidc_from(ctx)
    service.backchannel_backoff = 0.01
    notices = _notices_for(ctx, "offline")
    with caplog.at_level(logging.INFO, logger="identity.oidc"):
        assert service.deliver(notices).result(timeout=60) == {"offline": 0}
    [event] = audit_failures(ctx)
    assert event.actor == "system:backchannel-logout"
    assert event.subject is None
    assert event.details == {
        "client": "offline",
        "attempts": BACKCHANNEL_ATTEMPTS,
        "reason": "ConnectError",
    }
    [record] = [r for r in caplog.records if r.getMessage() == "back-channel logout not delivered"]
    logged = repr(record.__dict__)
    for secret in (claims["sub"], claims["sid"], notices[0].token):
        assert secret not in logged


def test_a_refused_logout_token_is_not_retried(
    ctx: AppContext, code_flow: CodeFlow, other: Platform, receiver: Receiver
) -> None:
    """Back-Channel Logout 1.0 §2.8: 400 means the platform refused the token; sending the
    same token again would not change that."""
    sign_in_at(code_flow, other)
    service = oidc_from(ctx)
    service.backchannel_backoff = 0.01
    receiver.statuses.append(400)
    assert service.deliver(_notices_for(ctx, "consul")).result(timeout=60) == {"consul": 400}
    assert len(receiver.received) == 1
    [event] = audit_failures(ctx)
    assert event.details == {"client": "consul", "attempts": 1, "reason": "HTTP 400"}


def test_a_registered_uri_alone_names_its_platform(
    ctx: AppContext, browser: TestClient, code_flow: CodeFlow, platform: Platform
) -> None:
    """omniauth_openid_connect (Decidim, CONSUL) sends ``post_logout_redirect_uri`` alone:
    the one platform that registered it is the one logging out; the citizen confirms, and
    comes back there with the state."""
    mine = sign_in_at(code_flow, platform)
    page = browser.get("/logout", params={"post_logout_redirect_uri": LOGGED_OUT, "state": "z"})
    assert page.status_code == 200
    assert userinfo_status(browser, mine) == 200  # nothing ends before the confirmation
    [(action, fields)] = forms(page.text)
    response = browser.post(action, data=fields)
    for _ in range(3):  # FranceConnect's /session/end, back to Parvis, then to the platform
        assert response.status_code == 303
        response = browser.get(path_and_query(response.headers["location"]))
    assert response.status_code == 303
    assert response.headers["location"] == f"{LOGGED_OUT}?state=z"
    assert userinfo_status(browser, mine) == 401
    # Registered by two platforms, the URI names neither: refused.
    register(
        ctx,
        client_id="twin",
        redirect_uris=(f"{RP}/other-callback",),
        post_logout_redirect_uris=(LOGGED_OUT,),
    )
    refused = browser.get("/logout", params={"post_logout_redirect_uri": LOGGED_OUT})
    assert refused.status_code == 400
    assert "location" not in refused.headers


def test_logout_confirmation_offers_to_return_to_the_platform(
    browser: TestClient, code_flow: CodeFlow, platform: Platform, other: Platform
) -> None:
    """RP-Initiated Logout 1.0 §2 lets the End-User decline the OP's logout: the
    confirmation page (French first) also offers to go back to the platform's registered
    ``post_logout_redirect_uri`` with its ``state`` — which signs nobody out of Parvis."""
    mine = sign_in_at(code_flow, platform)
    theirs = sign_in_at(code_flow, other)
    page = browser.get(
        "/logout",
        params={"client_id": "decidim", "post_logout_redirect_uri": LOGGED_OUT, "state": "s 1"},
    )
    assert page.status_code == 200, page.text
    assert '<html lang="fr"' in page.text
    back = f"{LOGGED_OUT}?{urlencode({'state': 's 1'})}"
    link = f'<a id="back-to-platform" href="{html.escape(back)}">Revenir à la plateforme</a>'
    assert link in page.text
    assert "Se déconnecter" in page.text
    # Declining (following the link) leaves Parvis and the other platform signed in.
    assert code_flow.page(platform).status_code in {200, 302}
    assert userinfo_status(browser, mine) == 200
    assert userinfo_status(browser, theirs) == 200


def test_signing_out_in_one_browser_leaves_the_others_signed_in(
    *,
    app: FastAPI,
    ctx: AppContext,
    browser: TestClient,
    code_flow: CodeFlow,
    platform: Platform,
    other: Platform,
    receiver: Receiver,
) -> None:
    """ADR 0013: a sign-out is the sign-out of one browser. Confirming it ends that
    browser's Parvis session and the platform sessions started from it (Back-Channel Logout
    1.0 §2.1: a ``sid`` is one OP session, so the logout token names that browser's
    session), and revokes their tokens; the citizen's other browser stays signed in to
    Parvis *and* to its platforms — never the mix where a platform session ends while the
    Parvis session that would sign it back in silently lives on."""
    from tests.identity.conftest import Flow

    mine = sign_in_at(code_flow, other)
    with TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as second:
        elsewhere = CodeFlow(second, Flow(second))
        theirs = sign_in_at(elsewhere, other)
        my_sid = id_claims(browser, mine)["sid"]
        their_sid = id_claims(browser, theirs)["sid"]
        assert my_sid != their_sid

        page = browser.get("/logout", params={"client_id": "decidim"})
        [(action, fields)] = forms(page.text)
        assert browser.post(action, data=fields).status_code == 303

        assert userinfo_status(browser, mine) == 401
        assert userinfo_status(second, theirs) == 200
        # The second browser is still signed in to Parvis: no sign-in asked.
        assert elsewhere.authorize(other).status_code != 303
        assert receiver.arrived.wait(timeout=30)
        [delivery] = receiver.received
        token = parse_qs(delivery.body.decode())["logout_token"][0]
        claims = jwt.decode(token, keyset(browser), algorithms=["RS256", "ES256"]).claims
        assert claims["sid"] == my_sid
    with ctx.db.read_session() as db:
        open_sessions = db.scalars(
            select(OidcSessionRow.sid).where(OidcSessionRow.ended_at.is_(None))
        ).all()
    assert open_sessions == [their_sid]
