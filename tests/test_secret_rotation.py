"""``parvis secret rotate`` (ADR 0016): nothing sealed is lost, the old secret opens nothing.

Everything is sealed through the real services (an open election, a citizen's vault entry and
consent data key, OIDC signing keys, a staff account, a web session); the rotation runs through
the command line, as an operator would run it; the service is then started again on the new
sealing secret and used.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import nacl.exceptions
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session
from typer.testing import CliRunner

import identity
from ballot.keys import KeyDecryptionError, open_rsa_key
from ballot.tables import ElectionKeyRow
from consent.datakeys import DataKeys
from consent.errors import DataKeyError
from consent.tables import DataKeyRow
from identity.oidc.keystore import KeyStore
from identity.oidc.service import oidc_from
from identity.oidc.tables import OidcKeyRow
from identity.staff import TOTP_KEY_PURPOSE
from identity.tables import StaffRow, VaultAttributeRow
from identity.vault import AttributeVault, open_sealed
from parvis.app import create_app
from parvis.cli import build_cli
from parvis.kernel.clock import FixedClock
from parvis.kernel.context import AppContext
from parvis.kernel.keys import derive_key
from parvis.kernel.principal import Citizen, Role
from parvis.kernel.sessions import WebSessionRow
from parvis.kernel.settings import Settings
from tests.ballot.elections import make_citizen, open_election, setup_rule, voters

NEW_SECRET = "a-new-sealing-secret-for-the-rotation-test-0123456789"
WRONG_SECRET = "not-the-secret-anything-was-sealed-under-0123456789"
BIRTHDATE = b"1980-05-17"

runner = CliRunner()


def _rotate(settings: Settings, tmp_path: Path, old: str, new: str) -> Any:
    old_file, new_file = tmp_path / "old.secret", tmp_path / "new.secret"
    old_file.write_text(old + "\n")
    new_file.write_text(new + "\n")
    env = {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": settings.database_url,
        "PARVIS_DATA_DIR": str(settings.data_dir),
    }
    return runner.invoke(
        build_cli(),
        [
            "secret",
            "rotate",
            "--old-secret-file",
            str(old_file),
            "--new-secret-file",
            str(new_file),
        ],
        env=env,
    )


def _seal_everything(ctx: AppContext, clock: FixedClock) -> tuple[str, str, str]:
    """An open election, a citizen with a vault entry, OIDC keys, staff, a web session."""
    setup_rule(ctx)
    election = open_election(ctx, clock)
    citizen = make_citizen(ctx)
    with ctx.db.write_session() as db:
        AttributeVault(ctx).put(db, citizen, "birthdate", BIRTHDATE)
        oidc_from(ctx).keys.ensure(db)
        staff = identity.staff_service_from(ctx).create(
            db, email="dpo@example.org", roles=frozenset({Role.DPO}), actor="system:test"
        )
        ctx.sessions.create(db, Citizen(citizen))
    return election, citizen, staff.staff_id


def _staff(db: Session, staff_id: str) -> StaffRow:
    row = db.get(StaffRow, staff_id)
    assert row is not None
    return row


def _sealed_rows(ctx: AppContext) -> dict[str, Any]:
    with ctx.db.read_session() as db:
        return {
            "election": list(
                db.execute(select(ElectionKeyRow.election_id, ElectionKeyRow.rsa_key))
            ),
            "data": list(db.execute(select(DataKeyRow.subject, DataKeyRow.wrapped))),
            "oidc": list(db.execute(select(OidcKeyRow.kid, OidcKeyRow.sealed_private))),
            "staff": list(db.execute(select(StaffRow.id, StaffRow.totp_secret))),
            "sessions": db.scalars(select(WebSessionRow.id_hash)).all(),
        }


def test_rotation_reseals_everything_and_the_old_secret_opens_nothing(  # noqa: PLR0917 - fixtures
    app: FastAPI,
    client: TestClient,
    clock: FixedClock,
    settings: Settings,
    make_settings: Any,
    tmp_path: Path,
) -> None:
    ctx: AppContext = app.state.ctx
    old = settings.sealing_secret
    election, citizen, staff_id = _seal_everything(ctx, clock)
    with ctx.db.read_session() as db:
        totp_before = identity.staff_service_from(ctx).totp_secret(_staff(db, staff_id))
        signing_before = {
            alg: oidc_from(ctx).keys.signing_key(db, alg).as_dict(private=True)
            for alg in ("RS256", "ES256")
        }
    before = _sealed_rows(ctx)
    assert before["sessions"]
    assert before["data"]
    assert len(before["oidc"]) == 4

    result = _rotate(settings, tmp_path, old, NEW_SECRET)
    assert result.exit_code == 0, result.output
    assert "re-sealed 1 consent data keys, 1 election keys, 4 OIDC signing keys" in result.output
    after = _sealed_rows(ctx)
    assert after["sessions"] == []  # sessions end rather than being re-sealed
    for name in ("election", "data", "oidc", "staff"):
        assert len(after[name]) == len(before[name])
        assert set(after[name]).isdisjoint(before[name]), name  # every envelope is new

    # The old secret opens nothing any more.
    with ctx.db.read_session() as db:
        (sealed_rsa,) = db.scalars(select(ElectionKeyRow.rsa_key)).all()
        with pytest.raises(KeyDecryptionError):
            open_rsa_key(old, election_id=election, sealed=sealed_rsa)
        ciphertext = db.scalars(
            select(VaultAttributeRow.ciphertext).where(VaultAttributeRow.citizen_id == citizen)
        ).one()
        with pytest.raises(DataKeyError):
            DataKeys(master_secret=old, clock=clock).decrypt_for(
                db, citizen, ciphertext, AttributeVault.context("birthdate")
            )
        with pytest.raises(nacl.exceptions.CryptoError):
            KeyStore(master_secret=old, clock=clock).signing_key(db, "ES256")
        row = _staff(db, staff_id)
        with pytest.raises(nacl.exceptions.CryptoError):
            open_sealed(derive_key(old, TOTP_KEY_PURPOSE), row.totp_secret, staff_id.encode())

    # Restarted on the new sealing secret, everything opens and the election goes on.
    rotated = create_app(make_settings(sealing_secret=NEW_SECRET), clock=clock)
    new_ctx: AppContext = rotated.state.ctx
    assert new_ctx.settings.secret_key == settings.secret_key  # pseudonyms unchanged
    with new_ctx.db.read_session() as db:
        assert AttributeVault(new_ctx).get(db, citizen, "birthdate") == BIRTHDATE
        staff_row = _staff(db, staff_id)
        assert identity.staff_service_from(new_ctx).totp_secret(staff_row) == totp_before
        for alg, jwk_before in signing_before.items():
            assert oidc_from(new_ctx).keys.signing_key(db, alg).as_dict(private=True) == jwk_before
        (sealed_rsa,) = db.scalars(select(ElectionKeyRow.rsa_key)).all()
        open_rsa_key(NEW_SECRET, election_id=election, sealed=sealed_rsa)
    try:
        with TestClient(rotated, base_url="http://127.0.0.1") as new_client:
            voter = next(voters(new_ctx, new_client, election, 1))
            voter.obtain_right()  # the election key signs under the new secret
            receipt = voter.vote({"parc": "gare", "budget": ["jardin"]})
            assert receipt["leaf_hash"]
    finally:
        new_ctx.db.dispose()


def test_a_wrong_old_secret_is_refused_and_nothing_is_written(
    app: FastAPI, clock: FixedClock, settings: Settings, tmp_path: Path
) -> None:
    ctx: AppContext = app.state.ctx
    try:
        _seal_everything(ctx, clock)
        before = _sealed_rows(ctx)

        result = _rotate(settings, tmp_path, WRONG_SECRET, NEW_SECRET)
        assert result.exit_code == 1
        lines = result.output.strip().splitlines()
        assert len(lines) == 1, result.output
        assert lines[0].startswith("error: wrong old secret?")
        assert "nothing was written" in lines[0]
        assert _sealed_rows(ctx) == before  # sessions too: the transaction rolled back
    finally:
        ctx.db.dispose()  # no TestClient here: nothing else ends the app's engine


def test_the_same_secret_twice_is_refused(settings: Settings, tmp_path: Path) -> None:
    result = _rotate(settings, tmp_path, settings.sealing_secret, settings.sealing_secret)
    assert result.exit_code == 1
    assert result.output.strip() == "error: the new secret is the old one"
