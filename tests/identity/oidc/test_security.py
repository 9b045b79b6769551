"""Security tests of the authorization endpoint (docs/oidc-integration.md §2 and §8): redirect URI
tricks, PKCE, ``prompt``/``max_age``, the RFC 9207 ``iss`` parameter, scope and claim escalation,
``acr`` and ``ui_locales``. Everything goes through HTTP, as a browser and a platform would."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from joserfc import jwk, jwt

from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from tests.identity.conftest import query
from tests.identity.oidc.conftest import (
    REDIRECT,
    CodeFlow,
    Platform,
    bearer,
    pkce,
    register,
    tokens,
)

# -- redirect URIs (RFC 9700 §4.1.3: exact string matching) ----------------------------------

BASE = REDIRECT  # https://decidim.example.org/users/auth/parvis/callback
TRICKS = {
    "prefix": BASE[: -len("/callback")],
    "extra path": BASE + "/extra",
    "extra character": BASE + "x",
    "trailing slash": BASE + "/",
    "case of the path": BASE.replace("callback", "Callback"),
    "case of the host": BASE.replace("decidim", "DECIDIM"),
    "fragment": BASE + "#frag",
    "empty fragment": BASE + "#",
    "path traversal": BASE + "/../evil",
    "encoded traversal": BASE + "/..%2Fevil",
    "percent-encoded slash": BASE.replace("/callback", "%2Fcallback"),
    "percent-encoded letter": BASE.replace("callback", "c%61llback"),
    "userinfo trick": "https://decidim.example.org@evil.example/users/auth/parvis/callback",
    "userinfo on the registered host": BASE.replace("https://", "https://rp@"),
    "open redirect in the query": BASE + "?next=https://evil.example/",
    "other port": BASE.replace(".org/", ".org:8443/"),
    "http downgrade": BASE.replace("https://", "http://"),
    "other host": "https://evil.example/users/auth/parvis/callback",
    "non-ASCII character": BASE + "\u00e9",
    "backslash": BASE.replace("/callback", "\\callback"),
}


@pytest.mark.parametrize("trick", TRICKS.values(), ids=TRICKS.keys())
def test_redirect_uri_mismatch_is_shown_never_redirected(
    code_flow: CodeFlow, platform: Platform, trick: str
) -> None:
    code_flow.code(platform)  # signed in and consented: only the URI is wrong below
    response = code_flow.authorize(platform, redirect_uri=trick)
    assert response.status_code == 400, (trick, response.status_code, response.text[:200])
    assert "location" not in response.headers
    assert 'id="oidc-error"' in response.text
    assert 'href="' + trick not in response.text


def test_missing_redirect_uri_is_refused_even_with_a_single_registration(
    code_flow: CodeFlow, platform: Platform
) -> None:
    """OpenID Connect Core §3.1.2.1: ``redirect_uri`` is REQUIRED."""
    response = code_flow.authorize(platform, redirect_uri="")
    assert response.status_code == 400
    assert "location" not in response.headers


def test_unknown_client_is_shown_never_redirected(code_flow: CodeFlow, platform: Platform) -> None:
    stranger = Platform("no-such-client", None, platform.redirect_uri)
    response = code_flow.authorize(stranger)
    assert response.status_code == 400
    assert "location" not in response.headers
    assert "Cette plateforme n&#39;est pas enregistrée auprès de Parvis." in response.text
    english = code_flow.authorize(stranger, ui_locales="en")
    assert "This platform is not registered with Parvis." in english.text


def test_registered_uri_with_its_own_query_keeps_it_and_adds_the_response(
    code_flow: CodeFlow, ctx: AppContext
) -> None:
    """RFC 6749 §3.1.2: the registered query component is retained; a different query
    value is a different URI."""
    uri = "https://cap.example.org/auth/callback?tenant=demoville"
    cap = register(ctx, client_id="cap", redirect_uris=(uri,), post_logout_redirect_uris=())
    _code, q = code_flow.code(cap)
    assert q["tenant"] == "demoville"
    response = code_flow.authorize(cap, redirect_uri=uri.replace("demoville", "evil"))
    assert response.status_code == 400
    assert "location" not in response.headers


# -- PKCE (RFC 7636, RFC 9700 §2.1.1) ----------------------------------------------------------


def test_missing_verifier_is_refused(code_flow: CodeFlow, platform: Platform) -> None:
    _verifier, challenge = pkce()
    code, _ = code_flow.code(platform, code_challenge=challenge, code_challenge_method="S256")
    response = code_flow.exchange(platform, code)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    # The code was not consumed by the failed attempt? It was refused before any token:
    # nothing was issued, and the failure left no token behind.
    assert "access_token" not in response.json()


def test_wrong_verifier_issues_nothing(code_flow: CodeFlow, platform: Platform) -> None:
    """RFC 7636 §4.6: a verifier that does not match is ``invalid_grant``. The code is not
    spent by the failure: an attacker who injects a stolen code with a verifier of their
    own must not be able to burn the legitimate client's code (denial of sign-in), and a
    256-bit verifier cannot be guessed in the code's lifetime."""
    verifier, challenge = pkce()
    code, _ = code_flow.code(platform, code_challenge=challenge, code_challenge_method="S256")
    wrong, _ = pkce()
    first = code_flow.exchange(platform, code, code_verifier=wrong)
    assert (first.status_code, first.json()["error"]) == (400, "invalid_grant")
    assert "access_token" not in first.json()
    assert code_flow.exchange(platform, code, code_verifier=verifier).status_code == 200


