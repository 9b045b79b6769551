"""Server-side sessions: cookie flags, idle and absolute expiry, rotation on privilege change."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Annotated, Any

import pytest
from fastapi import Depends, FastAPI, Request, Response
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from parvis.app import create_app
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Anonymous, Citizen, Principal, Role, Staff
from parvis.kernel.sessions import WebSessionRow
from parvis.kernel.web import (
    current_principal,
    principal_to_json,
    require_staff,
    start_session,
)
from tests.support.auth import sign_in


def add_session_routes(app: FastAPI) -> None:
    @app.post("/t/sign-in/{pseudonym}")
    def sign_in_route(pseudonym: str, request: Request, response: Response) -> dict[str, str]:
        start_session(request, response, Citizen(pseudonym))
        return {"ok": "yes"}

    @app.post("/t/promote")
    def promote(request: Request, response: Response) -> dict[str, str]:
        start_session(request, response, Staff("s-1", frozenset({Role.DPO})))
        return {"ok": "yes"}

    @app.post("/t/sign-out")
    def sign_out(request: Request, response: Response) -> dict[str, str]:
        start_session(request, response, Anonymous())
        return {"ok": "yes"}

    @app.get("/t/whoami")
    def whoami(principal: Annotated[Principal, Depends(current_principal)]) -> dict[str, Any]:
        return principal_to_json(principal)

    @app.get("/t/dpo-only")
    def dpo_only(staff: Annotated[Staff, Depends(require_staff(Role.DPO))]) -> dict[str, str]:
        return {"staff": staff.staff_id}


@pytest.fixture
def session_app(app: FastAPI) -> FastAPI:
    add_session_routes(app)
    return app


@pytest.fixture
def session_client(session_app: FastAPI) -> Iterator[TestClient]:
    with TestClient(session_app, base_url="http://127.0.0.1") as client:
        yield client


def count_sessions(app: FastAPI) -> int:
    ctx: AppContext = app.state.ctx
    with ctx.db.read_session() as db:
        return int(db.scalar(select(func.count()).select_from(WebSessionRow)) or 0)


def test_cookie_flags_in_local_demo(session_client: TestClient) -> None:
    response = session_client.post("/t/sign-in/p1")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("parvis_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie
    assert session_client.get("/t/whoami").json() == {"kind": "citizen", "pseudonym": "p1"}


def test_cookie_is_secure_and_host_prefixed_behind_tls(
    make_settings: Any, clock: FixedClock
) -> None:
    app = create_app(make_settings(behind_tls=True), clock=clock)
    add_session_routes(app)
    with TestClient(app, base_url="https://127.0.0.1") as client:
        cookie = client.post("/t/sign-in/p1").headers["set-cookie"]
        assert cookie.startswith("__Host-parvis_session=")
        assert "Secure" in cookie
        assert "Domain" not in cookie
        assert client.get("/t/whoami").json()["kind"] == "citizen"


def test_cookie_holds_only_a_random_id_and_the_table_only_its_hash(
    session_client: TestClient, session_app: FastAPI
) -> None:
    session_client.post("/t/sign-in/p1")
    value = session_client.cookies["parvis_session"]
    assert len(value) >= 43  # 256 bits in base64url
    assert "p1" not in value
    ctx: AppContext = session_app.state.ctx
    with ctx.db.read_session() as db:
        ids = list(db.scalars(select(WebSessionRow.id_hash)))
    assert value not in ids
    assert len(ids) == 1


def test_idle_expiry(session_client: TestClient, clock: FixedClock, settings: Any) -> None:
    session_client.post("/t/sign-in/p1")
    clock.advance(timedelta(seconds=settings.session_idle_seconds - 1))
    assert session_client.get("/t/whoami").json()["kind"] == "citizen"
    # activity moved the idle deadline forward
    clock.advance(timedelta(seconds=settings.session_idle_seconds - 1))
    assert session_client.get("/t/whoami").json()["kind"] == "citizen"
    clock.advance(timedelta(seconds=settings.session_idle_seconds))
    assert session_client.get("/t/whoami").json()["kind"] == "anonymous"


def test_absolute_expiry_despite_activity(
    session_client: TestClient, clock: FixedClock, settings: Any
) -> None:
    session_client.post("/t/sign-in/p1")
    step = timedelta(seconds=settings.session_idle_seconds // 2)
    elapsed = timedelta()
    while elapsed + step < timedelta(seconds=settings.session_absolute_seconds):
        clock.advance(step)
        elapsed += step
        assert session_client.get("/t/whoami").json()["kind"] == "citizen"
    clock.advance(step)
    assert session_client.get("/t/whoami").json()["kind"] == "anonymous"


def test_rotation_on_sign_in_and_privilege_change(
    session_client: TestClient, session_app: FastAPI
) -> None:
    session_client.post("/t/sign-in/p1")
    first = session_client.cookies["parvis_session"]
    session_client.post("/t/promote")
    second = session_client.cookies["parvis_session"]
    assert first != second
    assert count_sessions(session_app) == 1
    # the old id is dead: replaying it gives an anonymous visitor, not the staff member
    replay = TestClient(session_app, base_url="http://127.0.0.1")
    replay.cookies.set("parvis_session", first)
    assert replay.get("/t/whoami").json()["kind"] == "anonymous"
    assert session_client.get("/t/dpo-only").json() == {"staff": "s-1"}
    session_client.post("/t/sign-out")
    assert session_client.cookies["parvis_session"] not in {first, second}
    assert session_client.get("/t/whoami").json()["kind"] == "anonymous"


def test_roles_are_enforced(session_client: TestClient, session_app: FastAPI) -> None:
    assert session_client.get("/t/dpo-only").status_code == 401
    sign_in(session_client, session_app, Staff("agent-1", frozenset({Role.AGENT})))
    forbidden = session_client.get("/t/dpo-only")
    assert forbidden.status_code == 403
    assert forbidden.headers["content-type"] == "application/problem+json"


def test_forged_or_oversized_cookie_is_anonymous(session_client: TestClient) -> None:
    session_client.cookies.set("parvis_session", "forged")
    assert session_client.get("/t/whoami").json()["kind"] == "anonymous"
    session_client.cookies.set("parvis_session", "x" * 5000)
    assert session_client.get("/t/whoami").json()["kind"] == "anonymous"
