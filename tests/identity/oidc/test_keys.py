"""Signing-key rotation (docs/oidc-integration.md §2): ``parvis keys rotate`` run through the CLI;
the next key is in ``/jwks.json`` before it signs; tokens signed by the old key still verify while
it is kept; it leaves the JWKS only once every token it signed has expired; private keys are sealed
at rest and never logged.

The CLI builds its own context with the system clock, as in production. The app's
:class:`FixedClock` starts an hour before the real time, so the keys the app creates are old
enough for the CLI to promote, and the test moves the app's clock to the instants that matter.
"""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import nacl.exceptions
import nacl.secret
import pytest
from fastapi.testclient import TestClient
from joserfc import jwk, jwt
from joserfc.errors import JoseError
from sqlalchemy import select, text
from typer.testing import CliRunner, Result

from identity.oidc.keystore import KEY_PURPOSE, NEXT_KEY_MIN_PUBLISHED
from identity.oidc.provider import ID_TOKEN_SECONDS
from identity.oidc.service import oidc_from
from identity.oidc.tables import OidcKeyRow
from parvis.cli import build_cli
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.keys import derive_key
from tests.identity.oidc.conftest import CodeFlow, Platform, pkce

PRIVATE_MEMBERS = ("d", "p", "q", "dp", "dq", "qi")


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1))


def parvis(ctx: AppContext, *args: str) -> Result:
    env = {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": ctx.settings.database_url,
        "PARVIS_DATA_DIR": str(ctx.settings.data_dir),
    }
    return CliRunner().invoke(build_cli(), list(args), env=env)


def keys_by_state(ctx: AppContext) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {"next": set(), "active": set(), "retired": set()}
    with ctx.db.read_session() as db:
        for row in db.scalars(select(OidcKeyRow)):
            out[row.state].add(row.kid)
    return out


def published(browser: TestClient) -> set[str]:
    response = browser.get("/jwks.json")
    assert response.status_code == 200
    return {k["kid"] for k in response.json()["keys"]}


def id_token(code_flow: CodeFlow, platform: Platform) -> str:
    verifier, challenge = pkce()
    code, _ = code_flow.code(platform, code_challenge=challenge, code_challenge_method="S256")
    token = code_flow.exchange(platform, code, code_verifier=verifier)
    assert token.status_code == 200, token.text
    value: str = token.json()["id_token"]
    return value


def verify(browser: TestClient, token: str) -> jwt.Token:
    keys = jwk.KeySet.import_key_set(browser.get("/jwks.json").json())
    return jwt.decode(token, keys, algorithms=["RS256", "ES256"])


def test_rotation_through_the_cli_step_by_step(
    ctx: AppContext,
    browser: TestClient,
    code_flow: CodeFlow,
    platform: Platform,
    clock: FixedClock,
) -> None:
    # 1. Before: one active and one next key per algorithm, all four published.
    before = published(browser)
    states = keys_by_state(ctx)
    assert len(states["active"]) == len(states["next"]) == 2
    assert before == states["active"] | states["next"]
    old_token = id_token(code_flow, platform)
    old_kid = verify(browser, old_token).header["kid"]
    assert old_kid in states["active"]

    # 2. parvis keys rotate: the next keys become active; they were published before.
    rotated = parvis(ctx, "keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    after = keys_by_state(ctx)
    assert after["active"] == states["next"]
    assert after["active"] <= before, "a key signs only after it was published"
    assert after["retired"] == states["active"]
    assert all(kid in rotated.output for kid in after["active"])
    now_published = published(browser)
    assert now_published == after["active"] | after["next"] | after["retired"]

    # 3. The app signs with the new key at once (no worker keeps signing with the old one),
    #    and the token signed by the old key still verifies.
    new_token = id_token(code_flow, platform)
    assert verify(browser, new_token).header["kid"] in after["active"]
    assert verify(browser, old_token).claims["aud"] == platform.client_id

    # 4. The old key stays published until every token it signed has expired.
    with ctx.db.read_session() as db:
        row = db.get(OidcKeyRow, old_kid)
        assert row is not None
        assert row.publish_until is not None
        until = row.publish_until.replace(tzinfo=row.publish_until.tzinfo or UTC)
    old_exp = verify(browser, old_token).claims["exp"]
    assert old_exp <= until.timestamp(), "published at least as long as its tokens live"
    assert until - datetime.now(UTC) >= timedelta(seconds=ID_TOKEN_SECONDS)
    clock.current = until - timedelta(seconds=1)
    assert old_kid in published(browser)
    verify(browser, old_token)
    clock.current = until
    assert old_kid not in published(browser)
    assert after["active"] <= published(browser)
    with pytest.raises(JoseError):
        verify(browser, old_token)
    with ctx.db.write_session() as db:
        assert oidc_from(ctx).keys.purge(db) == 2
        assert db.get(OidcKeyRow, old_kid) is None

    # 5. A second rotation right away would make a key sign minutes after it was first
    #    published: refused on one line, unless forced.
    again = parvis(ctx, "keys", "rotate")
    assert again.exit_code == 1
    assert again.stderr.startswith("error: the next keys ")
    assert f"{int(NEXT_KEY_MIN_PUBLISHED.total_seconds() // 60)} minutes" in again.stderr
    assert "Traceback" not in again.output
    assert keys_by_state(ctx)["active"] == after["active"], "nothing changed"
    forced = parvis(ctx, "keys", "rotate", "--force")
    assert forced.exit_code == 0, forced.output
    assert keys_by_state(ctx)["active"] == after["next"]


def test_private_keys_are_sealed_at_rest_and_never_logged(
    ctx: AppContext,
    browser: TestClient,
    code_flow: CodeFlow,
    platform: Platform,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Every log record, SQL statements and their parameters included.
    caplog.set_level(logging.DEBUG)
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")
    published(browser)
    id_token(code_flow, platform)
    rotated = parvis(ctx, "keys", "rotate")
    assert rotated.exit_code == 0, rotated.output
    id_token(code_flow, platform)

    box = nacl.secret.SecretBox(derive_key(ctx.settings.secret_key, KEY_PURPOSE))
    other = nacl.secret.SecretBox(derive_key("another master secret, 32+ chars!", KEY_PURPOSE))
    secrets_seen: list[str] = []
    with ctx.db.read_session() as db:
        raw = db.execute(text("SELECT kid, sealed_private, public_jwk FROM identity_oidc_keys"))
        rows = list(raw)
    assert len(rows) == 6  # retired, active and next, for RS256 and ES256
    for kid, sealed, public in rows:
        assert "PRIVATE" not in sealed
        assert "{" not in sealed
        assert '"d"' not in sealed
        assert not (set(json.loads(public)) & set(PRIVATE_MEMBERS)), kid
        private = json.loads(box.decrypt(bytes.fromhex(sealed)))
        members = [private[m] for m in PRIVATE_MEMBERS if m in private]
        assert members, "the sealed value holds the private key"
        assert all(m not in sealed for m in members)
        secrets_seen.extend(members)
        with pytest.raises(nacl.exceptions.CryptoError):
            other.decrypt(bytes.fromhex(sealed))
    assert any(r.name.startswith("sqlalchemy.engine") for r in caplog.records), (
        "the database traffic was logged, so this test sees what crosses it"
    )
    logged = "\n".join([r.getMessage() for r in caplog.records] + [rotated.output, caplog.text])
    assert "PRIVATE KEY" not in logged
    leaks = [s[:8] for s in secrets_seen if s in logged]
    assert leaks == []