def test_verifier_without_challenge_is_refused(code_flow: CodeFlow, platform: Platform) -> None:
    """RFC 9700 §4.8.2 (PKCE downgrade): a code_verifier for a code issued without a
    code_challenge MUST be rejected."""
    code, _ = code_flow.code(platform)
    verifier, _ = pkce()
    response = code_flow.exchange(platform, code, code_verifier=verifier)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"


@pytest.mark.parametrize("method", ["plain", "", "s256", "S512"])
def test_challenge_methods_other_than_s256_are_refused(
    code_flow: CodeFlow, platform: Platform, ctx: AppContext, method: str
) -> None:
    code_flow.code(platform)
    response = code_flow.authorize(
        platform, code_challenge="a" * 43, code_challenge_method=method or " "
    )
    assert response.status_code == 302
    q = query(response.headers["location"])
    assert q["error"] == "invalid_request"
    assert q["iss"] == ctx.settings.public_url
    assert "code" not in q


def test_challenge_without_method_is_plain_and_refused(
    code_flow: CodeFlow, platform: Platform
) -> None:
    """RFC 7636 §4.3: no method means ``plain``; refused, not silently treated as S256."""
    code_flow.code(platform)
    response = code_flow.authorize(platform, code_challenge="a" * 43)
    assert response.status_code == 302
    assert query(response.headers["location"])["error"] == "invalid_request"


def test_public_client_must_use_pkce_and_cannot_skip_the_verifier(
    code_flow: CodeFlow, ctx: AppContext
) -> None:
    public = register(
        ctx,
        client_id="city-app",
        auth_method="none",
        redirect_uris=("https://app.city.example/cb",),
        post_logout_redirect_uris=(),
    )
    refused = code_flow.authorize(public)
    assert query(refused.headers["location"])["error"] == "invalid_request"
    verifier, challenge = pkce()
    code, _ = code_flow.code(public, code_challenge=challenge, code_challenge_method="S256")
    no_verifier = code_flow.browser.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": public.redirect_uri,
            "client_id": public.client_id,
        },
    )
    assert no_verifier.status_code == 400
    code, _ = code_flow.code(public, code_challenge=challenge, code_challenge_method="S256")
    ok = code_flow.browser.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": public.redirect_uri,
            "client_id": public.client_id,
            "code_verifier": verifier,
        },
    )
    assert ok.status_code == 200, ok.text


def test_confidential_client_may_use_pkce_or_not(code_flow: CodeFlow, platform: Platform) -> None:
    code, _ = code_flow.code(platform)
    assert code_flow.exchange(platform, code).status_code == 200
    assert tokens(code_flow, platform)["token_type"].lower() == "bearer"


# -- prompt and max_age (OpenID Connect Core §3.1.2.1, §3.1.2.3) ------------------------------


