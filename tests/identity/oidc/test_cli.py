"""``parvis client create|rotate-secret|disable|list`` against a real database
(docs/oidc-integration.md §4), with the app answering the platform's requests in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient
from joserfc import jwk
from typer.testing import CliRunner, Result

import audit
from identity.oidc.service import oidc_from
from parvis.cli import build_cli
from parvis.kernel.context import AppContext
from tests.identity.oidc.conftest import CodeFlow, Platform, pkce

RP = "https://budget.ville.example"


def parvis(ctx: AppContext, *args: str) -> Result:
    env = {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": ctx.settings.database_url,
        "PARVIS_DATA_DIR": str(ctx.settings.data_dir),
    }
    return CliRunner().invoke(build_cli(), list(args), env=env)


def one_line_error(result: Result) -> str:
    assert result.exit_code == 1, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.output
    return lines[0]


def secret_from(result: Result) -> str:
    assert result.exit_code == 0, result.output
    (line,) = [x for x in result.stdout.splitlines() if x.startswith("client_secret: ")]
    return line.removeprefix("client_secret: ")


def api_token(browser: TestClient, client_id: str, secret: str) -> httpx.Response:
    return browser.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "api:consent"},
        auth=(client_id, secret),
    )


def create_budget(ctx: AppContext) -> Result:
    return parvis(
        ctx,
        "client",
        "create",
        "budget",
        "--name",
        "Budget participatif",
        "--redirect-uri",
        f"{RP}/callback",
        "--scope",
        "openid",
        "--scope",
        "api:consent",
    )


def test_create_rotate_disable_list(ctx: AppContext, browser: TestClient) -> None:
    created = create_budget(ctx)
    first = secret_from(created)
    assert "shown once" in created.stdout
    assert api_token(browser, "budget", first).status_code == 200

    rotated = parvis(ctx, "client", "rotate-secret", "budget")
    second = secret_from(rotated)
    assert second != first
    assert api_token(browser, "budget", first).status_code == 401
    live = api_token(browser, "budget", second)
    assert live.status_code == 200
    access = live.json()["access_token"]

    listed = parvis(ctx, "client", "list")
    assert listed.stdout.splitlines() == [
        "budget\tclient_secret_basic\tactive\tBudget participatif"
    ]

    disabled = parvis(ctx, "client", "disable", "budget")
    assert disabled.exit_code == 0, disabled.output
    # Two tokens were issued (one per secret); both are revoked.
    assert disabled.stdout.strip() == "budget disabled: 2 access tokens revoked, 0 sessions ended"
    with ctx.db.read_session() as db:
        assert oidc_from(ctx).provider.bearer(db, access) is None
    assert api_token(browser, "budget", second).status_code == 401
    assert "\tdisabled\t" in parvis(ctx, "client", "list").stdout
    again = parvis(ctx, "client", "disable", "budget")
    assert (
        again.stdout.strip()
        == "budget was already disabled: 0 access tokens revoked, 0 sessions ended"
    )
    assert "disabled" in one_line_error(parvis(ctx, "client", "rotate-secret", "budget"))

    with ctx.db.read_session() as db:
        log = audit.service_from(ctx)
        kinds = [
            e.event_type
            for e in log.query(db, actor="system:cli", limit=100)
            if e.event_type.startswith("identity.oidc.client.")
        ]
    assert kinds == [
        "identity.oidc.client.registered",
        "identity.oidc.client.secret_rotated",
        "identity.oidc.client.disabled",
    ], "the second disable changed nothing and is not audited"


def test_disable_signs_citizens_out_of_the_platform(
    ctx: AppContext, browser: TestClient, code_flow: CodeFlow, platform: Platform
) -> None:
    verifier, challenge = pkce()
    code, _ = code_flow.code(platform, code_challenge=challenge, code_challenge_method="S256")
    token = code_flow.exchange(platform, code, code_verifier=verifier)
    assert token.status_code == 200, token.text
    bearer = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert browser.get("/userinfo", headers=bearer).status_code == 200

    disabled = parvis(ctx, "client", "disable", platform.client_id)
    assert disabled.stdout.strip() == (
        f"{platform.client_id} disabled: 1 access tokens revoked, 1 sessions ended"
    )
    assert browser.get("/userinfo", headers=bearer).status_code == 401
    # An unknown client: an error page, never a redirect to its URI (RFC 6749 §4.1.2.1).
    response = code_flow.authorize(platform)
    assert response.status_code == 400
    assert "location" not in response.headers


def test_failures_are_one_line_and_write_nothing(ctx: AppContext, tmp_path: Path) -> None:
    assert "no client 'nobody'" in one_line_error(parvis(ctx, "client", "disable", "nobody"))
    assert "no client 'nobody'" in one_line_error(parvis(ctx, "client", "rotate-secret", "nobody"))
    fragment = parvis(
        ctx, "client", "create", "budget", "--name", "B", "--redirect-uri", f"{RP}/cb#x"
    )
    assert "must not contain a fragment" in one_line_error(fragment)
    key = jwk.RSAKey.generate_key(2048, private=True)
    private = tmp_path / "private.json"
    private.write_text(json.dumps({"keys": [key.as_dict(private=True)]}), encoding="utf-8")
    leaked = parvis(
        ctx,
        "client",
        "create",
        "budget",
        "--name",
        "B",
        "--redirect-uri",
        f"{RP}/cb",
        "--auth-method",
        "private_key_jwt",
        "--jwks-file",
        str(private),
    )
    message = one_line_error(leaked)
    assert "private key material" in message
    assert key.as_dict(private=True)["d"] not in leaked.output
    missing = parvis(
        ctx, "client", "create", "budget", "--name", "B", "--jwks-file", str(tmp_path / "no.json")
    )
    assert "No such file" in one_line_error(missing)
    bad_purpose = parvis(
        ctx, "client", "create", "budget", "--name", "B", "--redirect-uri", f"{RP}/cb",
        "--purpose", "residence",
    )  # fmt: skip
    assert "GROUP=PURPOSE_ID" in one_line_error(bad_purpose)
    assert create_budget(ctx).exit_code == 0
    assert "already exists" in one_line_error(create_budget(ctx))
    assert parvis(ctx, "client", "list").stdout.count("budget") == 1


def test_client_create_help_describes_every_option() -> None:
    """docs/oidc-integration.md §4 lists each option of ``parvis client create``; its
    ``--help`` describes every one of them too (an option without help is one an
    administrator has to guess)."""
    import typer

    cli: Any = typer.main.get_command(build_cli())
    create = cli.commands["client"].commands["create"]
    described = {
        param.name: (getattr(param, "help", None) or "").strip() for param in create.params
    }
    assert "name" in described
    assert "userinfo_alg" in described
    assert {name for name, text in described.items() if not text} == set()
    shown = CliRunner().invoke(build_cli(), ["client", "create", "--help"], terminal_width=200)
    assert shown.exit_code == 0, shown.output
    # Rich draws the help in boxes and wraps it: compare the words, not the layout.
    words = " ".join(shown.output.replace("\u2502", " ").split())
    for text in described.values():
        assert " ".join(text.split())[:30] in words, text
