"""Errors as pages for browsers, problem+json for everyone else (parvis.problems)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from parvis.kernel.errors import ForbiddenError, InvalidInputError, UnauthenticatedError
from parvis.kernel.sessions import cookie_name
from parvis.kernel.web import CsrfError, api_router
from parvis.negotiation import prefers_html

SECRET_MESSAGE = "db password hunter2 at /srv/secret/path"

#: What Chromium and Firefox send when following a link.
BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
)


class _ExpiredTokenError(UnauthenticatedError):
    www_authenticate = 'Bearer error="invalid_token"'


@pytest.fixture
def probe(app: FastAPI) -> Iterator[TestClient]:
    router = api_router(prefix="/probe")

    @router.get("/forbidden")
    def forbidden() -> None:
        raise ForbiddenError("staff role election_officer required, caller has dpo")

    @router.get("/unauthenticated")
    def unauthenticated() -> None:
        raise _ExpiredTokenError("bearer token for election_officer expired")

    @router.get("/invalid")
    def invalid() -> None:
        raise InvalidInputError("field election_officer must be an integer")

    @router.get("/csrf")
    def csrf() -> None:
        raise CsrfError("the form's security token is missing")

    @router.get("/count")
    def count(n: int) -> dict[str, int]:
        return {"n": n}

    @router.get("/crash")
    def crash() -> None:
        raise RuntimeError(SECRET_MESSAGE)

    app.include_router(router)
    with TestClient(app, base_url="http://127.0.0.1", raise_server_exceptions=False) as client:
        yield client


CASES = [
    ("GET", "/probe/forbidden", 403, "Accès refusé", "Access refused"),
    ("GET", "/probe/unauthenticated", 401, "Connexion nécessaire", "Sign-in required"),
    ("GET", "/probe/invalid", 422, "Informations non acceptées", "Information not accepted"),
    ("GET", "/probe/count?n=many", 422, "Informations non acceptées", "Information not accepted"),
    ("GET", "/probe/csrf", 403, "Formulaire expiré", "Form expired"),
    ("GET", "/no/such/page", 404, "Page introuvable", "Page not found"),
    ("POST", "/", 405, "Action impossible ici", "Action not possible here"),
    ("GET", "/probe/crash", 500, "Une erreur est survenue", "Something went wrong"),
]


@pytest.mark.parametrize("case", CASES)
def test_a_browser_gets_a_page_in_its_language(
    probe: TestClient, case: tuple[str, str, int, str, str]
) -> None:
    method, path, status, french, english = case
    for language, heading in (("fr-FR,fr;q=0.9", french), ("en-GB,en;q=0.9", english)):
        response = probe.request(
            method, path, headers={"Accept": BROWSER_ACCEPT, "Accept-Language": language}
        )
        assert response.status_code == status
        assert response.headers["content-type"].startswith("text/html")
        assert f"<h1>{heading}</h1>" in response.text
        assert f'<html lang="{language[:2]}">' in response.text
        # the error's own (English, possibly internal) detail never reaches the page
        assert "election_officer" not in response.text
        assert "security token" not in response.text
        assert SECRET_MESSAGE not in response.text
        assert "RuntimeError" not in response.text
        if status == 405:
            assert response.headers["allow"] == "GET"


def test_the_language_choice_cookie_wins(probe: TestClient) -> None:
    probe.cookies.set("parvis_lang", "en")
    response = probe.get(
        "/no/such/page", headers={"Accept": BROWSER_ACCEPT, "Accept-Language": "fr"}
    )
    assert "<h1>Page not found</h1>" in response.text


@pytest.mark.parametrize(
    "accept",
    [None, "*/*", "application/json", "application/problem+json", "text/html;q=0.5, */*"],
)
@pytest.mark.parametrize("case", CASES)
def test_every_other_client_keeps_problem_json(
    probe: TestClient, accept: str | None, case: tuple[str, str, int, str, str]
) -> None:
    method, path, status, _french, _english = case
    headers = {"Accept": accept} if accept is not None else {}
    response = probe.request(method, path, headers=headers)
    assert response.status_code == status
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == status
    assert SECRET_MESSAGE not in response.text


def test_a_401_page_keeps_its_challenge(probe: TestClient) -> None:
    """RFC 9110 §15.5.2: a 401 carries WWW-Authenticate, as a page too."""
    response = probe.get("/probe/unauthenticated", headers={"Accept": BROWSER_ACCEPT})
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["www-authenticate"] == 'Bearer error="invalid_token"'


def test_a_422_page_does_not_echo_the_request(probe: TestClient) -> None:
    response = probe.get(
        "/probe/count?n=hunter2", headers={"Accept": BROWSER_ACCEPT, "Accept-Language": "fr"}
    )
    assert response.status_code == 422
    assert "hunter2" not in response.text
    assert "int_parsing" not in response.text


@pytest.mark.parametrize(
    ("accept", "html"),
    [
        (BROWSER_ACCEPT, True),
        ("text/html", True),
        ("text/*", True),
        ("text/html;q=0.9, application/json;q=0.8", True),
        ("application/json, text/html;q=0.9", False),
        ("text/html, application/json", False),  # a tie keeps problem+json
        ("text/html;q=0", False),
        ("text/html;q=bogus", False),
        ("*/*", False),
        ("", False),
        (None, False),
        ("garbage", False),
    ],
)
def test_prefers_html(accept: str | None, html: bool) -> None:
    assert prefers_html(accept) is html


def test_a_page_without_its_database_is_still_a_page(
    probe: TestClient, database_url: str, db_kind: str, caplog: pytest.LogCaptureFixture
) -> None:
    """The error page reads the session from the database; when that fails too, a bare page
    from the catalogue answers, in the visitor's language, with nothing internal."""
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(
            text("DROP TABLE web_sessions" + (" CASCADE" if db_kind != "sqlite" else ""))
        )
    engine.dispose()
    probe.cookies.set(cookie_name(secure=False), "a session the database cannot load")
    for language, heading in (("fr", "Une erreur est survenue"), ("en", "Something went wrong")):
        response = probe.get(
            "/probe/crash", headers={"Accept": BROWSER_ACCEPT, "Accept-Language": language}
        )
        assert response.status_code == 500
        assert response.headers["content-type"].startswith("text/html")
        assert f"<h1>{heading}</h1>" in response.text
        assert f'<html lang="{language}">' in response.text
        assert SECRET_MESSAGE not in response.text
        assert "web_sessions" not in response.text
    assert [r.message for r in caplog.records].count("error page not rendered") == 2
