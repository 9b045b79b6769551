"""Staff accounts: argon2id profiles, TOTP, lockout, identical failures, roles, CSRF, CLI."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pyotp
import pytest
from argon2 import PasswordHasher, Type, profiles
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import identity
from identity.errors import StaffAuthenticationError
from identity.staff import MAX_FAILURES, NewStaff, password_profile
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Role, Staff
from parvis.kernel.settings import Mode
from tests.support.auth import sign_in as kernel_sign_in

PASSWORD = "correct horse battery staple"


def test_production_never_uses_the_cheapest_profile() -> None:
    for mode in (Mode.PRODUCTION, Mode.DEMO):
        profile = password_profile(mode)
        assert profile == profiles.RFC_9106_LOW_MEMORY
        assert profile != profiles.CHEAPEST
        assert profile.type is Type.ID
        assert profile.memory_cost >= 64 * 1024
        assert profile.time_cost >= 3
    assert password_profile(Mode.TEST) == profiles.CHEAPEST
    hashed = PasswordHasher.from_parameters(password_profile(Mode.PRODUCTION)).hash("x" * 12)
    assert hashed.startswith("$argon2id$v=19$m=65536,t=3,p=4$")


@pytest.fixture
def staff(ctx: AppContext) -> NewStaff:
    with ctx.db.write_session() as db:
        return identity.staff_service_from(ctx).create(
            db,
            email="Agent@Ville.example",
            roles=frozenset({Role.AGENT}),
            actor="system:test",
            password=PASSWORD,
        )


def code_now(staff: NewStaff, clock: FixedClock) -> str:
    return pyotp.parse_uri(staff.totp_uri).at(clock.now())  # type: ignore[no-any-return]


def test_sign_in_with_password_and_totp(
    ctx: AppContext, staff: NewStaff, clock: FixedClock
) -> None:
    service = identity.staff_service_from(ctx)
    principal = service.authenticate(
        email="agent@ville.example ", password=PASSWORD, totp_code=code_now(staff, clock)
    )
    assert principal == Staff(staff.staff_id, frozenset({Role.AGENT}))


def test_totp_code_cannot_be_replayed(ctx: AppContext, staff: NewStaff, clock: FixedClock) -> None:
    service = identity.staff_service_from(ctx)
    code = code_now(staff, clock)
    service.authenticate(email=staff.email, password=PASSWORD, totp_code=code)
    with pytest.raises(StaffAuthenticationError):
        service.authenticate(email=staff.email, password=PASSWORD, totp_code=code)
    clock.advance(timedelta(seconds=30))
    service.authenticate(email=staff.email, password=PASSWORD, totp_code=code_now(staff, clock))


def test_every_failure_looks_the_same(ctx: AppContext, staff: NewStaff, clock: FixedClock) -> None:
    service = identity.staff_service_from(ctx)
    attempts = {
        "unknown": ("nobody@ville.example", PASSWORD, code_now(staff, clock)),
        "password": (staff.email, "wrong password!!", code_now(staff, clock)),
        "totp": (staff.email, PASSWORD, "000000"),
    }
    messages = set()
    for email, password, code in attempts.values():
        with pytest.raises(StaffAuthenticationError) as caught:
            service.authenticate(email=email, password=password, totp_code=code)
        messages.add((type(caught.value), str(caught.value)))
    assert len(messages) == 1


def test_lockout_after_repeated_failures_even_for_unknown_emails(
    ctx: AppContext, staff: NewStaff, clock: FixedClock
) -> None:
    service = identity.staff_service_from(ctx)
    for _ in range(MAX_FAILURES):
        with pytest.raises(StaffAuthenticationError):
            service.authenticate(email=staff.email, password="wrong password!!", totp_code="000000")
    clock.advance(timedelta(seconds=30))
    with pytest.raises(StaffAuthenticationError):
        service.authenticate(email=staff.email, password=PASSWORD, totp_code=code_now(staff, clock))
    clock.advance(timedelta(minutes=16))
    service.authenticate(email=staff.email, password=PASSWORD, totp_code=code_now(staff, clock))
    # The same throttle applies to an address that has no account: lockout reveals nothing.
    from identity.tables import LoginThrottleRow

    for _ in range(MAX_FAILURES):
        with pytest.raises(StaffAuthenticationError):
            service.authenticate(email="nobody@ville.example", password="x", totp_code="000000")
    with ctx.db.read_session() as db:
        rows = db.query(LoginThrottleRow).all()
        assert any(r.locked_until is not None for r in rows)


def test_unknown_user_costs_a_password_verification(ctx: AppContext, staff: NewStaff) -> None:
    """Timing: an unknown e-mail is verified against a dummy hash of the same profile."""
    service = identity.staff_service_from(ctx)
    assert service._dummy_hash.startswith("$argon2id$")
    params = service.hasher
    assert (
        service._dummy_hash.split("$")[3]
        == f"m={params.memory_cost},t={params.time_cost},p={params.parallelism}"
    )


def test_staff_pages_need_a_role_and_csrf(
    app: FastAPI, ctx: AppContext, staff: NewStaff, clock: FixedClock
) -> None:
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as browser:
        page = browser.get("/staff/login")
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        no_csrf = browser.post(
            "/staff/login",
            data={"email": staff.email, "password": PASSWORD, "code": code_now(staff, clock)},
        )
        assert no_csrf.status_code == 403
        bad = browser.post(
            "/staff/login",
            data={
                "csrf_token": token,
                "email": staff.email,
                "password": "nope nope nope",
                "code": "000000",
            },
        )
        unknown = browser.post(
            "/staff/login",
            data={
                "csrf_token": token,
                "email": "x@ville.example",
                "password": "nope nope nope",
                "code": "000000",
            },
        )
        assert bad.status_code == unknown.status_code == 401
        strip = re.compile(r'name="csrf_token" value="[^"]*"')
        assert strip.sub("", bad.text) == strip.sub("", unknown.text)
        ok = browser.post(
            "/staff/login",
            data={
                "csrf_token": token,
                "email": staff.email,
                "password": PASSWORD,
                "code": code_now(staff, clock),
            },
        )
        assert ok.status_code == 303
        assert browser.get("/staff/guichet").status_code == 200
        assert browser.get("/staff/territoires").status_code == 403, (
            "agents do not manage territories"
        )
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as admin:
        kernel_sign_in(admin, app, Staff("admin1", frozenset({Role.ADMIN})))
        page = admin.get("/staff/territoires")
        assert page.status_code == 200
        token = page.text.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
        saved = admin.post(
            "/staff/territoires",
            data={
                "csrf_token": token,
                "territory_id": "ville",
                "name": "Ville",
                "cog_vintage": "2025",
                "communes": "93048 93049",
            },
        )
        assert saved.status_code == 200
        assert "93048 93049" in saved.text
        rule = admin.post(
            "/staff/regles",
            data={
                "csrf_token": token,
                "rule_id": "jeunes",
                "name": "Budget jeunes",
                "territory_id": "ville",
                "reference_date": "2026-06-01",
                "evidence": ["census", "postal_code"],
                "min_age": "11",
                "max_age": "25",
            },
        )
        assert rule.status_code == 200, rule.text
        assert "Budget jeunes" in rule.text
        census = admin.post(
            "/staff/recensement",
            data={"csrf_token": token, "territory_id": "ville"},
            files={
                "file": (
                    "c.csv",
                    b"family_name,given_names,birthdate,birthplace,commune\nDUBOIS,Angela,1962-08-24,75107,93048\n",
                    "text/csv",
                )
            },
        )
        assert census.status_code == 200, census.text
        assert "accepted: 1" in census.text
        # A Windows-1252 file with `;` (French spreadsheets): a pending import and its preview;
        # activation is a separate, confirmed post.
        cp1252 = admin.post(
            "/staff/recensement",
            data={"csrf_token": token, "territory_id": "ville"},
            files={
                "file": (
                    "c.csv",
                    "family_name;given_names;birthdate;birthplace;commune\r\n"
                    "Bœuf;Françoise;1962-08-24;75107;93048\r\n".encode("cp1252"),
                    "text/csv",
                )
            },
        )
        assert cp1252.status_code == 200, cp1252.text
        assert "accepted: 1" in cp1252.text
        import_id = cp1252.text.split('action="/staff/recensement/', 1)[1].split("/", 1)[0]
        unconfirmed = admin.post(
            f"/staff/recensement/{import_id}/activer", data={"csrf_token": token}
        )
        assert unconfirmed.status_code == 422
        activated = admin.post(
            f"/staff/recensement/{import_id}/activer",
            data={"csrf_token": token, "confirm": "true"},
        )
        assert activated.status_code == 200, activated.text
        with ctx.db.read_session() as db:
            assert {r.id: r.active for r in identity.service_from(ctx).census_imports(db)}[
                import_id
            ]
        binary = admin.post(
            "/staff/recensement",
            data={"csrf_token": token, "territory_id": "ville"},
            files={"file": ("c.csv", b"\x00\x01\x02", "text/csv")},
        )
        assert binary.status_code == 422
        assert "binary" in binary.text
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as anonymous:
        assert anonymous.get("/staff/territoires").headers["location"] == (
            "/staff/login?next=%2Fstaff%2Fterritoires"
        )
        assert anonymous.get("/staff").headers["location"] == "/staff/login?next=%2Fstaff"


def test_staff_create_cli(ctx: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from parvis.cli import build_cli

    for key, value in {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": ctx.settings.database_url,
        "PARVIS_DATA_DIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    result = runner.invoke(
        build_cli(), ["staff", "create", "--role", "dpo", "--role", "admin", "dpo@ville.example"]
    )
    assert result.exit_code == 0, result.output
    assert "password: " in result.output
    assert "otpauth://totp/" in result.output
    again = runner.invoke(build_cli(), ["staff", "create", "--role", "dpo", "dpo@ville.example"])
    assert again.exit_code == 1
    assert "exists" in again.output
    bad_role = runner.invoke(build_cli(), ["staff", "create", "--role", "mayor", "m@ville.example"])
    assert bad_role.exit_code != 0


def test_staff_sign_in_is_rate_limited_per_client(app: FastAPI, ctx: AppContext) -> None:
    from parvis.kernel.ratelimit import SharedRateLimiter

    ctx.extensions["identity.staff_login_limit"] = SharedRateLimiter.create(
        db=ctx.db,
        clock=ctx.clock,
        master_secret=ctx.settings.secret_key,
        scope="identity.staff-login",
        limit=2,
        window=60,
    )
    with TestClient(app, base_url="http://127.0.0.1:8000", follow_redirects=False) as browser:
        token = (
            browser.get("/staff/login")
            .text.split('name="csrf_token" value="', 1)[1]
            .split('"', 1)[0]
        )
        form = {
            "csrf_token": token,
            "email": "x@ville.example",
            "password": "nope nope nope",
            "code": "000000",
        }
        assert [browser.post("/staff/login", data=form).status_code for _ in range(3)] == [
            401,
            401,
            429,
        ]