def test_prompt_none_without_session_redirects_login_required_with_iss_and_state(
    code_flow: CodeFlow, platform: Platform, ctx: AppContext
) -> None:
    response = code_flow.authorize(platform, prompt="none", state="keep-me")
    assert response.status_code == 302
    location = response.headers["location"]
    assert location.startswith(platform.redirect_uri + "?")
    q = query(location)
    assert q == {"error": "login_required", "state": "keep-me", "iss": ctx.settings.public_url}


def test_prompt_none_with_session_but_no_consent_is_consent_required(
    code_flow: CodeFlow, platform: Platform, ctx: AppContext
) -> None:
    code_flow.code(platform)
    other = register(
        ctx,
        client_id="consul",
        name="CONSUL",
        redirect_uris=("https://consul.example.net/auth/cb",),
        post_logout_redirect_uris=(),
    )
    response = code_flow.authorize(other, prompt="none")
    assert response.status_code == 302
    assert query(response.headers["location"])["error"] == "consent_required"


def test_prompt_none_mixed_with_another_value_is_invalid(
    code_flow: CodeFlow, platform: Platform
) -> None:
    code_flow.code(platform)
    response = code_flow.authorize(platform, prompt="none login")
    assert query(response.headers["location"])["error"] == "invalid_request"


def test_prompt_none_with_session_and_consent_issues_a_code(
    code_flow: CodeFlow, platform: Platform
) -> None:
    code_flow.code(platform)
    response = code_flow.authorize(platform, prompt="none")
    assert response.status_code == 302
    assert "code" in query(response.headers["location"])


def test_prompt_login_forces_a_new_sign_in(
    code_flow: CodeFlow, platform: Platform, clock: FixedClock, browser: TestClient
) -> None:
    first = tokens(code_flow, platform)
    clock.advance(timedelta(minutes=5))
    response = code_flow.authorize(platform, prompt="login")
    assert response.status_code == 303, "a signed-in citizen is sent to sign in again"
    assert response.headers["location"].startswith("/auth/franceconnect/login")
    back = code_flow.sign_in_from(response)
    assert back.status_code == 302, back.text
    q = query(back.headers["location"])
    verifier_less = code_flow.exchange(platform, q["code"])
    assert verifier_less.status_code == 200, verifier_less.text
    keys = jwk.KeySet.import_key_set(browser.get("/jwks.json").json())
    old = jwt.decode(first["id_token"], keys).claims
    new = jwt.decode(verifier_less.json()["id_token"], keys).claims
    assert new["auth_time"] == old["auth_time"] + 300
    # The fresh sign-in is not asked for again on the next, plain request.
    assert code_flow.authorize(platform).status_code == 302


def test_an_abandoned_prompt_login_does_not_excuse_the_next_one(
    code_flow: CodeFlow, platform: Platform
) -> None:
    """The marker left by a ``prompt=login`` whose sign-in was abandoned must not let a
    later ``prompt=login`` (another request) through after an ordinary sign-in."""
    code_flow.code(platform)
    abandoned = code_flow.authorize(platform, prompt="login")
    assert abandoned.status_code == 303  # the citizen never completes this sign-in
    flow = code_flow.flow  # signs in again from Parvis's own sign-in link
    signed_in = flow.callback(flow.choose(flow.authorize(flow.start(again=True)), "test"))
    assert signed_in.status_code == 303
    later = code_flow.authorize(platform, prompt="login")
    assert later.status_code == 303
    assert later.headers["location"].startswith("/auth/franceconnect/login")


def test_prompt_consent_shows_the_screen_again(code_flow: CodeFlow, platform: Platform) -> None:
    code_flow.code(platform)
    assert code_flow.authorize(platform).status_code == 302  # remembered
    page = code_flow.authorize(platform, prompt="consent")
    assert page.status_code == 200
    assert 'name="decision"' in page.text
    assert code_flow.consent(page).status_code == 302


