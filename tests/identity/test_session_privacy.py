"""What the web sessions table keeps, what browsers may cache, what anonymous requests cost,
and the FranceConnect sandbox shared by several workers.

- ``web_sessions.data`` holds nothing of FranceConnect's ID token in clear (GDPR Art. 32:
  a database read alone gives no ``sub``, ``sid``, nonce or token), while sign-out still sends
  the ``id_token_hint`` (franceconnect.md, "/session/end").
- Pages with personal data are ``Cache-Control: no-store`` (RFC 9111 §5.2.2.5).
- Anonymous pages and the start of a sign-in write no session row (storage limitation,
  GDPR Art. 5(1)(e)); the sign-in still works.
- The sandbox keeps its state in the database: two app instances on one database (two
  workers) share interactions, codes, tokens, provider sessions and keys.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import func, select

import identity
from identity.sandbox import PREFIX
from parvis.app import create_app
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.sessions import WebSessionRow
from parvis.kernel.settings import Settings
from tests.identity.conftest import PUBLIC_URL, Flow, path_and_query, query
from tests.identity.test_residency import csrf


def _rows(ctx: AppContext) -> list[str]:
    with ctx.db.session() as db:
        return list(db.scalars(select(WebSessionRow.data)))


def _row_count(ctx: AppContext) -> int:
    with ctx.db.session() as db:
        return int(db.scalar(select(func.count()).select_from(WebSessionRow)) or 0)


def _claims(jwt_compact: str) -> dict[str, object]:
    segment = jwt_compact.split(".")[1]
    decoded: dict[str, object] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


def test_session_row_holds_no_id_token_sub_sid_or_nonce_and_logout_still_works(
    seeded: AppContext, flow: Flow, browser: TestClient
) -> None:
    start = flow.start()
    nonce = query(start.headers["location"])["nonce"]
    flow.callback(flow.choose(flow.authorize(start), "test"))
    stored = "\n".join(_rows(seeded))
    assert stored, "the signed-in session has a row"
    # No JWT (base64url of a JSON object starts "eyJ") anywhere in the rows.
    assert "eyJ" not in stored
    assert nonce not in stored

    account = browser.get("/mon-compte")
    assert account.status_code == 200
    out = browser.post("/auth/logout", data={"csrf_token": csrf(account.text)})
    assert out.status_code == 303
    end = out.headers["location"]
    assert end.startswith(f"{PUBLIC_URL}{PREFIX}/session/end?")
    # Sign-out still sends the ID token FranceConnect issued for this sign-in.
    claims = _claims(query(end)["id_token_hint"])
    assert claims["nonce"] == nonce
    for secret in (str(claims["sub"]), str(claims["sid"]), str(claims["sub"])[:24]):
        assert secret not in stored
    back = browser.get(path_and_query(end))
    assert back.status_code == 303
    done = browser.get(path_and_query(back.headers["location"]))
    assert done.status_code == 200
    assert "eyJ" not in "\n".join(_rows(seeded))


def test_pages_with_personal_data_are_not_stored_by_caches(
    seeded: AppContext, flow: Flow, browser: TestClient
) -> None:
    signed_in = flow.sign_in("test")
    assert signed_in.headers["cache-control"] == "no-store"
    for path in ("/mon-compte", "/mes-donnees", "/mon-compte/plateformes", "/scrutins"):
        response = browser.get(path)
        assert response.status_code == 200, path
        assert response.headers.get("cache-control") == "no-store", path
    account = browser.get("/mon-compte")
    asked = browser.post(
        "/mes-donnees/demandes",
        data={"csrf_token": csrf(account.text), "kind": "access"},
        follow_redirects=True,
    )
    assert asked.headers.get("cache-control") == "no-store"


def test_staff_pages_are_not_stored_by_caches(seeded: AppContext, browser: TestClient) -> None:
    login = browser.get("/staff/login")
    assert login.headers.get("cache-control") == "no-store"


def test_anonymous_pages_and_sign_in_starts_write_no_session_row(
    seeded: AppContext, flow: Flow, browser: TestClient
) -> None:
    before = _row_count(seeded)
    for _ in range(50):
        assert browser.get("/connexion").status_code == 200
        browser.cookies.clear()
    for _ in range(50):
        assert browser.get("/auth/franceconnect/login").status_code == 303
        browser.cookies.clear()
    for _ in range(20):
        assert browser.get("/staff/login").status_code == 200
        browser.cookies.clear()
    for _ in range(10):
        assert browser.get("/mes-donnees").status_code == 401
        assert browser.get("/auth/franceconnect/logged-out").status_code == 200
    assert _row_count(seeded) == before
    # The state a started sign-in needs still works: a full sign-in, then the account page.
    assert flow.sign_in("test").headers["location"] == "/mon-compte"
    assert browser.get("/mon-compte").status_code == 200
    assert _row_count(seeded) == before + 1


def test_a_sign_in_state_is_single_use_and_bound_to_its_browser(
    seeded: AppContext, flow: Flow, browser: TestClient
) -> None:
    start = flow.start()
    provider_redirect = flow.choose(flow.authorize(start), "test")
    callback = path_and_query(provider_redirect.headers["location"])
    first = browser.get(callback)
    assert first.headers["location"] == "/mon-compte"
    browser.cookies.clear()
    replayed = browser.get(callback)
    assert replayed.status_code == 400
    assert "state" in replayed.text.lower() or "expired" in replayed.text.lower()


@pytest.fixture
def two_workers(
    settings: Settings, clock: FixedClock, seeded: AppContext
) -> Iterator[tuple[FastAPI, FastAPI]]:
    """Two app instances on one database, as two ``uvicorn --workers`` processes are: each
    has its own memory (its own :class:`Sandbox` object, keys included)."""
    del seeded
    first, second = create_app(settings, clock=clock), create_app(settings, clock=clock)
    yield first, second
    for app in (first, second):
        app.state.ctx.db.dispose()


def test_sandbox_flow_across_two_workers_sharing_one_database(
    two_workers: tuple[FastAPI, FastAPI],
) -> None:
    one, two = two_workers
    with (
        TestClient(one, base_url=PUBLIC_URL, follow_redirects=False) as a,
        TestClient(two, base_url=PUBLIC_URL, follow_redirects=False) as b,
        TestClient(one, base_url=PUBLIC_URL) as back_a,
        TestClient(two, base_url=PUBLIC_URL) as back_b,
    ):
        # Each worker's relying party reaches FranceConnect through the *other* worker.
        identity.use_franceconnect_http(one.state.ctx, back_b)
        identity.use_franceconnect_http(two.state.ctx, back_a)
        assert identity.sandbox_from(one.state.ctx) is not identity.sandbox_from(two.state.ctx)

        def alternate(step: int) -> TestClient:
            client = (a, b)[step % 2]
            other = (a, b)[(step + 1) % 2]
            client.cookies.update(other.cookies)
            return client

        start = alternate(0).get("/auth/franceconnect/login")
        assert start.status_code == 303
        login_page = alternate(1).get(path_and_query(start.headers["location"]))
        assert login_page.status_code == 200, login_page.text
        html = login_page.text
        action = html[html.index('action="') + len('action="') :].split('"', 1)[0]
        chosen = alternate(2).post(action, data={"login": "test"})
        assert chosen.status_code == 303, chosen.text
        done = alternate(3).get(path_and_query(chosen.headers["location"]))
        assert done.status_code == 303, done.text
        assert done.headers["location"] == "/mon-compte"
        account = alternate(4).get("/mon-compte")
        assert account.status_code == 200
        # Single sign-on at the provider, started on the other worker.
        again = alternate(5).get(
            path_and_query(alternate(5).get("/auth/franceconnect/login").headers["location"])
        )
        assert again.status_code == 303, again.text
        # Sign-out: the id_token_hint issued through one worker is known to the other.
        account = alternate(6).get("/mon-compte")
        out = alternate(6).post("/auth/logout", data={"csrf_token": csrf(account.text)})
        assert out.status_code == 303
        ended = alternate(7).get(path_and_query(out.headers["location"]))
        assert ended.status_code == 303, ended.text
        assert ended.headers["location"].startswith(f"{PUBLIC_URL}/auth/franceconnect/logged-out")
        # The signing keys are shared too: a rotation on one worker is what the other
        # publishes (and signs with).
        before = a.get(f"{PREFIX}/jwks").json()
        identity.sandbox_from(one.state.ctx).keys.rotate()
        after = b.get(f"{PREFIX}/jwks").json()
        assert after != before
        assert after == a.get(f"{PREFIX}/jwks").json()


def test_staff_sign_in_form_token_without_a_session_is_bound_to_its_browser(
    app: FastAPI, ctx: AppContext, clock: FixedClock
) -> None:
    import pyotp

    from identity.staff import NewStaff
    from parvis.kernel.principal import Role

    with ctx.db.write_session() as db:
        staff: NewStaff = identity.staff_service_from(ctx).create(
            db,
            email="agent@ville.example",
            roles=frozenset({Role.AGENT}),
            actor="system:test",
            password="correct horse battery staple 42",
        )
    with (
        TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as mine,
        TestClient(app, base_url=PUBLIC_URL, follow_redirects=False) as other,
    ):
        token = csrf(mine.get("/staff/login").text)
        other.get("/staff/login")
        form = {
            "csrf_token": token,
            "email": staff.email,
            "password": "correct horse battery staple 42",
            "code": pyotp.parse_uri(staff.totp_uri).at(clock.now()),
        }
        # The token of one browser's form is worth nothing in another browser.
        assert other.post("/staff/login", data=form).status_code == 403
        assert _row_count(ctx) == 0
        signed_in = mine.post("/staff/login", data=form)
        assert signed_in.status_code == 303
        assert mine.get(signed_in.headers["location"]).status_code == 200
        assert _row_count(ctx) == 1
