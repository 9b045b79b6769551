"""The kernel port of the platform APIs (parvis.kernel.apiauth): RFC 6750 header parsing,
the verified caller, the verifier registry, and the ``WWW-Authenticate`` challenge its errors
carry to the application's problem handler on a JSON API route."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import pytest
from fastapi import FastAPI, Header
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from parvis.kernel.apiauth import (
    ApiCaller,
    InsufficientScopeError,
    InvalidTokenError,
    MissingTokenError,
    bearer_token,
    bearer_verifier,
    register_bearer_verifier,
)
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import build_context
from parvis.kernel.errors import ConflictError, ForbiddenError, UnauthenticatedError
from parvis.kernel.settings import Settings
from parvis.kernel.web import api_router
from parvis.problems import PROBLEM_TABLE, install_problem_handlers

EXPIRY = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc", "abc"),
        ("bearer abc", "abc"),  # RFC 9110 §11.1: case-insensitive scheme
        ("BEARER  a-b.c_d~e+f/g==", "a-b.c_d~e+f/g=="),  # every b64token character
        ("  Bearer abc  ", "abc"),
    ],
)
def test_bearer_token_reads_the_rfc6750_header(header: str, token: str) -> None:
    assert bearer_token(header) == token


@pytest.mark.parametrize("header", [None, "", "Bearer", "Bearer   ", "Basic YTpi", "abc"])
def test_no_bearer_credentials_is_a_challenge_without_error_code(header: str | None) -> None:
    with pytest.raises(MissingTokenError) as caught:
        bearer_token(header)
    assert isinstance(caught.value, UnauthenticatedError)
    assert caught.value.www_authenticate == 'Bearer realm="parvis"'


@pytest.mark.parametrize(
    "header", ["Bearer a b", 'Bearer a"b', "Bearer =abc", "Bearer tok€n", "Bearer " + "a" * 513]
)
def test_a_malformed_token_is_an_invalid_token(header: str) -> None:
    with pytest.raises(InvalidTokenError) as caught:
        bearer_token(header)
    assert caught.value.www_authenticate == 'Bearer realm="parvis", error="invalid_token"'


def test_insufficient_scope_names_the_scope_and_is_a_forbidden_error() -> None:
    error = InsufficientScopeError("needs api:ballot", scope="api:ballot")
    assert isinstance(error, ForbiddenError)
    assert error.www_authenticate == (
        'Bearer realm="parvis", error="insufficient_scope", scope="api:ballot"'
    )
    # A scope that would break the quoted-string (RFC 6749 §3.3 forbids " and \) is left out.
    assert 'scope="' not in InsufficientScopeError("x", scope='a"b').www_authenticate


def test_the_api_caller_is_validated_on_construction() -> None:
    caller = ApiCaller(client_id="decidim", scopes=frozenset({"api:consent"}), expires_at=EXPIRY)
    assert caller.scopes == {"api:consent"}
    with pytest.raises(ValueError, match="client id"):
        ApiCaller(client_id="", scopes=frozenset(), expires_at=EXPIRY)
    with pytest.raises(ValueError, match="timezone"):
        ApiCaller(client_id="d", scopes=frozenset(), expires_at=EXPIRY.replace(tzinfo=None))
    with pytest.raises(ValueError, match="scope-token"):
        ApiCaller(client_id="d", scopes=frozenset({"a b"}), expires_at=EXPIRY)


class _OneToken:
    """A verifier that knows one token (the kernel port is tested with its own verifier;
    identity's real one is tested end to end in tests/identity/oidc)."""

    def verify(self, session: Session, token: str, *, scope: str) -> ApiCaller:
        if token != "good":
            raise InvalidTokenError("unknown token")
        if scope != "api:consent":
            raise InsufficientScopeError(f"needs {scope}", scope=scope)
        return ApiCaller(client_id="decidim", scopes=frozenset({scope}), expires_at=EXPIRY)


def test_the_verifier_registry(settings: Settings) -> None:
    ctx = build_context(settings, clock=FixedClock())
    try:
        assert bearer_verifier(ctx) is None
        verifier = _OneToken()
        register_bearer_verifier(ctx, verifier)
        assert bearer_verifier(ctx) is verifier
    finally:
        ctx.db.dispose()


class _BusyError(ConflictError):
    title = "Busy"


def _app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app, PROBLEM_TABLE)
    router = api_router()
    verifier = _OneToken()

    @router.get("/scoped/{scope}")
    def scoped(scope: str, authorization: Annotated[str | None, Header()] = None) -> Any:
        caller = verifier.verify(None, bearer_token(authorization), scope=scope)  # type: ignore[arg-type]
        return {"client": caller.client_id}

    @router.get("/busy")
    def busy() -> Any:
        raise _BusyError("try later")

    @router.post("/echo")
    def echo(body: dict[str, str]) -> Any:
        return body

    app.include_router(router)
    return app


def test_bearer_errors_are_answered_as_problems_with_the_challenge() -> None:
    client = TestClient(_app())
    ok = client.get("/scoped/api:consent", headers={"Authorization": "Bearer good"})
    assert ok.status_code == 200
    assert ok.json() == {"client": "decidim"}
    assert "www-authenticate" not in ok.headers

    missing = client.get("/scoped/api:consent")
    assert missing.status_code == 401
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.headers["www-authenticate"] == 'Bearer realm="parvis"'
    assert missing.headers["cache-control"] == "no-store"
    assert missing.json()["title"] == "Access token required"

    bad = client.get("/scoped/api:consent", headers={"Authorization": "Bearer bad"})
    assert bad.status_code == 401
    assert bad.headers["www-authenticate"] == 'Bearer realm="parvis", error="invalid_token"'
    assert bad.json()["detail"] == "unknown token"

    scope = client.get("/scoped/api:ballot", headers={"Authorization": "Bearer good"})
    assert scope.status_code == 403
    assert scope.headers["www-authenticate"] == (
        'Bearer realm="parvis", error="insufficient_scope", scope="api:ballot"'
    )
    assert scope.json()["title"] == "Insufficient scope"

    # Other domain errors pass through untouched; the JSON route's 415 is kept.
    busy = client.get("/busy")
    assert busy.status_code == 409
    assert "www-authenticate" not in busy.headers
    form = client.post("/echo", content="a=b", headers={"content-type": "text/plain"})
    assert form.status_code == 415
