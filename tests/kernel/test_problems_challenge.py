"""The problem handler adds an error's authentication challenge (parvis.problems).

Domain errors carry no HTTP (style.md); one that carries a ``www_authenticate`` string is
answered with it as ``WWW-Authenticate`` (RFC 9110 §11.6.1; RFC 6750 §3 for bearer tokens)
on any route, not only on routes of a special class, and its problem body is the same as
without it.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from parvis.kernel.apiauth import InvalidTokenError
from parvis.kernel.errors import ConflictError, UnauthenticatedError
from parvis.problems import PROBLEM_TABLE, TYPE_PREFIX, challenge_headers, install_problem_handlers


class _KeyError(UnauthenticatedError):
    """Like consent's deprecated-key error: a plain domain error with a class attribute."""

    title = "Invalid key"
    www_authenticate = 'Bearer realm="parvis", error="invalid_token"'


class _InjectedError(UnauthenticatedError):
    title = "Injected"
    www_authenticate = 'Bearer realm="parvis"\r\nSet-Cookie: session=stolen'


class _NotAStringError(UnauthenticatedError):
    title = "Odd"
    www_authenticate = 42


class _BusyError(ConflictError):
    title = "Busy"


ERRORS: dict[str, Exception] = {
    "bearer": InvalidTokenError("unknown token"),
    "key": _KeyError("wrong key"),
    "injected": _InjectedError("bad challenge"),
    "not-a-string": _NotAStringError("odd"),
    "busy": _BusyError("try later"),
}


@pytest.fixture
def client() -> TestClient:
    """A bare FastAPI app: a plain APIRouter, no JSON route class, only the problem handlers."""
    app = FastAPI()
    install_problem_handlers(app, PROBLEM_TABLE)
    router = APIRouter()

    @router.get("/raise/{name}")
    def raise_(name: str) -> Any:
        raise ERRORS[name]

    app.include_router(router)
    return TestClient(app)


def test_a_bearer_error_gets_its_challenge_on_any_route(client: TestClient) -> None:
    response = client.get("/raise/bearer")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["www-authenticate"] == 'Bearer realm="parvis", error="invalid_token"'
    assert response.headers["cache-control"] == "no-store"
    assert response.json() == {
        "type": TYPE_PREFIX + "unauthenticated",
        "title": "Invalid access token",
        "status": 401,
        "detail": "unknown token",
    }


def test_a_plain_domain_error_with_a_challenge_attribute_gets_it(client: TestClient) -> None:
    response = client.get("/raise/key")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == 'Bearer realm="parvis", error="invalid_token"'
    assert response.json()["title"] == "Invalid key"


@pytest.mark.parametrize("name", ["busy", "not-a-string", "injected"])
def test_no_challenge_without_a_well_formed_one(client: TestClient, name: str) -> None:
    response = client.get(f"/raise/{name}")
    assert response.headers["content-type"] == "application/problem+json"
    assert "www-authenticate" not in response.headers
    assert "set-cookie" not in response.headers
    assert "cache-control" not in response.headers
    assert response.json()["detail"] == str(ERRORS[name])


def test_challenge_headers() -> None:
    assert challenge_headers(_BusyError("x")) is None
    assert challenge_headers(_InjectedError("x")) is None
    assert challenge_headers(InvalidTokenError("x", scope="api:consent")) == {
        "WWW-Authenticate": 'Bearer realm="parvis", error="invalid_token", scope="api:consent"',
        "Cache-Control": "no-store",
    }
