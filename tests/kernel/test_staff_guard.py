"""One guard for every staff page (parvis.kernel.staffguard) and its one answer
(parvis.problems): a browser is sent to the staff sign-in or shown the French 401/403 page,
a script asking for JSON gets problem+json — on the identity, ballot, OpenID-admin and DPO
pages alike — and no staff page keeps a check of its own."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from parvis.kernel.principal import Citizen, Role, Staff
from parvis.negotiation import prefers_json
from tests.support.auth import sign_in

REPO = Path(__file__).resolve().parents[2]
BROWSER_ACCEPT = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
JSON = {"accept": "application/json"}

#: One page of each module that had its own copy of the check.
PAGES = {
    "identity": "/staff/territoires",
    "accounts": "/staff/comptes",
    "ballot": "/staff/scrutins/nouveau",
    "oidc-admin": "/staff/plateformes",
    "dpo": "/dpo",
}
#: A staff member who holds none of those pages' roles.
NOBODY_USEFUL = Staff("scrutineer-1", frozenset({Role.SCRUTINEER}))


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as client:
        yield client


@pytest.mark.parametrize("page", PAGES.values(), ids=PAGES.keys())
def test_scripts_get_problem_json(anonymous: TestClient, app: FastAPI, page: str) -> None:
    unauthenticated = anonymous.get(page, headers=JSON)
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["content-type"].startswith("application/problem+json")
    assert unauthenticated.json()["type"].endswith("/unauthenticated")
    sign_in(anonymous, app, NOBODY_USEFUL)
    forbidden = anonymous.get(page, headers=JSON)
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"].startswith("application/problem+json")
    assert forbidden.json()["type"].endswith("/forbidden")


@pytest.mark.parametrize("page", PAGES.values(), ids=PAGES.keys())
def test_browsers_get_the_sign_in_or_a_french_page(
    anonymous: TestClient, app: FastAPI, page: str
) -> None:
    first = anonymous.get(page, headers={"accept": BROWSER_ACCEPT})
    if page == "/dpo":
        # The DPO console has always answered a 401 page that links to the staff sign-in.
        assert first.status_code == 401
        assert "Connexion nécessaire" in first.text
        assert 'href="/staff/login?next=%2Fdpo"' in first.text
    else:
        assert first.status_code == 303
        assert first.headers["location"].startswith("/staff/login?next=")
    sign_in(anonymous, app, Citizen("c" * 32))
    assert anonymous.get(page).status_code == first.status_code, "a citizen is not staff"
    sign_in(anonymous, app, NOBODY_USEFUL)
    refused = anonymous.get(page, headers={"accept": BROWSER_ACCEPT})
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("text/html")
    assert "Accès refusé" in refused.text
    assert 'href="/staff"' in refused.text


def test_trustees_and_scrutineers_see_the_elections_list(
    anonymous: TestClient, app: FastAPI
) -> None:
    for role in (Role.TRUSTEE, Role.SCRUTINEER):
        sign_in(anonymous, app, Staff(f"{role}-1", frozenset({role})))
        assert anonymous.get("/staff/scrutins").status_code == 200


@pytest.mark.parametrize(
    ("accept", "json"),
    [
        (None, False),
        ("*/*", False),
        (BROWSER_ACCEPT, False),
        ("text/html,application/json;q=0.9", False),
        ("application/json", True),
        ("application/problem+json", True),
        ("application/json, text/html;q=0.5", True),
    ],
)
def test_prefers_json(accept: str | None, json: bool) -> None:
    assert prefers_json(accept) is json


def test_no_staff_page_checks_the_principal_itself() -> None:
    """The copies the guard replaced (``staff_page``, ``_needs``, ``_staff``, a handler
    returning a redirect for a missing principal) do not come back."""
    pages = [
        REPO / "identity" / "pages.py",
        REPO / "identity" / "staff_pages.py",
        REPO / "identity" / "oidc" / "admin.py",
        REPO / "ballot" / "staff_pages.py",
        REPO / "consent" / "pages.py",
    ]
    for path in pages:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        names = {n.name for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)}
        assert not names & {"staff_page", "_needs", "_staff", "staff_member"}, path
        called = {
            n.func.id
            for n in ast.walk(tree)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)
        }
        assert "require_role" not in called, path
