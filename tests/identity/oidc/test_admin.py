"""The staff pages that register OpenID clients (docs/oidc-integration.md §4): admins only, CSRF,
every registration field, the secret shown once and working, rotation, disabling (which revokes
the client's tokens) and enabling (tests/identity/oidc/test_disable_and_acr.py), errors on
the form, French first, every change audited."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from joserfc import jwk

import audit
from identity import locale_fr as identity_fr
from identity.oidc import admin, locale_admin_fr
from identity.oidc import locale_fr as oidc_fr
from identity.oidc.service import oidc_from
from identity.oidc.tables import OidcClientRow
from parvis import locale_fr as kernel_fr
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Role, Staff
from tests.identity.conftest import PUBLIC_URL
from tests.support.auth import sign_in

PAGES = "/staff/plateformes"
RP = "https://budget.ville.example"
TEMPLATES = Path(admin.__file__).resolve().parents[1] / "templates/identity/oidc/admin"
ADMIN = Staff("admin1", frozenset({Role.ADMIN}))


def staff_browser(app: FastAPI, staff: Staff | None) -> TestClient:
    browser = TestClient(app, base_url=PUBLIC_URL, follow_redirects=False)
    if staff is not None:
        sign_in(browser, app, staff)
    return browser


@pytest.fixture
def admin_browser(app: FastAPI) -> Iterator[TestClient]:
    with staff_browser(app, ADMIN) as browser:
        yield browser


def csrf(page: httpx.Response) -> str:
    return page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def alert(page: httpx.Response) -> str:
    match = re.search(r'role="alert"[^>]*>(.*?)</(p|div)>', page.text, re.S)
    assert match, page.text
    return html.unescape(re.sub(r"<[^>]+>", "", match.group(1)))


def form(token: str, **overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "csrf_token": token,
        "client_id": "budget",
        "name": "Budget participatif",
        "client_type": "confidential",
        "auth_method": "client_secret_basic",
        "redirect_uris": f"{RP}/callback\n{RP}/callback-2",
        "post_logout_redirect_uris": f"{RP}/bye",
        "scope": ["openid", "eligibility", "age", "api:consent"],
        "id_token_alg": "ES256",
        "userinfo": "RS256",
        "sector_identifier": "",
        "backchannel_logout_uri": f"{RP}/backchannel",
        "jwks": "",
    }
    values.update(overrides)
    return values


def register(browser: TestClient, **overrides: Any) -> httpx.Response:
    token = csrf(browser.get(f"{PAGES}/nouvelle"))
    return browser.post(f"{PAGES}/nouvelle", data=form(token, **overrides))


def secret_of(page: httpx.Response) -> str:
    return html.unescape(page.text.split('id="client-secret" readonly value="', 1)[1].split('"')[0])


def api_token(browser: TestClient, client_id: str, secret: str) -> httpx.Response:
    return browser.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "api:consent"},
        auth=(client_id, secret),
    )


def events(ctx: AppContext, event_type: str) -> list[audit.AuditEvent]:
    with ctx.db.read_session() as db:
        return audit.service_from(ctx).query(db, event_type=event_type, limit=100)


def test_only_admins_reach_the_pages(app: FastAPI, ctx: AppContext) -> None:
    with staff_browser(app, None) as anonymous:
        response = anonymous.get(PAGES)
        assert response.status_code == 303
        assert response.headers["location"] == "/staff/login?next=%2Fstaff%2Fplateformes"
    for role in (Role.AGENT, Role.DPO, Role.ELECTION_OFFICER):
        with staff_browser(app, Staff(f"s-{role.value}", frozenset({role}))) as other:
            assert other.get(PAGES).status_code == 403, role
            assert other.get(f"{PAGES}/nouvelle").status_code == 403, role
    with staff_browser(app, ADMIN) as allowed:
        assert allowed.get(PAGES).status_code == 200
    with staff_browser(app, Staff("agent2", frozenset({Role.AGENT}))) as agent:
        token = csrf(agent.get("/staff/guichet"))
        refused = agent.post(f"{PAGES}/nouvelle", data=form(token))
        assert refused.status_code == 403
    with ctx.db.read_session() as db:
        assert oidc_from(ctx).clients.all(db) == []


def test_register_shows_the_secret_once_and_it_works(
    admin_browser: TestClient, ctx: AppContext
) -> None:
    created = register(admin_browser)
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    secret = secret_of(created)
    assert len(secret) >= 43  # 256 bits, URL-safe base64
    assert api_token(admin_browser, "budget", secret).status_code == 200
    assert api_token(admin_browser, "budget", secret[:-1] + "x").status_code == 401
    # Shown once: neither the details page nor the list shows it again; stored hashed.
    detail = admin_browser.get(f"{PAGES}/budget")
    assert detail.status_code == 200
    assert secret not in detail.text
    assert secret not in admin_browser.get(PAGES).text
    with ctx.db.read_session() as db:
        row = db.get(OidcClientRow, "budget")
        assert row is not None
        assert row.secret_hash
        assert secret not in row.secret_hash
        client = oidc_from(ctx).clients.get(db, "budget")
    assert client is not None
    assert client.redirect_uris == (f"{RP}/callback", f"{RP}/callback-2")
    assert client.post_logout_redirect_uris == (f"{RP}/bye",)
    assert set(client.scopes) == {"openid", "eligibility", "age", "api:consent"}
    assert client.id_token_signed_response_alg == "ES256"
    assert client.userinfo_signed_response_alg == "RS256"
    assert client.backchannel_logout_uri == f"{RP}/backchannel"
    assert not client.public
    assert set(client.grant_types) == {"authorization_code", "client_credentials"}
    # Audited, by whom, with metadata only: no secret, no display name.
    (event,) = events(ctx, "identity.oidc.client.registered")
    assert event.actor == "staff:admin1"
    assert event.subject is None
    assert event.details is not None
    assert event.details["client_id"] == "budget"
    assert event.details["auth_method"] == "client_secret_basic"
    dumped = json.dumps(event.details)
    assert secret not in dumped
    assert "Budget participatif" not in dumped


def test_public_and_private_key_jwt_clients(admin_browser: TestClient, ctx: AppContext) -> None:
    public = register(
        admin_browser,
        client_id="appli-mobile",
        client_type="public",
        auth_method="client_secret_post",  # ignored: a public client has no secret
        scope=["openid", "age"],
        sector_identifier=f"{RP}/sector.json",
    )
    assert public.status_code == 303
    assert public.headers["location"] == f"{PAGES}/appli-mobile"
    page = admin_browser.get(public.headers["location"])
    assert "client-secret" not in page.text
    assert "Créer un nouveau secret" not in page.text
    key = jwk.ECKey.generate_key("P-256", private=True)
    keys = {"keys": [{**key.as_dict(private=False), "kid": "k1"}]}
    signed = register(
        admin_browser,
        client_id="budget-jwt",
        auth_method="private_key_jwt",
        jwks=json.dumps(keys),
        purpose_access="",
    )
    assert signed.status_code == 303, signed.text
    with ctx.db.read_session() as db:
        mobile = oidc_from(ctx).clients.get(db, "appli-mobile")
        jwt_client = oidc_from(ctx).clients.get(db, "budget-jwt")
    assert mobile is not None
    assert mobile.public
    assert mobile.auth_method == "none"
    assert mobile.secret_hash is None
    assert mobile.sector == "budget.ville.example"
    assert jwt_client is not None
    assert jwt_client.jwks == keys


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"redirect_uris": f"{RP}/callback#frag"}, "must not contain a fragment"),
        ({"redirect_uris": "http://budget.ville.example/cb"}, "must be an absolute https URL"),
        ({"redirect_uris": f"{RP}/*"}, "wildcard"),
        ({"name": "  "}, "name: required"),
        ({"client_id": "Budget Participatif"}, "client id"),
        ({"auth_method": "tls_client_auth"}, "token endpoint auth method"),
        ({"id_token_alg": "HS256"}, "ID token algorithm"),
        ({"userinfo": "none"}, "userinfo"),
        ({"scope": ["openid", "admin"]}, "unknown scopes"),
        ({"auth_method": "private_key_jwt"}, "needs the client's public JWKS"),
        ({"auth_method": "private_key_jwt", "jwks": "{not json"}, "not valid JSON"),
        ({"auth_method": "private_key_jwt", "jwks": '{"keys": []}'}, "at least one key"),
        ({"auth_method": "private_key_jwt", "jwks": "PRIVATE"}, "not valid JSON"),
        ({"jwks": '{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}'}, "RSA or EC public key"),
        ({"client_type": "public", "scope": ["openid", "api:consent"]}, "public client"),
        ({"purpose_residence": "no-such-purpose"}, "no purpose 'no-such-purpose'"),
        ({"redirect_uris": "\n".join(f"{RP}/{n}" for n in range(21))}, "at most 20"),
    ],
)
def test_refused_input_is_shown_on_the_form(
    admin_browser: TestClient, ctx: AppContext, overrides: dict[str, Any], message: str
) -> None:
    response = register(admin_browser, **overrides)
    assert response.status_code == 422, response.text
    assert message in alert(response)
    # What was typed is kept on the form.
    assert 'name="client_id" value="' in response.text
    kept = overrides.get("client_id", "budget")
    assert f'value="{html.escape(kept)}"' in response.text
    with ctx.db.read_session() as db:
        assert oidc_from(ctx).clients.all(db) == []
    assert events(ctx, "identity.oidc.client.registered") == []


def test_a_private_jwk_is_refused(admin_browser: TestClient) -> None:
    key = jwk.RSAKey.generate_key(2048, private=True)
    response = register(
        admin_browser,
        auth_method="private_key_jwt",
        jwks=json.dumps({"keys": [key.as_dict(private=True)]}),
    )
    assert response.status_code == 422
    assert "private key material" in alert(response)
    # Not echoed back into the page (nor a cache, nor the browser's history).
    assert key.as_dict(private=True)["d"] not in response.text
    assert 'name="client_id" value="budget"' in response.text


def test_duplicate_id_and_forms_without_csrf(admin_browser: TestClient, ctx: AppContext) -> None:
    assert register(admin_browser).status_code == 201
    again = register(admin_browser)
    assert again.status_code == 422
    assert "already exists" in alert(again)
    token = csrf(admin_browser.get(f"{PAGES}/budget"))
    no_token = admin_browser.post(f"{PAGES}/nouvelle", data=form(""))
    assert no_token.status_code == 403
    wrong = admin_browser.post(f"{PAGES}/budget", data={"csrf_token": "x", "action": "disable"})
    assert wrong.status_code == 403
    with ctx.db.read_session() as db:
        row = db.get(OidcClientRow, "budget")
        assert row is not None
        assert row.disabled_at is None
    unknown = admin_browser.post(f"{PAGES}/budget", data={"csrf_token": token, "action": "drop"})
    assert unknown.status_code == 422
    missing = admin_browser.post(f"{PAGES}/nobody", data={"csrf_token": token, "action": "disable"})
    assert missing.status_code == 404
    assert admin_browser.get(f"{PAGES}/nobody").status_code == 404
    assert admin_browser.get(f"{PAGES}/..%2F..%2Fetc").status_code == 404


def test_rotate_then_disable(admin_browser: TestClient, ctx: AppContext) -> None:
    first = secret_of(register(admin_browser))
    token = csrf(admin_browser.get(f"{PAGES}/budget"))
    rotated = admin_browser.post(
        f"{PAGES}/budget", data={"csrf_token": token, "action": "rotate-secret"}
    )
    assert rotated.status_code == 200
    assert rotated.headers["cache-control"] == "no-store"
    second = secret_of(rotated)
    assert second != first
    assert api_token(admin_browser, "budget", first).status_code == 401
    live = api_token(admin_browser, "budget", second)
    assert live.status_code == 200
    access = live.json()["access_token"]
    with ctx.db.read_session() as db:
        assert oidc_from(ctx).provider.bearer(db, access) is not None

    disabled = admin_browser.post(
        f"{PAGES}/budget", data={"csrf_token": token, "action": "disable"}
    )
    assert disabled.status_code == 200
    assert "Plateforme désactivée." in disabled.text
    assert "Désactivée" in disabled.text
    assert 'value="disable"' not in disabled.text, "nothing left to do on a disabled client"
    with ctx.db.read_session() as db:
        assert oidc_from(ctx).provider.bearer(db, access) is None, "its tokens are revoked"
        assert oidc_from(ctx).clients.get(db, "budget") is None
    assert api_token(admin_browser, "budget", second).status_code == 401
    again = admin_browser.post(
        f"{PAGES}/budget", data={"csrf_token": token, "action": "rotate-secret"}
    )
    assert again.status_code == 409
    assert "disabled" in alert(again)
    (rotation,) = events(ctx, "identity.oidc.client.secret_rotated")
    (disabling,) = events(ctx, "identity.oidc.client.disabled")
    assert rotation.actor == disabling.actor == "staff:admin1"
    assert disabling.details == {"client_id": "budget", "tokens_revoked": 1, "sessions_ended": 0}
    listed = admin_browser.get(PAGES)
    assert re.search(r'data-client="budget">.*?class="state">Désactivée<', listed.text, re.S)


def test_french_first_english_available(admin_browser: TestClient) -> None:
    page = admin_browser.get(f"{PAGES}/nouvelle")
    assert "<h1>Enregistrer une plateforme</h1>" in page.text
    assert 'lang="fr"' in page.text
    english = admin_browser.get(f"{PAGES}/nouvelle?lang=en")
    assert "<h1>Register a platform</h1>" in english.text
    assert admin_browser.get(PAGES, headers={"Accept-Language": "en"}).text.count(
        "Platforms (OpenID clients)"
    )


def test_every_admin_message_is_translated() -> None:
    msgid = re.compile(r'_\(\s*"([^"]+)"\s*\)')
    known = (
        set(locale_admin_fr.MESSAGES)
        | set(identity_fr.MESSAGES)
        | set(oidc_fr.MESSAGES)
        | set(kernel_fr.MESSAGES)
    )
    in_templates = {
        m for path in TEMPLATES.glob("*.html") for m in msgid.findall(path.read_text("utf-8"))
    }
    source = Path(admin.__file__).read_text(encoding="utf-8")
    in_code = set(re.findall(r'(?:notice|error)="([^"]+)"', source)) | set(admin.NOTICES.values())
    assert len(in_templates) > 30
    assert len(in_code) >= 4
    assert (in_templates | in_code) - known == set()
