"""Staff pages without a staff session: HTML pages redirect (303) to the staff sign-in with a
validated ``next``, scripts asking for JSON get 401 problem+json; sign-in returns to ``next``
and never to another origin."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import parse_qs, urlencode, urlsplit

import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

import identity
from identity.pages import safe_next
from identity.staff import NewStaff
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Citizen, Role, Staff
from tests.identity.conftest import PUBLIC_URL
from tests.support.auth import sign_in as kernel_sign_in

PASSWORD = "correct horse battery staple"

#: Each of these would leave the site (or loop) if used as a redirect target.
FOREIGN = [
    "https://evil.example/staff",
    "http://127.0.0.1:8000/staff",  # absolute, even to this origin: only paths are accepted
    "//evil.example/staff",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "/\n/evil.example",
    "/ /evil.example",
    "javascript:alert(1)",
    "data:text/html,x",
    "staff/guichet",
    "/staff/login",
    "/staff/login?next=/staff",
    "/staff/é",
    "/" + "a" * 2000,
    "",
]


@pytest.mark.parametrize("value", FOREIGN)
def test_safe_next_refuses_anything_but_a_local_path(value: str) -> None:
    assert safe_next(value) is None


@pytest.mark.parametrize(
    "value", ["/staff", "/staff/guichet", "/staff/regles?vue=1&x=%2F%2Fevil", "/mon-compte#a"]
)
def test_safe_next_keeps_local_paths(value: str) -> None:
    assert safe_next(value) == value


def test_safe_next_ignores_non_strings() -> None:
    assert safe_next(None) is None
    assert safe_next(["/staff"]) is None


@pytest.fixture
def anonymous(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as client:
        yield client


@pytest.fixture
def staff(ctx: AppContext) -> NewStaff:
    with ctx.db.write_session() as db:
        return identity.staff_service_from(ctx).create(
            db,
            email="agent@ville.example",
            roles=frozenset({Role.AGENT}),
            actor="system:test",
            password=PASSWORD,
        )


def next_of(location: str) -> str:
    parts = urlsplit(location)
    assert parts.path == "/staff/login"
    assert not parts.netloc
    return parse_qs(parts.query)["next"][0]


@pytest.mark.parametrize(
    "path",
    ["/staff", "/staff/territoires", "/staff/regles", "/staff/recensement", "/staff/guichet"],
)
def test_pages_redirect_to_sign_in_with_next(anonymous: TestClient, path: str) -> None:
    response = anonymous.get(path)
    assert response.status_code == 303
    assert next_of(response.headers["location"]) == path


def test_the_query_string_is_kept(anonymous: TestClient) -> None:
    response = anonymous.get("/staff/guichet?vue=courriers")
    assert response.headers["location"] == "/staff/login?next=%2Fstaff%2Fguichet%3Fvue%3Dcourriers"


def test_json_clients_keep_401_problem(anonymous: TestClient) -> None:
    for accept in ("application/json", "application/problem+json"):
        response = anonymous.get("/staff/guichet", headers={"accept": accept})
        assert response.status_code == 401
        assert response.headers["content-type"].startswith("application/problem+json")
        assert response.json()["status"] == 401
    browser_like = anonymous.get(
        "/staff/guichet", headers={"accept": "text/html,application/json;q=0.9"}
    )
    assert browser_like.status_code == 303


def test_form_posts_go_back_to_their_page(anonymous: TestClient) -> None:
    letters = anonymous.post("/staff/courriers.csv", data={"csrf_token": "x"})
    assert letters.status_code == 303
    assert next_of(letters.headers["location"]) == "/staff/guichet"
    territory = anonymous.post(
        "/staff/territoires",
        data={"territory_id": "t", "name": "T", "cog_vintage": "2025", "communes": "93048"},
    )
    assert next_of(territory.headers["location"]) == "/staff/territoires"


def test_a_citizen_is_sent_to_staff_sign_in_and_a_missing_role_is_403(
    app: FastAPI, anonymous: TestClient
) -> None:
    kernel_sign_in(anonymous, app, Citizen("c" * 32))
    assert next_of(anonymous.get("/staff/guichet").headers["location"]) == "/staff/guichet"
    kernel_sign_in(anonymous, app, Staff("agent1", frozenset({Role.AGENT})))
    assert anonymous.get("/staff/guichet").status_code == 200
    assert anonymous.get("/staff/territoires").status_code == 403


def login_form(client: TestClient, location: str) -> tuple[str, str | None]:
    page = client.get(location)
    assert page.status_code == 200
    token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    marker = 'name="next" value="'
    carried = page.text.split(marker, 1)[1].split('"', 1)[0] if marker in page.text else None
    return token, carried


def test_sign_in_returns_to_the_page_asked_for(
    anonymous: TestClient, staff: NewStaff, clock: FixedClock
) -> None:
    location = anonymous.get("/staff/guichet?vue=courriers").headers["location"]
    token, carried = login_form(anonymous, location)
    assert carried == "/staff/guichet?vue=courriers"
    wrong = anonymous.post(
        "/staff/login",
        data={
            "csrf_token": token,
            "email": staff.email,
            "password": "wrong password!",
            "code": "000000",
            "next": carried,
        },
    )
    assert wrong.status_code == 401
    assert 'name="next" value="/staff/guichet?vue=courriers"' in wrong.text, "kept on failure"
    signed_in = anonymous.post(
        "/staff/login",
        data={
            "csrf_token": token,
            "email": staff.email,
            "password": PASSWORD,
            "code": pyotp.parse_uri(staff.totp_uri).at(clock.now()),
            "next": carried,
        },
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/staff/guichet?vue=courriers"
    assert anonymous.get(signed_in.headers["location"]).status_code == 200


@pytest.mark.parametrize("target", FOREIGN)
def test_sign_in_never_redirects_away(
    anonymous: TestClient, staff: NewStaff, clock: FixedClock, target: str
) -> None:
    token, carried = login_form(anonymous, "/staff/login?" + urlencode({"next": target}))
    assert carried is None, "a foreign next is not even put in the form"
    signed_in = anonymous.post(
        "/staff/login",
        data={
            "csrf_token": token,
            "email": staff.email,
            "password": PASSWORD,
            "code": pyotp.parse_uri(staff.totp_uri).at(clock.now()),
            "next": target,
        },
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/staff/guichet", "the agent's landing page"


def test_continuation_after_citizen_sign_in_is_local_only() -> None:
    from identity.pages import _local

    assert _local("/authorize?client_id=x") == "/authorize?client_id=x"
    for hostile in ("//evil.example", "/\\evil.example", "https://evil.example", "/\t/evil", 42):
        assert _local(hostile) is None