def test_max_age_older_than_the_sign_in_forces_a_new_one(
    code_flow: CodeFlow, platform: Platform, clock: FixedClock, browser: TestClient
) -> None:
    code_flow.code(platform)
    clock.advance(timedelta(seconds=120))
    assert code_flow.authorize(platform, max_age="300").status_code == 302
    fresh = code_flow.authorize(platform, max_age="60")
    assert fresh.status_code == 303
    back = code_flow.sign_in_from(fresh)
    assert back.status_code == 302, back.text
    code = query(back.headers["location"])["code"]
    body = code_flow.exchange(platform, code).json()
    keys = jwk.KeySet.import_key_set(browser.get("/jwks.json").json())
    claims = jwt.decode(body["id_token"], keys).claims
    # Core §3.1.2.1: with max_age the auth_time claim is REQUIRED.
    assert claims["auth_time"] == int(clock.now().timestamp())


def test_max_age_with_prompt_none_is_login_required(
    code_flow: CodeFlow, platform: Platform, clock: FixedClock
) -> None:
    code_flow.code(platform)
    clock.advance(timedelta(seconds=120))
    response = code_flow.authorize(platform, max_age="60", prompt="none")
    assert query(response.headers["location"])["error"] == "login_required"


# -- mix-up defence: RFC 9207 ----------------------------------------------------------------


def test_iss_on_success_and_every_error_equals_the_discovery_issuer(
    code_flow: CodeFlow, platform: Platform, browser: TestClient
) -> None:
    issuer = browser.get("/.well-known/openid-configuration").json()["issuer"]
    _code, q = code_flow.code(platform)
    assert q["iss"] == issuer
    errors = {
        "unsupported_response_type": {"response_type": "token"},
        "invalid_request": {"code_challenge": "x" * 43, "code_challenge_method": "plain"},
        "invalid_scope": {"scope": "openid api:consent"},
    }
    for expected, extra in errors.items():
        response = code_flow.authorize(platform, **extra)
        assert response.status_code == 302, (expected, response.text)
        q = query(response.headers["location"])
        assert (q["error"], q["iss"]) == (expected, issuer)
        assert list(q).count("iss") == 1
    page = code_flow.authorize(platform, prompt="consent")
    denied = code_flow.consent(page, decision="deny")
    q = query(denied.headers["location"])
    assert (q["error"], q["iss"]) == ("access_denied", issuer)
    assert denied.headers["location"].count("iss=") == 1


# -- scope and claim escalation ---------------------------------------------------------------


def test_scopes_not_registered_for_the_client_are_not_granted(
    code_flow: CodeFlow, platform: Platform, browser: TestClient
) -> None:
    page = code_flow.page(platform, scope="openid age email profile")
    assert page.status_code == 200
    assert 'data-scope="email"' not in page.text
    assert 'data-scope="profile"' not in page.text
    response = code_flow.consent(page)
    code = query(response.headers["location"])["code"]
    body = code_flow.exchange(platform, code).json()
    assert set(body["scope"].split()) == {"openid", "age"}
    info = bearer(browser, body["access_token"]).json()
    assert not {"email", "email_verified", "given_name", "family_name"} & set(info)


def test_claims_parameter_cannot_reach_outside_granted_scopes(
    code_flow: CodeFlow, ctx: AppContext, browser: TestClient
) -> None:
    wide = register(ctx, scopes=("openid", "age", "residence", "email", "profile"))
    claims = {
        "userinfo": {
            "residence": {"essential": True},
            "email": None,
            "given_name": None,
            "birthdate": None,
        },
        "id_token": {"residence": None, "email": None, "birthdate": None},
    }
    body = tokens(code_flow, wide, scope="openid age", claims=json.dumps(claims))
    info = bearer(browser, body["access_token"]).json()
    assert not {"residence", "email", "email_verified", "given_name", "birthdate"} & set(info)
    keys = jwk.KeySet.import_key_set(browser.get("/jwks.json").json())
    id_claims = jwt.decode(body["id_token"], keys).claims
    assert not {"residence", "email", "birthdate"} & set(id_claims)


def test_consent_claims_need_the_citizens_yes(
    code_flow: CodeFlow, ctx: AppContext, browser: TestClient
) -> None:
    wide = register(ctx, scopes=("openid", "age", "residence", "email"))
    page = code_flow.page(wide, scope="openid age residence email")
    denied = code_flow.consent(page, decision="deny")
    assert query(denied.headers["location"])["error"] == "access_denied"
    # Asked again without prompt=consent, the refused groups are still missing: screen.
    page = code_flow.authorize(wide, scope="openid age residence email", prompt="none")
    assert query(page.headers["location"])["error"] == "consent_required"


