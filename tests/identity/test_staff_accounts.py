"""Staff accounts managed without a developer (docs/operations.md, "Staff accounts"), through
HTTP as a browser uses them, and through ``parvis staff``: an administrator creates, disables,
enables and resets; a one-time password must be changed before anything else; the second
factor is enrolled with a QR code; recovery codes are single use; a disabled account cannot
sign in and its sessions end; each role lands on its work; nothing personal in the audit."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx2
import pyotp
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from typer.testing import CliRunner

import audit
import identity
from identity.staff import ONE_TIME_LIFETIME, RECOVERY_CODES, NewStaff
from identity.tables import StaffRecoveryCodeRow
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.principal import Role, Staff
from tests.identity.conftest import PUBLIC_URL
from tests.support.auth import sign_in as kernel_sign_in

ADMIN_PASSWORD = "admin password, long enough"
NEW_PASSWORD = "my own password, at last"
HOLDER = "nouvel.agent@ville.example"


def csrf(html: str) -> str:
    return html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]


def one_time_password(html: str) -> str:
    found = re.search(r'id="one-time">\s*<p>[^<]*<code>([^<]+)</code>', html)
    assert found, html
    return found.group(1)


@pytest.fixture
def admin(ctx: AppContext) -> NewStaff:
    with ctx.db.write_session() as db:
        return identity.staff_service_from(ctx).create(
            db,
            email="admin@ville.example",
            roles=frozenset({Role.ADMIN}),
            actor="system:test",
            password=ADMIN_PASSWORD,
        )


def new_browser(app: FastAPI) -> TestClient:
    return TestClient(app, base_url=PUBLIC_URL, follow_redirects=False)


@pytest.fixture
def admin_browser(app: FastAPI, admin: NewStaff, clock: FixedClock) -> Iterator[TestClient]:
    with new_browser(app) as browser:
        signed_in = sign_in(browser, admin.email, ADMIN_PASSWORD, totp(admin.totp_uri, clock))
        assert signed_in.status_code == 303
        assert signed_in.headers["location"] == "/staff/comptes", "the admin lands on accounts"
        yield browser


def totp(uri_or_secret: str, clock: FixedClock) -> str:
    if uri_or_secret.startswith("otpauth://"):
        parsed = pyotp.parse_uri(uri_or_secret)
        assert isinstance(parsed, pyotp.TOTP)
        return parsed.at(clock.now())
    return pyotp.TOTP(uri_or_secret).at(clock.now())


def sign_in(browser: TestClient, email: str, password: str, code: str = "") -> httpx2.Response:
    token = csrf(browser.get("/staff/login").text)
    return browser.post(
        "/staff/login",
        data={"csrf_token": token, "email": email, "password": password, "code": code},
    )


def create_account(admin_browser: TestClient, *roles: str) -> str:
    page = admin_browser.get("/staff/comptes")
    assert page.status_code == 200
    assert "Comptes des agents" in page.text
    created = admin_browser.post(
        "/staff/comptes",
        data={"csrf_token": csrf(page.text), "email": HOLDER, "roles": list(roles)},
    )
    assert created.status_code == 201, created.text
    assert created.headers["cache-control"] == "no-store"
    return one_time_password(created.text)


def enrol(browser: TestClient, clock: FixedClock) -> tuple[list[str], str, httpx2.Response]:
    """Scan the QR code (read the key under it), confirm a code; the recovery codes."""
    page = browser.get("/staff/double-facteur")
    assert page.status_code == 200, page.text
    assert "<svg" in page.text
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text)
    assert secret
    key = secret.group(1).replace(" ", "")
    wrong = browser.post(
        "/staff/double-facteur", data={"csrf_token": csrf(page.text), "code": "000000"}
    )
    assert wrong.status_code == 422
    assert "Ce code ne correspond pas" in wrong.text
    done = browser.post(
        "/staff/double-facteur",
        data={"csrf_token": csrf(wrong.text), "code": totp(key, clock)},
    )
    assert done.status_code == 200, done.text
    assert done.headers["cache-control"] == "no-store"
    codes: list[str] = re.findall(r"<li><code>([a-z0-9]{5}-[a-z0-9]{5})</code></li>", done.text)
    assert len(codes) == RECOVERY_CODES
    return codes, key, done


def test_a_new_account_changes_its_one_time_password_and_enrols_before_anything_else(
    app: FastAPI, ctx: AppContext, admin_browser: TestClient, clock: FixedClock
) -> None:
    password = create_account(admin_browser, "agent")
    with new_browser(app) as holder:
        assert sign_in(holder, HOLDER, "not the password").status_code == 401
        first = sign_in(holder, HOLDER, password)
        assert first.status_code == 303
        assert first.headers["location"] == "/staff/mot-de-passe"
        # Not signed in yet: every staff page sends back to the sign-in, which sends on to
        # the step left; the enrolment page waits for the new password.
        assert holder.get("/staff/guichet").headers["location"].startswith("/staff/login")
        assert holder.get("/staff/login").headers["location"] == "/staff/mot-de-passe"
        assert holder.get("/staff/double-facteur").headers["location"].startswith("/staff/login")
        form = holder.get("/staff/mot-de-passe")
        assert form.status_code == 200
        assert "Choisissez votre mot de passe" in form.text
        token = csrf(form.text)
        differ = holder.post(
            "/staff/mot-de-passe",
            data={"csrf_token": token, "new_password": NEW_PASSWORD, "confirm_password": "x"},
        )
        assert differ.status_code == 422
        short = holder.post(
            "/staff/mot-de-passe",
            data={"csrf_token": token, "new_password": "short", "confirm_password": "short"},
        )
        assert short.status_code == 422
        assert "au moins 12 caractères" in short.text
        no_csrf = holder.post(
            "/staff/mot-de-passe",
            data={"new_password": NEW_PASSWORD, "confirm_password": NEW_PASSWORD},
        )
        assert no_csrf.status_code == 403
        changed = holder.post(
            "/staff/mot-de-passe",
            data={
                "csrf_token": token,
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
            },
        )
        assert changed.status_code == 303
        assert changed.headers["location"] == "/staff/double-facteur"
        assert holder.get("/staff/guichet").status_code == 303, "still not signed in"
        codes, key, done = enrol(holder, clock)
        assert 'href="/staff/guichet"' in done.text, "the agent continues to the desk"
        assert holder.get("/staff/guichet").status_code == 200, "signed in at last"

    with new_browser(app) as again:
        assert sign_in(again, HOLDER, password).status_code == 401, "one-time password gone"
        clock.advance(timedelta(seconds=60))
        landed = sign_in(again, HOLDER, NEW_PASSWORD, totp(key, clock))
        assert landed.status_code == 303
        assert landed.headers["location"] == "/staff/guichet"
    # A recovery code signs in once instead of the app's code.
    with new_browser(app) as lost_phone:
        assert sign_in(lost_phone, HOLDER, NEW_PASSWORD, codes[0].upper()).status_code == 303
    with new_browser(app) as reuse:
        assert sign_in(reuse, HOLDER, NEW_PASSWORD, codes[0]).status_code == 401
        assert sign_in(reuse, HOLDER, NEW_PASSWORD, codes[1]).status_code == 303
    with ctx.db.read_session() as db:
        stored = [r.code_hash for r in db.query(StaffRecoveryCodeRow).all()]
    assert len(stored) == RECOVERY_CODES
    assert not {c.replace("-", "") for c in codes} & set(stored), "stored hashed only"
    assert all(len(h) == 64 for h in stored)


def test_reset_ends_sessions_and_forces_a_new_password(
    app: FastAPI, ctx: AppContext, admin_browser: TestClient, clock: FixedClock
) -> None:
    with ctx.db.write_session() as db:
        holder_account = identity.staff_service_from(ctx).create(
            db,
            email=HOLDER,
            roles=frozenset({Role.ELECTION_OFFICER}),
            actor="system:test",
            password=NEW_PASSWORD,
        )
    with new_browser(app) as holder:
        landed = sign_in(holder, HOLDER, NEW_PASSWORD, totp(holder_account.totp_uri, clock))
        assert landed.headers["location"] == "/staff/scrutins", "officers land on elections"
        assert holder.get("/staff/compte").status_code == 200
        page = admin_browser.get("/staff/comptes")
        reset = admin_browser.post(
            f"/staff/comptes/{holder_account.staff_id}/reinitialiser",
            data={"csrf_token": csrf(page.text)},
        )
        assert reset.status_code == 200, reset.text
        assert reset.headers["cache-control"] == "no-store"
        password = one_time_password(reset.text)
        # The holder's session ended with the reset.
        assert holder.get("/staff/compte").headers["location"].startswith("/staff/login")
    clock.advance(timedelta(seconds=60))
    with new_browser(app) as holder:
        assert (
            sign_in(holder, HOLDER, NEW_PASSWORD, totp(holder_account.totp_uri, clock)).status_code
            == 401
        )
        # The second factor was kept: the one-time password alone is not enough.
        assert sign_in(holder, HOLDER, password, "").status_code == 401
        step = sign_in(holder, HOLDER, password, totp(holder_account.totp_uri, clock))
        assert step.headers["location"] == "/staff/mot-de-passe"
        # A reset while this sign-in is half done: its next step is refused.
        token = csrf(holder.get("/staff/mot-de-passe").text)
        with ctx.db.write_session() as db:
            identity.staff_service_from(ctx).reset(
                db, holder_account.staff_id, actor="staff:someone"
            )
        stale = holder.post(
            "/staff/mot-de-passe",
            data={"csrf_token": token, "new_password": "x" * 12, "confirm_password": "x" * 12},
        )
        assert stale.headers["location"] == "/staff/login"
        assert holder.get("/staff/login").status_code == 200, "the half sign-in is forgotten"
        clock.advance(timedelta(seconds=30))
        assert (
            sign_in(holder, HOLDER, "x" * 12, totp(holder_account.totp_uri, clock)).status_code
            == 401
        )
    # A one-time password expires.
    with ctx.db.write_session() as db:
        again = identity.staff_service_from(ctx).reset(
            db, holder_account.staff_id, actor="staff:someone"
        )
    clock.advance(ONE_TIME_LIFETIME + timedelta(minutes=1))
    with new_browser(app) as holder:
        late = sign_in(holder, HOLDER, again.password, totp(holder_account.totp_uri, clock))
        assert late.status_code == 401


def test_reset_of_the_second_factor_leads_to_a_new_enrolment(
    app: FastAPI, ctx: AppContext, admin_browser: TestClient, clock: FixedClock
) -> None:
    with ctx.db.write_session() as db:
        service = identity.staff_service_from(ctx)
        holder_account = service.create(
            db,
            email=HOLDER,
            roles=frozenset({Role.DPO}),
            actor="system:test",
            password=NEW_PASSWORD,
        )
        service.new_recovery_codes(db, holder_account.staff_id, current=None)
    page = admin_browser.get("/staff/comptes")
    reset = admin_browser.post(
        f"/staff/comptes/{holder_account.staff_id}/reinitialiser",
        data={"csrf_token": csrf(page.text), "second_factor": "true"},
    )
    password = one_time_password(reset.text)
    with ctx.db.read_session() as db:
        assert (
            identity.staff_service_from(ctx).recovery_codes_left(db, holder_account.staff_id) == 0
        )
    with new_browser(app) as holder:
        assert sign_in(holder, HOLDER, password).headers["location"] == "/staff/mot-de-passe"
        token = csrf(holder.get("/staff/mot-de-passe").text)
        holder.post(
            "/staff/mot-de-passe",
            data={
                "csrf_token": token,
                "new_password": "a third password!",
                "confirm_password": "a third password!",
            },
        )
        _codes, _key, done = enrol(holder, clock)
        assert 'href="/dpo"' in done.text, "the DPO continues to the DPO console"
        assert holder.get("/dpo").status_code == 200


def test_a_disabled_account_cannot_sign_in_and_its_sessions_end(
    app: FastAPI, ctx: AppContext, admin: NewStaff, admin_browser: TestClient, clock: FixedClock
) -> None:
    with ctx.db.write_session() as db:
        holder_account = identity.staff_service_from(ctx).create(
            db,
            email=HOLDER,
            roles=frozenset({Role.AGENT}),
            actor="system:test",
            password=NEW_PASSWORD,
        )
    with new_browser(app) as holder, new_browser(app) as other_device:
        for device in (holder, other_device):
            clock.advance(timedelta(seconds=30))
            assert (
                sign_in(
                    device, HOLDER, NEW_PASSWORD, totp(holder_account.totp_uri, clock)
                ).status_code
                == 303
            )
            assert device.get("/staff/guichet").status_code == 200
        page = admin_browser.get("/staff/comptes")
        disabled = admin_browser.post(
            f"/staff/comptes/{holder_account.staff_id}/desactiver",
            data={"csrf_token": csrf(page.text)},
        )
        assert disabled.status_code == 303
        listing = admin_browser.get(disabled.headers["location"])
        assert "Compte désactivé" in listing.text
        for device in (holder, other_device):
            assert device.get("/staff/guichet").headers["location"].startswith("/staff/login")
        clock.advance(timedelta(seconds=30))
        assert (
            sign_in(holder, HOLDER, NEW_PASSWORD, totp(holder_account.totp_uri, clock)).status_code
            == 401
        )
        # The administrator's own session is untouched; they cannot disable themselves.
        own = admin_browser.post(
            f"/staff/comptes/{admin.staff_id}/desactiver", data={"csrf_token": csrf(listing.text)}
        )
        assert own.status_code == 409
        assert "votre propre compte" in own.text
        enabled = admin_browser.post(
            f"/staff/comptes/{holder_account.staff_id}/activer",
            data={"csrf_token": csrf(listing.text)},
        )
        assert enabled.status_code == 303
        clock.advance(timedelta(seconds=30))
        assert (
            sign_in(holder, HOLDER, NEW_PASSWORD, totp(holder_account.totp_uri, clock)).status_code
            == 303
        )
    # Only administrators manage accounts; a form without CSRF token changes nothing.
    with new_browser(app) as agent:
        kernel_sign_in(agent, app, Staff(holder_account.staff_id, frozenset({Role.AGENT})))
        assert agent.get("/staff/comptes").status_code == 403
        assert agent.post(f"/staff/comptes/{admin.staff_id}/desactiver").status_code == 403
    assert (
        admin_browser.post(f"/staff/comptes/{holder_account.staff_id}/desactiver").status_code
        == 403
    )
    with ctx.db.read_session() as db:
        assert identity.staff_service_from(ctx).find(db, HOLDER).active


def test_own_password_change_keeps_this_session_and_ends_the_others(
    app: FastAPI, ctx: AppContext, admin: NewStaff, admin_browser: TestClient, clock: FixedClock
) -> None:
    with new_browser(app) as other:
        clock.advance(timedelta(seconds=30))
        assert (
            sign_in(other, admin.email, ADMIN_PASSWORD, totp(admin.totp_uri, clock)).status_code
            == 303
        )
        page = admin_browser.get("/staff/compte")
        assert "Mon compte d’agent" in page.text
        wrong = admin_browser.post(
            "/staff/compte/mot-de-passe",
            data={
                "csrf_token": csrf(page.text),
                "current_password": "not my password",
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
            },
        )
        assert wrong.status_code == 422
        assert "Le mot de passe actuel n’est pas le bon." in wrong.text
        done = admin_browser.post(
            "/staff/compte/mot-de-passe",
            data={
                "csrf_token": csrf(page.text),
                "current_password": ADMIN_PASSWORD,
                "new_password": NEW_PASSWORD,
                "confirm_password": NEW_PASSWORD,
            },
        )
        assert done.status_code == 303
        assert admin_browser.get("/staff/compte").status_code == 200
        assert other.get("/staff/compte").status_code == 303


def test_a_signed_in_member_replaces_the_second_factor_only_with_the_password(
    app: FastAPI, admin: NewStaff, admin_browser: TestClient, clock: FixedClock
) -> None:
    page = admin_browser.get("/staff/double-facteur")
    assert "<svg" in page.text
    key = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text)
    assert key
    secret = key.group(1).replace(" ", "")
    without = admin_browser.post(
        "/staff/double-facteur",
        data={"csrf_token": csrf(page.text), "code": totp(secret, clock)},
    )
    assert without.status_code == 422
    assert "Le mot de passe actuel n’est pas le bon." in without.text
    assert secret in without.text.replace(" ", ""), "the same key is shown again"
    replaced = admin_browser.post(
        "/staff/double-facteur",
        data={
            "csrf_token": csrf(page.text),
            "code": totp(secret, clock),
            "current_password": ADMIN_PASSWORD,
        },
    )
    assert replaced.status_code == 200
    first = re.findall(r"<li><code>([a-z0-9-]{11})</code></li>", replaced.text)
    assert len(first) == RECOVERY_CODES
    account = admin_browser.get("/staff/compte")
    assert "10 codes de secours restants." in account.text
    refused = admin_browser.post(
        "/staff/compte/codes-de-secours",
        data={"csrf_token": csrf(account.text), "current_password": "wrong"},
    )
    assert refused.status_code == 422
    renewed = admin_browser.post(
        "/staff/compte/codes-de-secours",
        data={"csrf_token": csrf(account.text), "current_password": ADMIN_PASSWORD},
    )
    assert renewed.status_code == 200
    assert renewed.headers["cache-control"] == "no-store"
    second = re.findall(r"<li><code>([a-z0-9-]{11})</code></li>", renewed.text)
    assert len(second) == RECOVERY_CODES
    assert not set(first) & set(second)
    clock.advance(timedelta(seconds=60))
    with new_browser(app) as device:
        old_app = sign_in(device, admin.email, ADMIN_PASSWORD, totp(admin.totp_uri, clock))
        assert old_app.status_code == 401, "the old phone no longer signs in"
        assert sign_in(device, admin.email, ADMIN_PASSWORD, first[0]).status_code == 401
        assert sign_in(device, admin.email, ADMIN_PASSWORD, totp(secret, clock)).status_code == 303


def test_staff_events_are_audited_without_the_email(
    app: FastAPI, ctx: AppContext, admin_browser: TestClient, clock: FixedClock
) -> None:
    password = create_account(admin_browser, "agent", "dpo")
    with ctx.db.read_session() as db:
        created = identity.staff_service_from(ctx).find(db, HOLDER)
    page = admin_browser.get("/staff/comptes")
    for action in ("desactiver", "activer", "reinitialiser"):
        admin_browser.post(
            f"/staff/comptes/{created.staff_id}/{action}", data={"csrf_token": csrf(page.text)}
        )
    with new_browser(app) as holder:
        assert sign_in(holder, HOLDER, password).status_code == 401, "reset replaced it"
    log = audit.service_from(ctx)
    log.integrate()
    with ctx.db.read_session() as db:
        events = log.query(db, limit=1000)
        size = log.head(db, log="audit").size
        leaves = b"\n".join(e.data for e in log.entries(db, log="audit", start=0, end=size))
    kinds = {e.event_type for e in events if e.subject == f"staff:{created.staff_id}"}
    assert {
        "identity.staff.created",
        "identity.staff.disabled",
        "identity.staff.enabled",
        "identity.staff.reset",
    } <= kinds
    everything = json.dumps([(e.actor, e.subject, e.details) for e in events])
    assert "ville.example" not in everything
    assert b"ville.example" not in leaves
    assert password not in everything


def test_each_role_lands_on_its_work(app: FastAPI, ctx: AppContext, clock: FixedClock) -> None:
    expected = {
        Role.ADMIN: "/staff/comptes",
        Role.DPO: "/dpo",
        Role.ELECTION_OFFICER: "/staff/scrutins",
        Role.AGENT: "/staff/guichet",
        Role.TRUSTEE: "/staff/scrutins",
        Role.SCRUTINEER: "/staff/scrutins",
    }
    for number, (role, landing) in enumerate(expected.items()):
        with ctx.db.write_session() as db:
            account = identity.staff_service_from(ctx).create(
                db,
                email=f"role{number}@ville.example",
                roles=frozenset({role}),
                actor="system:test",
                password=NEW_PASSWORD,
            )
        with new_browser(app) as browser:
            response = sign_in(browser, account.email, NEW_PASSWORD, totp(account.totp_uri, clock))
            assert response.headers["location"] == landing, role
            assert browser.get(landing).status_code == 200, role


def test_staff_cli_list_disable_enable_reset(
    ctx: AppContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from parvis.cli import build_cli

    for key, value in {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": ctx.settings.database_url,
        "PARVIS_DATA_DIR": str(tmp_path),
    }.items():
        monkeypatch.setenv(key, value)
    runner = CliRunner()
    cli = build_cli()
    created = runner.invoke(cli, ["staff", "create", "--role", "agent", HOLDER])
    assert created.exit_code == 0, created.output
    staff_id = created.output.split()[1]
    listed = runner.invoke(cli, ["staff", "list"])
    assert listed.exit_code == 0, listed.output
    assert f"{staff_id}\t{HOLDER}\tagent\tactive\t-" in listed.output
    disabled = runner.invoke(cli, ["staff", "disable", HOLDER])
    assert disabled.exit_code == 0, disabled.output
    assert "disabled" in runner.invoke(cli, ["staff", "list"]).output
    assert runner.invoke(cli, ["staff", "enable", staff_id]).exit_code == 0
    reset = runner.invoke(cli, ["staff", "reset", HOLDER, "--second-factor"])
    assert reset.exit_code == 0, reset.output
    assert "one-time password: " in reset.output
    assert (
        f"{staff_id}\t{HOLDER}\tagent\tone-time-password"
        in runner.invoke(cli, ["staff", "list"]).output
    )
    unknown = runner.invoke(cli, ["staff", "disable", "nobody@ville.example"])
    assert unknown.exit_code == 1
    assert "no staff account" in unknown.output
    assert "Traceback" not in unknown.output


def test_every_message_of_the_account_pages_is_translated() -> None:
    from identity import locale_fr, staff_pages

    source = Path(staff_pages.__file__).read_text(encoding="utf-8")
    notices = re.findall(r'"notice": "([^"]+)"', source) + re.findall(
        r'^\s+"[a-z-]+": "([^"]+)",$', source, flags=re.MULTILINE
    )
    messages = [
        *staff_pages.ERRORS.values(),
        *staff_pages.ROLE_LABELS.values(),
        staff_pages.REFUSED,
        staff_pages.MISMATCH,
        staff_pages.QR_TITLE,
        *notices,
    ]
    assert len(notices) >= 4
    assert [m for m in messages if m not in locale_fr.MESSAGES] == []
