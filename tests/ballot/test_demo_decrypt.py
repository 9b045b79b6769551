"""``parvis demo decrypt ID`` (ballot/demo_decrypt.py): after the close of an encrypted demo
election, the demo trustees' sealed shares in ``DATA_DIR/demo-trustees/`` (as the demo
seeds them) decrypt the sums with ``parvis-trustee decrypt`` and their partial decryptions
are uploaded until the tally completes; a trustee without a share is skipped."""

from __future__ import annotations

import random
import secrets
from pathlib import Path

from ballot.demo_decrypt import TRUSTEE_DIR
from ballot.service import service_from
from ballot.simulation import random_choices
from ballot.tally import tally
from ballot.trustee_file import seal, write_atomic
from parvis.kernel.clock import FixedClock
from tests.ballot.elections import setup_rule
from tests.ballot.encrypted import open_encrypted_election
from tests.ballot.test_cli_and_server import context, one_line_error, run
from tests.ballot.test_encrypted_cli import _vote


def test_demo_trustees_complete_the_tally(database_url: str, tmp_path: Path) -> None:
    env = {
        "PARVIS_MODE": "test",
        "PARVIS_DATABASE_URL": database_url,
        "PARVIS_DATA_DIR": str(tmp_path / "var"),
    }
    ctx = context(env)
    try:
        setup_rule(ctx)
        opened = open_encrypted_election(
            ctx, FixedClock(), opens_at="2020-01-01T00:00:00Z", closes_at="2099-01-01T00:00:00Z"
        )
        election = opened.election_id
        # The demo's layout: trustee 1's share is missing (it never shows up).
        directory = tmp_path / "var" / TRUSTEE_DIR
        directory.mkdir(parents=True)
        for index in (2, 3):
            passphrase = secrets.token_urlsafe(24)
            sealed = seal(opened.ceremony.share_secret(index), passphrase)
            write_atomic(directory / f"share-{index}.sealed", sealed)
            write_atomic(directory / f"share-{index}.passphrase", f"{passphrase}\n".encode())
        with ctx.db.read_session() as db:
            questions = service_from(ctx)._manifest(db, election).questions
        rng = random.Random(9)
        clear = [random_choices(questions, rng) for _ in range(2)]
        for choices in clear:
            _vote(ctx, election, choices)
    finally:
        ctx.db.dispose()

    assert "closed (or decrypting)" in one_line_error(run(["demo", "decrypt", election], env))
    assert run(["election", "close", election, "--force"], env).exit_code == 0
    done = run(["demo", "decrypt", election], env)
    assert done.exit_code == 0, done.output
    lines = done.output.splitlines()
    assert lines[0] == "ballot: sums of 2 ballot(s) on the board"
    assert "demo trustee 1 has no sealed share" in lines[1]
    assert "demo trustee 2 (Opposition) decrypted (1 of 2 needed)" in lines[2]
    assert "demo trustee 3" in lines[3]
    assert "tallied" in lines[4]
    assert run(["election", "publish", election], env).exit_code == 0

    ctx = context(env)
    try:
        with ctx.db.read_session() as db:
            results = service_from(ctx).results(db, election)
    finally:
        ctx.db.dispose()
    assert results["trustees"] == [2, 3]
    assert results["results"] == tally(questions, clear)


def test_demo_decrypt_is_refused_in_production(tmp_path: Path) -> None:
    env = {
        "PARVIS_MODE": "production",
        "PARVIS_SECRET_KEY": "x" * 40,
        "PARVIS_DATA_DIR": str(tmp_path),
    }
    assert "refuses to run in production" in one_line_error(
        run(["demo", "decrypt", "5b1a3c2e-7d4f-4e6a-9b8c-0d1e2f3a4b5c"], env)
    )