def test_api_scopes_cannot_be_requested_in_the_code_flow(
    code_flow: CodeFlow, ctx: AppContext
) -> None:
    both = register(ctx, scopes=("openid", "age", "api:consent"))
    code_flow.code(both)
    response = code_flow.authorize(both, scope="openid api:consent")
    assert response.status_code == 302
    assert query(response.headers["location"])["error"] == "invalid_scope"


def test_openid_scope_is_required(code_flow: CodeFlow, platform: Platform) -> None:
    """Parvis is an OpenID provider for sign-in only: a plain OAuth code grant for
    citizen data without ``openid`` is refused (Core §3.1.2.1 REQUIRED)."""
    code_flow.code(platform)
    response = code_flow.authorize(platform, scope="age residence")
    assert response.status_code == 302
    assert query(response.headers["location"])["error"] == "invalid_scope"


# -- acr (Core §2, §5.5.1.1) and ui_locales (Core §3.1.2.1) -----------------------------------


def _id_token(browser: TestClient, body: dict[str, str]) -> dict[str, object]:
    keys = jwk.KeySet.import_key_set(browser.get("/jwks.json").json())
    return dict(jwt.decode(body["id_token"], keys).claims)


def test_acr_is_the_level_franceconnect_gave(
    code_flow: CodeFlow, platform: Platform, browser: TestClient
) -> None:
    body = tokens(code_flow, platform, acr_values="eidas2 eidas1")
    assert _id_token(browser, body)["acr"] == "eidas1"  # the sandbox gives eidas1 only
    body = tokens(code_flow, platform)
    assert _id_token(browser, body)["acr"] == "eidas1"


def test_essential_acr_met_returns_a_requested_value(
    code_flow: CodeFlow, platform: Platform, browser: TestClient
) -> None:
    claims = {"id_token": {"acr": {"essential": True, "values": ["eidas1"]}}}
    body = tokens(code_flow, platform, claims=json.dumps(claims))
    assert _id_token(browser, body)["acr"] == "eidas1"


def test_essential_acr_not_met_is_a_failed_authentication(
    code_flow: CodeFlow, platform: Platform, ctx: AppContext
) -> None:
    code_flow.code(platform)
    claims = {"id_token": {"acr": {"essential": True, "values": ["eidas3"]}}}
    response = code_flow.authorize(platform, claims=json.dumps(claims), state="s1")
    assert response.status_code == 302
    q = query(response.headers["location"])
    assert q["error"] == "unmet_authentication_requirements"
    assert (q["state"], q["iss"]) == ("s1", ctx.settings.public_url)
    assert "code" not in q


def test_voluntary_acr_not_met_returns_the_level_obtained(
    code_flow: CodeFlow, platform: Platform, browser: TestClient
) -> None:
    claims = {"id_token": {"acr": {"values": ["eidas3"]}}}
    body = tokens(code_flow, platform, claims=json.dumps(claims))
    assert _id_token(browser, body)["acr"] == "eidas1"


def test_ui_locales_picks_the_language_of_the_pages(
    code_flow: CodeFlow, platform: Platform
) -> None:
    response = code_flow.authorize(platform)
    page = code_flow.sign_in_from(response)
    assert page.status_code == 200
    french = page.text
    english = code_flow.authorize(platform, ui_locales="de en-GB fr")
    assert english.status_code == 200
    assert "Agree and continue" in english.text
    assert '<html lang="en"' in english.text
    assert "Accepter et continuer" in code_flow.authorize(platform, ui_locales="fr").text
    # Unsupported languages fall back to the usual negotiation (French by default).
    assert "Accepter et continuer" in code_flow.authorize(platform, ui_locales="de").text
    assert "Accepter et continuer" in french
    # The error page follows ui_locales too.
    error = code_flow.authorize(platform, redirect_uri=BASE + "x", ui_locales="en")
    assert "Sign-in request refused" in error.text
